"""The context a segment is trained on is, token for token, the one it was sampled from.

Multi-turn episodes (scripted, so they run several rounds) go through the real
engine with p = 0, 1, 2 and unlimited. Each turn's request is then sent to the
real HF backend (tiny Qwen2.5-VL, the real Qwen2.5 vocabulary and chat
template, batched with left padding) which reports the exact prompt ids it
fed the model; the training collation of the trajectory's segments must
reproduce those ids, with the completion right after them.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from vrthinker.episode import EpisodeConfig, EpisodeJob, GenerationRequest, SelectFrames, VideoPreferenceTask, run_episodes
from vrthinker.episode.workspace import VideoPairWorkspace
from vrthinker.policy.hf import HFPolicy
from vrthinker.policy.models import load_model
from vrthinker.policy.scripted import ReplayPolicy
from vrthinker.train.collate import IGNORE_INDEX, collate_segments

ANSWER = "<think>Video 2 jitters at frame 61.</think><answer>\nTA: 0\nVQ: 0\nMQ: 1\nOverall: 1\n</answer>"


def call(*frames: int) -> str:
    body = json.dumps({"name": "select_frames", "arguments": {"target_frames": list(frames)}})
    return f"<think>Check video 2.</think><recommend answer>1</recommend answer><tool_call>{body}</tool_call>"


@pytest.fixture(scope="module")
def real_vocab_model():
    loaded = load_model("tiny-real-vocab")
    loaded.processor.min_pixels, loaded.processor.max_pixels = 28 * 28 * 4, 28 * 28 * 64
    return loaded


def _workspace(n: int = 16) -> VideoPairWorkspace:
    rng = np.random.default_rng(0)
    videos = []
    for _ in range(2):
        # Non-square frames of two sizes: image_grid_thw must differ per frame for the check to bite.
        frames = tuple(
            Image.fromarray(rng.integers(0, 255, (56 if i % 2 else 84, 84, 3), dtype=np.uint8)) for i in range(n)
        )
        videos.append(SimpleNamespace(frames=frames, frame_indices=tuple(range(n))))
    return VideoPairWorkspace(prompt="A red circle moves right.", videos=tuple(videos))


@pytest.mark.parametrize("window", [0, 1, 2, "unlimited"])
def test_training_tokens_equal_rollout_tokens(real_vocab_model, window):
    config = EpisodeConfig(frames_per_video=16, memory_window=window, max_tool_calls=3, max_images=100)
    script = [call(20, 24), call(3, 30, 31), call(17), ANSWER]
    [traj] = run_episodes(
        [EpisodeJob("p", _workspace())], ReplayPolicy(script), VideoPreferenceTask(), [SelectFrames()], config
    )
    assert traj.end_reason == "answered" and len(traj.turns) == 4

    policy = HFPolicy(real_vocab_model.model, real_vocab_model.processor, batch_size=4)
    requests = [
        GenerationRequest(messages=t.context, images=tuple(traj.workspace.image(r) for r in t.images), max_new_tokens=1)
        for t in traj.turns
    ]
    rollout = policy.generate(requests)  # one left-padded batch of all four turn contexts
    batch = collate_segments(traj.segments(), real_vocab_model.processor)
    tok = real_vocab_model.tokenizer
    image_pad = tok.convert_tokens_to_ids("<|image_pad|>")
    for row, (turn, gen) in enumerate(zip(traj.turns, rollout)):
        prompt = list(gen.prompt_ids)
        ids = batch.input_ids[row].tolist()
        assert ids[: len(prompt)] == prompt, f"turn {turn.index}: training prompt differs from rollout prompt"
        labelled = (batch.labels[row] != IGNORE_INDEX).nonzero().flatten().tolist()
        assert labelled[0] == len(prompt), "the loss must start right after the rollout prompt"
        completion = tok.decode(batch.labels[row][labelled].tolist())
        assert completion == turn.text + "<|im_end|>"
        # Same images in the same order: as many <|image_pad|> runs as images, with equal lengths.
        assert prompt.count(image_pad) == sum(policy.visual_tokens(im) for im in requests[row].images)
    # image_grid_thw of the batch = the context images of all turns, in order.
    expected = torch.tensor(
        [[1, im.height // 14, im.width // 14] for req in requests for im in req.images], dtype=torch.long
    )
    assert torch.equal(batch.image_grid_thw, expected)


def test_sampled_completion_ids_are_trained_verbatim(real_vocab_model):
    torch.manual_seed(0)
    config = EpisodeConfig(frames_per_video=16, max_new_tokens=6, temperature=1.0)
    policy = HFPolicy(real_vocab_model.model, real_vocab_model.processor, logprobs=True)
    [traj] = run_episodes(
        [EpisodeJob("p", _workspace())], policy, VideoPreferenceTask(), [SelectFrames()], config
    )
    turn = traj.turns[0]
    assert traj.end_reason in {"turn_token_limit", "no_answer"}  # garbage ends the episode cleanly
    assert turn.completion_ids is not None and len(turn.logprobs) == len(turn.completion_ids)
    batch = collate_segments(traj.segments(), real_vocab_model.processor)
    labelled = batch.labels[0][batch.labels[0] != IGNORE_INDEX].tolist()
    assert labelled == list(turn.completion_ids)


@pytest.mark.parametrize("name", ["tiny-real-vocab", "tiny-qwen3"])
def test_training_forward_needs_no_attention_mask(name):
    """Batches are right-padded and the decoder causal: the mask-free forward pass the trainers run
    (``Batch.model_inputs``) gives every real token the logits of the masked one."""
    loaded = load_model(name)
    loaded.processor.min_pixels, loaded.processor.max_pixels = 28 * 28 * 4, 28 * 28 * 64
    config = EpisodeConfig(frames_per_video=16, memory_window=1, max_tool_calls=3, max_images=100)
    [traj] = run_episodes(
        [EpisodeJob("p", _workspace())], ReplayPolicy([call(20, 24), call(3, 30, 31), ANSWER]), VideoPreferenceTask(),
        [SelectFrames()], config,
    )
    batch = collate_segments(traj.segments(), loaded.processor)
    real = batch.attention_mask.bool()
    assert not real.all(), "the check needs padding"
    assert "attention_mask" not in batch.model_inputs()
    with torch.no_grad():
        free = loaded.model(**batch.model_inputs()).logits
        masked = loaded.model(**batch.model_inputs(), attention_mask=batch.attention_mask).logits
    torch.testing.assert_close(free[real], masked[real])
