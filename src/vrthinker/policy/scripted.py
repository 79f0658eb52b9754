"""Policies that replay fixed texts: for tests, demos of the engine, and teachers.

``ReplayPolicy`` answers the n-th turn of an episode with the n-th text of its
script (per episode key, or one script for all). A callable script receives
the request and returns the text, so a teacher can look at the context.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Callable, Mapping, Sequence

from PIL import Image

from vrthinker.episode.policy import Generation, GenerationRequest, qwen25_visual_tokens

Script = Sequence[str] | Callable[[GenerationRequest, int], str]


class ReplayPolicy:
    """Replays scripted turns. Token counts are whitespace word counts (no tokenizer)."""

    def __init__(self, script: Script | Mapping[str, Script], *, length_limit_text: bool = True):
        self._scripts = script
        self._turn: dict[str, int] = defaultdict(int)
        self.requests: list[GenerationRequest] = []
        self._length_limit_text = length_limit_text

    def _script_for(self, key: str) -> Script:
        if isinstance(self._scripts, Mapping):
            for prefix in sorted(self._scripts, key=len, reverse=True):
                if key == prefix or key.startswith(prefix + "#"):
                    return self._scripts[prefix]
            raise KeyError(f"no script for episode {key!r}")
        return self._scripts

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        out = []
        for req in requests:
            self.requests.append(req)
            n = self._turn[req.episode_key]
            self._turn[req.episode_key] += 1
            script = self._script_for(req.episode_key)
            if callable(script):
                text = script(req, n)
            else:
                text = script[n] if n < len(script) else ""
            words = text.split()
            finish = "stop"
            if len(words) > req.max_new_tokens and self._length_limit_text:
                text, finish = " ".join(words[: req.max_new_tokens]), "length"
            prompt_tokens = sum(
                len(p.text.split()) for m in req.messages for p in m.parts if hasattr(p, "text")
            ) + sum(self.visual_tokens(img) for img in req.images)
            out.append(
                Generation(
                    text=text,
                    finish_reason=finish,  # type: ignore[arg-type]
                    prompt_tokens=prompt_tokens,
                    completion_tokens=min(len(words), req.max_new_tokens),
                )
            )
        return out

    def visual_tokens(self, image: Image.Image) -> int:
        return qwen25_visual_tokens(image)
