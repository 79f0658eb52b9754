"""The scripted teacher writes correct, honest traces on a real (small) synthetic suite."""

from __future__ import annotations

import json
import re

import pytest

from vrthinker.data import read_pairs
from vrthinker.data.schema import DIMENSIONS, PreferencePair
from vrthinker.data.synthetic import defects_of, generate_suite
from vrthinker.episode import EpisodeConfig, ImagePart
from vrthinker.episode.traces import iter_trace_records, read_segments
from vrthinker.policy.judge import Judge
from vrthinker.policy.teacher import ELSEWHERE, GUESS, NOT_IN_VIEW, NOTHING_NEW, ScriptedTeacher, TeacherError, generate_teacher_traces
from vrthinker.video import FrameCache

# One decoded-frame cache for the module: every test re-judges the same 24 clips.
_CACHE = FrameCache(max_entries=128)
_DESCRIBED = re.compile(r"Video ([12]), frames? ([\d, \-]+):")


@pytest.fixture(scope="module")
def pairs(tmp_path_factory) -> list[PreferencePair]:
    out = tmp_path_factory.mktemp("suite")
    return read_pairs(generate_suite(out, num_pairs=12, seed=1, show_progress=False, workers=0))


def _labels(pair: PreferencePair) -> dict[str, str]:
    return {d: pair.labels[d] for d in DIMENSIONS}


def _run(pairs, detour_prob=0.2, seed=0, samples_per_pair=1, **config):
    cfg = EpisodeConfig(**config)
    teacher = ScriptedTeacher(pairs, cfg, seed, detour_prob=detour_prob)
    return teacher, Judge(teacher, cfg, cache=_CACHE).judge_pairs(pairs, samples_per_pair=samples_per_pair)


def _numbers(text: str) -> list[int]:
    out: list[int] = []
    for item in text.split(","):
        item = item.strip()
        if "-" in item:
            lo, hi = item.split("-")
            out.extend(range(int(lo), int(hi) + 1))
        elif item:
            out.append(int(item))
    return out


def _described(turn_text: str) -> list[tuple[int, int]]:
    """``(video 1|2, number)`` of every frame a turn's <think> describes."""
    think = turn_text.split("</think>")[0]
    return [(int(m.group(1)), n) for m in _DESCRIBED.finditer(think) for n in _numbers(m.group(2))]


def _in_view(turn, ws) -> set[tuple[int, int]]:
    """``(video 1|2, number)`` of every frame whose image is in the turn's context."""
    return {(ref.video + 1, ws.frame_number(ref)) for ref in turn.images}


def _revealed(traj, pair) -> set[int]:
    """Indices (into defects_of(pair)) of defects shown by some frame a call returned."""
    ws, defects = traj.workspace, defects_of(pair)
    found = set()
    for ref in traj.frames_viewed:
        side, src = "ab"[ref.video], ws.source_frame_index(ref)
        found |= {i for i, d in enumerate(defects) if d.video == side and src in d.frames}
    return found


def _hidden(pair, ws, initial_per_video=4) -> set[int]:
    seen = {("ab"[r.video], ws.source_frame_index(r)) for r in ws.initial_view(initial_per_video)}
    return {i for i, d in enumerate(defects_of(pair)) if not any((d.video, f) in seen for f in d.frames)}


@pytest.mark.parametrize(
    "config",
    [
        {"memory_window": 1},
        {"memory_window": "unlimited"},
        {"memory_window": 2, "frame_addressing": "per_video"},
        {"memory_window": 1, "max_frames_per_call": 4},
        {"memory_window": 1, "frame_labels": "video_first"},
    ],
    ids=["p1", "unlimited", "per_video", "4-per-call", "video_first"],
)
def test_every_trace_is_answered_correctly_and_well_formed(pairs, config):
    _, trajs = _run(pairs, detour_prob=0.3, **config)
    for traj, pair in zip(trajs, pairs):
        assert traj.end_reason == "answered", traj.key
        assert traj.format_ok, traj.key
        assert traj.judgment == _labels(pair), traj.key
        assert traj.tool_calls <= 3
        for turn in traj.turns:
            assert 10 <= len(turn.text.split()) <= 120, turn.text  # short turns: learnable in minutes


