"""``vrthinker eval --predictions`` run as a real subprocess, on the real GenAI-Bench file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def _vrthinker() -> list[str]:
    # The console script installed next to the interpreter running the tests (the
    # project venv locally and in CI); fall back to calling the entry point.
    script = Path(sys.executable).parent / "vrthinker"
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-c", "from vrthinker.cli import main; main()"]


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    # A wide fixed terminal so rich never wraps the numbers and messages we look for.
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([*_vrthinker(), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_eval_predictions_json_reproduces_genai_bench(shared_benchmarks: Path, repo_root: Path, tmp_path: Path) -> None:
    # Relative to the checkout, as a user types it: ../shared/benchmarks/...
    predictions = os.path.relpath(shared_benchmarks / "genai-bench" / "gpt4o.pairwise.jsonl", repo_root)
    result = _run(["eval", "--predictions", predictions, "--json", "--out", str(tmp_path / "run")], repo_root)
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout)  # exactly one JSON object on stdout
    # Published GenAI-Bench leaderboard: GPT-4o 48.46 (518 / 1069 = 0.484565).
    assert metrics["accuracy_4way"] == 0.4846
    assert metrics["format"] == "genai-bench"
    assert metrics["num_pairs"] == 1069
    assert metrics["support"]["accuracy_4way"] == 1069
    lo, hi = metrics["ci95"]["accuracy_4way"]
    assert lo < 0.4846 < hi
    written = json.loads((tmp_path / "run" / "metrics.json").read_text(encoding="utf-8"))
    assert written == metrics


def test_eval_predictions_table(shared_benchmarks: Path, repo_root: Path) -> None:
    predictions = shared_benchmarks / "genai-bench" / "gpt4o.pairwise.jsonl"
    result = _run(["eval", "--predictions", str(predictions), "--bootstrap", "0"], repo_root)
    assert result.returncode == 0, result.stderr
    assert "GenAI-Bench 4-way" in result.stdout
    assert "48.46" in result.stdout


def test_eval_malformed_file_exits_1_with_line(tmp_path: Path, repo_root: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        '{"pair_id": "a", "labels": {"Overall": "A"}, "judgment": {"Overall": "A"}}\n'
        '{"pair_id": "b", "labels": {"Overall": "A"}, "judgment": {"Overall": "maybe"}}\n',
        encoding="utf-8",
    )
    result = _run(["eval", "--predictions", str(bad)], repo_root)
    assert result.returncode == 1
    assert f"error: {bad}:2: judgment.Overall" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["eval"], "nothing to evaluate: give --predictions FILE"),
        (["eval", "--predictions", "x.jsonl", "--format", "csv"], "not a predictions format"),
    ],
)
def test_eval_usage_errors_exit_2(args: list[str], message: str, repo_root: Path) -> None:
    result = _run(args, repo_root)
    assert result.returncode == 2
    assert message in result.stderr
