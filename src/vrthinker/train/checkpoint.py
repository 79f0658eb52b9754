"""Checkpoints that resume exactly: weights, optimizer, RNG states, data cursor, config.

Layout of ``output_dir``::

    config.yaml               resolved config of the run
    metrics.jsonl             one line per logged step
    checkpoint-<step>/
        model.safetensors, config.json, tokenizer + preprocessor files
                              (HF format: load_model(dir) and transformers alone read it;
                               with LoRA: adapter_model.safetensors + adapter_config.json)
        trainer_state.pt      step, epoch, position, optimizer state, rank-0 RNG states
        rng_state_<rank>.pt   RNG states of ranks > 0 (multi-process runs)
        config.yaml           resolved config
    latest                    text file naming the newest complete checkpoint
    merged/                   LoRA runs only: base + adapters merged, HF format

A checkpoint is written to ``checkpoint-<step>.tmp`` and renamed when complete;
``latest`` is replaced atomically after that, so a kill at any moment leaves
``latest`` naming a complete checkpoint. The learning rate is a pure function of
the step (``train.optim.lr_at``), so there is no scheduler state to save.

Multi-process runs need ``output_dir`` on a file system all ranks share.
"""

from __future__ import annotations

import logging
import os
import random
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from vrthinker.files import write_text_atomic

logger = logging.getLogger(__name__)

LATEST = "latest"
TRAINER_STATE = "trainer_state.pt"
CONFIG_NAME = "config.yaml"


@dataclass(frozen=True)
class TrainerState:
    """Where the loop is: ``step`` optimizer steps done; the next one is ``position`` of ``epoch``."""

    step: int
    epoch: int
    position: int
    global_batch: int
    num_segments: int


def checkpoint_dir(output_dir: str | Path, step: int) -> Path:
    return Path(output_dir) / f"checkpoint-{step}"


def find_latest(output_dir: str | Path) -> Path | None:
    """The checkpoint ``latest`` names, or None when there is none yet."""
    pointer = Path(output_dir) / LATEST
    if not pointer.is_file():
        return None
    path = Path(output_dir) / pointer.read_text(encoding="utf-8").strip()
    if not (path / TRAINER_STATE).is_file():
        raise FileNotFoundError(f"{pointer} names {path.name}, which has no {TRAINER_STATE}")
    return path


def capture_rng_state() -> dict[str, Any]:
    """States of every RNG the loop may draw from (python, numpy, torch CPU and CUDA)."""
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(
    output_dir: str | Path,
    state: TrainerState,
    *,
    save_weights: Callable[[Path], None],
    optimizer: torch.optim.Optimizer,
    config_yaml: str,
    rank: int = 0,
    barrier: Callable[[], None] = lambda: None,
) -> Path:
    """Write ``checkpoint-<step>`` and then point ``latest`` at it. Call on every rank.

    ``save_weights(dir)`` writes the HF-format weights and processor (rank 0 only).
    """
    final = checkpoint_dir(output_dir, state.step)
    tmp = final.with_name(final.name + ".tmp")
    if rank == 0:
        if tmp.exists():
            shutil.rmtree(tmp)  # debris of a run killed mid-save
        tmp.mkdir(parents=True)
    barrier()  # the directory exists before other ranks write their RNG states
    if rank == 0:
        save_weights(tmp)
        torch.save(
            {**state.__dict__, "optimizer": optimizer.state_dict(), "rng": capture_rng_state()},
            tmp / TRAINER_STATE,
        )
        (tmp / CONFIG_NAME).write_text(config_yaml, encoding="utf-8")
    else:
        torch.save(capture_rng_state(), tmp / f"rng_state_{rank}.pt")
    barrier()  # every rank's files are in place before the rename
    if rank == 0:
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        write_text_atomic(Path(output_dir) / LATEST, final.name + "\n")
        logger.info("saved %s", final)
    barrier()
    return final


def load_trainer_state(path: Path, optimizer: torch.optim.Optimizer, rank: int = 0) -> TrainerState:
    """Restore optimizer and this rank's RNG states from checkpoint ``path``; return the cursor."""
    # weights_only=False: the file holds python/numpy RNG tuples we wrote ourselves.
    saved = torch.load(path / TRAINER_STATE, map_location="cpu", weights_only=False)
    optimizer.load_state_dict(saved["optimizer"])
    rng = saved["rng"]
    if rank > 0:
        rank_file = path / f"rng_state_{rank}.pt"
        if rank_file.is_file():
            rng = torch.load(rank_file, map_location="cpu", weights_only=False)
        else:
            logger.warning("%s has no RNG state for rank %d (process count changed?); using rank 0's", path, rank)
    restore_rng_state(rng)
    return TrainerState(**{k: saved[k] for k in TrainerState.__dataclass_fields__})


__all__ = [
    "CONFIG_NAME",
    "LATEST",
    "TRAINER_STATE",
    "TrainerState",
    "capture_rng_state",
    "checkpoint_dir",
    "find_latest",
    "load_trainer_state",
    "restore_rng_state",
    "save_checkpoint",
]
