"""Token log-probabilities and the GRPO policy loss.

``grpo_loss`` is the PPO clipped objective with an asymmetric clip (DAPO's
clip-higher: ε_low for ratios below 1, ε_high above), the trajectory's
advantage on every completion token, an optional KL penalty to a frozen
reference with the k3 estimator, and a choice of aggregation:

- ``token_mean``: Σ loss / Σ tokens over the batch (or over ``num_tokens``,
  the global token count, so that gradient accumulation and data parallelism
  give the same update as one big batch);
- ``sequence_mean``: mean over sequences of each sequence's token mean (GRPO paper);
- ``constant``: Σ loss / ``constant_normalizer`` (Dr.GRPO; the VR-Thinker code uses 200).
"""

from __future__ import annotations

from typing import Literal

import torch

Aggregation = Literal["token_mean", "sequence_mean", "constant"]


def token_logprobs(logits: torch.Tensor, input_ids: torch.Tensor) -> torch.Tensor:
    """Log-prob of each next token: ``out[:, t]`` = log p(ids[t+1] | ids[:t+1]); shape (B, T-1)."""
    logp = torch.log_softmax(logits[:, :-1].float(), dim=-1)
    return logp.gather(-1, input_ids[:, 1:].unsqueeze(-1)).squeeze(-1)


def token_entropy(logits: torch.Tensor) -> torch.Tensor:
    """Entropy of each next-token distribution; shape (B, T-1)."""
    logp = torch.log_softmax(logits[:, :-1].float(), dim=-1)
    return -(logp.exp() * logp).sum(-1)


def k3_kl(logprobs: torch.Tensor, ref_logprobs: torch.Tensor) -> torch.Tensor:
    """Schulman's k3 estimator of KL(π‖π_ref) per token: exp(q − p) − (q − p) − 1 ≥ 0."""
    d = ref_logprobs - logprobs
    return torch.exp(d) - d - 1.0


def grpo_loss(
    logprobs: torch.Tensor,  # (B, T) current policy, completion positions
    old_logprobs: torch.Tensor,  # (B, T) behaviour policy (stored at rollout)
    advantages: torch.Tensor,  # (B,) one per sequence (its trajectory's advantage)
    mask: torch.Tensor,  # (B, T) 1 on trained tokens
    *,
    clip_low: float = 0.2,
    clip_high: float = 0.28,
    aggregation: Aggregation = "token_mean",
    ref_logprobs: torch.Tensor | None = None,
    kl_coef: float = 0.0,
    num_tokens: float | None = None,
    num_sequences: float | None = None,
    constant_normalizer: float = 200.0,
) -> tuple[torch.Tensor, dict[str, float]]:
    mask = mask.to(logprobs.dtype)
    adv = advantages.to(logprobs.dtype).unsqueeze(1)  # (B, 1)
    ratio = torch.exp(logprobs - old_logprobs)
    clipped = torch.clamp(ratio, 1.0 - clip_low, 1.0 + clip_high)
    per_token = torch.maximum(-ratio * adv, -clipped * adv)  # (B, T)
    kl = None
    if ref_logprobs is not None and kl_coef > 0:
        kl = k3_kl(logprobs, ref_logprobs)
        per_token = per_token + kl_coef * kl

    if aggregation == "token_mean":
        denom = num_tokens if num_tokens is not None else mask.sum().clamp(min=1.0)
        loss = (per_token * mask).sum() / denom
    elif aggregation == "sequence_mean":
        per_seq = (per_token * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        denom = num_sequences if num_sequences is not None else per_seq.shape[0]
        loss = per_seq.sum() / denom
    elif aggregation == "constant":
        loss = (per_token * mask).sum() / constant_normalizer
    else:
        raise ValueError(f"aggregation = {aggregation!r}: must be token_mean, sequence_mean or constant")

    with torch.no_grad():
        n = mask.sum().clamp(min=1.0)
        low = ((ratio < 1.0 - clip_low) & (adv < 0)).to(mask.dtype)  # clipped from below (pessimistic side)
        high = ((ratio > 1.0 + clip_high) & (adv > 0)).to(mask.dtype)
        metrics = {
            "ratio_mean": float((ratio * mask).sum() / n),
            "clip_frac_low": float((low * mask).sum() / n),
            "clip_frac_high": float((high * mask).sum() / n),
        }
        if kl is not None:
            metrics["kl"] = float((kl * mask).sum() / n)
    return loss, metrics