def test_hidden_defects_are_fetched_and_described(pairs):
    _, trajs = _run(pairs, detour_prob=0.0, memory_window=1)
    hidden_pairs = 0
    for traj, pair in zip(trajs, pairs):
        hidden = _hidden(pair, traj.workspace)
        if not hidden:
            assert traj.tool_calls == 0, "nothing hidden: answer from the initial view"
            continue
        hidden_pairs += 1
        assert traj.tool_calls >= 1
        assert hidden <= _revealed(traj, pair), f"{traj.key}: a hidden defect was never fetched"
        # The turn after the call says what the returned frames show, using the defect's own words.
        answer_turn = traj.turns[-1].text
        for i in hidden:
            assert defects_of(pair)[i].description in answer_turn
    assert hidden_pairs >= 6  # the suite has plenty of local defects


def test_turn_shape(pairs):
    _, trajs = _run(pairs, detour_prob=0.0, memory_window=1)
    for traj in trajs:
        first = traj.turns[0].text
        assert first.startswith("<think>Video 1, frames ")  # perception first
        if traj.tool_calls:
            assert "<recommend answer>TA: " in first and first.endswith("</tool_call>")
        last = traj.turns[-1].text
        assert "Defects: Video 1 has " in last and last.endswith("</answer>")
        for turn in traj.turns[:-1]:  # a running tally closes every turn's thinking
            assert "Defects: Video 1 has " in turn.text.split("</think>")[0].rsplit(". ", 1)[-1] + ".", turn.text
        assert last.index("</think>") < last.index("<answer>")


@pytest.mark.parametrize("window", [0, 1, 2, "unlimited"])
def test_teacher_only_describes_frames_in_its_context(pairs, window):
    _, trajs = _run(pairs, detour_prob=0.5, memory_window=window)
    described_any_returned = False
    for traj in trajs:
        ws = traj.workspace
        for turn in traj.turns:
            described = _described(turn.text)
            assert set(described) <= _in_view(turn, ws), f"{traj.key} turn {turn.index}: {turn.text}"
            if turn.index > 0 and described:
                described_any_returned = True
        if window == 0 and traj.tool_calls:
            # Returned frames never come back as images: the teacher says so and describes nothing new.
            assert NOT_IN_VIEW in traj.turns[1].text and not _described(traj.turns[1].text)
    assert described_any_returned == (window != 0)


def test_window_zero_answers_from_what_it_saw(pairs):
    _, trajs = _run(pairs, detour_prob=0.0, memory_window=0)
    for traj, pair in zip(trajs, pairs):
        assert traj.format_ok
        assert traj.judgment == dict(pair.meta["initial_view_labels"])  # what a perfect judge sees up front


def test_detours_look_elsewhere_then_correct_themselves(pairs):
    teacher, trajs = _run(pairs, detour_prob=1.0, memory_window=1)
    detoured = 0
    for traj, pair in zip(trajs, pairs):
        assert traj.judgment == _labels(pair) and traj.format_ok
        if not teacher.detoured(traj.key):
            continue
        detoured += 1
        first_call = traj.turns[0].frames_returned
        ws, defects = traj.workspace, defects_of(pair)
        hidden = _hidden(pair, ws)
        # The detour frames show none of the hidden defects ...
        for ref in first_call:
            side, src = "ab"[ref.video], ws.source_frame_index(ref)
            assert not any(d.video == side and src in d.frames for i, d in enumerate(defects) if i in hidden)
        # ... the next turn describes them, says so, and calls again at the right frames.
        second = traj.turns[1].text
        assert ELSEWHERE in second or NOTHING_NEW in second
        assert _described(second) and "<tool_call>" in second
        assert traj.tool_calls >= 2
    calling = sum(t.tool_calls > 0 for t in trajs)
    assert detoured == calling  # the default budget (3 calls) always leaves room for one detour here


def test_detour_rate_and_budget(pairs):
    teacher, trajs = _run(pairs, detour_prob=0.5, samples_per_pair=10, memory_window=1)
    calling = [t for t in trajs if t.tool_calls]
    rate = sum(teacher.detoured(t.key) for t in calling) / len(calling)
    assert len(calling) >= 60 and 0.35 <= rate <= 0.65
    assert all(t.judgment == _labels(pairs[[p.pair_id for p in pairs].index(t.key.split("#")[0])]) for t in trajs)

    teacher, trajs = _run(pairs, detour_prob=0.0, memory_window=1)
    assert not any(teacher.detoured(t.key) for t in trajs)

    # One call: never enough for a detour plus the real look; still correct for these pairs.
    teacher, trajs = _run(pairs, detour_prob=1.0, max_tool_calls=1, memory_window=1)
    assert all(t.tool_calls <= 1 and not teacher.detoured(t.key) for t in trajs)
    assert all(t.end_reason == "answered" for t in trajs)


