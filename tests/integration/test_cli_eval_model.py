"""``vrthinker eval --model`` end to end: the tiny model as a subprocess, a killed run, the report in Chromium."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

VRTHINKER = str(Path(sys.executable).with_name("vrthinker"))
FAST = ["--frames-per-video", "8", "--max-new-tokens", "16", "--bootstrap", "100"]
PLOTS = ("accuracy_per_dimension", "accuracy_by_length", "tool_calls_hist", "frames_viewed_hist")


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([VRTHINKER, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def prediction_ids(out: Path) -> list[str]:
    """Pair ids of the complete lines (a killed run may leave a torn last line, which the next run drops)."""
    complete = (out / "predictions.jsonl").read_text().split("\n")[:-1]
    return [json.loads(line)["pair_id"] for line in complete]


@pytest.fixture(scope="module")
def synth_suite(tmp_path_factory, repo_root) -> Path:
    out = tmp_path_factory.mktemp("synth")
    proc = run(["data", "synth", "--out", str(out), "--pairs", "4", "--seed", "3"], repo_root)
    assert proc.returncode == 0, proc.stderr
    return out / "pairs.jsonl"


@pytest.mark.slow
def test_killed_run_resumes_without_duplicates(synth_suite, tmp_path, repo_root, screenshot):
    out = tmp_path / "run"
    args = ["eval", "--model", "tiny", "--data", str(synth_suite), "--out", str(out), "--batch-pairs", "1", *FAST]
    # Kill the run with SIGKILL once the first pair is committed (no cleanup code runs).
    with open(tmp_path / "killed.err", "w") as err:
        proc = subprocess.Popen([VRTHINKER, *args], cwd=repo_root, stdout=subprocess.DEVNULL, stderr=err)
        deadline = time.monotonic() + 300
        predictions = out / "predictions.jsonl"
        while time.monotonic() < deadline and proc.poll() is None:
            if predictions.is_file() and predictions.read_text().count("\n") >= 1:
                break
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    first = prediction_ids(out)
    assert 1 <= len(first) < 4, (tmp_path / "killed.err").read_text()  # killed mid-run

    done = run([*args, "--json"], repo_root)
    assert done.returncode == 0, done.stderr
    assert f"{len(first)} of 4 pairs already judged" in done.stderr
    ids = prediction_ids(out)
    assert ids[: len(first)] == first and sorted(ids) == [f"syn-{i:06d}" for i in range(4)]  # 4 unique lines
    metrics = json.loads(done.stdout)  # exactly one JSON object on stdout
    assert metrics == json.loads((out / "metrics.json").read_text())
    assert metrics["num_pairs"] == 4 and metrics["headline"] == "Overall"
    assert metrics["tool_use"]["num_episodes"] == 4 and sum(metrics["tool_use"]["end_reasons"].values()) == 4
    assert metrics["report"] == str(out / "report.html")
    for name in PLOTS:
        assert (out / "plots" / f"{name}.png").stat().st_size > 1000
    page = (out / "report.html").read_text()
    for pair_id in ids:
        assert (out / "traces" / f"{pair_id}.html").is_file() and (out / "traces" / f"{pair_id}.json").is_file()
        assert f"href='traces/{pair_id}.html'" in page
    png = screenshot(out / "report.html", tmp_path / "report.png")
    img = np.asarray(Image.open(png).convert("RGB"))
    assert img.shape[0] > 500 and img.std() > 10  # a rendered page, not a blank one

    # A third run has nothing left to judge: same predictions, the table and the report path.
    again = run(args, repo_root)
    assert again.returncode == 0, again.stderr
    assert prediction_ids(out) == ids
    assert "tool calls per episode" in again.stdout and f"report: {out / 'report.html'}" in again.stdout


@pytest.mark.slow
def test_real_videoalign_example(shared_benchmarks, tmp_path, repo_root):
    example = shared_benchmarks / "videoalign-example"
    out = tmp_path / "run"
    proc = run(
        ["eval", "--model", "tiny", "--data", str(example / "example.csv"), "--format", "videogen",
         "--root", str(example), "--limit", "3", "--out", str(out), "--json", *FAST],
        repo_root,
    )
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads(proc.stdout)
    assert metrics["num_pairs"] == 3
    assert metrics["headline"] == "mean(TA,VQ,MQ)"  # VideoAlign's CSV has no Overall label
    assert set(metrics["per_dimension"]) == {"TA", "VQ", "MQ"}
    rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert [row["pair_id"] for row in rows] == ["example:1", "example:2", "example:3"]
    meta = rows[0]["meta"]
    assert meta["num_frames_a"] == 126 and meta["num_frames_b"] == 152  # example_1: 126 and 152 frames
    assert meta["duration_s"] > 0 and meta["length_bucket"]
    assert sum(metrics["by_bucket"][b]["num_pairs"] for b in metrics["by_bucket"]) == 3
    for name in PLOTS:
        assert (out / "plots" / f"{name}.png").is_file()
    traces = sorted(p.name for p in (out / "traces").glob("*.html"))
    assert len(traces) == 3 and all(t.startswith("example_") for t in traces)  # ':' made file-safe
    page = (out / "report.html").read_text()
    assert all(f"traces/{t}" in page for t in traces)
    assert "Frame 1 (Video 1)" in (out / "traces" / traces[0]).read_text()


def test_modes_are_exclusive(tmp_path, repo_root):
    both = run(["eval", "--predictions", "x.jsonl", "--model", "tiny", "--data", "d.jsonl", "--out", "o"], repo_root)
    assert both.returncode == 2 and "not both" in both.stderr
    neither = run(["eval"], repo_root)
    assert neither.returncode == 2 and "nothing to evaluate" in neither.stderr
    stray = run(["eval", "--predictions", "x.jsonl", "--data", "d.jsonl", "--limit", "3"], repo_root)
    assert stray.returncode == 2 and "--data, --limit only apply with --model" in stray.stderr
    no_out = run(["eval", "--model", "tiny", "--data", "d.jsonl"], repo_root)
    assert no_out.returncode == 2 and "--model needs --data FILE and --out DIR" in no_out.stderr


def test_model_run_errors_are_clear(tmp_path, repo_root):
    missing = run(["eval", "--model", "tiny", "--data", str(tmp_path / "none.jsonl"), "--out", str(tmp_path / "o")],
                  repo_root)
    assert missing.returncode == 1 and "none.jsonl" in missing.stderr and "Traceback" not in missing.stderr
    bad_fmt = run(["eval", "--model", "tiny", "--data", "d.jsonl", "--format", "vrthinker", "--out", "o"], repo_root)
    assert bad_fmt.returncode == 2 and "not a data format" in bad_fmt.stderr
    bad_window = run(["eval", "--model", "tiny", "--data", "d.jsonl", "--window", "-2", "--out", "o"], repo_root)
    assert bad_window.returncode == 2 and "must be >= 0" in bad_window.stderr
