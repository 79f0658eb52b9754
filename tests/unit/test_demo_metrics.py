"""The demo's perception metric: a judge's per-frame sentences checked against the suite's truth."""

from __future__ import annotations

import json
import re

import pytest

from vrthinker.data import read_pairs
from vrthinker.data.synthetic import generate_suite
from vrthinker.demo import decision_links, frame_descriptions
from vrthinker.episode import EpisodeConfig
from vrthinker.policy.judge import Judge
from vrthinker.policy.teacher import ScriptedTeacher


@pytest.mark.parametrize("labels", ["frame_first", "video_first"])
def test_frame_descriptions_scores_each_frame_sentence(tmp_path, labels):
    pairs = read_pairs(
        generate_suite(tmp_path / "suite", num_pairs=4, seed=3, difficulty=0.0, kinds=["noise"], show_progress=False,
                       workers=0)
    )
    cfg = EpisodeConfig(frames_per_video=16, max_tool_calls=2, prompt_style="compact", frame_labels=labels)
    teacher = ScriptedTeacher(pairs, cfg, 0, strategy="scan", describe="per_frame")
    traces = tmp_path / "traces"
    traces.mkdir()
    for traj in Judge(teacher, cfg).judge_pairs(pairs):
        (traces / f"{traj.key}.json").write_text(json.dumps({**traj.to_json(), "pair_id": traj.key}))

    # The teacher's own traces describe every frame right.
    perfect = frame_descriptions(traces, pairs, cfg)
    assert perfect["defect_frames"] == 1.0 and perfect["clean_frames"] == 1.0
    assert perfect["defect_frames_n"] > 0 and perfect["clean_frames_n"] > 0

    # A judge that calls every noisy frame normal (and names a frame outside the pool) is scored down.
    for path in traces.glob("*.json"):
        record = json.loads(path.read_text())
        for turn in record["turn_records"]:
            turn["text"] = turn["text"].replace("heavy noise", "normal").replace("<think>", "<think>Frame 99: normal. ")
        path.write_text(json.dumps(record))
    blind = frame_descriptions(traces, pairs, cfg)
    assert blind["defect_frames"] == 0.0
    assert blind["defect_frames_n"] == perfect["defect_frames_n"]
    assert blind["clean_frames"] < 1.0 and blind["clean_frames_n"] > perfect["clean_frames_n"]


def test_decision_links_follow_sentences_to_tally_to_answer(tmp_path):
    pairs = read_pairs(
        generate_suite(tmp_path / "suite", num_pairs=8, seed=5, difficulty=0.0, kinds=["noise"], local_fraction=1.0,
                       num_frames=16, show_progress=False, workers=0)
    )
    cfg = EpisodeConfig(frames_per_video=16, max_tool_calls=3, prompt_style="compact")
    teacher = ScriptedTeacher(pairs, cfg, 0, strategy="oracle", describe="per_frame", tally="found")
    traces = tmp_path / "traces"
    traces.mkdir()
    for traj in Judge(teacher, cfg).judge_pairs(pairs):
        (traces / f"{traj.key}.json").write_text(json.dumps({**traj.to_json(), "pair_id": traj.key}))

    # The oracle teacher goes straight to the hidden defect: every link is right.
    links = decision_links(traces, pairs, cfg)
    assert links["n"] > 0
    assert links == {"sentences_right": 1.0, "tally_right": 1.0, "answer_right": 1.0, "answer_follows_tally": 1.0,
                     "n": links["n"]}

    # A judge whose last tally forgets the defect it described: the sentences stay right, the tally
    # does not, and an answer that kept the right side no longer follows the tally.
    for path in traces.glob("*.json"):
        record = json.loads(path.read_text())
        last = record["turn_records"][-1]
        head, sep, tail = last["text"].rpartition("Defects:")
        last["text"] = head + sep + " none.</think>" + tail.split("</think>", 1)[1]
        path.write_text(json.dumps(record))
    forgot = decision_links(traces, pairs, cfg)
    assert forgot["sentences_right"] == 1.0 and forgot["answer_right"] == 1.0
    assert forgot["tally_right"] == 0.0 and forgot["answer_follows_tally"] == 0.0

    # A tally per video ("Video 2 has VQ." after Video 2's sentences) and a compact one ("Video2 has
    # VQ.") are read too.
    for tally in ("per_video", "found_compact", "found_letter"):
        teacher = ScriptedTeacher(pairs, cfg, 0, strategy="oracle", describe="per_frame", tally=tally)
        for traj in Judge(teacher, cfg).judge_pairs(pairs):
            (traces / f"{traj.key}.json").write_text(json.dumps({**traj.to_json(), "pair_id": traj.key}))
        assert decision_links(traces, pairs, cfg)["tally_right"] == 1.0, tally