def test_no_tools_answers_from_the_initial_view(pairs):
    _, trajs = _run(pairs, max_tool_calls=0)
    for traj, pair in zip(trajs, pairs):
        assert traj.tool_calls == 0 and len(traj.turns) == 1
        assert traj.judgment == dict(pair.meta["initial_view_labels"])


def test_without_tools_a_guessing_teacher_names_a_side_where_it_saw_nothing(pairs):
    cfg = EpisodeConfig(max_tool_calls=0)
    trajs = Judge(ScriptedTeacher(pairs, cfg, 0, guess_unseen=True), cfg, cache=_CACHE).judge_pairs(pairs)
    sides = []
    for traj, pair in zip(trajs, pairs):
        seen = dict(pair.meta["initial_view_labels"])
        think = traj.turns[-1].parsed.think
        if ScriptedTeacher.read_tally(think):  # a defect in view: the answer is what the frames show
            assert GUESS not in think and traj.judgment == seen
        else:  # nothing in view: one side, in the dimensions the pair's defects are of; the others stay ties
            assert think.endswith(GUESS)
            at_stake = {d.dimension for d in defects_of(pair)}
            assert traj.judgment["Overall"] in ("A", "B")  # a clean pair gets a side for Overall alone
            assert all(traj.judgment[d] == traj.judgment["Overall"] for d in at_stake)
            assert all(traj.judgment[d] == "tie" for d in seen if d != "Overall" and d not in at_stake)
            sides.append(traj.judgment["Overall"])
    assert sides  # the suite has pairs whose initial view shows no defect
    again = Judge(ScriptedTeacher(pairs, cfg, 0, guess_unseen=True), cfg, cache=_CACHE).judge_pairs(pairs)
    assert [t.judgment for t in again] == [t.judgment for t in trajs]  # the guess is seeded per episode
    # without the flag the same episodes answer tie
    plain = Judge(ScriptedTeacher(pairs, cfg, 0), cfg, cache=_CACHE).judge_pairs(pairs)
    assert all(t.judgment == dict(p.meta["initial_view_labels"]) for t, p in zip(plain, pairs))


def test_coarse_pool_maps_frames_to_source_indices(pairs):
    # 24 pooled frames of 48-frame clips: pool frame i is source frame round(i * 47 / 23).
    _, trajs = _run(pairs, detour_prob=0.3, frames_per_video=24, memory_window=1)
    correct = 0
    for traj, pair in zip(trajs, pairs):
        ws = traj.workspace
        assert ws.frames_per_video == 24
        for turn in traj.turns:
            assert set(_described(turn.text)) <= _in_view(turn, ws)
        if traj.judgment == _labels(pair):
            correct += 1
            assert _hidden(pair, ws) <= _revealed(traj, pair)
    assert correct >= 9  # a 2-frame run can fall between pooled frames; those answers may be wrong


def test_deterministic_given_seed(pairs):
    texts = lambda trajs: [[t.text for t in traj.turns] for traj in trajs]  # noqa: E731
    a = texts(_run(pairs, detour_prob=0.5, seed=3)[1])
    b = texts(_run(pairs, detour_prob=0.5, seed=3)[1])
    c = texts(_run(pairs, detour_prob=0.5, seed=4)[1])
    assert a == b and a != c


def test_same_teacher_can_judge_a_key_twice(pairs):
    cfg = EpisodeConfig()
    teacher = ScriptedTeacher(pairs[:3], cfg, 0)
    judge = Judge(teacher, cfg, cache=_CACHE)
    first = [[t.text for t in tr.turns] for tr in judge.judge_pairs(pairs[:3])]
    second = [[t.text for t in tr.turns] for tr in judge.judge_pairs(pairs[:3])]
    assert first == second


def test_unscriptable_pairs_are_refused(pairs):
    plain = PreferencePair(pair_id="x", prompt="p", video_a="a.mp4", video_b="b.mp4", labels={"Overall": "A"})
    with pytest.raises(TeacherError, match="not a synthetic pair"):
        ScriptedTeacher([plain], EpisodeConfig())
    swapped = next(p for p in pairs if p.labels["Overall"] != "tie").swapped()
    with pytest.raises(TeacherError, match="do not follow"):
        ScriptedTeacher([swapped], EpisodeConfig())
    with pytest.raises(KeyError, match="no pair"):
        ScriptedTeacher(pairs[:1], EpisodeConfig())._info("nope")


