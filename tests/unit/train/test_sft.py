"""SFT loop pieces (schedule, data order, loss) and tiny real runs on scripted traces."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from fakes import make_label_traces
import torch
from safetensors.torch import load_file

from vrthinker.train.collate import IGNORE_INDEX, Batch
from vrthinker.train.config import ConfigError, SFTConfig
from vrthinker.train.logging import read_metrics
from vrthinker.train.optim import lr_at
from vrthinker.train.sft import completion_loss_sum, epoch_order, micro_batch_indices, train_sft



def make_traces(directory: Path, num_pairs: int = 8, seed: int = 3) -> Path:
    return make_label_traces(directory, num_pairs=num_pairs, seed=seed)


def sft_config(traces: Path, output_dir: Path, **train) -> SFTConfig:
    optim = train.pop("optim", {})
    model = train.pop("model", {})
    return SFTConfig.model_validate(
        {
            "model": {"name_or_path": "tiny", "freeze_vision": False, **model},
            "data": {"traces": [str(traces)]},
            "optim": {"lr": 1e-3, "warmup_steps": 0, "schedule": "constant", **optim},
            "train": {"batch_size": 4, "max_steps": 2, "log_every": 1, "save_every": 100, "output_dir": str(output_dir), **train},
        }
    )


@pytest.fixture(scope="module")
def traces(tmp_path_factory) -> Path:
    return make_traces(tmp_path_factory.mktemp("sft_data"))


# --------------------------------------------------------------------------- pure pieces


def test_lr_schedule_golden_values():
    kw = dict(lr=1.0, total_steps=10, warmup_steps=2)
    # warm-up: (step+1)/warmup, so the first step already moves
    assert [lr_at(s, **kw) for s in (0, 1)] == [0.5, 1.0]
    # cosine over steps 2..9: half way (step 5.5 has no integer; check the ends and symmetry)
    assert lr_at(2, **kw) == 1.0 and lr_at(9, **kw) == pytest.approx(0.0, abs=1e-12)
    assert lr_at(3, **kw) + lr_at(8, **kw) == pytest.approx(1.0)  # cos(a) + cos(pi-a) = 0
    assert lr_at(3, **kw) == pytest.approx(0.5 * (1 + math.cos(math.pi / 7)))
    assert lr_at(9, **kw, min_lr_ratio=0.1) == pytest.approx(0.1)
    assert [lr_at(s, lr=1.0, total_steps=5, schedule="linear") for s in range(5)] == [1.0, 0.75, 0.5, 0.25, 0.0]
    assert lr_at(7, lr=2.0, total_steps=10, schedule="constant", warmup_steps=2) == 2.0


def test_epoch_order_is_a_function_of_seed_and_epoch():
    a = epoch_order(10, seed=0, epoch=0)
    assert sorted(a.tolist()) == list(range(10))
    assert np.array_equal(a, epoch_order(10, seed=0, epoch=0))
    assert not np.array_equal(a, epoch_order(10, seed=0, epoch=1))
    assert not np.array_equal(a, epoch_order(10, seed=1, epoch=0))


def test_grouping_by_length_keeps_a_seeded_permutation_of_similar_length_batches():
    rng = np.random.default_rng(0)
    lengths = rng.integers(100, 1500, size=1000).tolist()
    kw = dict(lengths=lengths, global_batch=8, group_batches=16)
    grouped = epoch_order(1000, seed=0, epoch=0, **kw)
    assert sorted(grouped.tolist()) == list(range(1000))
    assert np.array_equal(grouped, epoch_order(1000, seed=0, epoch=0, **kw))
    assert not np.array_equal(grouped, epoch_order(1000, seed=0, epoch=1, **kw))

    def padding(order):  # share of a padded batch that is padding, over the epoch's full batches
        batches = np.asarray(lengths)[order[:1000]].reshape(-1, 8)
        return 1 - batches.sum() / (batches.max(1) * 8).sum()

    plain = epoch_order(1000, seed=0, epoch=0)
    assert padding(grouped) < padding(plain) / 4
    # Every batch still comes from one window of 128 consecutive segments of the plain permutation.
    position = {int(i): k for k, i in enumerate(plain)}
    for batch in grouped.reshape(-1, 8):
        assert len({position[int(i)] // 128 for i in batch}) == 1
    # The batches are shuffled: the epoch does not run longest to shortest window by window.
    firsts = np.asarray(lengths)[grouped.reshape(-1, 8)[:16, 0]]
    assert not np.all(np.diff(firsts) <= 0)


def test_grouping_by_length_checks_the_lengths():
    with pytest.raises(ValueError, match="lengths has 3 entries for 4 segments"):
        epoch_order(4, seed=0, epoch=0, lengths=[1, 2, 3])


def test_micro_batches_partition_the_step_for_any_split():
    order = np.arange(100, 124)  # 24 segments, global batch 8 -> step 1 owns 108..115
    one = micro_batch_indices(order, 1, batch_size=8, grad_accum=1, world_size=1, rank=0)
    assert one == [list(range(108, 116))]
    two_ranks = [micro_batch_indices(order, 1, batch_size=2, grad_accum=2, world_size=2, rank=r) for r in (0, 1)]
    # rank r, micro-batch a takes slice a*world + r
    assert two_ranks == [[[108, 109], [112, 113]], [[110, 111], [114, 115]]]
    assert sorted(i for rank in two_ranks for mb in rank for i in mb) == one[0]


def test_completion_loss_is_a_weighted_sum_over_shifted_completion_tokens():
    # B=2, T=4, V=2. Uniform logits: every token costs ln 2. Row 0 has completion
    # tokens at positions 2, 3; row 1 at position 3 only (position 0 never counts: nothing predicts it).
    labels = torch.tensor([[IGNORE_INDEX, IGNORE_INDEX, 1, 0], [IGNORE_INDEX, IGNORE_INDEX, IGNORE_INDEX, 1]])
    batch = Batch(
        input_ids=torch.zeros(2, 4, dtype=torch.long), attention_mask=torch.ones(2, 4, dtype=torch.long),
        labels=labels, mm_token_type_ids=torch.zeros(2, 4, dtype=torch.long), pixel_values=None,
        image_grid_thw=None, weights=torch.tensor([1.0, 3.0]), old_logprobs=None, num_completion_tokens=3,
    )  # fmt: skip
    logits = torch.zeros(2, 4, 2)
    # (2 tokens x 1.0 + 1 token x 3.0) x ln 2
    assert completion_loss_sum(logits, batch).item() == pytest.approx(5 * math.log(2))
    # A confident correct prediction of row 1's token (predicted from position 2) costs ~0.
    logits[1, 2] = torch.tensor([-20.0, 20.0])
    assert completion_loss_sum(logits, batch).item() == pytest.approx(2 * math.log(2), abs=1e-6)


# --------------------------------------------------------------------------- tiny runs


def final_weights(directory: Path) -> dict[str, torch.Tensor]:
    return load_file(directory / "model.safetensors")


def test_accumulation_split_gives_the_same_weights(traces, tmp_path):
    """4 segments x 1 micro-batch == 2 x 2 accumulated: the global-token loss makes the split invisible."""
    whole = train_sft(sft_config(traces, tmp_path / "whole", batch_size=4))
    split = train_sft(sft_config(traces, tmp_path / "split", batch_size=2, optim={"grad_accum": 2}))
    assert_same_training(tmp_path / "whole", whole, tmp_path / "split", split, lr=1e-3)


def assert_same_training(out_a: Path, ckpt_a: Path, out_b: Path, ckpt_b: Path, lr: float) -> None:
    """Same losses and gradient norms (to float rounding) and the same final weights.

    Different padding changes summation order, so gradients agree to ~1e-7 relative, not bitwise.
    Adam divides by sqrt(v): the few elements whose gradient is nearly cancelled can move by a
    visible fraction of lr on such noise, so weights are compared at 1% of what the steps can
    move them (lr per step) and nearly all must agree to 1e-6; a real difference (a token counted
    twice, a wrong denominator) changes most weights by ~lr.
    """
    ma, mb = read_metrics(out_a / "metrics.jsonl"), read_metrics(out_b / "metrics.jsonl")
    for key in ("train/loss", "train/grad_norm", "train/completion_tokens"):
        assert [m[key] for m in ma] == pytest.approx([m[key] for m in mb], rel=1e-5), key
    a, b = final_weights(ckpt_a), final_weights(ckpt_b)
    assert a.keys() == b.keys()
    diffs = torch.cat([(a[k] - b[k]).abs().flatten() for k in a])
    assert diffs.max().item() < 0.01 * lr * len(ma)
    assert (diffs > 1e-6).float().mean().item() < 1e-4


@pytest.mark.slow
def test_tiny_run_loss_decreases_and_checkpoint_loads(traces, tmp_path):
    """8 segments, 40 steps at lr 1e-3: the completion loss falls far below its start."""
    out = tmp_path / "run"
    final = train_sft(sft_config(traces, out, max_steps=40, save_every=20, optim={"warmup_steps": 2}))
    records = read_metrics(out / "metrics.jsonl")
    losses = [r["train/loss"] for r in records]
    assert [r["step"] for r in records] == list(range(1, 41))
    assert {"train/loss", "train/lr", "train/grad_norm", "train/tokens_per_sec", "train/completion_tokens"} <= set(records[0])
    assert losses[0] > 5.0  # ~ln(vocab 642) = 6.46 at random init
    assert np.mean(losses[-5:]) < 0.35 * losses[0], losses
    # Checkpoints: every save_every and at the end; latest names the last; HF-loadable.
    assert final == out / "checkpoint-40" and (out / "checkpoint-20/trainer_state.pt").is_file()
    assert (out / "latest").read_text().strip() == "checkpoint-40"
    assert (out / "config.yaml").is_file() and (final / "config.yaml").is_file()
    from transformers import AutoModelForImageTextToText

    from vrthinker.policy.models import load_model

    plain = AutoModelForImageTextToText.from_pretrained(final)
    ours = load_model(final)
    saved = final_weights(final)
    for name, param in ours.model.named_parameters():
        assert torch.equal(param, dict(plain.named_parameters())[name])
    assert len(saved) == len(list(plain.parameters()))


def test_lora_trains_adapters_only_and_saves_a_merged_model(traces, tmp_path):
    out = tmp_path / "lora"
    cfg = sft_config(
        traces, out, max_steps=2, model={"freeze_vision": True, "lora": {"enabled": True, "r": 4, "alpha": 8}}
    )
    merged = train_sft(cfg)
    assert merged == out / "merged"
    assert (out / "checkpoint-2/adapter_model.safetensors").is_file()
    adapter = load_file(out / "checkpoint-2/adapter_model.safetensors")
    assert adapter and all("lora_" in k for k in adapter)
    assert not any(".visual." in k for k in adapter)  # the frozen tower gets no adapters
    from vrthinker.policy.models import load_model

    loaded = load_model(merged)
    assert not any("lora" in n for n, _ in loaded.model.named_parameters())


def test_too_few_segments_for_one_batch_is_a_config_error(traces, tmp_path):
    with pytest.raises(ConfigError, match="cannot fill one global batch of 16"):
        train_sft(sft_config(traces, tmp_path / "x", batch_size=16))


def test_changed_keys_are_dotted():
    from vrthinker.train.sft import changed_keys

    old = {"optim": {"lr": 1e-3, "betas": [0.9, 0.99]}, "train": {"max_steps": 10}}
    new = {"optim": {"lr": 1e-3, "betas": [0.9, 0.999]}, "train": {"max_steps": 20, "stop_after": 3}}
    assert changed_keys(old, new) == ["optim.betas", "train.max_steps", "train.stop_after"]


def test_freeze_vision_freezes_the_whole_tower_only(traces, tmp_path):
    from vrthinker.train.sft import build_model, vision_tower

    model = build_model(sft_config(traces, tmp_path, model={"freeze_vision": True}), None, "cpu").model
    tower = vision_tower(model)
    assert tower is model.model.visual  # transformers 5 layout
    assert not any(p.requires_grad for p in tower.parameters())
    others = [p.requires_grad for n, p in model.named_parameters() if not n.startswith("model.visual.")]
    assert others and all(others)
    assert model.training


def test_micro_batches_sorted_by_length_keep_the_step_and_cut_padding():
    lengths = [100, 900, 120, 880, 110, 950, 130, 870]  # one step of 8 alternating short and long
    order = np.arange(8)
    plain = micro_batch_indices(order, 0, batch_size=4, grad_accum=2, world_size=1, rank=0)
    by_length = micro_batch_indices(order, 0, batch_size=4, grad_accum=2, world_size=1, rank=0, lengths=lengths)
    assert sorted(sum(by_length, [])) == sorted(sum(plain, [])) == list(range(8))  # the same step
    assert by_length == [[5, 1, 3, 7], [6, 2, 4, 0]]  # longest first

    def padded(batches):
        return sum(len(b) * max(lengths[i] for i in b) for b in batches)

    assert padded(by_length) < 0.6 * padded(plain)
    ranks = [micro_batch_indices(order, 0, batch_size=2, grad_accum=2, world_size=2, rank=r, lengths=lengths) for r in (0, 1)]
    assert sorted(i for rank in ranks for mb in rank for i in mb) == list(range(8))


@pytest.mark.parametrize("grouped", [False, True])
def test_the_loop_takes_its_steps_from_epoch_order(traces, tmp_path, grouped):
    """train.group_by_length reaches the loop: each step trains exactly the segments epoch_order gives it."""
    from vrthinker.policy.models import load_model
    from vrthinker.train.collate import collate_segments
    from vrthinker.train.sft import TraceSegments

    import json

    # Completions of 8 different lengths, so a step's completion-token count names its segments.
    varied = tmp_path / "varied.jsonl"
    records = [json.loads(line) for line in traces.read_text().splitlines() if line.strip()]
    for k, record in enumerate(records):
        turn = record["turn_records"][0]
        turn["text"] = turn["text"].replace("</think>", " again" * (3 * k) + "</think>", 1)
    varied.write_text("".join(json.dumps(r) + "\n" for r in records))
    out = tmp_path / "run"
    train_sft(sft_config(varied, out, batch_size=2, group_by_length=grouped))
    segments = TraceSegments([varied])
    processor = load_model("tiny").processor
    order = epoch_order(len(segments), 0, 0, lengths=segments.lengths if grouped else None, global_batch=2)
    expected = [
        collate_segments([segments[int(i)] for i in order[2 * step : 2 * step + 2]], processor).num_completion_tokens
        for step in range(2)
    ]
    assert [m["train/completion_tokens"] for m in read_metrics(out / "metrics.jsonl")] == expected
    other = epoch_order(len(segments), 0, 0, lengths=None if grouped else segments.lengths, global_batch=2)
    assert sorted(other[:4].tolist()) != sorted(order[:4].tolist())  # the two orders train different steps
