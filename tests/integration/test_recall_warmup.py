"""The demo's recall warm-up (``DemoConfig.recall_steps``): real tiny model, real traces, a few real steps."""

from __future__ import annotations

import json

import yaml

from vrthinker.data import read_pairs
from vrthinker.data.synthetic import generate_suite
from vrthinker.demo import DemoConfig, _recall_warm_up
from vrthinker.policy.teacher import generate_frame_description_traces, generate_teacher_traces
from vrthinker.video import FrameCache


def test_recall_warm_up_trains_recall_and_perception_turns_together_and_resumes(tmp_path):
    cfg = DemoConfig(out=str(tmp_path), frames_per_video=16, recall_steps=3, warmup_batch_size=4, seed=0)
    episode = cfg.episode()
    pairs = read_pairs(generate_suite(tmp_path / "suite", num_pairs=4, seed=2, kinds=["noise"], num_frames=16,
                                      show_progress=False, workers=0))  # fmt: skip
    data = tmp_path / "data"
    teach = dict(strategy="scan", describe="per_frame", tally="found_compact")
    generate_teacher_traces(pairs[:3], data / "teacher_traces.jsonl", episode, **teach)
    generate_teacher_traces(pairs[3:], data / "heldout_teacher_traces.jsonl", episode, **teach)
    generate_frame_description_traces(pairs[:3], data / "frame_descriptions.jsonl", episode, stride=4, balance=True)
    generate_frame_description_traces(pairs[3:], data / "frame_descriptions_heldout.jsonl", episode, balance=True)
    cache = FrameCache(max_entries=32)

    checkpoint, summary = _recall_warm_up("tiny", tmp_path, cache, cfg)

    assert summary["recall_before"] is None  # no probe of a model that was never trained
    assert 0.0 <= summary["recall_after"] <= 1.0
    assert {"defect_frames", "clean_frames"} <= set(summary["perception_after"])
    assert summary == json.loads((tmp_path / "warmup" / "recall.json").read_text())
    trained = yaml.safe_load((tmp_path / "warmup" / "recall" / "config.yaml").read_text())
    assert [p.rsplit("/", 1)[-1] for p in trained["data"]["traces"]] == ["recall.jsonl", "frame_descriptions.jsonl"]
    assert trained["train"]["max_steps"] == 3
    # One recall turn per perception turn.
    turns = {name: sum(len(json.loads(line)["turn_records"]) for line in (data / name).read_text().splitlines())
             for name in ("recall.jsonl", "frame_descriptions.jsonl")}  # fmt: skip
    assert turns["recall.jsonl"] == turns["frame_descriptions.jsonl"] > 0
    # Done once: a second call reads the record instead of training again.
    mtime = (tmp_path / "warmup" / "recall.json").stat().st_mtime_ns
    assert _recall_warm_up("tiny", tmp_path, cache, cfg) == (checkpoint, summary)
    assert (tmp_path / "warmup" / "recall.json").stat().st_mtime_ns == mtime