def test_generate_traces_replay_and_resume(pairs, tmp_path):
    out = tmp_path / "traces.jsonl"
    cfg = EpisodeConfig(memory_window=1)
    stats = generate_teacher_traces(pairs[:5], out, cfg, seed=0, detour_prob=0.5, batch_pairs=2)
    assert stats["written"] == 5 and stats["rejected"] == 0 and stats["skipped_existing"] == 0
    stats = generate_teacher_traces(pairs, out, cfg, seed=0, detour_prob=0.5, batch_pairs=4)
    assert stats["written"] == 7 and stats["skipped_existing"] == 5
    assert 1.0 <= stats["mean_turns"] <= 4.0 and 0.0 <= stats["tool_call_rate"] <= 1.0
    stats = generate_teacher_traces(pairs, out, cfg, seed=0)
    assert stats["written"] == 0 and stats["skipped_existing"] == 12

    records = [r for _, r in iter_trace_records(out)]
    keys = [r["key"] for r in records]
    assert sorted(keys) == sorted(p.pair_id for p in pairs) and len(set(keys)) == 12
    by_id = {p.pair_id: p for p in pairs}
    cache = FrameCache()
    for record in records:
        assert record["judgment"] == _labels(by_id[record["key"]]) and record["format_ok"]
        assert "detour" in record["meta"]["teacher"]
        segments = read_segments(record, cache)
        assert [s.completion for s in segments] == [t["text"] for t in record["turn_records"]]
        for seg in segments:
            n_images = sum(isinstance(p, ImagePart) for m in seg.messages for p in m.parts)
            assert len(seg.images) == n_images
    json.dumps(stats)  # JSON-ready

    # --no-resume starts the file afresh.
    stats = generate_teacher_traces(pairs[:2], out, cfg, resume=False)
    assert stats["written"] == 2 and len(list(iter_trace_records(out))) == 2


def test_generate_traces_counts_rejections_and_unscriptable(pairs, tmp_path):
    plain = PreferencePair(pair_id="x", prompt="p", video_a="a.mp4", video_b="b.mp4", labels={"Overall": "A"})
    stats = generate_teacher_traces([*pairs, plain], tmp_path / "t.jsonl", EpisodeConfig(memory_window=0))
    assert stats["unscriptable"] == 1
    assert stats["written"] + stats["rejected"] == 12
    assert stats["rejected_reasons"]["wrong_judgment"] == stats["rejected"] > 0  # p = 0 cannot see hidden defects


def test_generated_guessing_traces_keep_only_the_right_guesses(tmp_path):
    from vrthinker.episode.traces import iter_trace_records

    # Short noise bursts hidden between the initial-view frames: without a tool most pairs show nothing.
    pairs = read_pairs(generate_suite(tmp_path / "suite", num_pairs=16, seed=5, difficulty=0.0, kinds=["noise"],
                                      local_fraction=1.0, num_frames=32, local_run_frames=(2, 3), show_progress=False,
                                      workers=0))  # fmt: skip
    cfg = EpisodeConfig(frames_per_video=32, max_tool_calls=0)
    stats = generate_teacher_traces(pairs, tmp_path / "g.jsonl", cfg, guess_unseen=True)
    records = [r for _, r in iter_trace_records(tmp_path / "g.jsonl")]
    guessed = [r for r in records if GUESS in r["turn_records"][-1]["text"]]
    assert guessed and stats["written"] == len(records)
    assert all(r["meta"]["teacher"]["guess_unseen"] is True for r in records)
    by_id = {p.pair_id: p for p in pairs}
    # a kept guess names the labelled side (a wrong one is rejected like any wrong trace)
    assert all(r["judgment"]["Overall"] == by_id[r["key"]].labels["Overall"] != "tie" for r in guessed)



# --------------------------------------------------------------------------- the scanning teacher

@pytest.mark.parametrize(
    "config",
    [{}, {"frame_addressing": "per_video"}, {"frames_per_video": 16, "max_tool_calls": 2}, {"max_tool_calls": 0}],
    ids=["pooled", "per_video", "small-pool", "no-calls"],
)
def test_scan_plan_spreads_the_budget_over_frames_the_initial_view_skipped(config):
    from vrthinker.policy.teacher import scan_plan
    from vrthinker.video import uniform_frame_indices

    cfg = EpisodeConfig(**config)
    plan = scan_plan(cfg)
    assert len(plan) == cfg.max_tool_calls
    initial = set(uniform_frame_indices(cfg.frames_per_video, cfg.initial_per_video))
    flat = [f for call in plan for f in call]
    assert len(flat) == len(set(flat)), "no frame is requested twice"
    assert all(len(call) <= cfg.max_frames_per_call for call in plan)
    assert not any(i in initial for _, i in flat)
    for video in (0, 1):
        mine = sorted(i for v, i in flat if v == video)
        if not mine:
            continue
        # Evenly spread: no gap between consecutive seen frames (initial or scanned) is much larger than the mean.
        seen = sorted(initial | set(mine))
        gaps = [b - a for a, b in zip(seen, seen[1:])]
        assert max(gaps) <= 2 * (cfg.frames_per_video / len(seen)) + 1
    if cfg.frame_addressing == "pooled":
        for call in plan:  # both videos in every call, coarse to fine
            assert {v for v, _ in call} == {0, 1}
    else:
        assert all(len({v for v, _ in call}) == 1 for call in plan)