def test_isolated_defect_turns_keeps_only_turns_with_one_defect_frame_among_clean_ones(tmp_path):
    from vrthinker.demo import isolated_defect_turns

    def turn(index: int, *sentences: str) -> dict:
        return {"index": index, "context": [], "text": f"<think>{' '.join(sentences)} Defects: none.</think><answer>…"}

    records = [
        {"key": "a", "workspace": {}, "turn_records": [
            turn(0, "Frame 1 (Video 1): normal.", "Frame 9 (Video 1): normal.", "Frame 17 (Video 2): normal."),
            turn(1, "Frame 3 (Video 1): heavy noise.", "Frame 10 (Video 1): normal.", "Frame 18 (Video 2): normal."),
            turn(2, "Frame 5 (Video 1): heavy noise.", "Frame 12 (Video 1): heavy noise."),  # a noisy video: not isolated
        ]},
        {"key": "b", "workspace": {}, "turn_records": [
            turn(0, "Frame 17 (Video 2): normal.", "Frame 20 (Video 2): heavy noise.", "Frame 3 (Video 1): heavy noise."),
        ]},
        {"key": "c", "workspace": {}, "turn_records": [turn(0, "Frame 17 (Video 2): heavy noise.")]},  # no clean neighbour
    ]
    source, out = tmp_path / "traces.jsonl", tmp_path / "isolated.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in records))
    cfg = EpisodeConfig(frames_per_video=16)
    assert isolated_defect_turns(source, out, cfg) == 2
    # The same sentences with the video named first ("(Video 1) Frame 3: heavy noise.") select the same turns.
    video_first = tmp_path / "video_first.jsonl"
    video_first.write_text(re.sub(r"Frame (\d+) \(Video (\d)\)", r"(Video \2) Frame \1", source.read_text()))
    assert "(Video 1) Frame 3: heavy noise." in video_first.read_text()
    assert isolated_defect_turns(video_first, tmp_path / "isolated_vf.jsonl", cfg) == 2
    kept = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["key"], [t["index"] for t in r["turn_records"]]) for r in kept] == [("a", [1]), ("b", [0])]
    assert kept[0]["workspace"] == {}  # the rest of the record is copied as is


def test_rft_data_files_accepted_alone_mixed_or_falling_back(tmp_path, caplog):
    from vrthinker.demo import rft_data_files

    cold = [tmp_path / "teacher.jsonl", tmp_path / "static.jsonl"]
    accepted = tmp_path / "accepted.jsonl"
    assert rft_data_files(accepted, cold, teacher_mix=False) == cold  # nothing sampled yet: fall back, warn
    assert "accepted no trace" in caplog.text
    accepted.write_text("")  # an empty file is no accepted trace either
    assert rft_data_files(accepted, cold, teacher_mix=True) == cold
    accepted.write_text('{"key": "syn-000001"}\n')
    assert rft_data_files(accepted, cold, teacher_mix=False) == [accepted]
    assert rft_data_files(accepted, cold, teacher_mix=True) == [accepted, *cold]


def test_teacher_ceiling_counts_what_the_frames_show_and_half_of_what_they_hide(tmp_path):
    from vrthinker.demo import ceiling_summary, teacher_ceiling
    from vrthinker.video import FrameCache

    pairs = read_pairs(
        generate_suite(tmp_path / "suite", num_pairs=12, seed=5, difficulty=0.0, kinds=["noise"], local_fraction=1.0,
                       num_frames=16, local_run_frames=(2, 3), show_progress=False, workers=0)
    )
    teach = {"seed": 0, "strategy": "scan", "describe": "per_frame", "tally": "found"}
    cache = FrameCache(max_entries=256)
    tool = teacher_ceiling(pairs, EpisodeConfig(frames_per_video=16, max_tool_calls=2, prompt_style="compact"), cache, teach)
    static = teacher_ceiling(pairs, EpisodeConfig(frames_per_video=16, max_tool_calls=0, initial_per_video=4,
                                                  prompt_style="compact"), cache, teach)  # fmt: skip
    for c in (tool, static, tool["local_defect_pairs"], static["local_defect_pairs"]):
        if c["accuracy_overall"] is not None:
            assert 0.0 <= c["accuracy_overall"] <= c["accuracy_overall_guessing"] <= 1.0
    # Local runs hidden between the 4 initial frames: the tool's scan sees more of them than the static view.
    assert tool["accuracy_overall"] > static["accuracy_overall"]
    assert static["accuracy_overall_guessing"] > static["accuracy_overall"]  # it answered tie where it saw nothing
    line = ceiling_summary({"with_tools": {"teacher_ceiling": tool}, "static_frames": {"teacher_ceiling": static}})
    assert "with the tool" in line and "static sample" in line


