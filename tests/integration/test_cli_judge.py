"""``vrthinker judge`` end to end: real videos, the tiny model, JSON and the HTML trace in Chromium."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

VRTHINKER = str(Path(sys.executable).with_name("vrthinker"))


def run_judge(args, cwd):
    return subprocess.run([VRTHINKER, "judge", *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def test_judge_real_videos_json_and_trace(shared_benchmarks, tmp_path, repo_root, screenshot):
    videos = shared_benchmarks / "videoalign-example" / "videos"
    html = tmp_path / "trace.html"
    proc = run_judge(
        [
            "--model", "tiny", "--prompt", "A cat runs across a field",
            str(videos / "example_3_A.mp4"), str(videos / "example_3_B.mp4"),
            "--json", "--trace-html", str(html), "--max-new-tokens", "24", "--frames-per-video", "16",
        ],
        repo_root,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert set(out["judgment"]) == {"TA", "VQ", "MQ", "Overall"}
    for key in ("turns", "tool_calls", "invalid_calls", "end_reason", "visual_tokens_per_turn"):
        assert key in out
    # An untrained model writes garbage: the episode still ends cleanly with a reason.
    assert out["end_reason"] in {"answered", "no_answer", "turn_token_limit", "max_tool_calls"}
    assert len(out["visual_tokens_per_turn"]) == out["turns"] >= 1
    page = html.read_text()
    assert page.count("<img src=\"data:image/png;base64,") == 8  # the initial view: 4 frames per video
    assert "Frame 1 (Video 1)" in page and "Frame 17 (Video 2)" in page
    png = screenshot(html, tmp_path / "trace.png")
    img = np.asarray(Image.open(png).convert("RGB"))
    assert img.shape[0] > 500 and img.std() > 10  # a rendered page, not a blank one


def test_judge_errors_are_clear(tmp_path, repo_root):
    bad = tmp_path / "notes.mp4"
    bad.write_text("this is not a video")
    proc = run_judge(["--prompt", "x", str(bad), str(bad)], repo_root)
    assert proc.returncode == 2
    assert "notes.mp4" in proc.stderr and "Traceback" not in proc.stderr
    proc = run_judge(["--prompt", "x", "--window", "-1", str(bad), str(bad)], repo_root)
    assert proc.returncode == 2 and "must be >= 0" in proc.stderr
    proc = run_judge(["--model", "/no/such/model", "--prompt", "x", str(bad), str(bad)], repo_root)
    assert proc.returncode == 2 and "not found" in proc.stderr


def _pair_args(shared_benchmarks) -> list[str]:
    videos = shared_benchmarks / "videoalign-example" / "videos"
    return ["--prompt", "A cat runs across a field", str(videos / "example_3_A.mp4"), str(videos / "example_3_B.mp4"),
            "--frames-per-video", "16", "--json"]


def _call_then_answer(answer: str):
    """A served judge's replies: select frames 3 and 20 in the first turn, then ``answer``."""
    call = ('<think>look closer</think><recommend answer>TA: 1, VQ: 1, MQ: 0, Overall: 1</recommend answer>'
            '<tool_call>{"name": "select_frames", "arguments": {"target_frames": [3, 20]}}</tool_call>')
    return lambda body: call if len(body["messages"]) == 2 else answer


def test_judge_through_an_openai_compatible_endpoint(shared_benchmarks, tmp_path, repo_root):
    from fakes import openai_server

    answer = "<think>seen</think><answer>\nTA: 1\nVQ: 1\nMQ: 0\nOverall: 2\n</answer>"
    args = _pair_args(shared_benchmarks)
    with openai_server(_call_then_answer(answer)) as server:
        proc = run_judge(["--endpoint", server.url, "--model", "served-judge", *args], repo_root)
        assert proc.returncode == 0, proc.stderr
        out = json.loads(proc.stdout)
        assert out["judgment"] == {"TA": "A", "VQ": "A", "MQ": "tie", "Overall": "B"}
        assert out["tool_calls"] == 1 and out["turns"] == 2
        assert [b["model"] for b in server.received] == ["served-judge", "served-judge"]
        images = [c for m in server.received[1]["messages"] if isinstance(m["content"], list)
                  for c in m["content"] if c["type"] == "image_url"]
        assert len(images) == 8 + 2  # the initial view and the two selected frames, as data URLs
        failed = run_judge(["--endpoint", server.url, "--model", "broken", *args], repo_root)
        assert failed.returncode == 1 and "HTTP 500" in failed.stderr and "Traceback" not in failed.stderr
    gone = run_judge(["--endpoint", server.url, "--model", "served-judge", *args], repo_root)  # server stopped
    assert gone.returncode == 1 and "Traceback" not in gone.stderr


def test_judge_names_frames_video_first_when_asked(shared_benchmarks, tmp_path, repo_root):
    from fakes import openai_server

    answer = "<think>seen</think><answer>\nTA: 0\nVQ: 0\nMQ: 0\nOverall: 0\n</answer>"
    args = [*_pair_args(shared_benchmarks), "--prompt-style", "compact"]
    for labels, expected in (("frame_first", "Frame 20 (Video 2): "), ("video_first", "(Video 2) Frame 20: ")):
        with openai_server(_call_then_answer(answer)) as server:
            proc = run_judge(["--endpoint", server.url, "--model", "served-judge", "--frame-labels", labels, *args],
                             repo_root)
            assert proc.returncode == 0, proc.stderr
            texts = [c["text"] for m in server.received[1]["messages"] if isinstance(m["content"], list)
                     for c in m["content"] if c["type"] == "text"]
            assert any(t.endswith(expected) for t in texts), texts  # the label right before the selected frame
    bad = run_judge(["--frame-labels", "sideways", *args], repo_root)
    assert bad.returncode == 2 and "frame_labels" in bad.stderr
