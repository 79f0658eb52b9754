"""Stage III: multi-turn GRPO on windowed segments (SPEC §3).

``train_grpo(config)`` reads top to bottom in the order one step runs:

1. **Rollouts.** ``pairs_per_step`` pairs (a seeded per-epoch order; the cursor is saved),
   ``group_size`` episodes each, generated together by the HF backend. The engine applies the
   memory window, so every trajectory's turns are the segments it was sampled from.
2. **Forced Rethinking** (optional): some answered rollouts are cut and continued after a
   trigger; successful rethinks replace their own originals.
3. **Rewards** per group (each part logged), **advantages** group-normalised and shared by all
   segments of a trajectory.
4. **Dynamic sampling**: groups whose rewards are all equal are dropped (optionally refilled
   with more pairs).
5. **Old log-probs** of the step's samples: one no-grad forward pass before the update.
6. **Selective Sample Replay** (optional): the batch is drawn ∝ |A| and filled from a FIFO of
   earlier non-zero-advantage trajectories, which keep the old log-probs stored with them.
7. **Update(s)**: ``num_iterations`` optimizer steps, each over all segments in micro-batches,
   PPO clipped ratio with asymmetric clip, optional k3 KL to the frozen starting model, and
   token-mean (over the step's completion tokens), sequence-mean or constant aggregation.
8. Metrics (``metrics.jsonl``), held-out evaluation, checkpoints that resume exactly.

Deviations from the reference (docs/reference-vrthinker.md §4): rewards include per-dimension
accuracy and format by default; curiosity follows the Pixel Reasoner paper; the training
context equals the rollout context; the model computes its own 3-D M-RoPE positions.
Single process only for now (``accelerate launch`` with several processes is refused).
"""

from __future__ import annotations

import copy
import logging
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from accelerate import Accelerator
from accelerate.utils import set_seed

from vrthinker.data import load_pairs
from vrthinker.data.schema import DIMENSIONS, PreferencePair
from vrthinker.episode import Segment, Trajectory, VideoPreferenceTask
from vrthinker.policy.hf import HFPolicy
from vrthinker.policy.judge import Judge
from vrthinker.train.advantages import group_advantages, is_uniform
from vrthinker.train.checkpoint import CONFIG_NAME, TrainerState, find_latest, load_trainer_state, save_checkpoint
from vrthinker.train.collate import IGNORE_INDEX, Batch, approx_length, collate_segments
from vrthinker.train.config import ConfigError
from vrthinker.train.curves import plot_curves
from vrthinker.train.grpo_config import GRPOConfig, GRPOSection
from vrthinker.train.logging import MetricsWriter
from vrthinker.train.losses import grpo_loss, token_entropy, token_logprobs
from vrthinker.train.optim import build_optimizer, lr_at
from vrthinker.train.replay import SelectiveSampleReplay
from vrthinker.train.rethinking import force_rethink
from vrthinker.train.rewards import REWARD_PARTS, ProcessVerifier, RewardConfig, score_group
from vrthinker.train.sft import build_model
from vrthinker.video import FrameCache

logger = logging.getLogger(__name__)
GRPO_STATE = "grpo_state.pt"


@dataclass
class Sample:
    """A trajectory ready for the loss: its advantage, segments and behaviour log-probs."""

    trajectory: Trajectory
    advantage: float
    step: int  # the step that generated it
    old_logprobs: list[torch.Tensor] | None = None  # per segment, (T_i - 1,) next-token log-probs
    replayed: bool = False


# --------------------------------------------------------------------------- rollouts and scoring


