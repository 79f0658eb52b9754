"""select_frames: valid calls return labelled frames; every invalid kind returns an error text."""

from __future__ import annotations

import pytest

from vrthinker.episode import FrameRef, ImagePart, SelectFrames, TextPart



def test_pooled_numbering_maps_to_both_videos(workspace):
    result = SelectFrames().execute({"target_frames": [1, 48, 49, 61, 61]}, workspace)
    assert result.ok
    assert result.frames == (FrameRef(0, 0), FrameRef(0, 47), FrameRef(1, 0), FrameRef(1, 12))
    texts = [p.text for p in result.parts if isinstance(p, TextPart)]
    assert "\nFrame 61 (Video 2): " in texts
    assert sum(isinstance(p, ImagePart) for p in result.parts) == 4


def test_video_first_labels_end_with_the_frame_number(make_workspace):
    ws = make_workspace(labels="video_first")
    result = SelectFrames().execute({"target_frames": [3, 61]}, ws)
    texts = [p.text for p in result.parts if isinstance(p, TextPart)]
    assert "\n(Video 1) Frame 3: " in texts and "\n(Video 2) Frame 61: " in texts


def test_per_video_addressing(make_workspace):
    ws = make_workspace(addressing="per_video")
    result = SelectFrames().execute({"video": 2, "target_frames": [13]}, ws)
    assert result.frames == (FrameRef(1, 12),)
    assert any(isinstance(p, TextPart) and "Video 2, frame 13" in p.text for p in result.parts)
    assert SelectFrames().execute({"target_frames": [13]}, ws).error == "bad_arguments"
    assert SelectFrames().execute({"video": 2, "target_frames": [49]}, ws).error == "out_of_range"


@pytest.mark.parametrize(
    "args, error, phrase",
    [
        ({"target_frames": [0]}, "non_positive_index", "numbered from 1 to 96"),
        ({"target_frames": [-3]}, "non_positive_index", "frame -3"),
        ({"target_frames": [97]}, "out_of_range", "frame 97 does not exist"),
        ({"target_frames": list(range(1, 10))}, "too_many_frames", "at most 8"),
        ({"target_frames": []}, "empty_selection", "empty"),
        ({"target_frames": "1,2"}, "bad_arguments", "list of integers"),
        ({"target_frames": [1.5]}, "bad_arguments", "list of integers"),
        ({"target_frames": [True]}, "bad_arguments", "list of integers"),
        ({}, "bad_arguments", "list of integers"),
        ([1, 2], "bad_arguments", "JSON object"),
    ],
)
def test_invalid_arguments(workspace, args, error, phrase):
    result = SelectFrames().execute(args, workspace)
    assert result.error == error
    assert result.frames == ()
    text = "".join(p.text for p in result.parts)
    assert phrase in text and "{error_info}" not in text


def test_schema_names_the_range(workspace):
    schema = SelectFrames().schema(workspace)
    assert schema["function"]["name"] == "select_frames"
    assert "1 to 96" in schema["function"]["parameters"]["properties"]["target_frames"]["items"]["description"]
