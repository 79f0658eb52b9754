"""``vrthinker data ...`` run as a real subprocess (the installed console script)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import av
import pytest

VRTHINKER = Path(sys.executable).parent / "vrthinker"


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    command = [str(VRTHINKER)] if VRTHINKER.exists() else [sys.executable, "-c", "from vrthinker.cli import main; main()"]
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run(command + args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def true_video_facts(path: Path) -> tuple[float, int]:
    """(fps, frame count) by decoding every frame with PyAV: the ground truth."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return float(stream.average_rate), sum(1 for _ in container.decode(stream))


def test_check_videoalign_example_decodes_all_videos(repo_root: Path, shared_benchmarks: Path) -> None:
    folder = os.path.relpath(shared_benchmarks / "videoalign-example", repo_root)  # ../shared/benchmarks/...
    result = run(
        ["data", "check", f"{folder}/example.csv", "--format", "videogen", "--root", folder, "--decode", "--json"],
        cwd=repo_root,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)  # exactly one JSON object on stdout
    assert summary["pairs"] == 12 and summary["rows"] == 12 and summary["bad_rows"] == []
    assert summary["unique_videos"] == 6 and summary["unique_prompts"] == 3
    assert summary["labels"]["TA"] == {"A": 8, "B": 0, "tie": 4, "missing": 0}
    assert summary["meta_mismatches"] == []  # the CSV's fps_* / num_frames_* match the files

    videos = {Path(v["path"]).name: v for v in summary["videos"]}
    assert sorted(videos) == [f"example_{i}_{s}.mp4" for i in (1, 2, 3) for s in "AB"]
    expected = {  # docs/benchmarks.md §6, checked against PyAV below
        "example_1_A.mp4": (24.0, 126, 1360, 752),
        "example_1_B.mp4": (30.0, 152, 1280, 720),
        "example_2_A.mp4": (24.0, 144, 672, 384),
        "example_2_B.mp4": (24.0, 128, 1280, 768),
        "example_3_A.mp4": (24.0, 128, 1280, 768),
        "example_3_B.mp4": (16.0, 60, 688, 384),
    }
    for name, (fps, frames, width, height) in expected.items():
        info = videos[name]
        assert "error" not in info, info
        assert true_video_facts(shared_benchmarks / "videoalign-example" / "videos" / name) == (fps, frames)
        assert info["fps"] == pytest.approx(fps)
        assert info["num_frames"] == frames
        assert (info["width"], info["height"]) == (width, height)
        assert info["duration_s"] == pytest.approx(frames / fps, abs=0.05)


def test_check_human_readable(repo_root: Path, shared_benchmarks: Path) -> None:
    result = run(["data", "check", str(shared_benchmarks / "videoalign-example" / "example.csv"), "--format", "videogen", "--decode"], cwd=repo_root)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "12 pairs from 12 rows, 0 bad" in out
    assert "Labels per dimension" in out and "TA (text alignment)" in out
    assert "Decoded videos (6)" in out and "videos/example_3_B.mp4" in out and "688x384" in out


def test_check_metadata_only_benchmarks(repo_root: Path, shared_benchmarks: Path) -> None:
    genai = str(shared_benchmarks / "genai-bench" / "test.unifiedreward-export.json")
    result = run(["data", "check", genai, "--format", "genai-bench", "--no-check-files", "--json"], cwd=repo_root)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["pairs"] == 1889
    assert summary["labels"]["Overall"] == {"A": 619, "B": 651, "tie": 619, "missing": 0}
    assert summary["source_labels"]["vote_type"]["bothbad_vote"] == 404

    # With the file check, every row lacks its videos: reported, still exit 0 (skip is the default).
    result = run(["data", "check", genai, "--format", "genai-bench", "--json"], cwd=repo_root)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["pairs"] == 0 and len(summary["bad_rows"]) == 1889
    assert summary["bad_rows_by_field"] == {"video_left": 1889}

    mj = str(shared_benchmarks / "mj-bench-video" / "test.json")
    result = run(["data", "check", mj, "--format", "mj-bench-video", "--no-check-files", "--json"], cwd=repo_root)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["pairs"] == 1085
    assert summary["labels"]["Overall"] == {"A": 72, "B": 46, "tie": 959, "missing": 8}


