"""Cold-start SFT on multi-turn visual chain-of-thought traces (SPEC §3, stage 1).

``train_sft(config)`` reads top to bottom in the order it runs:

1. accelerator (processes, mixed precision), resume decision, seeds;
2. model (+ frozen vision tower, + LoRA), from the config or the checkpoint;
3. segments of every trace turn; the data order of an epoch is a seeded permutation
   that depends only on (seed, epoch), so a resumed run recomputes it;
4. AdamW; the LR is ``optim.lr_at(step)``, a pure function of the step;
5. the loop: per step, ``grad_accum`` micro-batches per process, loss = sum of token
   cross-entropies over completion tokens divided by the **global** completion-token
   count of the step (all processes, all micro-batches), then clip, step, log, save.

Loss normalisation (why the global count): every completion token of an optimizer
step weighs the same, whatever the split. DDP averages gradients over the P
processes, so each process scales its sum by ``P / global_tokens``; then
1 process x batch B, 2 processes x B/2, and B/2 x 2 accumulation steps all give
the same gradient (tests/integration/test_distributed.py). Per-segment ``weight``
(1.0 for SFT traces) multiplies each segment's token losses.

Deviation from torchtune / TRL recipes: the epoch is cut into whole global batches
(the remainder of the permutation is skipped, as with ``drop_last``) so every step
has the same number of segments and a step's data is a function of the step alone.
"""

from __future__ import annotations

import logging
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
import yaml
from accelerate import Accelerator, DistributedDataParallelKwargs
from accelerate.utils import set_seed

from vrthinker.episode.messages import Message
from vrthinker.episode.traces import iter_trace_records, read_segment
from vrthinker.episode.trajectory import Segment
from vrthinker.policy.models import LoadedModel, load_model
from vrthinker.train.checkpoint import (
    CONFIG_NAME,
    TrainerState,
    find_latest,
    load_trainer_state,
    save_checkpoint,
)
from vrthinker.train.collate import IGNORE_INDEX, Batch, approx_length, collate_segments
from vrthinker.train.config import ConfigError, SFTConfig
from vrthinker.train.logging import MetricsWriter
from vrthinker.train.optim import build_optimizer, lr_at
from vrthinker.video import FrameCache

logger = logging.getLogger(__name__)


class ResumeError(RuntimeError):
    """The output directory and the resume request disagree, or a checkpoint does not fit the run."""


# --------------------------------------------------------------------------- data


class TraceSegments:
    """Every assistant turn of every trace record, as an indexable list of segments.

    Records are kept as parsed JSON (small); a segment's frames are rebuilt on access
    through a shared LRU ``FrameCache``, so memory stays bounded by the cache size
    rather than by the data set.
    """

    def __init__(self, paths: Sequence[str | Path], cache_size: int = 64) -> None:
        self.cache = FrameCache(max_entries=cache_size)
        self.records: list[dict[str, Any]] = []
        self.index: list[tuple[int, int]] = []  # (record, turn) per segment
        self.lengths: list[int] = []  # approximate tokens per segment (grouping by length)
        for path in paths:
            for _, record in iter_trace_records(path):
                for turn, t in enumerate(record.get("turn_records", [])):
                    self.index.append((len(self.records), turn))
                    self.lengths.append(approx_length([Message.from_json(m) for m in t.get("context", [])], t.get("text", "")))
                self.records.append(record)

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> Segment:
        record_idx, turn = self.index[i]
        return read_segment(self.records[record_idx], turn, self.cache)


