"""The learning-rate schedule: a pure function of the step (nothing to save for resume).

Like nanoGPT's ``get_lr``: linear warm-up from 0, then cosine or linear decay to
``min_lr_ratio * lr`` at the last step, or constant. The loop sets
``param_group["lr"]`` from it before every optimizer step.
"""

from __future__ import annotations

import math
from typing import Literal

import torch

Schedule = Literal["cosine", "linear", "constant"]


def lr_at(
    step: int,
    *,
    lr: float,
    total_steps: int,
    warmup_steps: int = 0,
    schedule: Schedule = "cosine",
    min_lr_ratio: float = 0.0,
) -> float:
    """Learning rate for optimizer step ``step`` (0-based) of ``total_steps``.

    Warm-up gives step 0 the rate ``lr / warmup_steps`` (not 0, which would waste a step)
    and reaches ``lr`` at step ``warmup_steps - 1``; decay then runs so that the last
    step (``total_steps - 1``) uses ``min_lr_ratio * lr``.
    """
    if warmup_steps > 0 and step < warmup_steps:
        return lr * (step + 1) / warmup_steps
    if schedule == "constant":
        return lr
    decay_steps = total_steps - warmup_steps - 1
    progress = 1.0 if decay_steps <= 0 else min(1.0, (step - warmup_steps) / decay_steps)
    if schedule == "cosine":
        factor = 0.5 * (1.0 + math.cos(math.pi * progress))
    else:
        factor = 1.0 - progress
    return lr * (min_lr_ratio + (1.0 - min_lr_ratio) * factor)


def build_optimizer(
    model: torch.nn.Module, *, lr: float, weight_decay: float, betas: tuple[float, float], eps: float
) -> torch.optim.AdamW:
    """AdamW over the trainable parameters; no weight decay on biases and norm weights (1-D tensors).

    Parameter order follows ``named_parameters()``, so a rebuilt model gets the same
    optimizer-state layout on resume.
    """
    decay, no_decay = [], []
    for _, param in model.named_parameters():
        if param.requires_grad:
            (decay if param.ndim >= 2 else no_decay).append(param)
    groups = [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=lr, betas=betas, eps=eps)


__all__ = ["Schedule", "build_optimizer", "lr_at"]