def test_teacher_forced_reading_finds_every_isolated_sentence_and_carried_tally(tmp_path):
    from vrthinker.demo import teacher_forced_reading
    from vrthinker.episode.traces import iter_trace_records
    from vrthinker.policy.teacher import generate_teacher_traces
    from vrthinker.video import FrameCache

    pairs = read_pairs(
        generate_suite(tmp_path / "suite", num_pairs=8, seed=5, difficulty=0.0, kinds=["noise"], local_fraction=1.0,
                       num_frames=32, local_run_frames=(2, 3), show_progress=False, workers=0)
    )
    cfg = EpisodeConfig(frames_per_video=32, max_tool_calls=3, prompt_style="compact", frame_labels="video_first")
    traces = tmp_path / "teacher.jsonl"
    generate_teacher_traces(pairs, traces, cfg, strategy="scan", describe="per_frame", tally="found_compact")
    # What the reader must find, counted here from the text: isolated noisy sentences, and tally entries
    # naming a video none of the turn's own sentences shows noisy.
    isolated = carried = 0
    for _, record in iter_trace_records(traces):
        for turn in record["turn_records"]:
            think = turn["text"].split("</think>")[0]
            said = {v: re.findall(rf"\(Video {v}\) Frame \d+: ([^.]+)\.", think) for v in "12"}
            turn_isolated = sum(sum(w != "normal" for w in s) == 1 and "normal" in s for s in said.values())
            named = re.findall(r"Video(\d) has", think.rpartition("Defects:")[2])
            turn_carried = sum(all(w == "normal" for w in said[v]) for v in named)
            isolated += turn_isolated
            carried += turn_carried
    assert isolated > 0 and carried > 0

    counts = teacher_forced_reading("tiny", traces, FrameCache(max_entries=32), cfg)
    assert counts["perception"]["isolated_defect"][1] == isolated
    assert sum(n for kind, (_, n) in counts["tally"].items() if kind.startswith("carried")) == carried
    for family in counts.values():
        assert all(0 <= right <= total for right, total in family.values())


def test_every_teacher_turn_fits_the_demos_turn_budget(tmp_path):
    """The demo's ``max_new_tokens`` holds the scripted teacher's longest turn, in the tiny model's tokens."""
    from vrthinker.demo import DemoConfig
    from vrthinker.episode.traces import iter_trace_records
    from vrthinker.policy.models import load_model
    from vrthinker.policy.teacher import generate_teacher_traces

    cfg = DemoConfig()
    pairs = read_pairs(
        generate_suite(tmp_path / "suite", num_pairs=24, seed=3, difficulty=cfg.difficulty, kinds=list(cfg.kinds),
                       local_fraction=cfg.local_fraction, num_frames=cfg.frames_per_video,
                       local_run_frames=cfg.local_run_frames, backgrounds=cfg.backgrounds, show_progress=False,
                       workers=0)
    )
    traces = tmp_path / "teacher.jsonl"
    generate_teacher_traces(pairs, traces, cfg.episode(), strategy=cfg.teacher_strategy, describe=cfg.describe,
                            tally=cfg.tally)
    tokenizer = load_model("tiny").processor.tokenizer
    lengths = [len(tokenizer(turn["text"], add_special_tokens=False)["input_ids"]) + 1  # + <|im_end|>
               for _, record in iter_trace_records(traces) for turn in record["turn_records"]]
    assert len(lengths) > 24
    assert max(lengths) <= cfg.max_new_tokens, max(lengths)


def test_the_static_arm_gets_as_many_frames_as_the_largest_tool_context_with_reshown_findings():
    from vrthinker.demo import DemoConfig, static_frames_per_video

    # Window p = 1: initial view + one reply, i.e. one call's frames and the frames of earlier findings.
    cfg = DemoConfig(initial_per_video=4, reshow_findings=2)
    assert cfg.episode().reshow_findings == 2
    assert static_frames_per_video(cfg) == 4 + (cfg.episode().max_frames_per_call + 2) // 2
    assert static_frames_per_video(cfg.model_copy(update={"reshow_findings": 0})) == 4 + cfg.episode().max_frames_per_call // 2
