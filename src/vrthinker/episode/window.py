"""The visual memory window ``p``.

The opening messages (and so the initial view) always keep their images. The
frames returned by the tool call made in assistant turn ``j`` are shown as
images to the next ``p`` assistant turns (``j+1 … j+p``); after that each
image is replaced by a short text placeholder, while the label naming the
frame stays. The context cost then stays about ``(N_in + p·N_ex)·V_t``
visual tokens however many rounds are run.

Rollout and training both call ``apply_memory_window``: the context a turn is
trained on is the context it was generated from, token for token.
"""

from __future__ import annotations

from typing import Literal, Sequence

from vrthinker.episode.messages import ImagePart, Message, Part, TextPart

DROPPED_TEXT = "(no longer in view)"


def in_view(age: int, memory_window: int | Literal["unlimited"]) -> bool:
    """Whether a tool result ``age`` turns old is still shown as images."""
    return memory_window == "unlimited" or age <= memory_window


def apply_memory_window(
    history: Sequence[Message], turn: int, memory_window: int | Literal["unlimited"]
) -> tuple[Message, ...]:
    """The context for assistant turn ``turn`` (0-based) given the full history."""
    out: list[Message] = []
    for message in history:
        if message.tool_round is None or in_view(turn - message.tool_round, memory_window):
            out.append(message)
            continue
        parts: list[Part] = [TextPart(DROPPED_TEXT) if isinstance(p, ImagePart) else p for p in message.parts]
        out.append(Message(role=message.role, parts=tuple(parts), tool_round=message.tool_round))
    return tuple(out)


def dropped_frames(history: Sequence[Message], turn: int, memory_window: int | Literal["unlimited"]):
    """Frames whose images the window removed from turn ``turn``'s context."""
    return tuple(
        ref
        for m in history
        if m.tool_round is not None and not in_view(turn - m.tool_round, memory_window)
        for ref in m.images
    )
