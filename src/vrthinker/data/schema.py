"""One schema for a video preference pair, whatever benchmark it came from.

A pair is a prompt, two video paths and a label per dimension. Labels say which
video is better: ``"A"`` (the first, ``video_a``), ``"B"`` (the second) or
``"tie"``. A dimension without a human label is simply absent from ``labels``
(GenAI-Bench, for instance, only has ``Overall``).
"""

from __future__ import annotations

from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator

Dimension = Literal["TA", "VQ", "MQ", "Overall"]
Label = Literal["A", "B", "tie"]

DIMENSIONS: tuple[Dimension, ...] = get_args(Dimension)
LABELS: tuple[Label, ...] = get_args(Label)

DIMENSION_NAMES: dict[Dimension, str] = {
    "TA": "text alignment",
    "VQ": "visual quality",
    "MQ": "motion quality",
    "Overall": "overall",
}


class PreferencePair(BaseModel):
    """A prompt, two generated videos and the human preference per dimension."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    pair_id: str = Field(description="Unique id of the pair within its source file.")
    prompt: str = Field(description="The text prompt both videos were generated from.")
    video_a: str = Field(description="Path of the first video (absolute, or relative to the data root).")
    video_b: str = Field(description="Path of the second video.")
    labels: dict[Dimension, Label] = Field(
        default_factory=dict,
        description="Human preference per dimension; a missing dimension has no label.",
    )
    source: str = Field(default="native", description="Where the pair came from (loader name).")
    meta: dict[str, Any] = Field(
        default_factory=dict,
        description=(
            "Source-specific extras, e.g. GenAI-Bench's 4-way `vote_type`, fps and frame "
            "counts from VideoGen-RewardBench, or the injected defects of a synthetic pair."
        ),
    )

    @field_validator("prompt")
    @classmethod
    def _prompt_not_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("prompt is empty")
        return value

    def label(self, dimension: Dimension) -> Label | None:
        """The label of ``dimension``, or ``None`` when the source has none."""
        return self.labels.get(dimension)

    def swapped(self) -> "PreferencePair":
        """The same pair with the videos in the other order (labels flipped)."""
        flip: dict[Label, Label] = {"A": "B", "B": "A", "tie": "tie"}
        return self.model_copy(
            update={
                "pair_id": f"{self.pair_id}:swapped",
                "video_a": self.video_b,
                "video_b": self.video_a,
                "labels": {dim: flip[lab] for dim, lab in self.labels.items()},
            }
        )
