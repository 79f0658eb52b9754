"""Shared pytest fixtures.

``shared_dir`` points at ``../shared`` (the real benchmark files live in
``../shared/benchmarks``); tests that need it are skipped with a clear reason
when it is absent, so the unit suite still runs on a bare checkout.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = Path(os.environ.get("VRTHINKER_SHARED_DIR", REPO_ROOT.parent / "shared"))


@pytest.fixture(scope="session")
def shared_benchmarks() -> Path:
    path = SHARED_DIR / "benchmarks"
    if not path.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"{path} is missing; CI must run with ../shared beside the checkout")
        pytest.skip(f"{path} not found (set VRTHINKER_SHARED_DIR)")
    return path


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT
