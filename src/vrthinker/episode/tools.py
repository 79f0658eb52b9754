"""Tools the judge can call, as small plug-ins.

A tool supplies its JSON schema (shown to the model in the system prompt) and
its execution on the workspace. Execution never raises on bad arguments: it
returns a ``ToolResult`` whose text tells the model what was wrong, and whose
``error`` names the kind of mistake so it can be counted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from vrthinker.episode.messages import FrameRef, ImagePart, Part, TextPart
from vrthinker.episode.workspace import VideoPairWorkspace

ToolError = Literal[
    "bad_arguments", "out_of_range", "non_positive_index", "too_many_frames", "empty_selection"
]


@dataclass(frozen=True)
class ToolResult:
    """What a call returns to the model: text and frames, or an error text."""

    parts: tuple[Part, ...]
    frames: tuple[FrameRef, ...] = ()
    error: ToolError | None = None
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.error is None


class Tool(Protocol):
    name: str

    def schema(self, workspace: Any) -> dict[str, Any]:
        """The function schema, in the OpenAI / Qwen ``{"type": "function", ...}`` form."""
        ...

    def execute(self, arguments: Any, workspace: Any) -> ToolResult: ...


def _error(kind: ToolError, message: str) -> ToolResult:
    text = f"select_frames error: {message} No frames were returned. Fix the call, or give your final answer."
    return ToolResult(parts=(TextPart(text),), error=kind, detail=message)


@dataclass(frozen=True)
class SelectFrames:
    """``select_frames``: return chosen frames of the videos' frame pools.

    Pooled addressing (default, the reference's): ``{"target_frames": [61, 64]}``
    with 1..N = video 1 and N+1..2N = video 2. Per-video addressing:
    ``{"video": 2, "target_frames": [13, 16]}`` with 1..N in that video.
    """

    max_frames_per_call: int = 8
    name: str = field(default="select_frames", init=False)

    def schema(self, workspace: VideoPairWorkspace) -> dict[str, Any]:
        n, total = workspace.frames_per_video, workspace.pool_size
        if workspace.addressing == "pooled":
            item = f"Frame number from 1 to {total} (1-{n} = Video 1, {n + 1}-{total} = Video 2)."
            properties: dict[str, Any] = {}
            required = ["target_frames"]
        else:
            item = f"Frame number from 1 to {n} within the chosen video."
            properties = {"video": {"type": "integer", "enum": [1, 2], "description": "Which video: 1 or 2."}}
            required = ["video", "target_frames"]
        properties["target_frames"] = {
            "type": "array",
            "description": f"Frames to look at (no more than {self.max_frames_per_call}).",
            "items": {"type": "integer", "description": item},
        }
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": "Select frames from the videos to inspect them in detail.",
                "parameters": {"type": "object", "properties": properties, "required": required},
            },
        }

    def execute(self, arguments: Any, workspace: VideoPairWorkspace) -> ToolResult:
        if not isinstance(arguments, dict):
            return _error("bad_arguments", f"arguments must be a JSON object, got {type(arguments).__name__}.")
        frames = arguments.get("target_frames")
        if not isinstance(frames, list) or not all(isinstance(f, int) and not isinstance(f, bool) for f in frames):
            return _error("bad_arguments", '"target_frames" must be a list of integers, e.g. [12, 16, 60].')
        if not frames:
            return _error("empty_selection", '"target_frames" is empty; name at least one frame.')
        if len(frames) > self.max_frames_per_call:
            return _error(
                "too_many_frames",
                f"you asked for {len(frames)} frames; at most {self.max_frames_per_call} per call.",
            )
        n = workspace.frames_per_video
        if workspace.addressing == "pooled":
            video, limit = None, workspace.pool_size
        else:
            video = arguments.get("video")
            if video not in (1, 2) or isinstance(video, bool):
                return _error("bad_arguments", '"video" must be 1 or 2.')
            limit = n
        bad = [f for f in frames if f <= 0]
        if bad:
            # The reference wrapped these around with Python's negative indexing; we refuse them.
            return _error("non_positive_index", f"frame {bad[0]} is not valid; frames are numbered from 1 to {limit}.")
        bad = [f for f in frames if f > limit]
        if bad:
            return _error("out_of_range", f"frame {bad[0]} does not exist; frames are numbered from 1 to {limit}.")

        refs: list[FrameRef] = []
        for number in dict.fromkeys(frames):  # drop repeats, keep the model's order
            if video is None:
                refs.append(FrameRef((number - 1) // n, (number - 1) % n))
            else:
                refs.append(FrameRef(video - 1, number - 1))
        parts: list[Part] = [TextPart("Here are the selected frames:")]
        for ref in refs:
            parts.append(TextPart(f"\n{workspace.frame_label(ref)}: "))
            parts.append(ImagePart(ref))
        return ToolResult(parts=tuple(parts), frames=tuple(refs))