def epoch_order(
    num_segments: int, seed: int, epoch: int, *, lengths: Sequence[int] | None = None, global_batch: int = 1,
    group_batches: int = 16,
) -> np.ndarray:
    """The segment order of ``epoch``: a permutation determined by (seed, epoch) (and ``lengths``) alone.

    With ``lengths`` (grouping by length), each run of ``group_batches`` global batches of the
    random permutation is sorted by length and cut into global batches, and the batches are
    shuffled: every step still draws its segments at random from a window of the data, but
    they have similar lengths, so little of a padded batch is padding. This is what
    transformers' ``group_by_length`` sampler does (megabatches sorted by length).
    """
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(num_segments)
    if lengths is None:
        return order
    if len(lengths) != num_segments:
        raise ValueError(f"lengths has {len(lengths)} entries for {num_segments} segments")
    size = np.asarray(lengths)
    window = global_batch * group_batches
    chunks = np.split(order, range(window, num_segments, window))
    grouped = np.concatenate([chunk[np.argsort(-size[chunk], kind="stable")] for chunk in chunks])
    full = num_segments - num_segments % global_batch
    batches = grouped[:full].reshape(-1, global_batch)[rng.permutation(full // global_batch)]
    return np.concatenate([batches.reshape(-1), grouped[full:]])


def micro_batch_indices(
    order: np.ndarray, position: int, *, batch_size: int, grad_accum: int, world_size: int, rank: int,
    lengths: Sequence[int] | None = None,
) -> list[list[int]]:
    """Segment indices of this rank's ``grad_accum`` micro-batches for step ``position`` of the epoch.

    The step owns ``order[position*G:(position+1)*G]`` with G = batch_size*grad_accum*world_size;
    micro-batch ``a`` of rank ``r`` is its slice number ``a*world_size + r``. Any split of the
    same G segments gives the same gradient under global-token normalisation, so with
    ``lengths`` the step's segments are first sorted by length (longest first): each
    micro-batch then holds segments of similar length and little of it is padding, while the
    step's data, and its gradient, stay those of the random order.
    """
    global_batch = batch_size * grad_accum * world_size
    step_idx = order[position * global_batch : (position + 1) * global_batch]
    if lengths is not None:
        step_idx = sorted(step_idx, key=lambda i: -lengths[i])
    return [
        [int(i) for i in step_idx[(a * world_size + rank) * batch_size : (a * world_size + rank + 1) * batch_size]]
        for a in range(grad_accum)
    ]


# --------------------------------------------------------------------------- model


def vision_tower(model: torch.nn.Module) -> torch.nn.Module | None:
    """The vision tower: ``model.model.visual`` in transformers 5 (``model.visual`` in 4.x)."""
    inner = getattr(model, "model", None)
    tower = getattr(inner, "visual", None)
    return tower if tower is not None else getattr(model, "visual", None)


def build_model(config: SFTConfig, checkpoint: Path | None, device: str) -> LoadedModel:
    """The policy to train: from the config, or with the weights of ``checkpoint``."""
    m = config.model
    if checkpoint is not None and not m.lora.enabled:
        # Our checkpoints are complete HF model dirs (weights, tokenizer, processor).
        loaded = load_model(checkpoint, dtype=m.dtype, device=device)
    else:
        loaded = load_model(m.name_or_path, dtype=m.dtype, device=device, tokenizer=m.tokenizer, seed=config.train.seed,
                            tiny=m.tiny)
    model = loaded.model
    if m.freeze_vision:
        tower = vision_tower(model)
        if tower is None:
            raise ConfigError([f"model.freeze_vision = true: {type(model).__name__} has no vision tower (model.model.visual)"])
        tower.requires_grad_(False)
    if m.lora.enabled:
        from peft import LoraConfig, PeftModel, get_peft_model

        if checkpoint is not None:
            model = PeftModel.from_pretrained(model, str(checkpoint), is_trainable=True)
        else:
            lora = LoraConfig(
                r=m.lora.r,
                lora_alpha=m.lora.alpha,
                lora_dropout=m.lora.dropout,
                target_modules=list(m.lora.target_modules),
                # The tower shares MLP names with the decoder; keep adapters out of a frozen tower.
                exclude_modules=r".*\.visual\..*" if m.freeze_vision else None,
            )
            model = get_peft_model(model, lora)
    model.train()
    return LoadedModel(model=model, processor=loaded.processor, tokenizer=loaded.tokenizer, name=loaded.name)


def completion_loss_sum(logits: torch.Tensor, batch: Batch) -> torch.Tensor:
    """Sum over completion tokens of weight x cross-entropy (next-token, labels shifted by one)."""
    # logits[:, t] predicts token t+1: (B, T-1, V) against labels (B, T-1)
    logits = logits[:, :-1].float()
    labels = batch.labels[:, 1:]
    token_ce = F.cross_entropy(logits.transpose(1, 2), labels, ignore_index=IGNORE_INDEX, reduction="none")  # (B, T-1)
    return (token_ce * batch.weights.to(token_ce.device)[:, None]).sum()


# --------------------------------------------------------------------------- loop


@dataclass
class _Progress:
    """Rich progress bar on rank zero; a no-op elsewhere."""

    enabled: bool
    total: int
    start: int

    def __enter__(self) -> "_Progress":
        self._bar = None
        if self.enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._bar = Progress(
                TextColumn("sft"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), TextColumn("{task.fields[info]}")
            )
            self._bar.start()
            self._task = self._bar.add_task("sft", total=self.total, completed=self.start, info="")
        return self

    def update(self, step: int, info: str) -> None:
        if self._bar is not None:
            self._bar.update(self._task, completed=step, info=info)

    def __exit__(self, *exc: Any) -> None:
        if self._bar is not None:
            self._bar.stop()


def _resume_checkpoint(output_dir: Path, resume: bool | None) -> Path | None:
    latest = find_latest(output_dir)
    if resume is True and latest is None:
        raise ResumeError(f"--resume: {output_dir} has no checkpoint (no {output_dir / 'latest'})")
    if resume is False and latest is not None:
        raise ResumeError(
            f"{output_dir} already holds {latest.name}; resume it (--resume, the default) "
            "or choose another train.output_dir"
        )
    return latest


def changed_keys(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two nested config dicts."""
    if isinstance(old, dict) and isinstance(new, dict):
        return [
            k for key in sorted(set(old) | set(new))
            for k in changed_keys(old.get(key), new.get(key), f"{prefix}{key}.")
        ]  # fmt: skip
    return [] if old == new else [prefix.rstrip(".")]


def train_sft(config: SFTConfig, *, resume: bool | None = None) -> Path:
    """Run SFT; return the final HF model dir (last checkpoint, or ``merged/`` with LoRA).

    ``resume``: None = continue from ``output_dir/latest`` when it exists; True = require it;
    False = require a fresh ``output_dir``. Launch under ``accelerate launch`` for several processes.
    """
    cfg_t, cfg_o = config.train, config.optim
    out = Path(cfg_t.output_dir)

    # 1. processes and precision --------------------------------------------------
    accelerator = Accelerator(
        mixed_precision="bf16" if cfg_t.precision == "bf16" else "no",
        # A micro-batch without images leaves the vision tower unused; DDP must not wait for it.
        kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)],
    )
    world, rank, main = accelerator.num_processes, accelerator.process_index, accelerator.is_main_process
    checkpoint = _resume_checkpoint(out, resume)
    set_seed(cfg_t.seed, device_specific=True)  # seed + rank: distinct dropout masks per process
    if main:
        out.mkdir(parents=True, exist_ok=True)
        (out / CONFIG_NAME).write_text(config.to_yaml(), encoding="utf-8")

    # 2. model ----------------------------------------------------------------------
    device = "cuda" if accelerator.device.type == "cuda" else "cpu"
    loaded = build_model(config, checkpoint, device)
    model, processor = loaded.model, loaded.processor
    n_train = sum(p.numel() for p in model.parameters() if p.requires_grad)
    n_all = sum(p.numel() for p in model.parameters())

    # 3. data -----------------------------------------------------------------------
    segments = TraceSegments(config.data.traces, config.data.frame_cache_size)
    global_batch = cfg_t.batch_size * cfg_o.grad_accum * world
    steps_per_epoch = len(segments) // global_batch
    if steps_per_epoch == 0:
        raise ConfigError([
            f"train.batch_size = {cfg_t.batch_size}: {len(segments)} segments in data.traces cannot fill one "
            f"global batch of {global_batch} (batch_size x optim.grad_accum {cfg_o.grad_accum} x {world} processes)"
        ])
    total_steps = cfg_t.max_steps or cfg_t.epochs * steps_per_epoch
    end_step = min(total_steps, cfg_t.stop_after or total_steps)
    if main:
        logger.info(
            "sft: %d segments from %d traces, %d steps (%d per epoch, global batch %d = %d x %d x %d processes), "
            "%.2f M of %.2f M parameters train, precision %s",
            len(segments), len(segments.records), total_steps, steps_per_epoch, global_batch,
            cfg_t.batch_size, cfg_o.grad_accum, world, n_train / 1e6, n_all / 1e6, cfg_t.precision,
        )  # fmt: skip

    # 4. optimizer, then the checkpoint's state ------------------------------------------
    optimizer = build_optimizer(
        model, lr=cfg_o.lr, weight_decay=cfg_o.weight_decay, betas=cfg_o.betas, eps=cfg_o.eps
    )
    step = 0
    if checkpoint is not None:
        state = load_trainer_state(checkpoint, optimizer, rank)
        if (state.global_batch, state.num_segments) != (global_batch, len(segments)):
            raise ResumeError(
                f"{checkpoint} was made with global batch {state.global_batch} over {state.num_segments} segments; "
                f"this run has {global_batch} over {len(segments)}: the data order would not continue"
            )
        step = state.step
        if main:
            logger.info("resumed from %s at step %d (epoch %d, position %d)", checkpoint, step, state.epoch, state.position)
            saved = yaml.safe_load((checkpoint / CONFIG_NAME).read_text(encoding="utf-8"))
            changed = [k for k in changed_keys(saved, config.model_dump(mode="json")) if k != "train.stop_after"]
            if changed:
                # Allowed (e.g. more max_steps), but the result is no longer the uninterrupted run's.
                logger.warning("config changed since %s: %s", checkpoint.name, ", ".join(changed))
    model, optimizer = accelerator.prepare(model, optimizer)
    trainable = [p for p in model.parameters() if p.requires_grad]
    metrics = MetricsWriter(out / "metrics.jsonl", enabled=main)
    metrics.truncate_after(step)  # lines logged after the checkpoint belong to the killed run

    def save(at_step: int) -> Path:
        unwrapped = accelerator.unwrap_model(model)

        def save_weights(directory: Path) -> None:
            unwrapped.save_pretrained(directory)  # full model, or only the adapters with LoRA
            processor.save_pretrained(directory)

        return save_checkpoint(
            out,
            TrainerState(
                step=at_step,
                epoch=at_step // steps_per_epoch,
                position=at_step % steps_per_epoch,
                global_batch=global_batch,
                num_segments=len(segments),
            ),
            save_weights=save_weights,
            optimizer=optimizer,
            config_yaml=config.to_yaml(),
            rank=rank,
            barrier=accelerator.wait_for_everyone,
        )

    # 5. the loop -------------------------------------------------------------------------
    last_saved: Path | None = checkpoint
    window_tokens, window_start = 0, time.perf_counter()
    with _Progress(enabled=main, total=total_steps, start=step) as progress:
        while step < end_step:
            epoch, position = divmod(step, steps_per_epoch)
            order = epoch_order(len(segments), cfg_t.seed, epoch, global_batch=global_batch,
                                lengths=segments.lengths if cfg_t.group_by_length else None)
            micro = [
                collate_segments([segments[i] for i in idx], processor).to(accelerator.device)
                for idx in micro_batch_indices(
                    order, position, batch_size=cfg_t.batch_size, grad_accum=cfg_o.grad_accum, world_size=world, rank=rank,
                    lengths=segments.lengths,
                )
            ]
            # The denominator: completion tokens of the whole step, on every process.
            local_tokens = torch.tensor(float(sum(b.num_completion_tokens for b in micro)), device=accelerator.device)
            global_tokens = accelerator.reduce(local_tokens, reduction="sum").clamp(min=1.0)

            lr = lr_at(
                step, lr=cfg_o.lr, total_steps=total_steps, warmup_steps=cfg_o.warmup_steps,
                schedule=cfg_o.schedule, min_lr_ratio=cfg_o.min_lr_ratio,
            )  # fmt: skip
            for group in optimizer.param_groups:
                group["lr"] = lr

            loss_sum = torch.zeros((), device=accelerator.device)
            for a, batch in enumerate(micro):
                # Gradients sync across processes only on the last micro-batch.
                sync = accelerator.no_sync(model) if a < len(micro) - 1 else nullcontext()
                with sync:
                    with accelerator.autocast():
                        logits = model(**batch.model_inputs()).logits  # (B, T, V)
                        ce_sum = completion_loss_sum(logits, batch)
                    accelerator.backward(ce_sum * world / global_tokens)  # DDP divides by world again
                loss_sum += ce_sum.detach()
                window_tokens += int(batch.attention_mask.sum())

            # inf max-norm = measure without clipping (the scale factor is exactly 1).
            grad_norm = accelerator.clip_grad_norm_(trainable, cfg_o.grad_clip or float("inf"))
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1

            if step % cfg_t.log_every == 0 or step == end_step:
                loss = (accelerator.reduce(loss_sum, reduction="sum") / global_tokens).item()
                all_tokens = accelerator.reduce(torch.tensor(float(window_tokens), device=accelerator.device), "sum")
                elapsed = time.perf_counter() - window_start
                record = {
                    "train/loss": loss,
                    "train/lr": lr,
                    "train/grad_norm": float(grad_norm),
                    "train/completion_tokens": int(global_tokens.item()),
                    "train/tokens_per_sec": float(all_tokens) / max(elapsed, 1e-9),
                    "train/epoch": step / steps_per_epoch,
                }
                metrics.log(step, record)
                if main:
                    logger.info(
                        "step %d/%d loss %.4f lr %.2e grad_norm %.3f tok/s %.0f",
                        step, total_steps, loss, lr, record["train/grad_norm"], record["train/tokens_per_sec"],
                    )  # fmt: skip
                progress.update(step, f"loss {loss:.4f}")
                window_tokens, window_start = 0, time.perf_counter()
            else:
                progress.update(step, "")

            if step % cfg_t.save_every == 0 or step == end_step:
                last_saved = save(step)

    metrics.close()
    assert last_saved is not None  # the loop ran at least once, or we resumed from a checkpoint
    if step < total_steps or not config.model.lora.enabled:
        return last_saved

    # LoRA: also write base + adapters merged, loadable without peft.
    merged_dir = out / "merged"
    if main:
        merged = accelerator.unwrap_model(model).merge_and_unload()
        merged.save_pretrained(merged_dir)
        processor.save_pretrained(merged_dir)
        logger.info("saved merged model to %s", merged_dir)
    accelerator.wait_for_everyone()
    return merged_dir


__all__ = [
    "ResumeError",
    "TraceSegments",
    "build_model",
    "completion_loss_sum",
    "epoch_order",
    "micro_batch_indices",
    "train_sft",
]
