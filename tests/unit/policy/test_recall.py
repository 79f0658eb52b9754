"""Recall turns: texts of the judge's own sentences, drawn at random, to be written again."""

from __future__ import annotations

import json
import re

import pytest

from vrthinker.data import read_pairs
from vrthinker.data.synthetic import generate_suite
from vrthinker.episode import EpisodeConfig
from vrthinker.episode.traces import iter_trace_records, read_segments
from vrthinker.policy.recall import RECALL_PROMPT, generate_recall_traces, trace_sentences
from vrthinker.policy.teacher import generate_teacher_traces
from vrthinker.video import FrameCache


@pytest.fixture(scope="module")
def teacher_traces(tmp_path_factory):
    out = tmp_path_factory.mktemp("recall")
    pairs = read_pairs(generate_suite(out / "suite", num_pairs=4, seed=3, show_progress=False, workers=0,
                                      num_frames=16, kinds=("noise",)))  # fmt: skip
    config = EpisodeConfig(frames_per_video=16, frame_labels="video_first")
    generate_teacher_traces(pairs, out / "traces.jsonl", config, strategy="scan", describe="per_frame", tally="found_compact")
    return out / "traces.jsonl"


def test_sentences_are_the_thinking_of_the_traces(teacher_traces):
    sentences, workspace = trace_sentences(teacher_traces)
    texts = [t["text"] for _, r in iter_trace_records(teacher_traces) for t in r["turn_records"]]
    assert workspace is not None and "video_a" in workspace
    assert len(sentences) == len(set(sentences)) > 4
    assert all(s in "".join(texts) and "<" not in s for s in sentences)  # no tags, no tool calls
    assert any(s.startswith("Defects: ") for s in sentences) and any(s.startswith("(Video 2) Frame ") for s in sentences)


def test_recall_turns_ask_for_their_own_text(teacher_traces, tmp_path):
    info = generate_recall_traces(teacher_traces, tmp_path / "recall.jsonl", turns=23, sentences_per_turn=(2, 5),
                                  turns_per_record=10, seed=7)  # fmt: skip
    sentences, _ = trace_sentences(teacher_traces)
    records = [r for _, r in iter_trace_records(tmp_path / "recall.jsonl")]
    assert info["turns"] == 23 and [len(r["turn_records"]) for r in records] == [10, 10, 3]
    segments = [s for r in records for s in read_segments(r, FrameCache(max_entries=8))]
    assert len(segments) == 23 and not any(s.images for s in segments)  # text only: no frame is decoded
    for segment in segments:
        (message,) = segment.messages
        assert message.role == "user" and [p.text for p in message.parts] == [RECALL_PROMPT + segment.completion]
        # 2-5 whole sentences of the source, in any order (no source sentence holds a ". ")
        drawn = re.split(r"(?<=\.)\s+", segment.completion)
        assert 2 <= len(drawn) <= 5 and set(drawn) <= set(sentences)
    # deterministic in the seed, different across seeds
    again = tmp_path / "again.jsonl"
    generate_recall_traces(teacher_traces, again, turns=23, sentences_per_turn=(2, 5), turns_per_record=10, seed=7)
    assert again.read_text() == (tmp_path / "recall.jsonl").read_text()
    generate_recall_traces(teacher_traces, again, turns=23, sentences_per_turn=(2, 5), turns_per_record=10, seed=8)
    assert again.read_text() != (tmp_path / "recall.jsonl").read_text()


def test_bad_input_is_named(teacher_traces, tmp_path):
    with pytest.raises(ValueError, match="sentences_per_turn"):
        generate_recall_traces(teacher_traces, tmp_path / "r.jsonl", turns=4, sentences_per_turn=(5, 2))
    not_traces = tmp_path / "pairs.jsonl"
    not_traces.write_text(json.dumps({"pair_id": "x"}) + "\n")
    with pytest.raises(ValueError, match="no <think> sentences"):
        generate_recall_traces(not_traces, tmp_path / "r.jsonl", turns=4)


def test_demo_config_rejects_a_bad_recall_range_on_load():
    from pydantic import ValidationError

    from vrthinker.demo import DemoConfig

    with pytest.raises(ValidationError, match="recall_sentences"):
        DemoConfig(recall_sentences=(6, 2))
    with pytest.raises(ValidationError, match="recall_sentences"):
        DemoConfig(recall_sentences=(0, 2))
    assert DemoConfig(recall_sentences=(3, 3)).recall_sentences == (3, 3)


def test_a_pattern_keeps_only_the_sentences_it_matches(teacher_traces, tmp_path):
    tallies, _ = trace_sentences(teacher_traces, match=r"^Defects:")
    every, _ = trace_sentences(teacher_traces)
    assert tallies and set(tallies) < set(every) and all(s.startswith("Defects: ") for s in tallies)
    generate_recall_traces(teacher_traces, tmp_path / "tallies.jsonl", turns=12, sentences_per_turn=(1, 1),
                           match=r"^Defects:")  # fmt: skip
    texts = [t["text"] for _, r in iter_trace_records(tmp_path / "tallies.jsonl") for t in r["turn_records"]]
    assert len(texts) == 12 and set(texts) <= set(tallies)
    with pytest.raises(ValueError, match="matching 'no such sentence'"):
        generate_recall_traces(teacher_traces, tmp_path / "none.jsonl", turns=2, match="no such sentence")


def test_demo_config_rejects_a_bad_recall_pattern_on_load():
    from pydantic import ValidationError

    from vrthinker.demo import DemoConfig

    with pytest.raises(ValidationError, match="recall_match"):
        DemoConfig(recall_match="(unclosed")
    assert DemoConfig(recall_match="^Defects:").recall_match == "^Defects:"
    # the per-video tally writes no "Defects:" sentence: said on load, not after the data is written
    with pytest.raises(ValidationError, match="per_video"):
        DemoConfig(tally="per_video")
    assert DemoConfig(tally="per_video", recall_match=r"^Video \d has").recall_steps > 0
    assert DemoConfig(tally="per_video", recall_steps=0).tally == "per_video"
