"""Exact resume: a run stopped (or SIGKILLed) after a checkpoint and resumed ends with the
same weights, bit for bit, as an uninterrupted run (CPU, fp32)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fakes import make_label_traces
import torch
from safetensors.torch import load_file

from vrthinker.train.config import SFTConfig
from vrthinker.train.logging import read_metrics
from vrthinker.train.sft import ResumeError, train_sft

STEPS = 6  # batch 2 over 8 segments = 4 steps per epoch: the resumed part crosses an epoch boundary


def make_traces(directory: Path, num_pairs: int = 8, seed: int = 5) -> Path:
    return make_label_traces(directory, num_pairs=num_pairs, seed=seed)


def config(traces: Path, output_dir: Path, model: dict | None = None, **train) -> SFTConfig:
    # Warm-up + cosine so a resume that lost the step would use the wrong lr.
    return SFTConfig.model_validate(
        {
            "model": {"name_or_path": "tiny", "freeze_vision": False, **(model or {})},
            "data": {"traces": [str(traces)]},
            "optim": {"lr": 1e-3, "warmup_steps": 2, "schedule": "cosine", "weight_decay": 0.01},
            "train": {"batch_size": 2, "max_steps": STEPS, "log_every": 1, "save_every": 2,
                      "output_dir": str(output_dir), **train},
        }
    )  # fmt: skip


def assert_bitwise_equal(a: Path, b: Path) -> None:
    wa, wb = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    assert wa.keys() == wb.keys()
    different = [k for k in wa if not torch.equal(wa[k], wb[k])]
    assert not different, f"{len(different)} tensors differ, e.g. {different[:3]}"


@pytest.fixture(scope="module")
def traces(tmp_path_factory) -> Path:
    return make_traces(tmp_path_factory.mktemp("resume_data"))


@pytest.fixture(scope="module")
def uninterrupted(traces, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("uninterrupted")
    final = train_sft(config(traces, out))
    assert final == out / f"checkpoint-{STEPS}"
    return out


def test_stopped_and_resumed_run_matches_uninterrupted_bitwise(traces, uninterrupted, tmp_path):
    out = tmp_path / "interrupted"
    stopped = train_sft(config(traces, out, stop_after=3))  # saves at 2 and at the stop, 3
    assert stopped == out / "checkpoint-3" and (out / "latest").read_text().strip() == "checkpoint-3"
    # A resumed run may leave metrics past its checkpoint behind; pretend the kill came after step 4 was logged.
    with (out / "metrics.jsonl").open("a") as f:
        f.write('{"step": 4, "train/loss": 123.0}\n')

    final = train_sft(config(traces, out))  # resume is automatic: output_dir has `latest`
    assert final == out / f"checkpoint-{STEPS}"
    assert_bitwise_equal(final, uninterrupted / f"checkpoint-{STEPS}")
    resumed, reference = read_metrics(out / "metrics.jsonl"), read_metrics(uninterrupted / "metrics.jsonl")
    assert [m["step"] for m in resumed] == list(range(1, STEPS + 1))  # the orphan step-4 line is gone
    assert [m["train/loss"] for m in resumed] == [m["train/loss"] for m in reference]
    assert [m["train/lr"] for m in resumed] == [m["train/lr"] for m in reference]


def test_resume_requests_are_checked(traces, uninterrupted, tmp_path):
    with pytest.raises(ResumeError, match="already holds checkpoint-6"):
        train_sft(config(traces, uninterrupted), resume=False)
    with pytest.raises(ResumeError, match="has no checkpoint"):
        train_sft(config(traces, tmp_path / "empty"), resume=True)
    with pytest.raises(ResumeError, match="global batch 2 over 8 segments"):
        train_sft(config(traces, uninterrupted, batch_size=4, max_steps=8))


@pytest.mark.slow
def test_sigkilled_cli_run_resumes_to_the_same_weights(traces, uninterrupted, tmp_path):
    """A real `vrthinker train sft` process killed with SIGKILL right after its first checkpoint."""
    out = tmp_path / "killed"
    cfg_path = tmp_path / "sft.yaml"
    cfg_path.write_text(config(traces, out).to_yaml())
    cmd = [sys.executable, "-c", "from vrthinker.cli import main; main()", "train", "sft", "--config", str(cfg_path)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    deadline = time.monotonic() + 300
    while not (out / "latest").is_file():
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        assert time.monotonic() < deadline, "no checkpoint within 300 s"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (out / f"checkpoint-{STEPS}").exists(), "the run finished before the kill; nothing was tested"
    killed_at = (out / "latest").read_text().strip()

    done = subprocess.run([*cmd, "--resume"], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"resumed from {out / killed_at}" in done.stderr
    assert_bitwise_equal(out / f"checkpoint-{STEPS}", uninterrupted / f"checkpoint-{STEPS}")


def test_lora_resume_matches_including_dropout_rng(traces, tmp_path):
    """LoRA dropout draws from torch's RNG each step: equal adapters prove the RNG state was restored."""
    lora = {"lora": {"enabled": True, "r": 4, "alpha": 8, "dropout": 0.3}}
    whole = tmp_path / "whole"
    train_sft(config(traces, whole, model=lora, max_steps=4))
    parts = tmp_path / "parts"
    train_sft(config(traces, parts, model=lora, max_steps=4, stop_after=2))
    merged = train_sft(config(traces, parts, model=lora, max_steps=4))
    assert merged == parts / "merged"
    a = load_file(whole / "checkpoint-4/adapter_model.safetensors")
    b = load_file(parts / "checkpoint-4/adapter_model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert_bitwise_equal(parts / "merged", whole / "merged")
