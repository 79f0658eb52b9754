"""The engine driven by scripted policies through every branch."""

from __future__ import annotations

import json

import pytest

from vrthinker.episode import (
    DROPPED_TEXT,
    EpisodeConfig,
    EpisodeJob,
    FrameRef,
    ImagePart,
    TextPart,
    run_episodes,
)
from vrthinker.policy.scripted import ReplayPolicy


ANSWER = "<think>done</think><answer>\nTA: 1\nVQ: 2\nMQ: 0\nOverall: 1\n</answer>"


def call(*frames: int) -> str:
    args = json.dumps({"name": "select_frames", "arguments": {"target_frames": list(frames)}})
    return f"<think>look</think><recommend answer>1</recommend answer><tool_call>{args}</tool_call>"


def run(script, config=None, task=None, tools=None, n=1):
    from vrthinker.episode import SelectFrames, VideoPreferenceTask
    from fakes import fake_workspace

    config = config or EpisodeConfig()
    jobs = [EpisodeJob(key=f"p{i}", workspace=fake_workspace()) for i in range(n)]
    policy = ReplayPolicy(script)
    trajs = run_episodes(jobs, policy, task or VideoPreferenceTask(), tools or [SelectFrames()], config)
    return trajs, policy


def test_direct_answer():
    [t], _ = run([ANSWER])
    assert t.end_reason == "answered" and t.answer_complete and t.format_ok
    assert t.judgment == {"TA": "A", "VQ": "B", "MQ": "tie", "Overall": "A"}
    assert len(t.turns) == 1 and t.tool_calls == 0
    # The initial view: 4 frames per video, pooled numbers 1,17,32,48 | 49,65,80,96.
    assert t.turns[0].images == tuple(FrameRef(v, i) for v in (0, 1) for i in (0, 16, 31, 47))


def test_valid_call_then_answer_frames_are_labelled():
    [t], policy = run([call(61, 64), ANSWER])
    assert t.end_reason == "answered" and t.tool_calls == 1 and t.invalid_calls == 0
    assert t.frames_viewed == (FrameRef(1, 12), FrameRef(1, 15))
    second = policy.requests[1]
    assert len(second.images) == 8 + 2
    user = second.messages[-1]
    assert user.role == "user" and user.tool_round == 0
    assert "\nFrame 61 (Video 2): " in [p.text for p in user.parts if isinstance(p, TextPart)]


@pytest.mark.parametrize(
    "bad_turn, kind",
    [
        (call(0), "non_positive_index"),
        (call(200), "out_of_range"),
        (call(*range(1, 12)), "too_many_frames"),
        ("<tool_call>{oops}</tool_call>", "bad_json"),
        ('<tool_call>{"name": "crop", "arguments": {}}</tool_call>', "unknown_tool"),
        (call(3) + " trailing words", "text_after_call"),
    ],
)
def test_invalid_calls_are_answered_counted_and_never_crash(bad_turn, kind):
    [t], policy = run([bad_turn, ANSWER])
    assert t.end_reason == "answered"
    assert t.tool_calls == 1 and t.invalid_calls == 1 and dict(t.invalid_kinds) == {kind: 1}
    error_msg = policy.requests[1].messages[-1]
    text = "".join(p.text for p in error_msg.parts if isinstance(p, TextPart))
    assert "No frames were returned" in text and "{error_info}" not in text
    assert not t.format_ok


def test_max_tool_calls_reached_ends_episode():
    [t], policy = run([call(1), call(2), call(3), call(4)], EpisodeConfig(max_tool_calls=3))
    assert t.end_reason == "max_tool_calls"
    assert t.tool_calls == 3 and len(t.turns) == 4
    last_reply = policy.requests[3].messages[-1]
    assert "used all your tool calls" in "".join(p.text for p in last_reply.parts if isinstance(p, TextPart))
    assert t.judgment["Overall"] is None


def test_no_answer_and_turn_token_limit():
    [t], _ = run(["just chatting"])
    assert t.end_reason == "no_answer" and t.judgment["Overall"] is None
    [t], _ = run(["word " * 50], EpisodeConfig(max_new_tokens=10))
    assert t.end_reason == "turn_token_limit"


def test_max_images_ends_episode():
    [t], _ = run([call(1, 2, 3, 4, 5, 6, 7, 8), ANSWER], EpisodeConfig(max_images=12))
    assert t.end_reason == "max_images" and len(t.turns) == 1


def test_episode_token_limit():
    [t], _ = run([call(1), ANSWER], EpisodeConfig(max_episode_tokens=50))
    assert t.end_reason == "episode_token_limit" and len(t.turns) == 1


def test_zero_tool_budget_hides_the_tool():
    [t], policy = run([ANSWER], EpisodeConfig(max_tool_calls=0))
    system = policy.requests[0].messages[0].parts[0].text
    assert "<tools>" not in system and "select_frames" not in policy.requests[0].messages[1].parts[0].text
    assert t.end_reason == "answered"


def _images_per_turn(window, calls=4):
    script = [call(10 * i + 1, 10 * i + 2) for i in range(calls)] + [ANSWER]
    [t], policy = run(script, EpisodeConfig(memory_window=window, max_tool_calls=calls, max_images=1000))
    assert t.end_reason == "answered"
    return [len(r.images) for r in policy.requests], t, policy


@pytest.mark.parametrize(
    "window, expected",
    [
        (0, [8, 8, 8, 8, 8]),
        (1, [8, 10, 10, 10, 10]),
        (2, [8, 10, 12, 12, 12]),
        ("unlimited", [8, 10, 12, 14, 16]),
    ],
)
def test_memory_window_eviction(window, expected):
    counts, t, policy = _images_per_turn(window)
    assert counts == expected
    # Dropped frames are named by a placeholder; the label text stays.
    last = policy.requests[-1].messages
    n_placeholders = sum(isinstance(p, TextPart) and p.text == DROPPED_TEXT for m in last for p in m.parts)
    assert n_placeholders == 16 - expected[-1]
    assert len(t.turns[-1].dropped) == 16 - expected[-1]


