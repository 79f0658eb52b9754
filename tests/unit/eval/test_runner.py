"""The benchmark runner and report, with a scripted judge on tiny real MP4s.

Resume logic (a limited run then the full run, a crash mid-run, a torn last
line), bad videos, and report numbers checked against hand-computed values.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from vrthinker.data.loaders import BadRow, LoadResult
from vrthinker.data.schema import PreferencePair
from vrthinker.episode import EpisodeConfig
from vrthinker.eval.predictions import load_predictions
from vrthinker.eval.report import tool_use_stats, write_report
from vrthinker.eval.runner import RunError, check_run_settings, read_done, run_benchmark, safe_name, _locked
from vrthinker.policy.judge import Judge
from vrthinker.policy.scripted import ReplayPolicy
from vrthinker.video import VideoError
from vrthinker.video.encode import write_video

CODE = {"A": 1, "B": 2, "tie": 0}


def answer(overall: str, others: str = "A") -> str:
    dims = {"TA": others, "VQ": others, "MQ": others, "Overall": overall}
    lines = "\n".join(f"{d}: {CODE[v]}" for d, v in dims.items())
    return f"<think>compared</think><answer>\n{lines}\n</answer>"


CALL = '<think>look closer</think><tool_call>{"name": "select_frames", "arguments": {"target_frames": [2, 5]}}</tool_call>'
BAD_CALL = "<think>oops</think><tool_call>{not json</tool_call>"

# pair -> (human Overall, judge Overall, turns before the answer)
PLAN = {
    "p0": ("A", "A", [CALL]),  # right, one valid call viewing 2 frames
    "p1": ("B", "A", [BAD_CALL]),  # wrong, one invalid call
    "p2": ("A", "A", []),  # right
    "p3": ("tie", "B", []),  # human tie, judge says B
    "p4": ("B", "B", []),  # right
}


def script(request, turn: int) -> str:
    human, judged, before = PLAN[request.episode_key]
    return before[turn] if turn < len(before) else answer(judged)


@pytest.fixture(scope="module")
def video_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("videos")
    rng = np.random.default_rng(0)
    for name, fps in (("a.mp4", 8), ("b.mp4", 4)):  # 1 s and 2 s long
        write_video(root / name, rng.integers(0, 255, (8, 32, 32, 3), dtype=np.uint8), fps=fps)
    (root / "broken.mp4").write_text("this is not a video")
    return root


def make_pairs(video_dir: Path, broken: str | None = None) -> list[PreferencePair]:
    pairs = []
    for pair_id, (human, _, _) in PLAN.items():
        video_b = video_dir / ("broken.mp4" if pair_id == broken else "b.mp4")
        labels = {"TA": "A", "VQ": "A", "MQ": "tie", "Overall": human}
        pairs.append(PreferencePair(pair_id=pair_id, prompt="a moving square", video_a=str(video_dir / "a.mp4"),
                                    video_b=str(video_b), labels=labels))
    return pairs


def make_judge() -> Judge:
    config = EpisodeConfig(frames_per_video=6, initial_per_video=2, min_pixels=28 * 28, max_pixels=28 * 28 * 4)
    return Judge(policy=ReplayPolicy(script), config=config)


def lines(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]


def judged_keys(judge: Judge) -> set[str]:
    return {request.episode_key for request in judge.policy.requests}


def test_limited_run_then_full_run_adds_only_the_rest(video_dir, tmp_path):
    pairs = make_pairs(video_dir)
    first = run_benchmark(pairs, make_judge(), tmp_path, batch_pairs=2, limit=3, show_progress=False)
    assert [r.prediction.pair_id for r in first] == ["p0", "p1", "p2"]
    judge = make_judge()
    records = run_benchmark(pairs, judge, tmp_path, batch_pairs=2, show_progress=False)
    assert judged_keys(judge) == {"p3", "p4"}
    assert [r.prediction.pair_id for r in records] == list(PLAN)
    assert [row["pair_id"] for row in lines(tmp_path)] == list(PLAN)  # 5 unique lines, input order
    for pair_id in PLAN:
        assert (tmp_path / "traces" / f"{pair_id}.json").is_file()
        assert (tmp_path / "traces" / f"{pair_id}.html").is_file()
    # A finished run is re-reported without building a judge.
    again = run_benchmark(pairs, lambda: pytest.fail("judge built with nothing to do"), tmp_path, show_progress=False)
    assert again == records


class Crash(RuntimeError):
    pass


def test_crash_mid_run_resumes_without_duplicates(video_dir, tmp_path):
    pairs = make_pairs(video_dir)
    def crashing(request, turn):
        if request.episode_key == "p2":  # the second chunk: p0, p1 are committed by then
            raise Crash("killed")
        return script(request, turn)

    judge = make_judge()
    judge.policy = ReplayPolicy(crashing)
    with pytest.raises(Crash):
        run_benchmark(pairs, judge, tmp_path, batch_pairs=2, show_progress=False)
    assert [row["pair_id"] for row in lines(tmp_path)] == ["p0", "p1"]
    judge = make_judge()
    run_benchmark(pairs, judge, tmp_path, batch_pairs=2, show_progress=False)
    assert judged_keys(judge) == {"p2", "p3", "p4"}
    assert [row["pair_id"] for row in lines(tmp_path)] == list(PLAN)


def test_torn_last_line_is_dropped_and_redone(video_dir, tmp_path, caplog):
    pairs = make_pairs(video_dir)
    run_benchmark(pairs, make_judge(), tmp_path, limit=3, show_progress=False)
    path = tmp_path / "predictions.jsonl"
    whole = path.read_text()
    path.write_text(whole + '{"pair_id": "p3", "labels": {"Overall": "t')  # killed mid-write
    with caplog.at_level(logging.WARNING):
        done = read_done(tmp_path)
    assert set(done) == {"p0", "p1", "p2"}
    assert "incomplete" in caplog.text
    assert path.read_text() == whole  # cut back to the last complete line
    judge = make_judge()
    run_benchmark(pairs, judge, tmp_path, show_progress=False)
    assert judged_keys(judge) == {"p3", "p4"}
    assert [row["pair_id"] for row in lines(tmp_path)] == list(PLAN)
    assert len(load_predictions(path)) == 5


def test_complete_last_line_without_newline_is_kept(video_dir, tmp_path):
    pairs = make_pairs(video_dir)
    run_benchmark(pairs, make_judge(), tmp_path, limit=2, show_progress=False)
    path = tmp_path / "predictions.jsonl"
    path.write_text(path.read_text().rstrip("\n"))
    assert set(read_done(tmp_path)) == {"p0", "p1"}
    judge = make_judge()
    run_benchmark(pairs, judge, tmp_path, show_progress=False)
    assert judged_keys(judge) == {"p2", "p3", "p4"}
    assert [row["pair_id"] for row in lines(tmp_path)] == list(PLAN)


def test_corrupt_video_is_recorded_and_skipped(video_dir, tmp_path):
    pairs = make_pairs(video_dir, broken="p2")
    loaded = LoadResult(pairs=pairs, bad_rows=[BadRow("data.jsonl", 7, "labels", "unknown label 'C'")])
    records = run_benchmark(loaded, make_judge(), tmp_path, batch_pairs=2, show_progress=False)
    assert [r.prediction.pair_id for r in records] == ["p0", "p1", "p3", "p4"]
    bad = [json.loads(line) for line in (tmp_path / "bad_rows.jsonl").read_text().splitlines()]
    assert bad[0] == {"stage": "load", "file": "data.jsonl", "row": 7, "field": "labels", "reason": "unknown label 'C'"}
    assert bad[1]["stage"] == "decode" and bad[1]["pair_id"] == "p2"
    assert bad[1]["video"].endswith("broken.mp4") and "not a video" in bad[1]["reason"]
    # Rerun: the bad pair is retried, fails again and is still listed once.
    run_benchmark(loaded, make_judge(), tmp_path, show_progress=False)
    assert len((tmp_path / "bad_rows.jsonl").read_text().splitlines()) == 2
    # Fixed video: the pair is judged and leaves the list.
    records = run_benchmark(LoadResult(make_pairs(video_dir), []), make_judge(), tmp_path, show_progress=False)
    assert len(records) == 5 and (tmp_path / "bad_rows.jsonl").read_text() == ""
    with pytest.raises(VideoError):
        run_benchmark(make_pairs(video_dir, broken="p0"), make_judge(), tmp_path / "strict", on_bad_row="fail",
                      show_progress=False)


def test_prediction_meta_has_episode_and_video_facts(video_dir, tmp_path):
    run_benchmark(make_pairs(video_dir), make_judge(), tmp_path, show_progress=False)
    rows = {row["pair_id"]: row for row in lines(tmp_path)}
    meta = rows["p0"]["meta"]
    assert rows["p0"]["judgment"] == {"TA": "A", "VQ": "A", "MQ": "A", "Overall": "A"}
    assert rows["p0"]["labels"]["Overall"] == "A"
    assert meta["end_reason"] == "answered" and meta["turns"] == 2 and meta["tool_calls"] == 1
    assert meta["frames_viewed"] == 2 and meta["invalid_calls"] == 0
    assert len(meta["visual_tokens_per_turn"]) == 2 and meta["visual_tokens"] == sum(meta["visual_tokens_per_turn"])
    assert meta["num_frames_a"] == 8 and meta["duration_a_s"] == pytest.approx(1.0)
    assert meta["duration_b_s"] == pytest.approx(2.0) and meta["duration_s"] == pytest.approx(2.0)
    assert meta["length_bucket"] == "<4s" and meta["trace"] == "traces/p0.json"
    assert rows["p1"]["meta"]["invalid_calls"] == 1 and rows["p1"]["meta"]["invalid_kinds"] == {"bad_json": 1}
    trace = json.loads((tmp_path / "traces" / "p0.json").read_text())
    assert trace["pair_id"] == "p0" and len(trace["turn_records"]) == 2


def test_report_matches_hand_computed_numbers(video_dir, tmp_path):
    records = run_benchmark(make_pairs(video_dir), make_judge(), tmp_path, show_progress=False)
    metrics = write_report(tmp_path, records, n_resamples=200)
    # Overall: non-tie pairs p0 (right), p1 (wrong), p2 (right), p4 (right) -> 3/4;
    # 3-class over all five (p3: tie vs B is wrong) -> 3/5.
    assert metrics["headline"] == "Overall"
    assert metrics["accuracy_without_ties"] == 0.75
    assert metrics["accuracy_3class"] == 0.6
    assert metrics["per_dimension"]["TA"]["accuracy_without_ties"] == 1.0  # human A, judge A everywhere
    assert metrics["per_dimension"]["MQ"]["accuracy_without_ties"] is None  # every MQ label is a tie
    assert metrics["per_dimension"]["MQ"]["accuracy_3class"] == 0.0
    tool_use = metrics["tool_use"]
    assert tool_use["num_episodes"] == 5
    assert tool_use["mean_tool_calls"] == 0.4  # (1 + 1) / 5
    assert tool_use["invalid_call_rate"] == 0.5  # 1 of 2 calls
    assert tool_use["mean_frames_viewed"] == 0.4  # 2 frames / 5
    assert tool_use["mean_turns"] == 1.4
    assert tool_use["end_reasons"] == {"answered": 5}
    assert list(metrics["by_bucket"]) == ["<4s"] and metrics["by_bucket"]["<4s"]["num_pairs"] == 5
    on_disk = json.loads((tmp_path / "metrics.json").read_text())
    assert on_disk == metrics
    for name in ("accuracy_per_dimension", "accuracy_by_length", "tool_calls_hist", "frames_viewed_hist"):
        png = tmp_path / "plots" / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = (tmp_path / "report.html").read_text()
    assert "href='traces/p0.html'" in page and "75.00" in page and "tool calls per episode" in page
    md = (tmp_path / "report.md").read_text()
    assert "| w/o ties (diff) | 75.00 |" in md
    # From the file alone (records=None) the numbers are the same.
    assert write_report(tmp_path, n_resamples=200)["accuracy_without_ties"] == 0.75


def test_tool_use_stats_ignore_foreign_records():
    assert tool_use_stats([]) == {"num_episodes": 0}


def test_safe_name_is_safe_and_distinct():
    assert safe_name("p0") == "p0"
    names = {safe_name(i) for i in ("example:1", "example_1", "example/1", "../x", "")}
    assert len(names) == 5
    for name in names:
        assert name and "/" not in name and ":" not in name and not name.startswith(".")


def test_settings_mismatch_is_refused(tmp_path):
    check_run_settings(tmp_path, {"model": "typo", "episode": {"memory_window": 1}})
    # No prediction yet (say the model was not found): new settings replace the old.
    check_run_settings(tmp_path, {"model": "tiny", "episode": {"memory_window": 1}})
    (tmp_path / "predictions.jsonl").write_text('{"pair_id": "p0", "judgment": {}}\n')
    check_run_settings(tmp_path, {"model": "tiny", "episode": {"memory_window": 1}})  # same: fine
    with pytest.raises(RunError, match=r"episode.memory_window: was 1, now 2"):
        check_run_settings(tmp_path, {"model": "tiny", "episode": {"memory_window": 2}})


def test_second_writer_is_refused(video_dir, tmp_path):
    with _locked(tmp_path):
        with pytest.raises(RunError, match="in use"):
            run_benchmark(make_pairs(video_dir), make_judge(), tmp_path, show_progress=False)


def test_duplicate_pair_ids_are_refused(video_dir, tmp_path):
    pairs = make_pairs(video_dir)
    with pytest.raises(ValueError, match="unique"):
        run_benchmark([pairs[0], pairs[0]], make_judge(), tmp_path, show_progress=False)
