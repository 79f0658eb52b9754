"""Group-normalised advantages, shared by every segment of a trajectory."""

from __future__ import annotations

from typing import Literal, Sequence

import numpy as np


def group_advantages(
    rewards: Sequence[float], scale: Literal["std", "none"] = "std", eps: float = 1e-6
) -> np.ndarray:
    """``(r − mean) / (std + eps)`` over one group (population std), or ``r − mean`` with ``scale="none"``
    (Dr.GRPO / VL-Rethinker: no std division, so easy and hard groups weigh alike)."""
    r = np.asarray(rewards, dtype=np.float64)
    centred = r - r.mean()
    if scale == "none":
        return centred
    return centred / (r.std() + eps)


def is_uniform(rewards: Sequence[float], tol: float = 1e-6) -> bool:
    """All rewards of a group equal (within ``tol``): every advantage is zero, nothing to learn."""
    r = np.asarray(rewards, dtype=np.float64)
    return bool(r.max() - r.min() <= tol)
