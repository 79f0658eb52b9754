"""The interface every policy backend implements (HF, vLLM, HTTP, scripted).

The engine hands a batch of ``GenerationRequest``s (one per unfinished
episode) and gets one ``Generation`` each. Backends render the context with
their chat template; the engine only deals in ``Message``s and images.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol, Sequence

from PIL import Image

from vrthinker.episode.messages import Message


@dataclass(frozen=True)
class GenerationRequest:
    messages: tuple[Message, ...]
    images: tuple[Image.Image, ...]  # the context's images, in order of appearance
    max_new_tokens: int
    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = 0
    # Text the assistant turn already starts with (continuation, e.g. forced rethinking).
    assistant_prefix: str = ""
    # Free-form key a scripted policy can use to know which episode is asking.
    episode_key: str = ""


@dataclass(frozen=True)
class Generation:
    text: str
    finish_reason: Literal["stop", "length"]
    prompt_tokens: int
    completion_tokens: int
    # Exact sampled ids and their log-probs when the backend has them (RL needs both).
    completion_ids: tuple[int, ...] | None = None
    logprobs: tuple[float, ...] | None = None
    prompt_ids: tuple[int, ...] | None = None


class Policy(Protocol):
    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]: ...

    def visual_tokens(self, image: Image.Image) -> int:
        """Tokens the model spends on ``image`` in its context."""
        ...


def qwen25_visual_tokens(image: Image.Image, patch: int = 14, merge: int = 2) -> int:
    """Qwen2.5-VL: one token per ``(patch·merge)²`` pixels of the smart-resized image."""
    w, h = image.size
    side = patch * merge
    return (h // side) * (w // side)
