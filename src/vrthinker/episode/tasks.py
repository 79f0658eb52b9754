"""Tasks, as small plug-ins: the prompt, the final-answer format and its parser.

The episode engine asks a task for the opening messages and for the final
answer block of a turn; it knows nothing else about the task. The first task
is pairwise video preference (``VideoPreferenceTask``); an image-QA task with
verified answers fits the same protocol.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Protocol

from vrthinker.data.schema import DIMENSIONS, Dimension, Label
from vrthinker.episode.config import EpisodeConfig
from vrthinker.episode.messages import FrameRef, ImagePart, Message, Part, TextPart
from vrthinker.episode.protocol import tools_system_prompt
from vrthinker.episode.sentences import read_frame_sentences

Judgment = dict[Dimension, Label | None]


class Task(Protocol):
    name: str

    def system_text(self) -> str: ...

    def system_prompt(self, schemas: list[dict[str, Any]], config: EpisodeConfig) -> str: ...

    def opening_messages(
        self, workspace: Any, config: EpisodeConfig, system: str, *, with_tools: bool = True
    ) -> list[Message]: ...

    def locate_answer(self, text: str) -> str | None: ...

    def parse_answer(self, answer_text: str) -> dict[str, Any]: ...

    def answer_is_complete(self, parsed: dict[str, Any]) -> bool: ...

    def findings(self, think: str, workspace: Any) -> list[tuple[FrameRef, str]]:
        """Frames the thinking reports a finding on, with the finding.

        Optional: the engine reads it only when ``reshow_findings > 0`` and says so if it is missing.
        """
        ...


_ANSWER = re.compile(r"<answer>(.*?)(?:</answer>|$)", re.S)
_REF_FINAL = re.compile(r"<final answer>(.*?)(?:</final answer>|$)", re.S | re.I)
_BOXED = re.compile(r"\\boxed\{\s*([012])\s*\}")
_DIM_LINE = re.compile(r"\b(TA|VQ|MQ|Overall|OA)\s*[:=]\s*([012])\b", re.I)
_CHOICE: dict[str, Label] = {"1": "A", "2": "B", "0": "tie"}
_CANON = {"ta": "TA", "vq": "VQ", "mq": "MQ", "overall": "Overall", "oa": "Overall"}
# What a frame sentence says when the frame shows nothing wrong ("(Video 1) Frame 3: normal.").
_NO_FINDING = re.compile(r"^(?:the .+ )?(?:looks )?normal$|^nothing (?:unusual|wrong)$", re.I)

SYSTEM_TEXT = "You are a helpful assistant."

TASK_TEXT = (
    "You are judging two videos generated from the same prompt. Compare them and decide which is better "
    "on each dimension:\n"
    "TA (text alignment): how well the video follows the prompt.\n"
    "VQ (visual quality): sharpness, clean images, no noise or artefacts.\n"
    "MQ (motion quality): smooth, plausible motion, no jumps or freezes.\n"
    "Overall: which video is better all things considered.\n\n"
    "The prompt is: {prompt}\n\n"
    "{layout}\n\n"
    "Each round, reason inside <think></think>. If you need to see more, state your current inclination in "
    "<recommend answer></recommend answer> and call select_frames (at most {max_frames} frames) inside "
    "<tool_call></tool_call>, ending the turn with the call. When you are sure, give the final answer as "
    "<answer>\nTA: x\nVQ: x\nMQ: x\nOverall: x\n</answer> where x is 1 (Video 1 is better), 2 (Video 2 is "
    "better) or 0 (tie)."
)

# Without tools (the static-frames ablation) the model must answer from the initial view.
TASK_TEXT_NO_TOOLS = TASK_TEXT.split("Each round,")[0] + (
    "Reason inside <think></think>, then give the final answer as "
    "<answer>\nTA: x\nVQ: x\nMQ: x\nOverall: x\n</answer> where x is 1 (Video 1 is better), 2 (Video 2 is "
    "better) or 0 (tie)."
)


@dataclass(frozen=True)
class VideoPreferenceTask:
    """Pairwise video preference with per-dimension answers (VR-Thinker)."""

    name: str = "video_preference"

    def system_text(self) -> str:
        return SYSTEM_TEXT

    def system_prompt(self, schemas: list[dict[str, Any]], config: EpisodeConfig) -> str:
        """The system message: Qwen-style tool block ('full') or a one-line tool note ('compact')."""
        if config.prompt_style == "compact":
            if not schemas:
                return "You judge two videos."
            return (
                "You judge two videos. Tool: <tool_call>{\"name\": \"select_frames\", \"arguments\": "
                f"{{\"target_frames\": [...]}}}}</tool_call>, at most {config.max_frames_per_call} frames."
            )
        return tools_system_prompt(SYSTEM_TEXT, schemas)

    def opening_messages(
        self, workspace: Any, config: EpisodeConfig, system: str, *, with_tools: bool = True
    ) -> list[Message]:
        n = workspace.frames_per_video
        if workspace.addressing == "pooled":
            layout = (
                f"Each video was sampled to {n} frames: frames 1-{n} are Video 1 and {n + 1}-{2 * n} are Video 2. "
                f"Here are {config.initial_per_video} frames of each video."
            )
        else:
            layout = (
                f"Each video was sampled to {n} frames, numbered 1-{n} within each video. "
                f"Here are {config.initial_per_video} frames of each video."
            )
        if config.prompt_style == "compact":
            n = workspace.frames_per_video
            layout = f"Frames 1-{n}: Video 1. {n + 1}-{2 * n}: Video 2." if workspace.addressing == "pooled" else (
                f"Frames 1-{n} in each video.")
            text = f"Prompt: {workspace.prompt}\n{layout}\nAnswer TA, VQ, MQ, Overall: 1, 2 or 0 (tie)."
        else:
            template = TASK_TEXT if with_tools else TASK_TEXT_NO_TOOLS
            text = template.format(prompt=workspace.prompt, layout=layout, max_frames=config.max_frames_per_call)
        parts: list[Part] = [TextPart(text)]
        refs = workspace.initial_view(config.initial_per_video)
        for video in range(2):
            parts.append(TextPart(f"\nVideo {video + 1}:"))
            for ref in refs:
                if ref.video == video:
                    parts.append(TextPart(f"\n{workspace.frame_label(ref)}: "))
                    parts.append(ImagePart(ref))
        return [Message.text("system", system), Message(role="user", parts=tuple(parts))]

    def locate_answer(self, text: str) -> str | None:
        m = _ANSWER.search(text)
        if m and _DIM_LINE.search(m.group(1)):
            return m.group(1)
        # The released VR-Thinker checkpoint's format: <final answer> ... \boxed{1}
        m = _REF_FINAL.search(text)
        if m and (_BOXED.search(m.group(1)) or _DIM_LINE.search(m.group(1))):
            return m.group(1)
        return None

    def parse_answer(self, answer_text: str) -> dict[str, Any]:
        """``{"judgment": {dim: A|B|tie|None}}`` from an answer block."""
        judgment: Judgment = {d: None for d in DIMENSIONS}
        for key, value in _DIM_LINE.findall(answer_text):
            judgment[_CANON[key.lower()]] = _CHOICE[value]  # type: ignore[index]
        boxed = _BOXED.findall(answer_text)
        if boxed and judgment["Overall"] is None:
            judgment["Overall"] = _CHOICE[boxed[-1]]
        return {"judgment": judgment}

    def answer_is_complete(self, parsed: dict[str, Any]) -> bool:
        return all(v is not None for v in parsed["judgment"].values())

    def findings(self, think: str, workspace: Any) -> list[tuple[FrameRef, str]]:
        """Frame sentences of ``think`` that report something wrong, in the order written.

        A frame sentence is a frame's label, a colon and what it shows, up to the full stop:
        ``(Video 2) Frame 60: heavy noise.`` (``read_frame_sentences``). "normal" and the like are not
        findings, nor are frames outside the workspace's pool.
        """
        return [
            (FrameRef(*s.frame), s.what.strip())
            for s in read_frame_sentences(think, workspace.frames_per_video)
            if s.frame is not None and not _NO_FINDING.match(s.what.strip())
        ]