@pytest.mark.parametrize("labels", ["frame_first", "video_first"])
def test_scan_teacher_calls_the_plan_and_describes_every_frame_honestly(pairs, labels):
    from vrthinker.episode.sentences import read_frame_sentences
    from vrthinker.policy.teacher import scan_plan

    cfg = EpisodeConfig(memory_window=1, frame_labels=labels)
    teacher = ScriptedTeacher(pairs, cfg, 0, strategy="scan", describe="per_frame")
    trajs = Judge(teacher, cfg, cache=_CACHE).judge_pairs(pairs)
    plan = scan_plan(cfg)
    for traj, pair in zip(trajs, pairs):
        assert traj.format_ok and traj.end_reason == "answered", traj.key
        assert traj.tool_calls == len(plan), "a scan spends the whole budget, whatever it sees"
        ws, defects = traj.workspace, defects_of(pair)
        for turn in traj.turns:
            described = [(s.frame, s.what) for s in read_frame_sentences(turn.text.split("</think>")[0], cfg.frames_per_video)]
            in_view = {(ref.video, ref.frame_idx): ref for ref in turn.images}
            assert described, turn.text
            # Each sentence starts with the frame's label as the context writes it.
            assert turn.text.startswith("<think>" + ("(Video " if labels == "video_first" else "Frame ")), turn.text
            for number, what in described:
                ref = in_view[number]  # only frames whose image is in the context
                src, side = ws.source_frame_index(ref), "ab"[ref.video]
                shown = [d.description for d in defects if d.video == side and src in d.frames]
                assert sorted(what.split("; ")) == (sorted(shown) or ["normal"]), (traj.key, number, what)
        # The answer follows from what the scan saw: it is right whenever every defect was seen.
        seen = {("ab"[r.video], ws.source_frame_index(r)) for t in traj.turns for r in t.images}
        if all(any((d.video, f) in seen for f in d.frames) for d in defects):
            assert traj.judgment == _labels(pair), traj.key


def test_read_frame_sentences_reads_every_label_style():
    from vrthinker.episode.sentences import read_frame_sentences

    cfg = EpisodeConfig(frames_per_video=16)
    thinking = ("Frame 3 (Video 1): heavy noise. (Video 2) Frame 20: normal. Video 2, frame 5: heavy blur. "
                "Frame 40: normal. Scanning more frames. Defects: Video1 has VQ.")
    read = [(s.frame, s.what, s.text) for s in read_frame_sentences(thinking, cfg.frames_per_video)]
    assert read == [
        ((0, 2), "heavy noise", "Frame 3 (Video 1): heavy noise."),
        ((1, 3), "normal", "(Video 2) Frame 20: normal."),
        ((1, 4), "heavy blur", "Video 2, frame 5: heavy blur."),
        (None, "normal", "Frame 40: normal."),  # outside the pool of 2 x 16
    ]
    # The reader and the writer agree: the labels the episode writes, in either style, are read back whole.
    from vrthinker.episode import FrameRef
    from vrthinker.episode.workspace import frame_label

    for labels in ("frame_first", "video_first"):
        sentences = [f"{frame_label(ref, 16, 'pooled', labels)}: normal." for ref in (FrameRef(0, 0), FrameRef(1, 15))]
        assert [(s.frame, s.text) for s in read_frame_sentences(" ".join(sentences), cfg.frames_per_video)] == [
            ((0, 0), sentences[0]),
            ((1, 15), sentences[1]),
        ]


def test_teacher_rejects_unknown_strategy(pairs):
    with pytest.raises(ValueError, match="strategy"):
        ScriptedTeacher(pairs, EpisodeConfig(), 0, strategy="guess")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="describe"):
        ScriptedTeacher(pairs, EpisodeConfig(), 0, describe="poem")  # type: ignore[arg-type]


