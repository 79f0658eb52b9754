"""Settings of one thinking-with-image episode (documented defaults, checked on load)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

UNLIMITED = "unlimited"
# How a pooled frame is named: "Frame 37 (Video 2)" or "(Video 2) Frame 37" (EpisodeConfig.frame_labels).
FrameLabels = Literal["frame_first", "video_first"]


class EpisodeConfig(BaseModel):
    """How a judge sees the two videos and how long it may think.

    Defaults follow the VR-Thinker reference where it is sound (48 frames per
    video pooled to 1..96, 4 initial frames per video, at most 8 frames and 3
    executed calls; window p = 1) — see ``docs/reference.md``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    frames_per_video: int = Field(
        48, ge=1, description="Frames sampled uniformly from each video: the pool select_frames can address."
    )
    initial_per_video: int = Field(
        4, ge=0, description="Frames per video shown in the first user message (uniformly spaced; always kept)."
    )
    max_frames_per_call: int = Field(8, ge=1, description="Most frames one select_frames call may request.")
    memory_window: int | Literal["unlimited"] = Field(
        1,
        description=(
            "p: how many assistant turns the frames returned by a tool call stay in context as images, "
            "after which they are replaced by a short text placeholder. 0 = never shown as images, "
            "'unlimited' = never dropped. The initial view is always kept."
        ),
    )
    reshow_findings: int = Field(
        0, ge=0,
        description=(
            "Evidence memory: every tool reply also shows again, as images, frames the judge's earlier "
            "thinking reported a finding on (one frame per video and finding, at most this many), so a "
            "finding made turns ago is read again from its image rather than carried as text. 0 = off. "
            "They count towards the turn's visual tokens."
        ),
    )
    max_tool_calls: int = Field(
        3, ge=0, description="Most tool calls (valid or not) per episode; a further call ends the episode."
    )
    max_images: int = Field(64, ge=1, description="Most images in one turn's context; exceeding it ends the episode.")
    max_new_tokens: int = Field(512, ge=1, description="Most tokens generated in one assistant turn.")
    max_episode_tokens: int = Field(
        12288, ge=1, description="Most tokens (context + generated) of any turn; exceeding it ends the episode."
    )
    frame_addressing: Literal["pooled", "per_video"] = Field(
        "pooled",
        description=(
            "'pooled': frame numbers 1..N are video 1 and N+1..2N video 2 (the reference's numbering, so released "
            "checkpoints work). 'per_video': the tool takes {'video': 1|2, 'frames': [...]} numbers 1..N."
        ),
    )
    frame_labels: FrameLabels = Field(
        "frame_first",
        description=(
            "How a pooled frame is named in the context and in the judge's frame sentences: 'frame_first' "
            "('Frame 37 (Video 2)') or 'video_first' ('(Video 2) Frame 37'), which puts the frame's own digits "
            "last, right before its image. The tiny demo model trained from scratch finds a frame's image among "
            "the 16 in context by the digits nearest it; with 'frame_first' those are the video's, and one seed's "
            "SFT judge described a noisy frame among clean ones of its video right 1 % of the time, 93 % with "
            "'video_first' (docs/demo.md, ninth session). Per-video addressing always writes 'Video 2, frame 13'."
        ),
    )
    prompt_style: Literal["full", "compact"] = Field(
        "full",
        description=(
            "'full': the system prompt carries the tool schema in Qwen's <tools> style and the task text "
            "explains the dimensions and the turn format (what pretrained and released models expect). "
            "'compact': a few lines naming the tool and the answer format, for models trained from scratch "
            "on our traces (the tiny demo), where ~800 tokens of boilerplate per turn would dominate the cost."
        ),
    )
    min_pixels: int = Field(28 * 28 * 4, ge=28 * 28, description="Smallest frame area after Qwen smart-resize.")
    max_pixels: int = Field(28 * 28 * 256, ge=28 * 28, description="Largest frame area after Qwen smart-resize.")
    temperature: float = Field(0.0, ge=0.0, description="Sampling temperature of the first turn (0 = greedy).")
    later_temperature: float | None = Field(
        None, ge=0.0, description="Temperature of later turns; None = same as `temperature` (reference RL: 1.0 then 0.9)."
    )
    top_p: float = Field(1.0, gt=0.0, le=1.0, description="Nucleus sampling mass.")
    top_k: int = Field(0, ge=0, description="Top-k sampling (0 = off).")

    @model_validator(mode="after")
    def _check(self) -> "EpisodeConfig":
        if isinstance(self.memory_window, int) and self.memory_window < 0:
            raise ValueError(f"memory_window = {self.memory_window}: must be >= 0 or 'unlimited'")
        if self.initial_per_video > self.frames_per_video:
            raise ValueError(
                f"initial_per_video = {self.initial_per_video}: must be <= frames_per_video ({self.frames_per_video})"
            )
        if self.min_pixels > self.max_pixels:
            raise ValueError(f"min_pixels = {self.min_pixels}: must be <= max_pixels ({self.max_pixels})")
        return self

    def temperature_for_turn(self, turn: int) -> float:
        if turn == 0 or self.later_temperature is None:
            return self.temperature
        return self.later_temperature
