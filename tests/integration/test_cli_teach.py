"""``vrthinker data teach`` run as a real subprocess on a small synthetic suite."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vrthinker.data.synthetic import generate_suite
from vrthinker.episode.traces import iter_trace_records, read_segments

VRTHINKER = Path(sys.executable).with_name("vrthinker")


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    command = [str(VRTHINKER)] if VRTHINKER.exists() else [sys.executable, "-c", "from vrthinker.cli import main; main()"]
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run(command + args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def suite(tmp_path_factory) -> Path:
    return generate_suite(tmp_path_factory.mktemp("suite"), num_pairs=8, seed=5, show_progress=False, workers=0)


def test_teach_writes_correct_traces_and_resumes(suite: Path, tmp_path: Path) -> None:
    out = tmp_path / "traces.jsonl"
    args = ["data", "teach", str(suite), "--out", str(out), "--window", "1", "--max-calls", "3", "--seed", "1"]
    result = run([*args, "--detour-prob", "0.5", "--json"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    stats = json.loads(result.stdout)  # exactly one JSON object on stdout
    assert stats["written"] == 8 and stats["rejected"] == 0 and stats["skipped_existing"] == 0
    assert stats["tool_call_rate"] > 0 and stats["mean_turns"] >= 1

    records = [r for _, r in iter_trace_records(out)]
    labels = {json.loads(line)["pair_id"]: json.loads(line)["labels"] for line in suite.read_text().splitlines()}
    assert sorted(r["key"] for r in records) == sorted(labels)
    for record in records:
        assert record["format_ok"] and record["end_reason"] == "answered"
        assert record["judgment"] == {d: labels[record["key"]][d] for d in ("TA", "VQ", "MQ", "Overall")}
        assert len(read_segments(record)) == record["turns"]

    # Resuming skips what is there; the human summary names the counts.
    result = run(args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "wrote 0 traces" in result.stdout and "8 already there" in result.stdout
    assert len(list(iter_trace_records(out))) == 8


def test_teach_options_and_errors(suite: Path, tmp_path: Path) -> None:
    out = tmp_path / "pv.jsonl"
    result = run(
        ["data", "teach", str(suite), "--out", str(out), "--window", "unlimited", "--frames-per-video", "24",
         "--addressing", "per_video", "--json"],
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    stats = json.loads(result.stdout)
    assert stats["written"] + stats["rejected"] == 8
    record = next(r for _, r in iter_trace_records(out))
    assert record["workspace"]["frames_per_video"] == 24 and record["workspace"]["addressing"] == "per_video"

    vf = tmp_path / "vf.jsonl"
    result = run(["data", "teach", str(suite), "--out", str(vf), "--frame-labels", "video_first", "--json"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    record = next(r for _, r in iter_trace_records(vf))
    assert record["workspace"]["frame_labels"] == "video_first"
    labels = [p["text"] for m in record["turn_records"][0]["context"] for p in m["parts"] if p["type"] == "text"]
    assert "\n(Video 1) Frame 1: " in labels

    bad = run(["data", "teach", str(suite), "--out", str(out), "--window", "-1"], cwd=tmp_path)
    assert bad.returncode != 0 and "must be >= 0" in bad.stderr
    missing = run(["data", "teach", str(tmp_path / "nope.jsonl"), "--out", str(out)], cwd=tmp_path)
    assert missing.returncode == 1 and "no such file" in missing.stderr


def test_teach_scan_strategy_and_frame_descriptions(suite: Path, tmp_path: Path) -> None:
    out, frames = tmp_path / "scan.jsonl", tmp_path / "frames.jsonl"
    result = run(
        ["data", "teach", str(suite), "--out", str(out), "--strategy", "scan", "--describe", "per_frame",
         "--frames-per-video", "16", "--max-calls", "2", "--prompt-style", "compact",
         "--tally", "per_video", "--frame-descriptions", str(frames)],
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "frame description turns" in result.stdout
    records = [r for _, r in iter_trace_records(out)]
    assert records and all(r["tool_calls"] == 2 and r["meta"]["teacher"]["strategy"] == "scan" for r in records)
    assert records[0]["turn_records"][0]["text"].startswith("<think>Frame 1 (Video 1): ")
    assert all(r["meta"]["teacher"]["tally"] == "per_video" for r in records)
    assert "Video 1 has " in records[0]["turn_records"][0]["text"] and "Defects:" not in records[0]["turn_records"][0]["text"]
    described = [r for _, r in iter_trace_records(frames)]
    assert len(described) == 8 and all(len(r["turn_records"]) == 32 for r in described)

    found = tmp_path / "found.jsonl"  # the closing tally naming only the videos with a defect
    result = run(["data", "teach", str(suite), "--out", str(found), "--strategy", "scan", "--describe", "per_frame",
                  "--frames-per-video", "16", "--max-calls", "2", "--tally", "found"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    texts = [t["text"] for _, r in iter_trace_records(found) for t in r["turn_records"]]
    assert all("Defects: " in t for t in texts) and not any("has none" in t for t in texts)

    bad = run(["data", "teach", str(suite), "--out", str(out), "--strategy", "psychic"], cwd=tmp_path)
    assert bad.returncode != 0 and "psychic" in bad.stderr
