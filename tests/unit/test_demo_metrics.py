"""The demo's perception metric: a judge's per-frame sentences checked against the suite's truth."""

from __future__ import annotations

import json

from vrthinker.data import read_pairs
from vrthinker.data.synthetic import generate_suite
from vrthinker.demo import frame_descriptions
from vrthinker.episode import EpisodeConfig
from vrthinker.policy.judge import Judge
from vrthinker.policy.teacher import ScriptedTeacher


def test_frame_descriptions_scores_each_frame_sentence(tmp_path):
    pairs = read_pairs(
        generate_suite(tmp_path / "suite", num_pairs=4, seed=3, difficulty=0.0, kinds=["noise"], show_progress=False,
                       workers=0)
    )
    cfg = EpisodeConfig(frames_per_video=16, max_tool_calls=2, prompt_style="compact")
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