def test_visual_tokens_bounded_with_window_1_and_growing_unlimited():
    # 56x56 frames = 4 visual tokens each (Qwen2.5-VL, 28 px per merged token).
    per_frame, initial, per_call = 4, 8, 2
    for calls in (2, 6, 10):
        _, t, _ = _images_per_turn(1, calls)
        assert max(t.visual_tokens_per_turn) <= (initial + 1 * per_call) * per_frame
        _, t, _ = _images_per_turn("unlimited", calls)
        assert t.visual_tokens_per_turn[-1] == (initial + calls * per_call) * per_frame


def test_batched_episodes_advance_independently():
    script = {"p0": [ANSWER], "p1": [call(5), ANSWER], "p2": ["garbage"]}
    trajs, policy = run(script, n=3)
    assert [t.end_reason for t in trajs] == ["answered", "answered", "no_answer"]
    assert [len(t.turns) for t in trajs] == [1, 2, 1]
    assert len(policy.requests) == 4  # round 1: three requests; round 2: one


def test_segments_carry_exact_context():
    [t], policy = run([call(61), ANSWER])
    segs = t.segments()
    assert [s.completion for s in segs] == [call(61), ANSWER]
    for seg, req in zip(segs, policy.requests):
        assert seg.messages == req.messages
        assert seg.images == req.images
    assert all(isinstance(p, (TextPart, ImagePart)) for m in segs[1].messages for p in m.parts)


def test_compact_prompt_style_is_short_and_still_parses():
    [t], policy = run([call(61), ANSWER], EpisodeConfig(prompt_style="compact"))
    assert t.end_reason == "answered" and t.tool_calls == 1
    system = policy.requests[0].messages[0].parts[0].text
    task_text = policy.requests[0].messages[1].parts[0].text
    assert "select_frames" in system and "<tools>" not in system
    assert len(system.split()) + len(task_text.split()) < 60
    [t], policy = run([ANSWER], EpisodeConfig(prompt_style="compact", max_tool_calls=0))
    assert "select_frames" not in policy.requests[0].messages[0].parts[0].text


def _noted(think: str, *frames: int) -> str:
    args = json.dumps({"name": "select_frames", "arguments": {"target_frames": list(frames)}})
    return f"<think>{think}</think><recommend answer>1</recommend answer><tool_call>{args}</tool_call>"


def test_findings_are_frame_sentences_that_report_something():
    from fakes import fake_workspace

    from vrthinker.episode import VideoPreferenceTask

    ws, task = fake_workspace(), VideoPreferenceTask()
    think = ("Frame 1 (Video 1): normal. Frame 61 (Video 2): heavy noise. Frame 17 (Video 1): the red disc looks normal. "
             "Frame 6 (Video 1): blur. Defects: Video2 has VQ.")
    assert task.findings(think, ws) == [(FrameRef(1, 12), "heavy noise"), (FrameRef(0, 5), "blur")]
    assert task.findings("Frame 16 (Video 1): heavy noise.", ws) == [(FrameRef(0, 15), "heavy noise")]  # not Frame 6
    assert task.findings("Frame 16 (Video 1): heavy no", ws) == []  # a sentence cut off is no finding yet
    assert task.findings("no frame sentences", ws) == []


def test_reshow_findings_shows_earlier_findings_again_in_each_reply():
    cfg = EpisodeConfig(reshow_findings=2, max_tool_calls=3)
    script = [
        # Turn 0: two findings in Video 2 (same finding: one frame kept) and one in Video 1.
        _noted("Frame 61 (Video 2): heavy noise. Frame 62 (Video 2): heavy noise. Frame 1 (Video 1): blur.", 10, 61),
        _noted("Frame 10 (Video 1): normal.", 20),
        _noted("Frame 20 (Video 1): heavy noise.", 30),
        ANSWER,
    ]
    [t], policy = run(script, cfg)
    assert t.end_reason == "answered"
    # Frame 61 came back from the call itself: only Frame 1 is shown again after turn 0.
    assert t.turns[0].frames_reshown == (FrameRef(0, 0),)
    assert t.turns[1].frames_reshown == (FrameRef(1, 12), FrameRef(0, 0))
    # A third finding (Video 1, heavy noise) is over the limit of 2: the first two stay.
    assert t.turns[2].frames_reshown == (FrameRef(1, 12), FrameRef(0, 0))
    reply = policy.requests[2].messages[-1]
    texts = [p.text for p in reply.parts if isinstance(p, TextPart)]
    assert texts[-3:] == ["\nFrames you noted before:", "\nFrame 61 (Video 2): ", "\nFrame 1 (Video 1): "]
    assert [p.ref for p in reply.parts if isinstance(p, ImagePart)] == [FrameRef(0, 19), FrameRef(1, 12), FrameRef(0, 0)]
    # The window treats them as the reply's frames: shown to the next turn only (p = 1).
    assert policy.requests[3].messages[-3].parts[-1] == TextPart(DROPPED_TEXT)
    assert len(policy.requests[2].images) == 8 + 1 + 2
    assert t.frames_viewed == (FrameRef(0, 9), FrameRef(1, 12), FrameRef(0, 19), FrameRef(0, 29))


def test_reshow_findings_off_changes_nothing():
    script = [_noted("Frame 61 (Video 2): heavy noise.", 10), ANSWER]
    [t], policy = run(script)
    assert t.turns[0].frames_reshown == ()
    assert "Frames you noted before:" not in str(policy.requests[1].messages[-1])