def test_frame_description_traces_pair_each_frame_with_what_it_shows(pairs, tmp_path):
    from vrthinker.episode.traces import iter_trace_records, read_segments
    from vrthinker.policy.teacher import generate_frame_description_traces
    from vrthinker.video import uniform_frame_indices

    cfg = EpisodeConfig(frames_per_video=16)
    out = tmp_path / "frames.jsonl"
    stats = generate_frame_description_traces(pairs[:3], out, cfg, stride=2)
    assert stats["turns"] == 3 * 2 * 8
    records = [rec for _, rec in iter_trace_records(out)]
    assert len(records) == 3
    defect_frames = 0
    for rec, pair in zip(records, pairs):
        segments = read_segments(rec, _CACHE)
        assert len(segments) == 16
        for seg in segments:
            (user,) = seg.messages
            (ref,) = user.images
            assert len(seg.images) == 1 and ref.frame_idx % 2 == 0
            number = ref.video * 16 + ref.frame_idx + 1
            assert user.parts[0].text == f"\nFrame {number} (Video {ref.video + 1}): "  # the episode's own label
            src = uniform_frame_indices(int(pair.meta["num_frames"]), 16)[ref.frame_idx]
            shown = [d.description for d in defects_of(pair) if d.video == "ab"[ref.video] and src in d.frames]
            label = f"Frame {number} (Video {ref.video + 1}): "
            assert seg.completion.startswith(label)  # the frame's own label, copied
            assert sorted(seg.completion[len(label) : -1].split("; ")) == (sorted(shown) or ["normal"])
            defect_frames += bool(shown)
    assert defect_frames > 0
    with pytest.raises(ValueError, match="stride"):
        generate_frame_description_traces(pairs[:1], out, cfg, stride=0)


def test_balanced_frame_descriptions_keep_every_defect_frame_and_as_many_clean(pairs, tmp_path):
    from vrthinker.episode.traces import iter_trace_records
    from vrthinker.policy.teacher import generate_frame_description_traces

    cfg = EpisodeConfig(frames_per_video=16)
    full, balanced = tmp_path / "full.jsonl", tmp_path / "balanced.jsonl"
    generate_frame_description_traces(pairs, full, cfg)
    generate_frame_description_traces(pairs, balanced, cfg, balance=True)
    for (_, a), (_, b) in zip(iter_trace_records(full), iter_trace_records(balanced)):
        defect = lambda rec: [t for t in rec["turn_records"] if not t["text"].endswith(": normal.")]  # noqa: E731
        assert [t["text"] for t in defect(a)] == [t["text"] for t in defect(b)]  # every defect frame kept
        clean = len(b["turn_records"]) - len(defect(b))
        assert clean == min(len(a["turn_records"]) - len(defect(a)), max(2, len(defect(b))))


@pytest.mark.parametrize("tally", ["closing", "found", "found_compact", "found_letter"])
def test_scan_turns_carry_a_running_tally_of_what_was_seen_so_far(pairs, tally):
    cfg = EpisodeConfig(memory_window=1)
    teacher = ScriptedTeacher(pairs, cfg, 0, strategy="scan", describe="per_frame", tally=tally)
    forms = set()
    for traj in Judge(teacher, cfg, cache=_CACHE).judge_pairs(pairs):
        seen: set[str] = set()
        for turn in traj.turns:
            think = turn.text.split("</think>")[0]
            for video in ("1", "2"):
                if re.search(rf"\(Video {video}\): (?!normal)", think):
                    seen.add(video)
            closing = think.rsplit("Defects: ", 1)[1]
            assert closing.endswith(".") and closing.count(".") == 1, turn.text  # the thinking's last sentence
            for video in ("1", "2"):
                name = {"found_compact": f"Video{video}", "found_letter": f"Video{'AB'[int(video) - 1]}"}.get(
                    tally, f"Video {video}")
                if tally == "closing":  # both videos named, "none" for a clean one
                    assert f"{name} has" in closing
                    has_defect = not re.search(rf"{name} has none", closing)
                else:  # only the videos with a defect named
                    assert "has none" not in closing
                    has_defect = f"{name} has" in closing
                assert has_defect == (video in seen), (traj.key, turn.text)  # cumulative, never forgets
            # The teacher's own reader gets the same videos back from the text.
            assert ScriptedTeacher.read_tally(think) == {int(v) - 1 for v in seen}, turn.text
            forms.add(closing)
    if tally == "found":
        assert "none." in forms and any("Video 1 has" in f or "Video 2 has" in f for f in forms)
    if tally == "found_compact":  # the number joined to "Video": no " " token before it
        assert "none." in forms and any("Video1 has" in f or "Video2 has" in f for f in forms)
        assert not any(re.search(r"Video \d", f) for f in forms)
    if tally == "found_letter":  # a letter for the video: no digit in the tally at all
        assert "none." in forms and any("VideoA has" in f or "VideoB has" in f for f in forms)
        assert not any(re.search(r"\d", f) for f in forms)


