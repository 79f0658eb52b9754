"""Forced Rethinking (VL-Rethinker, arXiv 2504.08837 §3.3), for multi-turn episodes.

For a fraction of the answered rollouts, the final turn is cut before its
reasoning closes (at ``</think>``), a rethinking trigger is appended
("\\n\\nWait, let me double-check the frames."), and the policy continues from
there in the same context. Only continuations that end with a correct Overall
answer are kept, at most ``max_kept_per_group`` per group, each **replacing
its own original** (looked up by trajectory key, never by position: the
reference code matched rewards to the wrong rollouts through a running
counter). The cut response stays trainable; the trigger is context only
unless ``train_trigger`` is set (the reference trains it).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from vrthinker.episode.config import EpisodeConfig
from vrthinker.episode.policy import GenerationRequest, Policy
from vrthinker.episode.protocol import parse_turn
from vrthinker.episode.tasks import Task
from vrthinker.episode.trajectory import Trajectory

DEFAULT_TRIGGERS = (
    "\n\nWait, let me double-check the frames.",
    "\n\nWait, does it seem right?",
    "\n\nWait, there might be a mistake.",
)


class RethinkConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    fraction: float = Field(0.0, ge=0.0, le=1.0, description="Share of answered rollouts that are forced to rethink (0 = off).")
    triggers: tuple[str, ...] = Field(DEFAULT_TRIGGERS, min_length=1, description="Trigger texts; one is drawn per rollout.")
    max_kept_per_group: int = Field(2, ge=0, description="Most successful rethinks that replace originals in one group.")
    train_trigger: bool = Field(False, description="Train on the trigger tokens too (the reference does).")
    temperature: float = Field(0.9, ge=0.0, description="Sampling temperature of the continuation.")


@dataclass(frozen=True)
class RethinkStats:
    attempted: int
    kept: int
    correct_before: int  # of the attempted, how many were correct before rethinking


def _cut_point(text: str) -> int | None:
    """Where the final turn is cut: just before its last ``</think>``."""
    i = text.rfind("</think>")
    return i if i > 0 else None


def force_rethink(
    groups: Sequence[Sequence[Trajectory]],
    policy: Policy,
    task: Task,
    episode_config: EpisodeConfig,
    config: RethinkConfig,
    rng: np.random.Generator,
) -> tuple[list[list[Trajectory]], RethinkStats]:
    """New groups in which kept rethinks replace the trajectories they came from."""
    jobs: list[tuple[int, str, Trajectory, str, int]] = []  # (group, key, original, prefix, trainable chars)
    for g, group in enumerate(groups):
        for t in group:
            if t.end_reason != "answered" or not t.turns or rng.random() >= config.fraction:
                continue
            last = t.turns[-1]
            full = last.assistant_prefix + last.text
            cut = _cut_point(full)
            if cut is None:
                continue
            trigger = config.triggers[int(rng.integers(len(config.triggers)))]
            prefix = full[:cut] + trigger
            jobs.append((g, t.key, t, prefix, len(prefix) if config.train_trigger else cut))
    if not jobs:
        return [list(g) for g in groups], RethinkStats(0, 0, 0)

    requests = [
        GenerationRequest(
            messages=t.turns[-1].context,
            images=tuple(t.workspace.image(r) for r in t.turns[-1].images),
            max_new_tokens=episode_config.max_new_tokens,
            temperature=config.temperature,
            top_p=episode_config.top_p,
            top_k=episode_config.top_k,
            assistant_prefix=prefix,
            episode_key=f"{key}#rethink",
        )
        for _, key, t, prefix, _ in jobs
    ]
    generations = policy.generate(requests)
    replacements: dict[str, Trajectory] = {}
    kept_per_group: dict[int, int] = {}
    correct_before = 0
    tool_names: list[str] = []
    for (g, key, original, prefix, trainable), req, gen in zip(jobs, requests, generations):
        gold = (original.labels or {}).get("Overall")
        correct_before += int(original.judgment.get("Overall") == gold and gold is not None)
        parsed = parse_turn(prefix + gen.text, tool_names, task.locate_answer)
        if parsed.kind != "answer" or kept_per_group.get(g, 0) >= config.max_kept_per_group:
            continue
        answer = task.parse_answer(parsed.answer_text)
        if gold is None or answer["judgment"].get("Overall") != gold:
            continue  # only successful rethinks are kept
        kept_per_group[g] = kept_per_group.get(g, 0) + 1
        new = copy.copy(original)
        new.turns = list(original.turns[:-1]) + [
            replace(
                original.turns[-1],
                text=gen.text,
                parsed=parsed,
                assistant_prefix=prefix,
                prefix_trainable_chars=trainable,
                completion_ids=gen.completion_ids,
                logprobs=gen.logprobs,
                finish_reason=gen.finish_reason,
                completion_tokens=gen.completion_tokens,
            )
        ]
        new.answer = answer
        new.answer_complete = task.answer_is_complete(answer)
        new.meta = {**original.meta, "rethought": True, "trigger": prefix[_cut_point(prefix) or 0 :]}
        replacements[key] = new
    out = [[replacements.get(t.key, t) for t in group] for group in groups]
    return out, RethinkStats(attempted=len(jobs), kept=len(replacements), correct_before=correct_before)
