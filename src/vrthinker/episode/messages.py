"""The conversation an episode builds, as plain data (no tokenizer, no pixels).

Images are referenced, not embedded: an ``ImagePart`` names a frame of the
workspace (``FrameRef``). Rendering to a chat template and to pixels happens in
``vrthinker.policy``; keeping references here lets a trajectory be saved as
JSON and replayed exactly for training.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Union

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class FrameRef:
    """One frame of one video of the workspace.

    ``video`` is 0-based (0 = first video) and ``frame_idx`` is the 0-based
    position in that video's sampled frame pool (not the source video's frame
    index; the pool records that mapping).
    """

    video: int
    frame_idx: int

    def to_json(self) -> dict[str, int]:
        return {"video": self.video, "frame_idx": self.frame_idx}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> "FrameRef":
        return cls(video=int(obj["video"]), frame_idx=int(obj["frame_idx"]))


@dataclass(frozen=True)
class TextPart:
    text: str


@dataclass(frozen=True)
class ImagePart:
    ref: FrameRef


Part = Union[TextPart, ImagePart]


@dataclass(frozen=True)
class Message:
    """A chat message. ``tool_round`` marks tool-result messages (the memory
    window needs to know which round produced them); ``None`` otherwise."""

    role: Role
    parts: tuple[Part, ...]
    tool_round: int | None = None

    @classmethod
    def text(cls, role: Role, text: str) -> "Message":
        return cls(role=role, parts=(TextPart(text),))

    @property
    def images(self) -> tuple[FrameRef, ...]:
        return tuple(p.ref for p in self.parts if isinstance(p, ImagePart))

    def to_json(self) -> dict[str, Any]:
        parts: list[dict[str, Any]] = []
        for p in self.parts:
            if isinstance(p, TextPart):
                parts.append({"type": "text", "text": p.text})
            else:
                parts.append({"type": "image", **p.ref.to_json()})
        out: dict[str, Any] = {"role": self.role, "parts": parts}
        if self.tool_round is not None:
            out["tool_round"] = self.tool_round
        return out

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> "Message":
        parts: list[Part] = []
        for p in obj["parts"]:
            if p["type"] == "text":
                parts.append(TextPart(p["text"]))
            elif p["type"] == "image":
                parts.append(ImagePart(FrameRef.from_json(p)))
            else:
                raise ValueError(f"unknown message part type {p['type']!r}")
        return cls(role=obj["role"], parts=tuple(parts), tool_round=obj.get("tool_round"))


def context_images(messages: tuple[Message, ...] | list[Message]) -> tuple[FrameRef, ...]:
    """All frames referenced by ``messages``, in the order the model sees them."""
    return tuple(ref for m in messages for ref in m.images)


def to_chat_dicts(messages: tuple[Message, ...] | list[Message]) -> list[dict[str, Any]]:
    """Messages in the content-list form chat templates expect.

    Text-only messages become a plain string (what Qwen's template renders for
    a system prompt); messages with images become a list of ``{"type": "text"}``
    and ``{"type": "image"}`` items. This is the *one* place the structure is
    decided, used by rollout and training alike.
    """
    out: list[dict[str, Any]] = []
    for m in messages:
        if all(isinstance(p, TextPart) for p in m.parts):
            out.append({"role": m.role, "content": "".join(p.text for p in m.parts)})  # type: ignore[union-attr]
        else:
            content: list[dict[str, Any]] = []
            for p in m.parts:
                if isinstance(p, TextPart):
                    content.append({"type": "text", "text": p.text})
                else:
                    content.append({"type": "image"})
            out.append({"role": m.role, "content": content})
    return out