def test_per_video_tally_follows_each_videos_own_sentences_and_never_forgets(pairs):
    cfg = EpisodeConfig(memory_window=1)
    teacher = ScriptedTeacher(pairs, cfg, 0, strategy="scan", describe="per_frame", tally="per_video")
    checked = 0
    for traj in Judge(teacher, cfg, cache=_CACHE).judge_pairs(pairs):
        seen = {"1": False, "2": False}
        for turn in traj.turns:
            think = turn.text.split("</think>")[0]
            assert "Defects:" not in think  # no closing tally in this style
            # Video 1's sentences, its tally, then video 2's sentences and its tally, in that order.
            chunks = re.split(r"(Video [12] has [^.]+\.)", think)
            tallies = chunks[1::2]
            assert [t[6] for t in tallies] == ["1", "2"], turn.text
            for sentences, tally in zip(chunks[0::2], tallies):
                video = tally[6]
                assert not re.search(rf"\(Video {3 - int(video)}\)", sentences), turn.text  # its own frames only
                seen[video] |= bool(re.search(rf"\(Video {video}\): (?!normal)", sentences))
                assert (tally != f"Video {video} has none.") == seen[video], (traj.key, turn.text)
                checked += 1
            assert ScriptedTeacher.read_tally(think) == {int(v) - 1 for v, s in seen.items() if s}, turn.text
        assert traj.judgment == dict(traj.labels)  # the answer still follows from what was seen
    assert checked >= 2 * len(pairs)
    with pytest.raises(ValueError, match="tally"):
        ScriptedTeacher(pairs, cfg, 0, tally="inline")
    assert ScriptedTeacher.read_tally("Frame 3 (Video 1): normal. Scanning more frames.") is None  # no tally at all


@pytest.mark.parametrize("tally", ["closing", "found", "found_compact", "found_letter", "per_video"])
def test_reasoning_agrees_with_its_own_traces_and_not_with_a_changed_sentence(pairs, tally):
    """... and ``reasoning_agreement`` is the fraction of turns that agree (the process reward)."""
    import dataclasses

    from vrthinker.episode.protocol import parse_turn

    cfg = EpisodeConfig(memory_window=1)
    teacher = ScriptedTeacher(pairs, cfg, 0, strategy="scan", describe="per_frame", tally=tally)
    trajs = Judge(teacher, cfg, cache=_CACHE).judge_pairs(pairs)
    assert all(teacher.reasoning_agrees(t) and teacher.reasoning_agreement(t) == 1.0 for t in trajs)
    changed = 0
    for traj in trajs:
        last = traj.turns[-1]
        wrong = last.text.replace(": normal.", ": heavy noise.", 1)
        if wrong == last.text:
            continue
        # A frame that looks normal described as noisy: perception wrong, even if the answer were right.
        traj.turns[-1] = dataclasses.replace(last, text=wrong, parsed=parse_turn(wrong, ("select_frames",), lambda t: None))
        assert not teacher.reasoning_agrees(traj)
        assert teacher.reasoning_agreement(traj) == pytest.approx(1 - 1 / len(traj.turns))
        changed += 1
    assert changed >= 3


def test_with_reshown_findings_every_tally_entry_has_its_sentence_in_the_same_turn(pairs):
    from vrthinker.episode import VideoPreferenceTask

    cfg = EpisodeConfig(memory_window=1, reshow_findings=8)
    teacher = ScriptedTeacher(pairs, cfg, 0, strategy="scan", describe="per_frame", tally="found_compact")
    trajs = Judge(teacher, cfg, cache=_CACHE).judge_pairs(pairs)
    task, reshown = VideoPreferenceTask(), 0
    for traj, pair in zip(trajs, pairs):
        assert traj.judgment == _labels(pair) and teacher.reasoning_agreement(traj) == 1.0
        for turn in traj.turns:
            think = turn.parsed.think
            found = {ref.video for ref, _ in task.findings(think, traj.workspace)}
            assert ScriptedTeacher.read_tally(think) <= found, think  # no entry carried from an earlier turn
            reshown += len(turn.frames_reshown)
    assert reshown > 0


