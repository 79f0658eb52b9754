"""Fixtures for the policy tests: tokenizers are built once per session.

The real Qwen tokenizer comes from the on-disk cache (``$VRTHINKER_CACHE`` or
``~/.cache/vrthinker``); the first run converts it (~3 s), later runs load it (~1.5 s).
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from vrthinker.policy.tokenizer import build_qwen_tokenizer, build_tiny_tokenizer


@pytest.fixture(scope="session")
def qwen_tok():
    return build_qwen_tokenizer()


@pytest.fixture(scope="session")
def tiny_tok():
    return build_tiny_tokenizer()


def make_frame(seed: int, size: int = 56) -> Image.Image:
    """A deterministic random RGB frame."""
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8))


@pytest.fixture
def frame_factory():
    return make_frame


@pytest.fixture
def frames() -> list[Image.Image]:
    return [make_frame(i) for i in range(3)]


@pytest.fixture
def two_image_messages() -> list[dict]:
    return [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Video 1:"},
                {"type": "image"},
                {"type": "text", "text": "Video 2:"},
                {"type": "image"},
                {"type": "text", "text": "Which video shows red?"},
            ],
        }
    ]
