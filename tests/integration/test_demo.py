"""`vrthinker demo --fast` end to end: every stage runs and every artefact is written.

Accuracy thresholds are deliberately absent: at --fast sizes the numbers are noise.
The full demo's numbers are recorded in docs/demo.md.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from vrthinker.episode.traces import iter_trace_records

pytestmark = pytest.mark.slow

VRTHINKER = str(Path(sys.executable).with_name("vrthinker"))


def test_demo_fast_produces_every_artefact(tmp_path, screenshot):
    out = tmp_path / "demo"
    proc = subprocess.run([VRTHINKER, "demo", "--fast", "--out", str(out)], capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((out / "demo_results.json").read_text())
    assert set(results["stages"]) == {"untrained", "sft", "rft", "grpo"}
    for stage in results["stages"].values():
        assert {"accuracy_overall", "accuracy_per_dim", "tool_calls_per_episode"} <= set(stage)
        assert set(stage["accuracy_per_dim"]) == {"TA", "VQ", "MQ", "Overall"}
        assert Path(stage["report"]).is_file()
        assert {"defect_frames", "clean_frames", "defect_frames_n", "clean_frames_n"} <= set(stage["frame_descriptions"])
        links = stage["decision_links"]  # sentences -> last tally -> answer, on local-defect pairs
        assert {"sentences_right", "tally_right", "answer_right", "answer_follows_tally", "n"} <= set(links)
        local = stage["local_defect_pairs"]
        assert set(local["overall_right_by_side"]) == {"A", "B"}
        if local["accuracy_overall_side_balanced"] is not None:
            assert 0.0 <= local["accuracy_overall_side_balanced"] <= 1.0
    # Each trained stage is also read teacher-forced against the teacher's held-out traces.
    assert (out / "data" / "heldout_teacher_traces.jsonl").is_file()
    for name in ("sft", "rft", "grpo"):
        forced = results["stages"][name]["teacher_forced"]
        assert set(forced) == {"perception", "tally", "n"}
        assert forced == json.loads((out / "eval" / name / "teacher_forced.json").read_text())
        assert all(0.0 <= x <= 1.0 for family in ("perception", "tally") for x in forced[family].values())
    for arm in ("with_tools", "static_frames"):
        assert {"accuracy_overall", "visual_tokens_per_judgment"} <= set(results["ablation"][arm])
        ceiling = results["ablation"][arm]["teacher_ceiling"]  # the scripted teacher on the same frames
        assert ceiling["accuracy_overall"] is not None and 0.0 <= ceiling["accuracy_overall"] <= 1.0
        assert ceiling["accuracy_overall"] <= ceiling["accuracy_overall_guessing"] <= 1.0  # + half of what it missed
    assert results["wall_seconds"] > 0
    phases = results["phase_seconds"]  # where the time goes, phase by phase, in order
    assert list(phases) == ["data", "eval_untrained", "warmup", "recall_warmup", "sft", "eval_sft", "rejection_sampling", "rft",
                            "eval_rft", "grpo", "eval_grpo", "eval_static"]
    assert all(s >= 0 for s in phases.values()) and sum(phases.values()) <= results["wall_seconds"] + 0.5
    rs = results["rejection_sampling"]  # answer-right samples, then those that also reasoned like the teacher
    assert rs["samples"] > 0 and 0 <= rs["accepted"] <= rs["answers_right"] <= rs["samples"]
    # Stage II trains on the accepted samples plus the teacher traces of the sampled pairs with none accepted
    # (rft_fill_rejected), both winning sides evened out (rft_balance_sides).
    fill = rs["fill_rejected"]
    accepted_pairs = {r["meta"]["pair_id"] for _, r in iter_trace_records(out / "rft" / "accepted.jsonl")} \
        if (out / "rft" / "accepted.jsonl").is_file() else set()  # fmt: skip
    assert fill["accepted"] == rs["accepted"] and fill["filled"] + fill["missing"] == rs["pairs"] - len(accepted_pairs)
    # Its own isolated-defect turns are repeated as stage I's are (rft_isolated_repeat 2), when it has any.
    repeated = ["turns_isolated_defect.jsonl"] * 2 if rs["isolated_defect_turns"] else []
    assert rs["rft_data"] == ["accepted_balanced.jsonl", *repeated[:1]]
    sides = rs["side_balance"]
    assert sides["A"] + sides["B"] + sides["other"] == fill["accepted"] + fill["fallback_traces"]
    assert sides["added"] == (abs(sides["A"] - sides["B"]) if min(sides["A"], sides["B"]) else 0)
    # Stage III spreads both winning sides over its pair stream and rolls each pair out in both orders.
    grpo_section = yaml.safe_load((out / "grpo" / "config.yaml").read_text())["grpo"]
    assert grpo_section["stratify"] == "Overall" and grpo_section["both_orders"] is True
    rft_config = yaml.safe_load((out / "rft" / "train" / "config.yaml").read_text())
    assert [Path(t).name for t in rft_config["data"]["traces"]] == ["accepted_balanced.jsonl", *repeated]
    # The cold-start data repeats the turns that describe one defect frame among clean ones (isolated_repeat 2).
    isolated = out / "data" / "teacher_turns_isolated_defect.jsonl"
    assert isolated.is_file()
    sft_traces = [Path(t).name for t in yaml.safe_load((out / "sft" / "config.yaml").read_text())["data"]["traces"]]
    assert sft_traces == ["teacher_traces.jsonl", "teacher_traces_static.jsonl"] + [isolated.name] * 2
    # Stage I starts from the recall warm-up (recall_steps), whose texts are tallies alone (recall_match "^Defects:").
    recall = json.loads((out / "warmup" / "recall.json").read_text())
    sft_model = yaml.safe_load((out / "sft" / "config.yaml").read_text())["model"]["name_or_path"]
    assert Path(sft_model) == Path(recall["checkpoint"]) and results["warmup"]["recall"] == recall
    recall_texts = [t["text"] for _, r in iter_trace_records(out / "data" / "recall.jsonl") for t in r["turn_records"]]
    assert recall_texts and all(re.fullmatch(r"(Defects: [^.]+\.)( Defects: [^.]+\.)*", t) for t in recall_texts)
    # The teacher's tally names only the videos with a defect found, "Video2" in one word (tally "found_compact").
    texts = [t["text"] for _, r in iter_trace_records(out / "data" / "teacher_traces.jsonl") for t in r["turn_records"]]
    assert all("Defects: " in t for t in texts) and not any("has none" in t or "Video 1 has" in t for t in texts)
    assert any("Defects: Video1 has" in t or "Defects: Video2 has" in t for t in texts)
    # Frames are named video first, the frame's digits right before its image (frame_labels "video_first").
    assert any("(Video 2) Frame " in t for t in texts) and not any(re.search(r"Frame \d+ \(Video", t) for t in texts)
    # Evidence memory is off by default (reshow_findings 0): no reply shows a frame again, and the static arm gets
    # initial + max_frames_per_call / 2 frames per video, the largest context of the tool run.
    demo_config = json.loads((out / "demo_config.json").read_text())
    per_call = yaml.safe_load((out / "grpo" / "config.yaml").read_text())["episode"]["max_frames_per_call"]
    assert demo_config["reshow_findings"] == 0
    assert not any(t["frames_reshown"] for _, r in iter_trace_records(out / "data" / "teacher_traces.jsonl")
                   for t in r["turn_records"])
    assert results["ablation"]["static_frames"]["frames_per_video"] == demo_config["initial_per_video"] + per_call // 2
    # eval_both_orders (default): every held-out pair is judged as generated and as its swapped twin.
    assert demo_config["eval_both_orders"] is True
    heldout_ids = {json.loads(line)["pair_id"] for line in (out / "data" / "heldout" / "pairs.jsonl").read_text().splitlines()}
    for name in ("untrained", "sft", "rft", "grpo", "static"):
        report = out / "eval" / name
        assert (report / "metrics.json").is_file() and (report / "plots").is_dir()
        assert any((report / "traces").glob("*.html"))
        judged = [json.loads(line)["pair_id"] for line in (report / "predictions.jsonl").read_text().splitlines()]
        assert sorted(judged) == sorted([*heldout_ids, *(f"{i}:swapped" for i in heldout_ids)])
    assert (out / "sft" / "latest").is_file() and (out / "grpo" / "latest").is_file()
    assert (out / "data" / "frame_descriptions.jsonl").is_file()
    # The warm-up restarts from the next seed while the base model does not see held-out frames.
    warmup = json.loads((out / "warmup" / "perception.json").read_text())
    assert {**warmup, "recall": recall} == results["warmup"]  # the recall warm-up's probes beside the attempts
    first = warmup["attempts"][0]
    reached = min(first["defect_frames"], first["clean_frames"]) >= 0.95
    assert [a["seed"] for a in warmup["attempts"]] == ([1] if reached else [1, 2])  # from the default seed 1
    assert all((Path(a["checkpoint"]).parent / "DONE").is_file() and a["defect_frames_n"] > 0 for a in warmup["attempts"])
    assert warmup["chosen"] in {a["checkpoint"] for a in warmup["attempts"]}
    sft_config = (out / "sft" / "config.yaml").read_text()
    assert "warmup" in sft_config  # stage I starts from the perception warm-up, not from random init
    sft_train = yaml.safe_load(sft_config)
    # Steps of 8 random segments, cut into 2 micro-batches sorted by length; the tiny model's default 2 layers.
    assert (sft_train["train"]["batch_size"], sft_train["optim"]["grad_accum"]) == (4, 2)
    assert sft_train["train"]["group_by_length"] is False and sft_train["model"]["tiny"]["num_hidden_layers"] == 2
    warmup_config = yaml.safe_load((Path(first["checkpoint"]).parent / "config.yaml").read_text())
    assert warmup_config["optim"]["grad_accum"] == 1  # one-frame turns: one length
    grpo_episode = yaml.safe_load((out / "grpo" / "config.yaml").read_text())["episode"]
    assert grpo_episode["temperature"] == 0.7 and grpo_episode["later_temperature"] is None  # sampling_temperature
    assert grpo_episode["frame_labels"] == "video_first"
    assert json.loads((out / "demo_config.json").read_text())["data_seed"] == 0  # data apart from the training seed
    first_pair = json.loads((out / "data" / "train" / "pairs.jsonl").read_text().splitlines()[0])
    assert first_pair["meta"]["seed"] == 0
    assert "Held-out accuracy" in proc.stdout
    png = screenshot(out / "index.html", tmp_path / "index.png", height=900)
    assert png.stat().st_size > 5000
    # A second run finds every stage done and only re-reports.
    again = subprocess.run([VRTHINKER, "demo", "--fast", "--out", str(out), "--json"], capture_output=True, text=True,
                           timeout=900)
    assert again.returncode == 0, again.stderr[-3000:]
    assert set(json.loads(again.stdout)["stages"]) == {"untrained", "sft", "rft", "grpo"}
    assert json.loads(again.stdout)["warmup"] == results["warmup"]  # the recorded choice, not a re-probe
