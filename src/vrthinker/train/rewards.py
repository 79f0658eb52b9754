"""Trajectory rewards: each part a small function, weighted by config and logged on its own.

Parts (all per trajectory, G trajectories per pair form a group):

- ``accuracy``: Overall judgment, +1 correct, 0 wrong, ``unparseable_reward`` (−1) when no Overall
  answer was given (VR-Thinker's correctness reward).
- ``dimensions``: fraction of the labelled TA/VQ/MQ dimensions judged correctly (0 if unparseable).
- ``format``: 1 when the episode is well formed (every turn thinks, no invalid call, complete answer).
- ``curiosity`` (Pixel Reasoner, paper form): ``α·1[used a tool]·max(H − RaPR, 0)`` with RaPR the
  fraction of the group that used a tool.
- ``efficiency`` (Pixel Reasoner): ``β·min(N − n_calls, 0)``.
- ``call_schedule`` (VR-Thinker reference, as an alternative to curiosity/efficiency): for
  trajectories with ≥ 1 call, ``c·g(n_calls) + c·min(rapr₂ − 0.6, 0)`` with g(1) = −1, g(2) = 0.5,
  g(3) = 1, g(≥4) = 1.5, rapr₂ the fraction of the group with more than one call, and c = 1 before
  ``schedule_decay_step`` and ``schedule_decay_coef`` after (docs/reference: 30 and 0.2).
- ``process``: the fraction of turns whose reasoning a task verifier accepts (e.g. the synthetic
  suite's scripted teacher, which knows every frame's defects: ``ScriptedTeacher.reasoning_agreement``).
  Off by default: real data has no per-frame truth. The outcome rewards pay a right answer reached
  through a wrong tally as much as a right one, and on the demo's tiny judge stage III then undid
  the tally that stage II had taught (docs/demo.md, eleventh session).

Sources: ../shared/docs/reference-rethinker-pixelreasoner.md §B.6, reference-vrthinker.md §4.1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal, Sequence

from pydantic import BaseModel, ConfigDict, Field

from vrthinker.episode.trajectory import Trajectory

REWARD_PARTS = ("accuracy", "dimensions", "format", "curiosity", "efficiency", "call_schedule", "process")

ProcessVerifier = Callable[[Trajectory], float]
"""Scores a trajectory's reasoning in [0, 1] (the ``process`` part); supplied by the task, not the config."""


class RewardConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    accuracy_weight: float = Field(1.0, description="Weight of the Overall accuracy reward (+1 / 0 / unparseable).")
    unparseable_reward: float = Field(-1.0, description="Accuracy reward when no Overall answer was given.")
    dimensions_weight: float = Field(0.5, description="Weight of per-dimension (TA/VQ/MQ) accuracy.")
    format_weight: float = Field(0.2, description="Weight of the format reward.")
    tool_shaping: Literal["none", "curiosity", "call_schedule"] = Field(
        "curiosity", description="Tool-use shaping: Pixel Reasoner's curiosity + efficiency, VR-Thinker's schedule, or none."
    )
    curiosity_target: float = Field(0.3, ge=0.0, le=1.0, description="H: the tool-use rate below which curiosity pays.")
    curiosity_coef: float = Field(0.5, ge=0.0, description="α of the curiosity bonus.")
    efficiency_free_calls: int = Field(1, ge=0, description="N: calls allowed before the efficiency penalty.")
    efficiency_coef: float = Field(0.05, ge=0.0, description="β of the efficiency penalty.")
    count_invalid_calls: bool = Field(
        False, description="Count invalid calls as tool use (the Pixel Reasoner code does; the paper counts valid operations)."
    )
    schedule_decay_step: int = Field(30, ge=0, description="call_schedule: step after which its coefficient decays.")
    schedule_decay_coef: float = Field(0.2, ge=0.0, description="call_schedule: coefficient after the decay step.")
    process_weight: float = Field(
        0.0, ge=0.0,
        description="Weight of the process reward: the fraction of turns a task verifier accepts. Needs a verifier "
        "(train_grpo(process_verifier=...)); 0 = outcome rewards only, as in VR-Thinker.",
    )


@dataclass(frozen=True)
class Reward:
    total: float
    parts: dict[str, float]  # unweighted values of every part (0.0 when disabled)


def _calls(t: Trajectory, cfg: RewardConfig) -> int:
    return t.tool_calls if cfg.count_invalid_calls else t.tool_calls - t.invalid_calls


def accuracy_reward(t: Trajectory, unparseable: float) -> float:
    pred, gold = t.judgment.get("Overall"), (t.labels or {}).get("Overall")
    if pred is None:
        return unparseable
    return 1.0 if gold is not None and pred == gold else 0.0


def dimensions_reward(t: Trajectory) -> float:
    labels = {d: v for d, v in (t.labels or {}).items() if d in ("TA", "VQ", "MQ")}
    if not labels:
        return 0.0
    pred = t.judgment
    return sum(pred.get(d) == v for d, v in labels.items()) / len(labels)


def curiosity_bonus(used_tool: bool, group_tool_rate: float, target: float) -> float:
    return float(used_tool) * max(target - group_tool_rate, 0.0)


def efficiency_penalty(calls: int, free_calls: int) -> float:
    return float(min(free_calls - calls, 0))


def call_schedule_reward(calls: int, group_multi_call_rate: float, step: int, cfg: RewardConfig) -> float:
    if calls < 1:
        return 0.0
    coef = 1.0 if step < cfg.schedule_decay_step else cfg.schedule_decay_coef
    g = {1: -1.0, 2: 0.5, 3: 1.0}.get(calls, 1.5)
    return coef * g + coef * min(group_multi_call_rate - 0.6, 0.0)


def score_group(
    group: Sequence[Trajectory], cfg: RewardConfig, step: int = 0, process: ProcessVerifier | None = None
) -> list[Reward]:
    """Rewards of the G trajectories of one pair (group statistics need them together).

    ``process`` scores each trajectory's reasoning for the ``process`` part; it is required when
    ``cfg.process_weight > 0``.
    """
    if cfg.process_weight > 0 and process is None:
        raise ValueError("rewards.process_weight > 0 needs a process verifier (none was given); set it to 0 or pass one")
    calls = [_calls(t, cfg) for t in group]
    tool_rate = sum(c > 0 for c in calls) / len(group)
    multi_rate = sum(c > 1 for c in calls) / len(group)
    out = []
    for t, n in zip(group, calls):
        parts = {p: 0.0 for p in REWARD_PARTS}
        parts["accuracy"] = accuracy_reward(t, cfg.unparseable_reward)
        parts["dimensions"] = dimensions_reward(t)
        parts["format"] = 1.0 if t.format_ok else 0.0
        total = cfg.accuracy_weight * parts["accuracy"] + cfg.dimensions_weight * parts["dimensions"]
        total += cfg.format_weight * parts["format"]
        if cfg.tool_shaping == "curiosity":
            parts["curiosity"] = curiosity_bonus(n > 0, tool_rate, cfg.curiosity_target)
            parts["efficiency"] = efficiency_penalty(n, cfg.efficiency_free_calls)
            total += cfg.curiosity_coef * parts["curiosity"] + cfg.efficiency_coef * parts["efficiency"]
        elif cfg.tool_shaping == "call_schedule":
            parts["call_schedule"] = call_schedule_reward(n, multi_rate, step, cfg)
            total += parts["call_schedule"]
        if cfg.process_weight > 0 and process is not None:
            parts["process"] = float(process(t))
            total += cfg.process_weight * parts["process"]
        out.append(Reward(total=total, parts=parts))
    return out
