"""The stage commands through the real CLI: `sample` (resumable), `train rft`, `train grpo`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from vrthinker.data.synthetic import generate_suite

pytestmark = pytest.mark.slow

VRTHINKER = str(Path(sys.executable).with_name("vrthinker"))
REPO = Path(__file__).resolve().parents[2]
SMALL = ["--frames-per-video", "8", "--initial-per-video", "1", "--prompt-style", "compact"]


def run(*args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run([VRTHINKER, *args], capture_output=True, text=True, timeout=600, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.fixture(scope="module")
def pairs(tmp_path_factory) -> Path:
    return generate_suite(tmp_path_factory.mktemp("suite"), num_pairs=4, seed=5, show_progress=False)


def test_sample_cli_resumes_without_duplicates(pairs, tmp_path):
    out = tmp_path / "accepted.jsonl"
    args = ["sample", "--model", "tiny", "--data", str(pairs), "--out", str(out), "--k", "2", "--max-new-tokens", "8",
            "--batch-pairs", "2", "--json", *SMALL]
    first = json.loads(run(*args, "--limit", "2").stdout)
    assert first["pairs"] == 2 and first["samples"] == 4
    full = json.loads(run(*args).stdout)  # continues with the two pairs not yet sampled
    assert full["pairs"] == 4 and full["samples"] == 8
    progress = [json.loads(line) for line in out.with_name(out.name + ".progress.jsonl").read_text().splitlines()]
    assert sorted(p["pair_id"] for p in progress) == sorted({p["pair_id"] for p in progress}) and len(progress) == 4
    again = json.loads(run(*args).stdout)  # nothing left: the same totals, no new lines
    assert again == full and len(out.with_name(out.name + ".progress.jsonl").read_text().splitlines()) == 4


def test_sample_cli_check_reasoning(pairs, tmp_path):
    out = tmp_path / "checked.jsonl"
    balanced = tmp_path / "balanced.jsonl"
    stats = json.loads(run("sample", "--model", "tiny", "--data", str(pairs), "--out", str(out), "--k", "1",
                           "--max-new-tokens", "8", "--check-reasoning", "--balanced-out", str(balanced), "--json",
                           *SMALL).stdout)  # fmt: skip
    assert stats["samples"] == 4 and stats["accepted"] <= stats["answers_right"]
    sides = stats["side_balance"]  # the accepted traces, sides evened (train.rejection.balance_sides)
    assert sides["A"] + sides["B"] + sides["other"] == stats["accepted"] and balanced.is_file()
    # Pairs without synthetic meta cannot be checked: said before any model is loaded.
    native = Path(pairs).with_name("plain.jsonl")  # beside the videos it names
    lines = [json.loads(x) for x in Path(pairs).read_text().splitlines()]
    native.write_text("".join(json.dumps({**x, "meta": {}}) + "\n" for x in lines))
    proc = subprocess.run([VRTHINKER, "sample", "--model", "tiny", "--data", str(native), "--out", str(out),
                           "--check-reasoning", *SMALL], capture_output=True, text=True, timeout=600, cwd=REPO)  # fmt: skip
    assert proc.returncode == 2 and "--check-reasoning" in proc.stderr and "syn-" in proc.stderr


def test_sample_cli_fills_rejected_pairs_from_reference_traces(pairs, tmp_path):
    teacher, out = tmp_path / "teacher.jsonl", tmp_path / "accepted.jsonl"
    filled, balanced = tmp_path / "filled.jsonl", tmp_path / "balanced.jsonl"
    run("data", "teach", str(pairs), "--out", str(teacher), "--max-calls", "1", *SMALL)
    stats = json.loads(run("sample", "--model", "tiny", "--data", str(pairs), "--out", str(out), "--k", "1",
                           "--max-new-tokens", "8", "--fill-from", str(teacher), "--filled-out", str(filled),
                           "--balanced-out", str(balanced), "--json", *SMALL).stdout)  # fmt: skip
    fill = stats["fill_rejected"]
    accepted_pairs = {json.loads(x)["meta"]["pair_id"] for x in out.read_text().splitlines()} if out.is_file() else set()
    assert fill["accepted"] == stats["accepted"] and fill["filled"] + fill["missing"] == 4 - len(accepted_pairs)
    assert len(filled.read_text().splitlines()) == fill["accepted"] + fill["fallback_traces"] > 0
    sides = stats["side_balance"]  # evened on the filled traces, not on the accepted ones alone
    assert sides["A"] + sides["B"] + sides["other"] == fill["accepted"] + fill["fallback_traces"]
    # One without the other: refused before any model is loaded.
    proc = subprocess.run([VRTHINKER, "sample", "--model", "tiny", "--data", str(pairs), "--out", str(out),
                           "--fill-from", str(teacher), *SMALL], capture_output=True, text=True, timeout=600, cwd=REPO)  # fmt: skip
    assert proc.returncode == 2 and "--filled-out" in proc.stderr


def test_train_rft_then_grpo_cli(pairs, tmp_path):
    traces = tmp_path / "traces.jsonl"
    run("data", "teach", str(pairs), "--out", str(traces), "--max-calls", "1", *SMALL)
    rft_out = tmp_path / "rft"
    run("train", "rft", "--config", "configs/rft_tiny.yaml", "model.name_or_path=tiny", f"data.traces=[{traces}]",
        "train.max_steps=2", "optim.warmup_steps=0", "train.batch_size=2", f"train.output_dir={rft_out}")
    checkpoint = rft_out / "checkpoint-2"
    assert (checkpoint / "model.safetensors").is_file()
    grpo_out = tmp_path / "grpo"
    proc = run(
        "train", "grpo", "--config", "configs/grpo_tiny.yaml", f"model.name_or_path={checkpoint}",
        f"data.pairs={pairs}", "data.eval_pairs=null", "episode.frames_per_video=8", "episode.initial_per_video=1",
        "episode.max_new_tokens=8", "grpo.group_size=2", "grpo.pairs_per_step=1", "grpo.rethinking.fraction=0",
        "grpo.dynamic_sampling=off", "train.max_steps=1", f"train.output_dir={grpo_out}",
    )  # fmt: skip
    assert "final model" in proc.stdout and (grpo_out / "checkpoint-1" / "model.safetensors").is_file()
    rows = [json.loads(line) for line in (grpo_out / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["step"] == 1 and "rollout/reward/accuracy" in rows[-1]