def _bad_csv(tmp_path: Path) -> Path:
    path = tmp_path / "bad.csv"
    path.write_text(
        "path_A,path_B,prompt,VQ,MQ,TA\n"
        "a.mp4,b.mp4,a cat,A,B,same\n"
        "a.mp4,b.mp4,a dog,A,maybe,same\n"
    )
    return path


def test_bad_rows_skip_vs_fail(tmp_path: Path) -> None:
    path = _bad_csv(tmp_path)
    result = run(["data", "check", str(path), "--format", "videogen", "--no-check-files", "--json"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["pairs"] == 1
    assert summary["bad_rows"] == [{"row": 2, "field": "MQ", "reason": "unknown label value 'maybe'; expected A, B or same"}]

    result = run(["data", "check", str(path), "--format", "videogen", "--no-check-files", "--on-bad-row", "fail"], cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert lines[0].startswith("error: ") and "row 2: field 'MQ'" in lines[0] and "--on-bad-row skip" in lines[0]

    # The human summary lists bad rows with their reasons.
    result = run(["data", "check", str(path), "--format", "videogen", "--no-check-files"], cwd=tmp_path)
    assert result.returncode == 0 and "Bad rows (1)" in result.stdout and "maybe" in result.stdout


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        ("path_A,path_B,prompt,VQ,MQ\n", "required column 'TA' is missing; columns found: path_A, path_B, prompt, VQ, MQ"),
    ],
)
def test_unreadable_file_is_one_line_error(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "data.csv"
    if content is not None:
        path.write_text(content)
    result = run(["data", "check", str(path), "--format", "videogen", "--json"], cwd=tmp_path)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.strip().splitlines() == [f"error: {path}: {message}"]


def test_usage_errors_and_help(tmp_path: Path) -> None:
    path = _bad_csv(tmp_path)
    result = run(["data", "check", str(path), "--format", "excel"], cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr

    result = run(["data", "check", "--help"], cwd=tmp_path)
    assert result.returncode == 0
    for text in ("videogen", "genai-bench", "mj-bench-video", "--no-check-files", "--on-bad-row", "Examples"):
        assert text in result.stdout

    result = run(["data", "--help"], cwd=tmp_path)
    assert result.returncode == 0 and "check" in result.stdout and "synth" in result.stdout


@pytest.mark.skipif(importlib.util.find_spec("vrthinker.data.synthetic") is None, reason="vrthinker.data.synthetic not written yet")
def test_synth_then_check(tmp_path: Path) -> None:
    out = tmp_path / "suite"
    result = run(["data", "synth", "--out", str(out), "--pairs", "3", "--seed", "0"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    pairs_path = out / "pairs.jsonl"
    assert str(pairs_path) in result.stdout and pairs_path.is_file()

    result = run(["data", "check", str(pairs_path), "--format", "native", "--decode", "--json", "--on-bad-row", "fail"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["pairs"] == 3 and summary["bad_rows"] == []
    assert all("error" not in v for v in summary["videos"])


def test_synth_demo_style_options(tmp_path: Path) -> None:
    out = tmp_path / "suite"
    result = run(["data", "synth", "--out", str(out), "--pairs", "4", "--frames", "16", "--kinds", "noise",
                  "--local-fraction", "1", "--local-run", "2-3", "--backgrounds", "grey"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    config = json.loads((out / "suite.json").read_text())["config"]
    assert config["num_frames"] == 16 and config["local_run_frames"] == [2, 3] and config["backgrounds"] == ["grey"]
    for line in (out / "pairs.jsonl").read_text().splitlines():
        meta = json.loads(line)["meta"]
        assert meta["scene"]["background"] == "grey" and meta["num_frames"] == 16
        assert all(2 <= len(d["frames"]) <= 3 for d in meta["defects"])
    for bad, says in ((["--local-run", "three"], "MIN-MAX"), (["--local-run", "3-2"], "local_run_frames"),
                      (["--backgrounds", "plaid"], "backgrounds")):
        result = run(["data", "synth", "--out", str(tmp_path / "bad"), "--pairs", "1", *bad], cwd=tmp_path)
        assert result.returncode == 2 and says in result.stderr, result.stderr
