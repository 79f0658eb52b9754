"""Saved traces replay as the exact segments the episode produced (real synthetic MP4s)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vrthinker.data import read_pairs
from vrthinker.data.synthetic import generate_suite
from vrthinker.episode import EpisodeConfig
from vrthinker.episode.traces import TraceFormatError, append_traces, iter_trace_records, read_segment, read_segments
from vrthinker.policy.judge import Judge
from vrthinker.policy.scripted import ReplayPolicy
from vrthinker.video import FrameCache

CALL = '<think>x</think><recommend answer>1</recommend answer><tool_call>{"name": "select_frames", "arguments": {"target_frames": [5, 60]}}</tool_call>'
ANSWER = "<think>y</think><answer>\nTA: 1\nVQ: 1\nMQ: 1\nOverall: 1\n</answer>"


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    out = tmp_path_factory.mktemp("suite")
    return read_pairs(generate_suite(out, num_pairs=2, seed=3, show_progress=False))


@pytest.mark.parametrize("labels", ["frame_first", "video_first"])
def test_trace_roundtrip_gives_identical_segments(suite, tmp_path, labels):
    judge = Judge(ReplayPolicy([CALL, ANSWER]), EpisodeConfig(memory_window=1, frame_labels=labels))
    trajectories = judge.judge_pairs(suite)
    path = tmp_path / "traces.jsonl"
    append_traces(path, trajectories)
    records = [r for _, r in iter_trace_records(path)]
    assert [r["key"] for r in records] == [p.pair_id for p in suite]
    assert all(r["workspace"]["frame_labels"] == labels for r in records)
    for traj, record in zip(trajectories, records):
        original = traj.segments()
        replayed = read_segments(record, FrameCache())
        assert len(replayed) == len(original) == 2
        label = "(Video 2) Frame 60" if labels == "video_first" else "Frame 60 (Video 2)"
        assert f"\n{label}: " in [p.text for m in replayed[1].messages for p in m.parts if hasattr(p, "text")]
        for a, b in zip(original, replayed):
            assert a.messages == b.messages and a.completion == b.completion
            assert len(a.images) == len(b.images) == (8 if a.turn_index == 0 else 10)
            for x, y in zip(a.images, b.images):
                assert np.array_equal(np.asarray(x), np.asarray(y))
        # One turn read alone (what the SFT data set does per access) is the same segment.
        for turn, b in enumerate(replayed):
            alone = read_segment(record, turn, FrameCache())
            assert alone.messages == b.messages and alone.completion == b.completion
            assert alone.turn_index == b.turn_index and len(alone.images) == len(b.images)


def test_torn_tail_is_dropped_and_bad_records_are_named(suite, tmp_path):
    judge = Judge(ReplayPolicy([ANSWER]), EpisodeConfig())
    path = tmp_path / "traces.jsonl"
    append_traces(path, judge.judge_pairs(suite))
    with path.open("a") as f:
        f.write('{"key": "half-writ')
    assert len(list(iter_trace_records(path))) == 2
    with pytest.raises(TraceFormatError, match="workspace"):
        read_segments({"key": "k", "turn_records": []})
    bad = path.read_text().splitlines()[0]
    path.write_text("not json\n" + bad + "\n")
    with pytest.raises(TraceFormatError, match=":1:"):
        list(iter_trace_records(path))
    record = json.loads(bad)
    record["turn_records"][0]["context"][1]["parts"][3]["frame_idx"] = 999
    with pytest.raises(TraceFormatError, match="outside the pool"):
        read_segments(record)
    with pytest.raises(TraceFormatError, match="outside the pool"):
        read_segment(record, 0)