def pair_order(num_pairs: int, seed: int, epoch: int, strata: Sequence[Any] | None = None) -> np.ndarray:
    """One epoch's order of the pairs: a seeded permutation, or with ``strata`` (one value per pair) a
    stratified one, each stratum spread evenly over the epoch, so every window of the stream holds
    the strata in about their overall proportions (a few GRPO steps see both winning sides alike)."""
    rng = np.random.default_rng([seed, epoch, 7])
    order = rng.permutation(num_pairs)
    if strata is None:
        return order
    members: dict[Any, list[int]] = {}
    for i in order:
        members.setdefault(strata[i], []).append(int(i))
    # The r-th of a stratum's m pairs sits at (r + offset) / m of the epoch; the offset, drawn per
    # stratum, keeps the strata from always starting in the same order.
    keyed = []
    for group in members.values():
        offset = rng.random()
        keyed += [((r + offset) / len(group), i) for r, i in enumerate(group)]
    return np.array([i for _, i in sorted(keyed)], dtype=np.int64)


def take_pairs(
    pairs: Sequence[PreferencePair], cursor: int, n: int, seed: int, stratify: str | None = None
) -> tuple[list[PreferencePair], int]:
    """``n`` pairs from the seeded stream at ``cursor``; the stream runs over epochs without end.

    ``stratify`` names a label dimension ("Overall") whose values are spread evenly over each epoch.
    """
    strata = [p.labels.get(stratify) for p in pairs] if stratify else None
    out, orders = [], {}
    for k in range(cursor, cursor + n):
        epoch, pos = divmod(k, len(pairs))
        if epoch not in orders:
            orders[epoch] = pair_order(len(pairs), seed, epoch, strata)
        out.append(pairs[int(orders[epoch][pos])])
    return out, cursor + n


