"""One rendering of a turn's context, shared by rollout and training.

``render_prompt`` turns the engine's messages into chat-template text;
``encode_prompt`` turns that text plus the context's images into model inputs.
The HF backend prompts the model with ``encode_prompt``'s output and the
training collation builds its sequences from the same function, so the
context a turn is trained on is token-for-token the one it was sampled from.
"""

from __future__ import annotations

from typing import Any, Sequence

from PIL import Image

from vrthinker.episode.messages import Message, to_chat_dicts


def render_prompt(messages: Sequence[Message], tokenizer: Any, assistant_prefix: str = "") -> str:
    """Chat-template text of ``messages`` ending with the assistant header (and prefix)."""
    text = tokenizer.apply_chat_template(
        to_chat_dicts(messages), tokenize=False, add_generation_prompt=True
    )
    return text + assistant_prefix


def encode_prompt(
    messages: Sequence[Message],
    images: Sequence[Image.Image],
    processor: Any,
    assistant_prefix: str = "",
) -> dict[str, Any]:
    """Model inputs (batch of 1, unpadded) for one turn's context."""
    text = render_prompt(messages, processor.tokenizer, assistant_prefix)
    return processor(text=[text], images=list(images) or None, return_tensors="pt")
