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


def chromium_screenshot(html_path: Path, png_path: Path, width: int = 1200, height: int = 1600) -> Path:
    """Render ``html_path`` in headless Chromium (Debian's ``chromium``) to ``png_path``."""
    import shutil
    import subprocess
    import tempfile

    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.skip("chromium is not installed (scripts/install_system_deps.sh installs it)")
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [
                exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                f"--user-data-dir={profile}", f"--window-size={width},{height}",
                f"--screenshot={png_path}", html_path.resolve().as_uri(),
            ],
            check=True, capture_output=True, timeout=120,
        )
    return png_path


@pytest.fixture(scope="session")
def screenshot():
    return chromium_screenshot