def test_the_teacher_scripts_and_verifies_swapped_twins_of_synthetic_pairs(pairs):
    import dataclasses

    from vrthinker.data.synthetic import swapped_synthetic
    from vrthinker.policy.teacher import pair_is_scriptable

    swapped = [swapped_synthetic(p) for p in pairs]
    # PreferencePair.swapped keeps the meta, whose defects then contradict the flipped labels.
    assert any(pair_is_scriptable(p.swapped()) is not None for p in pairs if p.labels["Overall"] != "tie")
    assert all(pair_is_scriptable(p) is None for p in swapped)
    for p, s in zip(pairs, swapped):
        assert s.pair_id == f"{p.pair_id}:swapped" and (s.video_a, s.video_b) == (p.video_b, p.video_a)
        assert {(d.video, d.frames) for d in defects_of(s)} == {("b" if d.video == "a" else "a", d.frames) for d in defects_of(p)}
    cfg = EpisodeConfig(memory_window=1)
    teacher = ScriptedTeacher([*pairs, *swapped], cfg, 0, strategy="scan", describe="per_frame", tally="found_compact")
    trajs = Judge(teacher, cfg, cache=_CACHE).judge_pairs(swapped)
    assert all(t.judgment == _labels(s) for t, s in zip(trajs, swapped))
    assert all(teacher.reasoning_agreement(t) == 1.0 for t in trajs)
    # The original's trace, read as if it were the twin's, does not pass: its tallies name the other video.
    originals = Judge(teacher, cfg, cache=_CACHE).judge_pairs(pairs)
    with_defects = [t for t, p in zip(originals, pairs) if defects_of(p)]
    assert with_defects
    assert all(teacher.reasoning_agreement(dataclasses.replace(t, key=f"{t.key}:swapped")) < 1.0 for t in with_defects)


def test_multi_frame_description_turns_describe_each_frame_in_order(pairs, tmp_path):
    from vrthinker.episode.traces import iter_trace_records, read_segments
    from vrthinker.policy.teacher import generate_frame_description_traces

    cfg = EpisodeConfig(frames_per_video=16)
    one, four = tmp_path / "one.jsonl", tmp_path / "four.jsonl"
    generate_frame_description_traces(pairs[:3], one, cfg, balance=True)
    stats = generate_frame_description_traces(pairs[:3], four, cfg, balance=True, frames_per_turn=4, seed=1)
    for (_, a), (_, b) in zip(iter_trace_records(one), iter_trace_records(four)):
        singles = sorted(t["text"] for t in a["turn_records"])
        assert len(b["turn_records"]) == -(-len(singles) // 4)
        sentences = []
        for seg in read_segments(b, _CACHE):
            (user,) = seg.messages
            numbers = [int(re.match(r"\nFrame (\d+)", p.text).group(1)) for p in user.parts if hasattr(p, "text")]
            assert numbers == sorted(numbers) and len(numbers) == len(seg.images) <= 4  # pooled order
            said = re.findall(r"Frame \d+ \(Video [12]\): [^.]+\.", seg.completion)
            assert [int(re.match(r"Frame (\d+)", x).group(1)) for x in said] == numbers
            sentences += said
        assert sorted(sentences) == singles  # the same frames, the same sentences, grouped
    assert stats["turns"] == sum(len(r["turn_records"]) for _, r in iter_trace_records(four))
    with pytest.raises(ValueError, match="frames_per_turn"):
        generate_frame_description_traces(pairs[:1], four, cfg, frames_per_turn=0)


def test_aligned_description_turns_show_one_index_of_both_videos(pairs, tmp_path):
    from vrthinker.episode.traces import iter_trace_records, read_segments
    from vrthinker.policy.teacher import generate_frame_description_traces

    cfg = EpisodeConfig(frames_per_video=16)
    out = tmp_path / "aligned.jsonl"
    generate_frame_description_traces(pairs[:4], out, cfg, balance=True, frames_per_turn=2, aligned=True)
    teacher = ScriptedTeacher(pairs, cfg, 0, describe="per_frame")
    for (_, rec), pair in zip(iter_trace_records(out), pairs):
        indices = []
        for seg in read_segments(rec, _CACHE):
            refs = [(r.video, r.frame_idx) for r in seg.messages[0].images]
            assert [v for v, _ in refs] == [0, 1] and refs[0][1] == refs[1][1]  # same index, both videos
            assert seg.completion == " ".join(teacher.frame_sentence(pair.pair_id, f) for f in refs)
            indices.append(refs[0][1])
        defective = [i for i in range(16) if any("normal" not in teacher.frame_sentence(pair.pair_id, (v, i))
                                                 for v in (0, 1))]  # fmt: skip
        assert set(defective) <= set(indices)  # every index with a defect in either video
        assert len(indices) - len(defective) == min(16 - len(defective), max(2, len(defective)))