def step_pairs(
    pairs: Sequence[PreferencePair], cursor: int, n: int, seed: int, g: GRPOSection
) -> tuple[list[PreferencePair], int]:
    """The ``n`` pairs a step rolls out: ``n`` from the stream, or with ``g.both_orders`` ⌈n/2⌉ from the
    stream, each followed by its swapped twin (videos exchanged, labels flipped)."""
    if not g.both_orders:
        return take_pairs(pairs, cursor, n, seed, g.stratify)
    batch, cursor = take_pairs(pairs, cursor, -(-n // 2), seed, g.stratify)
    return [q for p in batch for q in (p, p.swapped())], cursor


def group_by_pair(trajectories: Sequence[Trajectory]) -> list[list[Trajectory]]:
    groups: dict[str, list[Trajectory]] = {}
    for t in trajectories:
        groups.setdefault(t.meta["pair_id"], []).append(t)
    return list(groups.values())


def rollout_metrics(groups: Sequence[Sequence[Trajectory]], rewards: Sequence[Sequence[Any]]) -> dict[str, float]:
    trajs = [t for g in groups for t in g]
    flat = [r for g in rewards for r in g]
    n = max(len(trajs), 1)
    m: dict[str, float] = {"rollout/reward": float(np.mean([r.total for r in flat])) if flat else 0.0}
    for part in REWARD_PARTS:
        m[f"rollout/reward/{part}"] = float(np.mean([r.parts[part] for r in flat])) if flat else 0.0
    for dim in DIMENSIONS:
        labelled = [t for t in trajs if (t.labels or {}).get(dim) is not None]
        if labelled:
            m[f"rollout/accuracy/{dim}"] = float(np.mean([t.judgment.get(dim) == t.labels[dim] for t in labelled]))
    # Overall accuracy per gold label: a judge drifting to one side shows here before anywhere else.
    for label in ("A", "B"):
        side = [t for t in trajs if (t.labels or {}).get("Overall") == label]
        if side:
            m[f"rollout/accuracy/Overall_{label}"] = float(np.mean([t.judgment.get("Overall") == label for t in side]))
    calls = sum(t.tool_calls for t in trajs)
    m["rollout/tool_call_rate"] = sum(t.tool_calls > 0 for t in trajs) / n
    m["rollout/tool_calls_per_episode"] = calls / n
    m["rollout/invalid_call_rate"] = sum(t.invalid_calls for t in trajs) / max(calls, 1)
    m["rollout/frames_viewed"] = float(np.mean([len(t.frames_viewed) for t in trajs])) if trajs else 0.0
    m["rollout/tokens_per_trajectory"] = float(np.mean([t.total_tokens for t in trajs])) if trajs else 0.0
    m["rollout/visual_tokens_in_context"] = (
        float(np.mean([max(t.visual_tokens_per_turn or [0]) for t in trajs])) if trajs else 0.0
    )
    m["rollout/format_ok"] = sum(t.format_ok for t in trajs) / n
    for reason, count in Counter(t.end_reason for t in trajs).items():
        m[f"rollout/end/{reason}"] = count / n
    return m


# --------------------------------------------------------------------------- log-probs and loss


def _batch_logprobs(model: torch.nn.Module, batch: Batch, with_entropy: bool = False):
    logits = model(**batch.model_inputs()).logits  # (B, T, V)
    lp = token_logprobs(logits, batch.input_ids)  # (B, T-1)
    ent = token_entropy(logits).detach() if with_entropy else None
    return lp, ent


@torch.no_grad()
def attach_old_logprobs(model: torch.nn.Module, samples: Sequence[Sample], processor: Any, micro: int, device) -> None:
    """Behaviour log-probs of fresh samples, computed once before the update (the reference does the same)."""
    todo = _by_length([(s, i, seg) for s in samples if s.old_logprobs is None for i, seg in enumerate(s.trajectory.segments())])
    for s in samples:
        if s.old_logprobs is None:
            s.old_logprobs = [None] * len(s.trajectory.turns)  # type: ignore[list-item]
    was_training = model.training
    model.eval()
    for start in range(0, len(todo), micro):
        chunk = todo[start : start + micro]
        batch = collate_segments([seg for _, _, seg in chunk], processor).to(device)
        lp, _ = _batch_logprobs(model, batch)
        lengths = batch.attention_mask.sum(1).tolist()
        for row, (s, i, _) in enumerate(chunk):
            s.old_logprobs[i] = lp[row, : int(lengths[row]) - 1].float().cpu()  # type: ignore[index]
    model.train(was_training)


def _by_length(items: list[tuple[Sample, int, Segment]]) -> list[tuple[Sample, int, Segment]]:
    """Items sorted by segment length, longest first.

    A trajectory's turns range from one turn's context to the whole episode; cut in trajectory
    order, each micro-batch would be padded to its longest turn. The step's loss is a sum over
    all micro-batches, so their composition does not change the gradient, only the padding.
    """
    return sorted(items, key=lambda item: -approx_length(item[2].messages, item[2].completion))


def _micro_batches(samples: Sequence[Sample], processor: Any, micro: int):
    items = _by_length([(s, i, seg) for s in samples for i, seg in enumerate(s.trajectory.segments(weight=s.advantage))])
    for start in range(0, len(items), micro):
        chunk = items[start : start + micro]
        batch = collate_segments([seg for _, _, seg in chunk], processor)
        old = torch.full((batch.input_ids.shape[0], batch.input_ids.shape[1] - 1), float("nan"))
        for row, (s, i, _) in enumerate(chunk):
            if s.old_logprobs is None:
                continue  # on-policy: NaN rows are filled with the update's own detached log-probs
            stored = s.old_logprobs[i]
            old[row, : stored.shape[0]] = stored
        yield batch, old


# --------------------------------------------------------------------------- evaluation


def evaluate(judge: Judge, pairs: Sequence[PreferencePair], rewards: RewardConfig | None = None) -> dict[str, float]:
    """Greedy accuracy on held-out pairs (a tie or no answer counts as wrong for a non-tie label).

    With ``rewards``, also the mean training reward of the greedy episodes (``eval/reward``), each
    scored as a group of one (so the curiosity bonus, a group statistic, is 0 there) and without the
    process part (its verifier knows the training pairs only).
    """
    trajectories = judge.judge_pairs(pairs)
    m: dict[str, float] = {}
    if rewards is not None and trajectories:
        rewards = rewards.model_copy(update={"process_weight": 0.0})
        m["eval/reward"] = float(np.mean([score_group([t], rewards)[0].total for t in trajectories]))
    for dim in DIMENSIONS:
        pairs_dim = [t for t in trajectories if (t.labels or {}).get(dim) is not None]
        if pairs_dim:
            m[f"eval/accuracy/{dim}"] = float(np.mean([t.judgment.get(dim) == t.labels[dim] for t in pairs_dim]))
    m["eval/tool_calls_per_episode"] = float(np.mean([t.tool_calls for t in trajectories]))
    m["eval/format_ok"] = float(np.mean([t.format_ok for t in trajectories]))
    return m


# --------------------------------------------------------------------------- the loop


def train_grpo(config: GRPOConfig, *, resume: bool | None = None, process_verifier: ProcessVerifier | None = None) -> Path:
    """Run GRPO; return the last checkpoint directory (an HF model dir).

    ``process_verifier`` scores a rollout's reasoning for the ``process`` reward part (required when
    ``config.rewards.process_weight > 0``): the task's, e.g. the synthetic suite's scripted teacher.
    """
    g, cfg_t, cfg_o = config.grpo, config.train, config.optim
    if config.rewards.process_weight > 0 and process_verifier is None:
        raise ConfigError([
            f"rewards.process_weight = {config.rewards.process_weight}: the process reward needs a verifier of the "
            "reasoning, which only the Python API takes (train_grpo(config, process_verifier=...); `vrthinker demo "
            "--set grpo_process_weight=...` passes the scripted teacher). Set rewards.process_weight to 0"
        ])
    out = Path(cfg_t.output_dir)
    accelerator = Accelerator(mixed_precision="bf16" if cfg_t.precision == "bf16" else "no")
    if accelerator.num_processes > 1:
        raise ConfigError(["GRPO runs in one process for now; launch it without `accelerate launch --num_processes`"])
    checkpoint = find_latest(out)
    if resume is True and checkpoint is None:
        raise ConfigError([f"--resume: {out} has no checkpoint"])
    if resume is False and checkpoint is not None:
        raise ConfigError([f"{out} already holds {checkpoint.name}; resume it or choose another train.output_dir"])
    set_seed(cfg_t.seed)
    out.mkdir(parents=True, exist_ok=True)
    (out / CONFIG_NAME).write_text(config.to_yaml(), encoding="utf-8")

    # Model, reference model (only when the KL term is on), policy backend, judge.
    device = "cuda" if accelerator.device.type == "cuda" else "cpu"
    loaded = build_model(config, checkpoint, device)  # type: ignore[arg-type]
    model, processor = loaded.model, loaded.processor
    processor.min_pixels, processor.max_pixels = config.episode.min_pixels, config.episode.max_pixels
    ref_model = None
    if g.kl_coef > 0:
        ref_model = copy.deepcopy(model).eval().requires_grad_(False)
    cache = FrameCache(max_entries=256)
    policy = HFPolicy(model, processor, batch_size=g.rollout_batch_size)
    judge = Judge(policy, config.episode, cache)
    greedy_judge = Judge(policy, config.episode.model_copy(update={"temperature": 0.0, "later_temperature": None}), cache)
    task = VideoPreferenceTask()

    d = config.data
    pairs = load_pairs(d.pairs, d.format, root=d.root, on_bad_row="skip").pairs
    if not pairs:
        raise ConfigError([f"data.pairs = {d.pairs!r}: no usable pairs"])
    eval_pairs = load_pairs(d.eval_pairs, d.format, root=d.root, on_bad_row="skip").pairs[: d.eval_limit] if d.eval_pairs else []

    optimizer = build_optimizer(model, lr=cfg_o.lr, weight_decay=cfg_o.weight_decay, betas=cfg_o.betas, eps=cfg_o.eps)
    replay_batch = g.replay_batch or max(1, g.group_size * g.pairs_per_step // 2)
    ssr: SelectiveSampleReplay[Sample] = SelectiveSampleReplay(g.replay_capacity, g.replay_alpha, seed=cfg_t.seed)
    rng = np.random.default_rng([cfg_t.seed, 11])
    step, cursor = 0, 0
    if checkpoint is not None:
        state = load_trainer_state(checkpoint, optimizer)
        step, cursor = state.step, state.position
        extra = torch.load(checkpoint / GRPO_STATE, map_location="cpu", weights_only=False)
        ssr.load_state_dict(extra["ssr"])
        rng.bit_generator.state = extra["rng"]
        logger.info("resumed from %s at step %d", checkpoint, step)
    model, optimizer = accelerator.prepare(model, optimizer)
    trainable = [p for p in model.parameters() if p.requires_grad]
    metrics = MetricsWriter(out / "metrics.jsonl")
    metrics.truncate_after(step)
    total = cfg_t.max_steps
    assert total is not None
    end_step = min(total, cfg_t.stop_after or total)

    def save(at: int) -> Path:
        def save_weights(directory: Path) -> None:
            accelerator.unwrap_model(model).save_pretrained(directory)
            processor.save_pretrained(directory)

        path = save_checkpoint(
            out,
            TrainerState(step=at, epoch=cursor // len(pairs), position=cursor, global_batch=g.pairs_per_step, num_segments=len(pairs)),
            save_weights=save_weights,
            optimizer=optimizer,
            config_yaml=config.to_yaml(),
        )
        torch.save({"ssr": ssr.state_dict(), "rng": rng.bit_generator.state}, path / GRPO_STATE)
        return path

    if eval_pairs and step == 0:
        model.eval()
        metrics.log(0, evaluate(greedy_judge, eval_pairs, config.rewards))
    last_saved = checkpoint
    while step < end_step:
        t0 = time.perf_counter()
        model.eval()  # generation: no dropout
        # 1–4. rollouts, rethinking, rewards, advantages, dynamic sampling (with refill) ----------
        kept: list[tuple[list[Trajectory], np.ndarray]] = []
        all_groups, all_rewards = [], []
        filtered = 0
        rethink_kept = 0
        rounds = 0
        while True:
            need = g.pairs_per_step - len(kept) if rounds else g.pairs_per_step
            batch_pairs, cursor = step_pairs(pairs, cursor, need, cfg_t.seed, g)
            groups = group_by_pair(judge.judge_pairs(batch_pairs, samples_per_pair=g.group_size))
            if g.rethinking.fraction > 0:
                groups, stats = force_rethink(groups, policy, task, config.episode, g.rethinking, rng)
                rethink_kept += stats.kept
            for group in groups:
                rewards = score_group(group, config.rewards, step, process_verifier)
                totals = [r.total for r in rewards]
                all_groups.append(group)
                all_rewards.append(rewards)
                if g.dynamic_sampling != "off" and is_uniform(totals):
                    filtered += 1
                    continue
                kept.append((group, group_advantages(totals, g.advantage_scale)))
            rounds += 1
            if g.dynamic_sampling != "drop_refill" or len(kept) >= g.pairs_per_step or rounds > g.max_refill_rounds:
                break
        samples = [Sample(t, float(a), step) for group, adv in kept for t, a in zip(group, adv)]
        t_rollouts = time.perf_counter()

        # 5. behaviour log-probs, before any update (replayed samples keep the ones stored with them).
        # With one on-policy update per rollout they equal the update's own log-probs (detached),
        # so the extra forward pass is skipped, as TRL does.
        if g.num_iterations > 1 or g.replay == "ssr":
            attach_old_logprobs(model, samples, processor, g.micro_batch_size, accelerator.device)
        # 6. Selective Sample Replay ------------------------------------------------------------
        if g.replay == "ssr":
            chosen = ssr.select(samples, [s.advantage for s in samples], replay_batch, step)
            samples = [
                Sample(c.item.trajectory, c.advantage, c.step, c.item.old_logprobs, replayed=c.replayed) for c in chosen
            ]

        # 7. update(s) ---------------------------------------------------------------------------
        model.train()
        lr = lr_at(step, lr=cfg_o.lr, total_steps=total, warmup_steps=cfg_o.warmup_steps,
                   schedule=cfg_o.schedule, min_lr_ratio=cfg_o.min_lr_ratio)  # fmt: skip
        for pg in optimizer.param_groups:
            pg["lr"] = lr
        loss_metrics: Counter = Counter()
        grad_norm = 0.0
        micro = list(_micro_batches(samples, processor, g.micro_batch_size))
        # Token-mean over the whole step's completion tokens: the split into micro-batches does not matter.
        n_tokens = sum(int((b.labels[:, 1:] != IGNORE_INDEX).sum()) for b, _ in micro)
        n_seqs = sum(b.input_ids.shape[0] for b, _ in micro)
        for _ in range(g.num_iterations if micro else 0):
            for batch, old in micro:
                batch = batch.to(accelerator.device)
                mask = (batch.labels[:, 1:] != IGNORE_INDEX).float()
                with accelerator.autocast():
                    lp, ent = _batch_logprobs(model, batch, with_entropy=True)
                    ref_lp = None
                    if ref_model is not None:
                        with torch.no_grad():
                            ref_lp, _ = _batch_logprobs(ref_model, batch)
                    old = old.to(lp.device)
                    old = torch.where(torch.isnan(old), lp.detach(), old)
                    loss, parts = grpo_loss(
                        lp, old, batch.weights, mask,
                        clip_low=g.clip_low, clip_high=g.clip_high, aggregation=g.aggregation,
                        ref_logprobs=ref_lp, kl_coef=g.kl_coef, num_tokens=float(max(n_tokens, 1)),
                        num_sequences=float(max(n_seqs, 1)), constant_normalizer=g.constant_normalizer,
                    )  # fmt: skip
                accelerator.backward(loss)
                w = float(mask.sum())
                loss_metrics["loss"] += float(loss.detach())
                loss_metrics["entropy_sum"] += float((ent * mask).sum())
                loss_metrics["tokens"] += w
                for k, v in parts.items():
                    loss_metrics[k + "_sum"] += v * w
            grad_norm = float(accelerator.clip_grad_norm_(trainable, cfg_o.grad_clip or float("inf")))
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        step += 1

        # 8. metrics, evaluation, checkpoints ----------------------------------------------------
        record = rollout_metrics(all_groups, all_rewards)
        t_end = time.perf_counter()
        tok = max(loss_metrics["tokens"], 1.0)
        record.update({
            "train/loss": loss_metrics["loss"] / max(g.num_iterations, 1),
            "train/entropy": loss_metrics["entropy_sum"] / tok,
            "train/ratio_mean": loss_metrics["ratio_mean_sum"] / tok,
            "train/clip_frac_low": loss_metrics["clip_frac_low_sum"] / tok,
            "train/clip_frac_high": loss_metrics["clip_frac_high_sum"] / tok,
            "train/lr": lr,
            "train/grad_norm": grad_norm,
            "train/samples": len(samples),
            "train/completion_tokens": n_tokens,
            "rollout/groups_filtered": filtered,
            "rollout/groups_kept": len(kept),
            "rollout/replay_share": sum(s.replayed for s in samples) / max(len(samples), 1),
            "rollout/rethink_kept": rethink_kept,
            "time/step_s": t_end - t0,
            "time/rollout_s": t_rollouts - t0,  # rollouts, rethinking, rewards, refills
            "time/update_s": t_end - t_rollouts,  # behaviour log-probs, replay, update(s)
        })  # fmt: skip
        if g.kl_coef > 0:
            record["train/kl"] = loss_metrics["kl_sum"] / tok
        if eval_pairs and (step % d.eval_every == 0 or step == end_step):
            model.eval()
            record.update(evaluate(greedy_judge, eval_pairs, config.rewards))
        metrics.log(step, record)
        logger.info(
            "step %d/%d reward %.3f acc %.3f kept %d/%d loss %.4f (%.1fs)", step, total, record["rollout/reward"],
            record.get("rollout/accuracy/Overall", float("nan")), len(kept), len(all_groups), record["train/loss"],
            record["time/step_s"],
        )  # fmt: skip
        if step % cfg_t.save_every == 0 or step == end_step:
            last_saved = save(step)
    metrics.close()
    plot_curves(out / "metrics.jsonl", out / "curves.png")
    assert last_saved is not None
    return last_saved


__all__ = ["GRPO_STATE", "Sample", "evaluate", "rollout_metrics", "train_grpo"]
