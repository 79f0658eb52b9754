"""Turn parsing: every well-formed and malformed shape is classified, never raised."""

from __future__ import annotations

import pytest

from vrthinker.episode import VideoPreferenceTask, parse_turn

TASK = VideoPreferenceTask()
TOOLS = ["select_frames"]


def parse(text: str):
    return parse_turn(text, TOOLS, TASK.locate_answer)


def test_valid_tool_call_turn():
    t = parse(
        '<think>Video 2 may jitter.</think><recommend answer>2</recommend answer>'
        '<tool_call>{"name": "select_frames", "arguments": {"target_frames": [60, 64]}}</tool_call><|im_end|>'
    )
    assert t.kind == "tool_call" and t.error is None
    assert t.call.name == "select_frames" and t.call.arguments == {"target_frames": [60, 64]}
    assert t.think == "Video 2 may jitter." and t.recommend == "2"


def test_final_answer_all_dimensions():
    t = parse("<think>ok</think><answer>\nTA: 1\nVQ: 2\nMQ: 0\nOverall: 1\n</answer>")
    assert t.kind == "answer"
    assert TASK.parse_answer(t.answer_text)["judgment"] == {"TA": "A", "VQ": "B", "MQ": "tie", "Overall": "A"}


def test_reference_checkpoint_final_format():
    t = parse("<think>x</think><final answer>Video 1 is better overall. \\boxed{1}</final answer>")
    assert t.kind == "answer"
    j = TASK.parse_answer(t.answer_text)["judgment"]
    assert j["Overall"] == "A" and j["TA"] is None
    assert not TASK.answer_is_complete({"judgment": j})


@pytest.mark.parametrize(
    "text, error",
    [
        ("I like video 1.", "no_answer"),
        ("", "no_answer"),
        ("<tool_call>{not json}</tool_call>", "bad_json"),
        ('<tool_call>{"name": "select_frames"}</tool_call>', "bad_json"),
        ('<tool_call>[1, 2]</tool_call>', "bad_json"),
        ('<tool_call>{"name": "zoom", "arguments": {}}</tool_call>', "unknown_tool"),
        ('<tool_call>{"name": "select_frames", "arguments": {"target_frames": [1]}}</tool_call> and more', "text_after_call"),
        ('<tool_call>{"name": "select_frames", "arguments": {}}', "unclosed_call"),
        (
            '<tool_call>{"name": "select_frames", "arguments": {}}</tool_call>'
            '<tool_call>{"name": "select_frames", "arguments": {}}</tool_call>',
            "multiple_calls",
        ),
        ("<answer>nothing useful</answer>", "no_answer"),
    ],
)
def test_malformed_turns_are_classified(text, error):
    t = parse(text)
    assert t.kind == "invalid"
    assert t.error == error
    assert t.detail


def test_garbage_bytes_never_raise():
    import random

    rng = random.Random(0)
    alphabet = "<>{}[]\"':,0123456789 abc/tool_call answer think \\boxed"
    for _ in range(500):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 80)))
        parse(text)  # must not raise
