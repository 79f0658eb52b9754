"""Collation of a forced-rethinking segment: the cut response is trained, the trigger is not."""

from __future__ import annotations

import pytest

from fakes import fake_workspace
from vrthinker.episode import EpisodeConfig, VideoPreferenceTask
from vrthinker.episode.trajectory import Segment
from vrthinker.policy.models import load_model
from vrthinker.train.collate import IGNORE_INDEX, collate_segments


@pytest.fixture(scope="module")
def processor():
    return load_model("tiny").processor


def _segment(prefix: str, trainable: int) -> Segment:
    ws = fake_workspace(frames_per_video=8)
    messages = tuple(VideoPreferenceTask().opening_messages(ws, EpisodeConfig(frames_per_video=8, initial_per_video=2), "sys"))
    images = tuple(ws.image(r) for m in messages for r in m.images)
    return Segment(messages=messages, images=images, completion="</think><answer>\nOverall: 1\n</answer>",
                   assistant_prefix=prefix, prefix_trainable_chars=trainable)


def test_trigger_masked_cut_trained(processor):
    cut, trigger = "<think>Video 2 is noisy", "\n\nWait, let me double-check the frames."
    batch = collate_segments([_segment(cut + trigger, len(cut)), _segment("", 0)], processor)
    tok = processor.tokenizer
    trained = tok.decode(batch.labels[0][batch.labels[0] != IGNORE_INDEX].tolist())
    assert trained.startswith("<think>Video 2 is noisy") and "Wait" not in trained
    assert trained.endswith("</think><answer>\nOverall: 1\n</answer><|im_end|>")
    plain = tok.decode(batch.labels[1][batch.labels[1] != IGNORE_INDEX].tolist())
    assert plain == "</think><answer>\nOverall: 1\n</answer><|im_end|>"
    # train_trigger: the whole prefix is trained.
    batch = collate_segments([_segment(cut + trigger, len(cut + trigger))], processor)
    assert "Wait" in tok.decode(batch.labels[0][batch.labels[0] != IGNORE_INDEX].tolist())
