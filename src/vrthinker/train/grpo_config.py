"""GRPO settings (SPEC §3, stage III). Shares the model/optim/train sections with SFT."""

from __future__ import annotations

from typing import Literal

import yaml
from pydantic import Field, model_validator

from vrthinker.data.schema import Dimension
from vrthinker.episode.config import EpisodeConfig
from vrthinker.train.config import ModelConfig, OptimConfig, TrainConfig, _Section
from vrthinker.train.rethinking import RethinkConfig
from vrthinker.train.rewards import RewardConfig


class PairsConfig(_Section):
    """Preference pairs to roll out on (and, optionally, held-out pairs to evaluate)."""

    pairs: str = Field(..., description="Training pairs (native JSONL, e.g. the synthetic suite's pairs.jsonl).")
    format: Literal["native", "videogen", "genai-bench", "mj-bench-video", "parquet"] = Field(
        "native", description="Format of `pairs` (see `vrthinker data check --help`)."
    )
    root: str | None = Field(None, description="Directory relative video paths are resolved against.")
    eval_pairs: str | None = Field(None, description="Held-out pairs scored greedily before training, every eval_every steps, and at the end.")
    eval_limit: int = Field(64, ge=1, description="Most held-out pairs per evaluation.")
    eval_every: int = Field(10, ge=1, description="Evaluate every this many steps.")


class GRPOSection(_Section):
    """The algorithm: groups, advantages, the clipped loss and the vanishing-advantage remedies."""

    group_size: int = Field(8, ge=2, description="G: trajectories sampled per pair.")
    pairs_per_step: int = Field(4, ge=1, description="Pairs rolled out per step (before dynamic-sampling refill).")
    stratify: Dimension | None = Field(
        None,
        description="A label dimension (e.g. 'Overall') whose values are spread evenly over each epoch's pair order, "
        "so that a short run sees both winning sides in their overall proportions (None: a plain seeded shuffle).",
    )
    both_orders: bool = Field(
        False,
        description="Roll every pair out in both orders within its step (the pair and the pair with the videos "
        "swapped, labels flipped; pairs_per_step counts both). A judge that leans to one position then loses on "
        "the twin what it gains on the pair, so a step rewards looking, not a side (swap augmentation, JudgeLM, "
        "Zhu et al. 2023).",
    )
    advantage_scale: Literal["std", "none"] = Field(
        "std", description="Divide group-centred rewards by the group std ('none': Dr.GRPO / VL-Rethinker)."
    )
    clip_low: float = Field(0.2, gt=0.0, lt=1.0, description="ε_low: ratios below 1 − ε_low are clipped (for A < 0).")
    clip_high: float = Field(0.28, gt=0.0, description="ε_high: ratios above 1 + ε_high are clipped (for A > 0); DAPO clip-higher.")
    aggregation: Literal["token_mean", "sequence_mean", "constant"] = Field(
        "token_mean", description="Loss aggregation over completion tokens (see train/losses.py)."
    )
    constant_normalizer: float = Field(200.0, gt=0.0, description="Denominator of the 'constant' aggregation.")
    kl_coef: float = Field(0.0, ge=0.0, description="β of the k3 KL to the frozen starting model; 0 loads no reference model.")
    num_iterations: int = Field(1, ge=1, description="Optimizer updates per rollout batch (old log-probs are stored).")
    micro_batch_size: int = Field(8, ge=1, description="Segments per forward/backward pass.")
    dynamic_sampling: Literal["off", "drop", "drop_refill"] = Field(
        "drop", description="Drop groups whose rewards are all equal; 'drop_refill' rolls out more pairs to refill."
    )
    max_refill_rounds: int = Field(2, ge=0, description="drop_refill: extra rollout rounds per step at most.")
    replay: Literal["off", "ssr"] = Field("off", description="Selective Sample Replay (VL-Rethinker).")
    replay_capacity: int = Field(64, ge=1, description="SSR: FIFO buffer size (trajectories).")
    replay_alpha: float = Field(1.0, ge=0.0, description="SSR: sampling probability ∝ |A|^α.")
    replay_batch: int | None = Field(
        None, ge=1, description="SSR: trajectories per step (default: group_size × pairs_per_step / 2, as VL-Rethinker)."
    )
    rethinking: RethinkConfig = Field(default_factory=RethinkConfig, description="Forced Rethinking (off by default).")
    rollout_batch_size: int = Field(16, ge=1, description="Episodes generated together per policy call.")


def _default_episode() -> EpisodeConfig:
    # The reference samples turn 1 at temperature 1.0 and later turns at 0.9.
    return EpisodeConfig(temperature=1.0, later_temperature=0.9, top_p=1.0)


class GRPOConfig(_Section):
    """Multi-turn GRPO on windowed segments."""

    model: ModelConfig = Field(default_factory=lambda: ModelConfig(freeze_vision=False), description="The policy (an RFT checkpoint).")
    data: PairsConfig = Field(..., description="Pairs to train and evaluate on.")
    episode: EpisodeConfig = Field(default_factory=_default_episode, description="How rollouts see the videos.")
    rewards: RewardConfig = Field(default_factory=RewardConfig, description="Reward parts and weights.")
    grpo: GRPOSection = Field(default_factory=GRPOSection, description="The algorithm.")
    optim: OptimConfig = Field(default_factory=lambda: OptimConfig(lr=1e-6), description="Optimizer and LR schedule.")
    train: TrainConfig = Field(default_factory=lambda: TrainConfig(output_dir="runs/grpo"), description="Loop and outputs.")

    @model_validator(mode="after")
    def _check(self) -> "GRPOConfig":
        if self.grpo.clip_high < self.grpo.clip_low:
            # Clip-higher (DAPO) widens the upper side; a narrower one is almost certainly a typo.
            raise ValueError(f"grpo.clip_high = {self.grpo.clip_high}: must be >= grpo.clip_low ({self.grpo.clip_low})")
        if self.train.max_steps is None:
            raise ValueError("train.max_steps: required for GRPO (there are no epochs over a fixed data set)")
        return self

    def input_paths(self) -> dict[str, str | None]:
        """Files that must exist before the run starts (checked by ``load_config``)."""
        return {"data.pairs": self.data.pairs, "data.eval_pairs": self.data.eval_pairs}

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)
