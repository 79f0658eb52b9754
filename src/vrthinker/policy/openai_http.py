"""Policy backend for any OpenAI-compatible chat-completions server.

Lets a model served by ``vllm serve`` (or any API judge) run episodes:
images go as PNG data URLs in ``image_url`` content items, in the order
they appear in the context. Requests of one round run concurrently.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Sequence

from PIL import Image

from vrthinker.episode.messages import ImagePart, TextPart
from vrthinker.episode.policy import Generation, GenerationRequest, qwen25_visual_tokens

log = logging.getLogger(__name__)


class OpenAIEndpointError(RuntimeError):
    """The server could not be reached or answered with an error."""


def image_data_url(image: Image.Image) -> str:
    buf = io.BytesIO()
    image.convert("RGB").save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def to_openai_messages(request: GenerationRequest) -> list[dict[str, Any]]:
    """Chat messages with images inlined as data URLs (``images`` in context order)."""
    images = iter(request.images)
    out: list[dict[str, Any]] = []
    for m in request.messages:
        if all(isinstance(p, TextPart) for p in m.parts):
            out.append({"role": m.role, "content": "".join(p.text for p in m.parts)})  # type: ignore[union-attr]
            continue
        content: list[dict[str, Any]] = []
        for p in m.parts:
            if isinstance(p, ImagePart):
                content.append({"type": "image_url", "image_url": {"url": image_data_url(next(images))}})
            else:
                content.append({"type": "text", "text": p.text})
        out.append({"role": m.role, "content": content})
    if request.assistant_prefix:
        # Continuation of a partial assistant turn (vLLM: continue_final_message).
        out.append({"role": "assistant", "content": request.assistant_prefix})
    return out


class OpenAIPolicy:
    """``POST {base_url}/chat/completions`` per request."""

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        timeout_s: float = 120.0,
        max_concurrency: int = 8,
        extra_body: dict[str, Any] | None = None,
    ):
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.api_key = api_key
        self.timeout_s = timeout_s
        self.max_concurrency = max_concurrency
        self.extra_body = extra_body or {}

    def visual_tokens(self, image: Image.Image) -> int:
        return qwen25_visual_tokens(image)

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        with ThreadPoolExecutor(max_workers=max(1, min(self.max_concurrency, len(requests)))) as pool:
            return list(pool.map(self._one, requests))

    def _one(self, request: GenerationRequest) -> Generation:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": to_openai_messages(request),
            "max_tokens": request.max_new_tokens,
            "temperature": request.temperature,
            "top_p": request.top_p,
            **self.extra_body,
        }
        if request.top_k > 0:
            body["top_k"] = request.top_k  # vLLM extension
        if request.assistant_prefix:
            body.setdefault("continue_final_message", True)
            body.setdefault("add_generation_prompt", False)
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        req = urllib.request.Request(self.url, data=json.dumps(body).encode(), headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                payload = json.loads(resp.read())
        except urllib.error.HTTPError as err:
            detail = err.read().decode(errors="replace")[:300]
            raise OpenAIEndpointError(f"{self.url} answered HTTP {err.code}: {detail}") from err
        except (urllib.error.URLError, TimeoutError, OSError) as err:
            raise OpenAIEndpointError(f"cannot reach {self.url}: {err}. Is the server running?") from err
        try:
            choice = payload["choices"][0]
            text = choice["message"]["content"] or ""
            usage = payload.get("usage") or {}
        except (KeyError, IndexError, TypeError) as err:
            raise OpenAIEndpointError(f"{self.url} returned an unexpected body: {str(payload)[:300]}") from err
        return Generation(
            text=text,
            finish_reason="length" if choice.get("finish_reason") == "length" else "stop",
            prompt_tokens=int(usage.get("prompt_tokens", 0)),
            completion_tokens=int(usage.get("completion_tokens", len(text.split()))),
        )
