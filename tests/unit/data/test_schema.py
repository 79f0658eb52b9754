"""The PreferencePair schema: one shape for every source."""

from __future__ import annotations

import pydantic
import pytest

from vrthinker.data.schema import DIMENSION_NAMES, DIMENSIONS, LABELS, PreferencePair


def _pair(**overrides: object) -> PreferencePair:
    fields: dict[str, object] = {
        "pair_id": "p1",
        "prompt": "a red ball rolls left",
        "video_a": "a.mp4",
        "video_b": "b.mp4",
        "labels": {"TA": "A", "VQ": "B", "Overall": "tie"},
    }
    fields.update(overrides)
    return PreferencePair(**fields)  # type: ignore[arg-type]


def test_dimensions_and_labels_are_the_spec_ones() -> None:
    assert DIMENSIONS == ("TA", "VQ", "MQ", "Overall")
    assert LABELS == ("A", "B", "tie")
    assert set(DIMENSION_NAMES) == set(DIMENSIONS)


def test_defaults_and_missing_label() -> None:
    pair = _pair(labels={})
    assert pair.source == "native"
    assert pair.meta == {}
    assert pair.label("Overall") is None
    assert _pair().label("VQ") == "B"
    assert _pair().label("MQ") is None


def test_is_frozen() -> None:
    pair = _pair()
    with pytest.raises(pydantic.ValidationError):
        pair.prompt = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("overrides", "where"),
    [
        ({"prompt": "   "}, "prompt"),
        ({"labels": {"TA": "same"}}, "labels"),
        ({"labels": {"XX": "A"}}, "labels"),
        ({"extra_field": 1}, "extra_field"),
    ],
)
def test_rejects_bad_values(overrides: dict[str, object], where: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=where):
        _pair(**overrides)


def test_swapped_flips_videos_and_labels() -> None:
    swapped = _pair().swapped()
    assert (swapped.video_a, swapped.video_b) == ("b.mp4", "a.mp4")
    assert swapped.labels == {"TA": "B", "VQ": "A", "Overall": "tie"}
    assert swapped.pair_id == "p1:swapped"
    assert swapped.swapped().labels == _pair().labels


def test_json_round_trip() -> None:
    pair = _pair(meta={"vote_type": "bothbad_vote", "fps_A": 24.0})
    assert PreferencePair.model_validate_json(pair.model_dump_json()) == pair
