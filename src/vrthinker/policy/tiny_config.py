"""Sizes of the tiny random Qwen-VL presets (``load_model("tiny")``), apart from the model code.

Light on purpose (pydantic only): training configs validate ``model.tiny`` without importing
torch or transformers.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Family = Literal["qwen2_5_vl", "qwen3_vl"]

# Released mrope splits ([16, 24, 24] for Qwen2.5-VL, [24, 20, 20] for Qwen3-VL, head_dim 128),
# scaled to the tiny head_dim when mrope_section is not given.
_MROPE_PROPORTIONS: dict[Family, tuple[int, int, int]] = {"qwen2_5_vl": (16, 24, 24), "qwen3_vl": (24, 20, 20)}


class TinyModelConfig(BaseModel):
    """Sizes of the tiny random Qwen-VL used in tests and CPU demos (see docs/feasibility.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    hidden_size: int = Field(128, description="Text model hidden size; also the vision merger's output size.")
    num_hidden_layers: int = Field(2, description="Text decoder layers.")
    num_attention_heads: int = Field(4, description="Text attention heads (head_dim = hidden_size / heads).")
    num_key_value_heads: int = Field(2, description="Text KV heads (GQA); must divide num_attention_heads.")
    intermediate_size: int = Field(256, description="Text MLP width.")
    max_position_embeddings: int = Field(4096, description="Longest sequence the rope tables are sized for.")
    rope_theta: float = Field(1e6, description="RoPE base; Qwen2.5-VL uses 1e6.")
    mrope_section: tuple[int, int, int] | None = Field(
        None,
        description="(temporal, height, width) split of head_dim/2 rotary pairs; must sum to head_dim/2. "
        "None scales the released model's split to this head_dim ([4, 6, 6] / [6, 5, 5] at head_dim 32).",
    )
    tie_word_embeddings: bool = Field(
        False, description="Share input embeddings and lm_head (halves the 151k-vocab cost of the real tokenizer)."
    )
    vision_depth: int = Field(2, description="Vision transformer blocks.")
    vision_hidden_size: int = Field(64, description="Vision transformer width.")
    vision_intermediate_size: int = Field(128, description="Vision MLP width.")
    vision_num_heads: int = Field(4, description="Vision attention heads.")
    window_size: int = Field(112, description="Qwen2.5-VL window-attention size in pixels.")
    fullatt_block_indexes: tuple[int, ...] = Field(
        (1,), description="Qwen2.5-VL vision blocks with full (not windowed) attention."
    )
    tokens_per_second: int = Field(2, description="Qwen2.5-VL temporal rope scale for videos.")
    num_position_embeddings: int = Field(
        256, description="Qwen3-VL learned vision position grid (a square number: 16x16 patches)."
    )
    deepstack_visual_indexes: tuple[int, ...] = Field(
        (0,), description="Qwen3-VL vision blocks whose features are injected into early text layers."
    )

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads

    def resolved_mrope_section(self, family: Family) -> list[int]:
        """The mrope split for ``family``: the configured one, or the released split scaled."""
        if self.mrope_section is not None:
            return list(self.mrope_section)
        half = self.head_dim // 2
        props = _MROPE_PROPORTIONS[family]
        section = [half * p // sum(props) for p in props]
        section[0] += half - sum(section)  # rounding remainder goes to the temporal axis
        return section

    @model_validator(mode="after")
    def _check(self) -> TinyModelConfig:
        errors = []
        if self.hidden_size % self.num_attention_heads:
            errors.append(
                f"hidden_size={self.hidden_size} not divisible by num_attention_heads={self.num_attention_heads}"
            )
        if self.num_attention_heads % self.num_key_value_heads:
            errors.append(
                f"num_attention_heads={self.num_attention_heads} not divisible by "
                f"num_key_value_heads={self.num_key_value_heads}"
            )
        if self.vision_hidden_size % self.vision_num_heads:
            errors.append(
                f"vision_hidden_size={self.vision_hidden_size} not divisible by "
                f"vision_num_heads={self.vision_num_heads}"
            )
        if self.mrope_section is not None and sum(self.mrope_section) != self.head_dim // 2:
            errors.append(f"mrope_section={list(self.mrope_section)} must sum to head_dim/2 = {self.head_dim // 2}")
        for name in ("fullatt_block_indexes", "deepstack_visual_indexes"):
            bad = [i for i in getattr(self, name) if not 0 <= i < self.vision_depth]
            if bad:
                errors.append(f"{name}={bad} out of range for vision_depth={self.vision_depth}")
        side = round(self.num_position_embeddings**0.5)
        if side * side != self.num_position_embeddings:
            errors.append(f"num_position_embeddings={self.num_position_embeddings} must be a square number")
        if errors:
            raise ValueError("; ".join(errors))
        return self
