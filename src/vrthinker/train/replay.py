"""Selective Sample Replay (VL-Rethinker, arXiv 2504.08837 §3.2).

GRPO with binary rewards leaves more and more groups with all-equal rewards,
whose advantages are zero: they cost compute and teach nothing. SSR

1. drops the zero-advantage samples of the current rollout,
2. draws the batch from the rest with probability ∝ |A|^α (α = 1), with replacement,
3. fills what is missing from a FIFO buffer of *earlier* non-zero-advantage samples
   (same ∝ |A|^α rule); replayed samples are off-policy: the trainer uses their stored
   old log-probs in the ratio,
4. then pushes the current non-zero samples into the buffer.

The released VL-Rethinker code never runs this path (its call forgets ``do_filter``) and
loops forever on an empty candidate set; here an empty set just yields a smaller batch.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Generic, Sequence, TypeVar

import numpy as np

T = TypeVar("T")


@dataclass(frozen=True)
class Selected(Generic[T]):
    item: T
    advantage: float
    replayed: bool  # True: drawn from the buffer (generated at an earlier step)
    step: int  # the step that generated it


def ssr_probabilities(advantages: Sequence[float], alpha: float = 1.0) -> np.ndarray:
    """p_i = |A_i|^α / Σ_j |A_j|^α."""
    w = np.abs(np.asarray(advantages, dtype=np.float64)) ** alpha
    total = w.sum()
    if total <= 0:
        raise ValueError("all advantages are zero: nothing to sample")
    return w / total


class SelectiveSampleReplay(Generic[T]):
    def __init__(self, capacity: int, alpha: float = 1.0, zero_tol: float = 1e-8, seed: int = 0):
        if capacity < 0:
            raise ValueError(f"capacity = {capacity}: must be >= 0")
        self.buffer: deque[Selected[T]] = deque(maxlen=capacity if capacity > 0 else None)
        self.capacity = capacity
        self.alpha = alpha
        self.zero_tol = zero_tol
        self.rng = np.random.default_rng(seed)

    def select(self, items: Sequence[T], advantages: Sequence[float], batch_size: int, step: int) -> list[Selected[T]]:
        nonzero = [(it, float(a)) for it, a in zip(items, advantages) if abs(a) > self.zero_tol]
        chosen: list[Selected[T]] = []
        if nonzero:
            k = min(batch_size, len(nonzero))
            p = ssr_probabilities([a for _, a in nonzero], self.alpha)
            for i in self.rng.choice(len(nonzero), size=k, replace=True, p=p):
                it, a = nonzero[int(i)]
                chosen.append(Selected(it, a, replayed=False, step=step))
        missing = batch_size - len(chosen)
        if missing > 0 and self.buffer and self.capacity > 0:
            pool = list(self.buffer)
            p = ssr_probabilities([s.advantage for s in pool], self.alpha)
            for i in self.rng.choice(len(pool), size=missing, replace=True, p=p):
                old = pool[int(i)]
                chosen.append(Selected(old.item, old.advantage, replayed=True, step=old.step))
        if self.capacity > 0:
            for it, a in nonzero:
                self.buffer.append(Selected(it, a, replayed=True, step=step))
        return chosen

    def state_dict(self) -> dict:
        return {"buffer": list(self.buffer), "rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict) -> None:
        self.buffer.clear()
        self.buffer.extend(state["buffer"])
        self.rng.bit_generator.state = state["rng"]
