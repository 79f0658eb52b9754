"""What an episode leaves behind: turns, segments and the trajectory.

A ``Segment`` is the unit of SFT and RL training: the exact context one
assistant turn was generated from (messages after the memory window, and the
images in them) plus the generated text. All segments of a trajectory share
its reward and advantage.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

from PIL import Image

from vrthinker.episode.messages import FrameRef, Message, context_images
from vrthinker.episode.protocol import ParsedTurn

EndReason = Literal[
    "answered",  # a final answer was given (it may still miss some dimensions)
    "no_answer",  # a turn had neither a call nor an answer
    "max_tool_calls",  # a call was requested after the call budget was spent
    "max_images",  # the context would have held more than max_images images
    "turn_token_limit",  # a turn hit max_new_tokens without a call or an answer
    "episode_token_limit",  # context + turn exceeded max_episode_tokens
]


@dataclass(frozen=True)
class Turn:
    index: int
    context: tuple[Message, ...]  # as the model saw it (after the memory window)
    text: str  # exactly what was generated
    parsed: ParsedTurn
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    visual_tokens: int
    assistant_prefix: str = ""
    # How many leading characters of assistant_prefix the policy itself wrote (trained on); the rest
    # (e.g. a forced-rethinking trigger) is context only.
    prefix_trainable_chars: int = 0
    completion_ids: tuple[int, ...] | None = None
    logprobs: tuple[float, ...] | None = None
    tool_error: str | None = None  # kind of invalid call, if this turn made one
    frames_returned: tuple[FrameRef, ...] = ()
    frames_reshown: tuple[FrameRef, ...] = ()  # earlier findings shown again in this turn's reply (reshow_findings)
    dropped: tuple[FrameRef, ...] = ()  # frames the window had removed from this context

    @property
    def images(self) -> tuple[FrameRef, ...]:
        return context_images(self.context)


@dataclass(frozen=True)
class Segment:
    """One assistant turn as a training example."""

    messages: tuple[Message, ...]
    images: tuple[Image.Image, ...]
    completion: str
    assistant_prefix: str = ""
    prefix_trainable_chars: int = 0
    completion_ids: tuple[int, ...] | None = None
    logprobs: tuple[float, ...] | None = None
    weight: float = 1.0  # the trajectory's advantage in RL; 1.0 in SFT
    trajectory_key: str = ""
    turn_index: int = 0


@dataclass
class Trajectory:
    key: str
    workspace: Any
    turns: list[Turn] = field(default_factory=list)
    end_reason: EndReason | None = None
    answer: dict[str, Any] | None = None  # the task's parse of the final answer
    answer_complete: bool = False
    tool_calls: int = 0  # call attempts, valid or not
    invalid_calls: int = 0
    invalid_kinds: Counter = field(default_factory=Counter)
    labels: dict[str, str] | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def judgment(self) -> dict[str, str | None]:
        if self.answer is None:
            return {"TA": None, "VQ": None, "MQ": None, "Overall": None}
        return dict(self.answer["judgment"])

    @property
    def format_ok(self) -> bool:
        """Every turn thought first, calls were valid, and the answer is complete."""
        return (
            self.end_reason == "answered"
            and self.answer_complete
            and self.invalid_calls == 0
            and all(t.parsed.has_think for t in self.turns)
        )

    @property
    def frames_viewed(self) -> tuple[FrameRef, ...]:
        seen: dict[FrameRef, None] = {}
        for t in self.turns:
            for ref in t.frames_returned:
                seen[ref] = None
        return tuple(seen)

    @property
    def visual_tokens_per_turn(self) -> list[int]:
        return [t.visual_tokens for t in self.turns]

    @property
    def total_tokens(self) -> int:
        return sum(t.completion_tokens for t in self.turns)

    def segments(self, weight: float = 1.0) -> list[Segment]:
        ws = self.workspace
        return [
            Segment(
                messages=t.context,
                images=tuple(ws.image(r) for r in t.images),
                completion=t.text,
                assistant_prefix=t.assistant_prefix,
                prefix_trainable_chars=t.prefix_trainable_chars,
                completion_ids=t.completion_ids,
                logprobs=t.logprobs,
                weight=weight,
                trajectory_key=self.key,
                turn_index=t.index,
            )
            for t in self.turns
        ]

    def summary(self) -> dict[str, Any]:
        """JSON-ready facts of the episode (no images)."""
        return {
            "key": self.key,
            "judgment": self.judgment,
            "end_reason": self.end_reason,
            "answer_complete": self.answer_complete,
            "format_ok": self.format_ok,
            "turns": len(self.turns),
            "tool_calls": self.tool_calls,
            "invalid_calls": self.invalid_calls,
            "invalid_kinds": dict(self.invalid_kinds),
            "frames_viewed": len(self.frames_viewed),
            "visual_tokens_per_turn": self.visual_tokens_per_turn,
            "generated_tokens": self.total_tokens,
        }

    def to_json(self) -> dict[str, Any]:
        """The whole trace: every turn's context (frame references), text and outcome."""
        out = self.summary()
        out["labels"] = self.labels
        out["meta"] = self.meta
        spec = getattr(self.workspace, "spec", None)
        if spec is not None and getattr(self.workspace, "pixel_bounds", None) is not None:
            out["workspace"] = spec()
        out["turn_records"] = [
            {
                "index": t.index,
                "context": [m.to_json() for m in t.context],
                "assistant_prefix": t.assistant_prefix,
                "prefix_trainable_chars": t.prefix_trainable_chars,
                "text": t.text,
                "kind": t.parsed.kind,
                "error": t.parsed.error or t.tool_error,
                "detail": t.parsed.detail,
                "finish_reason": t.finish_reason,
                "prompt_tokens": t.prompt_tokens,
                "completion_tokens": t.completion_tokens,
                "visual_tokens": t.visual_tokens,
                "frames_returned": [r.to_json() for r in t.frames_returned],
                "frames_reshown": [r.to_json() for r in t.frames_reshown],
                "dropped": [r.to_json() for r in t.dropped],
            }
            for t in self.turns
        ]
        return out
