"""Golden values for GRPO's pieces: rewards, advantages, the clipped loss, KL k3, SSR."""

from __future__ import annotations

import math
from collections import Counter
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from vrthinker.train.advantages import group_advantages, is_uniform
from vrthinker.train.losses import grpo_loss, k3_kl, token_logprobs
from vrthinker.train.replay import SelectiveSampleReplay, ssr_probabilities
from vrthinker.train.rewards import RewardConfig, score_group


def traj(overall, labels=None, calls=0, invalid=0, fmt=True, ta=None):
    judgment = {"TA": ta, "VQ": None, "MQ": None, "Overall": overall}
    return SimpleNamespace(
        judgment=judgment, labels=labels or {"Overall": "A", "TA": "A"}, tool_calls=calls,
        invalid_calls=invalid, format_ok=fmt,
    )


def test_rewards_match_their_formulas():
    cfg = RewardConfig(accuracy_weight=1.0, dimensions_weight=0.5, format_weight=0.2)
    # Group of 4: one tool user among 4 -> RaPR = 0.25 < H = 0.3.
    group = [traj("A", calls=2, ta="A"), traj("B"), traj(None, fmt=False), traj("A", calls=1, invalid=1)]
    r = score_group(group, cfg)
    # Trajectory 0: correct (+1), TA right (1.0 -> 0.5·1), format 0.2, curiosity α·(0.3−0.25)=0.5·0.05,
    # efficiency β·min(1−2, 0) = 0.05·(−1).
    assert r[0].parts["accuracy"] == 1.0 and r[0].parts["dimensions"] == 1.0
    assert r[0].parts["curiosity"] == pytest.approx(0.05) and r[0].parts["efficiency"] == -1.0
    assert r[0].total == pytest.approx(1 + 0.5 + 0.2 + 0.5 * 0.05 - 0.05)
    assert r[1].total == pytest.approx(0 + 0 + 0.2)  # wrong, no tool
    assert r[2].parts["accuracy"] == -1.0 and r[2].total == pytest.approx(-1.0)  # unparseable
    # The invalid-only call does not count as tool use (paper: valid operations).
    assert r[3].parts["curiosity"] == 0.0 and r[3].parts["efficiency"] == 0.0


def test_curiosity_vanishes_when_group_uses_tools_enough():
    group = [traj("A", calls=1), traj("A", calls=1), traj("A"), traj("A")]  # RaPR 0.5 >= 0.3
    assert all(x.parts["curiosity"] == 0 for x in score_group(group, RewardConfig()))


def test_call_schedule_reward_and_decay():
    cfg = RewardConfig(tool_shaping="call_schedule", dimensions_weight=0, format_weight=0)
    group = [traj("A", calls=1), traj("A", calls=3), traj("A"), traj("A")]  # multi-call rate 0.25
    early = score_group(group, cfg, step=0)
    assert early[0].parts["call_schedule"] == pytest.approx(-1 + (0.25 - 0.6))
    assert early[1].parts["call_schedule"] == pytest.approx(1.0 + (0.25 - 0.6))
    assert early[2].parts["call_schedule"] == 0.0
    late = score_group(group, cfg, step=30)
    assert late[1].parts["call_schedule"] == pytest.approx(0.2 * (1.0 + (0.25 - 0.6)))


def test_process_reward_is_the_verifiers_score_weighted_and_needs_a_verifier():
    group = [traj("A"), traj("A"), traj("B")]
    scores = {id(group[0]): 1.0, id(group[1]): 0.25, id(group[2]): 1.0}
    cfg = RewardConfig(dimensions_weight=0, format_weight=0, tool_shaping="none", process_weight=2.0)
    r = score_group(group, cfg, process=lambda t: scores[id(t)])
    assert [x.parts["process"] for x in r] == [1.0, 0.25, 1.0]
    assert [x.total for x in r] == pytest.approx([1 + 2.0, 1 + 0.5, 0 + 2.0])
    # Off by default: the part is logged as 0 and the verifier is not called.
    off = score_group(group, RewardConfig(), process=lambda t: 1 / 0)
    assert all(x.parts["process"] == 0.0 for x in off)
    with pytest.raises(ValueError, match="process verifier"):
        score_group(group, cfg)


def test_train_grpo_refuses_a_process_weight_without_a_verifier(tmp_path):
    from vrthinker.train.config import ConfigError
    from vrthinker.train.grpo import train_grpo
    from vrthinker.train.grpo_config import GRPOConfig

    cfg = GRPOConfig.model_validate({
        "model": {"name_or_path": "tiny"}, "data": {"pairs": str(tmp_path / "pairs.jsonl")},
        "rewards": {"process_weight": 1.0}, "train": {"max_steps": 1, "output_dir": str(tmp_path / "out")},
    })
    with pytest.raises(ConfigError, match="process_verifier"):
        train_grpo(cfg)
    assert not (tmp_path / "out").exists()  # refused before anything was written


def test_group_advantages():
    a = group_advantages([1.0, 0.0, 0.0, 1.0])
    assert np.allclose(a, [1, -1, -1, 1], atol=1e-5)  # mean 0.5, population std 0.5
    assert np.allclose(group_advantages([1.0, 0.0, 0.0, 1.0], scale="none"), [0.5, -0.5, -0.5, 0.5])
    assert np.allclose(group_advantages([0.3, 0.3]), [0, 0])
    assert is_uniform([0.3, 0.3, 0.3]) and not is_uniform([0.3, 0.31])


def _loss_inputs():
    # Two sequences, three completion positions; the second has only two valid tokens.
    old = torch.log(torch.tensor([[0.5, 0.5, 0.5], [0.5, 0.5, 0.5]]))
    new = torch.log(torch.tensor([[0.8, 0.5, 0.3], [0.2, 0.5, 0.9]]))  # ratios 1.6,1,0.6 | 0.4,1,1.8
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]])
    adv = torch.tensor([1.0, -2.0])
    return new, old, adv, mask


def test_clipped_loss_golden_token_mean():
    new, old, adv, mask = _loss_inputs()
    loss, m = grpo_loss(new, old, adv, mask, clip_low=0.2, clip_high=0.3)
    # seq 0 (A=+1): r=1.6 -> max(-1.6, -1.3) = -1.3 (clipped high); r=1 -> -1; r=0.6 -> max(-0.6,-0.8) = -0.6
    # seq 1 (A=-2): r=0.4 -> max(0.8, 1.6) = 1.6 (clipped low); r=1 -> 2; third masked.
    expected = (-1.3 - 1.0 - 0.6 + 1.6 + 2.0) / 5
    assert loss.item() == pytest.approx(expected, abs=1e-6)
    assert m["clip_frac_high"] == pytest.approx(1 / 5) and m["clip_frac_low"] == pytest.approx(1 / 5)


def test_loss_aggregations_and_gradients():
    new, old, adv, mask = _loss_inputs()
    seq, _ = grpo_loss(new, old, adv, mask, clip_low=0.2, clip_high=0.3, aggregation="sequence_mean")
    assert seq.item() == pytest.approx(((-1.3 - 1.0 - 0.6) / 3 + (1.6 + 2.0) / 2) / 2, abs=1e-6)
    const, _ = grpo_loss(new, old, adv, mask, clip_low=0.2, clip_high=0.3, aggregation="constant", constant_normalizer=10)
    assert const.item() == pytest.approx((-1.3 - 1.0 - 0.6 + 1.6 + 2.0) / 10, abs=1e-6)
    # Clipped tokens carry no gradient; unclipped ones carry -A·ratio.
    lp = new.clone().requires_grad_(True)
    loss, _ = grpo_loss(lp, old, adv, mask, clip_low=0.2, clip_high=0.3, aggregation="constant", constant_normalizer=1)
    loss.backward()
    g = lp.grad
    assert g[0, 0].item() == 0.0 and g[1, 0].item() == 0.0 and g[1, 2].item() == 0.0
    assert g[0, 1].item() == pytest.approx(-1.0) and g[0, 2].item() == pytest.approx(-0.6)
    assert g[1, 1].item() == pytest.approx(2.0)


def test_kl_k3_golden():
    p = torch.log(torch.tensor([0.5]))
    q = torch.log(torch.tensor([0.25]))
    # k3 = exp(q-p) - (q-p) - 1 = 0.5 - ln(0.5) - 1
    assert k3_kl(p, q).item() == pytest.approx(0.5 + math.log(2) - 1)
    new, old, adv, mask = _loss_inputs()
    base, _ = grpo_loss(new, old, adv, mask, clip_low=0.2, clip_high=0.3)
    with_kl, m = grpo_loss(new, old, adv, mask, clip_low=0.2, clip_high=0.3, ref_logprobs=old, kl_coef=0.1)
    kl = k3_kl(new, old)
    assert with_kl.item() == pytest.approx(base.item() + 0.1 * float((kl * mask).sum() / 5), abs=1e-6)
    assert m["kl"] > 0


def test_token_logprobs_alignment():
    logits = torch.zeros(1, 3, 4)
    logits[0, 0, 2] = 10.0  # position 0 predicts token 2
    lp = token_logprobs(logits, torch.tensor([[1, 2, 3]]))
    assert lp.shape == (1, 2) and lp[0, 0].item() > -1e-3


def test_ssr_probabilities_and_sampling_distribution():
    assert np.allclose(ssr_probabilities([1.0, -3.0, 0.0]), [0.25, 0.75, 0.0])
    assert np.allclose(ssr_probabilities([1.0, 2.0], alpha=2), [0.2, 0.8])
    ssr = SelectiveSampleReplay(capacity=0, seed=0)
    counts: Counter = Counter()
    for _ in range(2000):
        for s in ssr.select(["a", "b", "z"], [1.0, -3.0, 0.0], batch_size=2, step=0):
            counts[s.item] += 1
    assert counts["z"] == 0  # zero advantage never drawn
    assert counts["b"] / (counts["a"] + counts["b"]) == pytest.approx(0.75, abs=0.02)


def test_ssr_fills_from_earlier_samples_only():
    ssr = SelectiveSampleReplay(capacity=3, seed=1)
    first = ssr.select(["a", "b"], [1.0, 0.0], batch_size=4, step=0)
    assert [s.item for s in first] == ["a"]  # nothing earlier to replay yet: a smaller batch, no hang
    second = ssr.select(["c", "d"], [0.0, 0.0], batch_size=3, step=1)
    assert [s.item for s in second] == ["a", "a", "a"] and all(s.replayed and s.step == 0 for s in second)
    ssr.select(["e", "f", "g", "h"], [1, 1, 1, 1], batch_size=1, step=2)
    assert [s.item for s in ssr.buffer] == ["f", "g", "h"]  # FIFO of capacity 3
    state = ssr.state_dict()
    again = SelectiveSampleReplay(capacity=3, seed=99)
    again.load_state_dict(state)
    assert [s.item for s in again.select([], [], 5, 3)] == [s.item for s in ssr.select([], [], 5, 3)]


def test_update_micro_batches_group_segments_of_similar_length():
    from vrthinker.episode import Message, Segment
    from vrthinker.train.collate import approx_length
    from vrthinker.train.grpo import _by_length

    def seg(turns):  # a turn-``turns`` segment: its context holds the earlier turns
        messages = tuple(Message.text("assistant", "x" * 400) for _ in range(turns))
        return Segment(messages=messages, images=(), completion="y" * 100)

    items = [(f"traj{t}", i, seg(i + 1)) for t in range(3) for i in range(4)]  # trajectory order: 1,2,3,4,1,2,...
    ordered = _by_length(items)
    assert sorted(ordered, key=str) == sorted(items, key=str)
    sizes = [approx_length(s.messages, s.completion) for _, _, s in ordered]
    assert sizes == sorted(sizes, reverse=True) and sizes[0] > sizes[-1]
    assert [i for _, i, _ in ordered[:3]] == [3, 3, 3]  # the three trajectories' last turns together


def test_stratified_pair_order_spreads_each_label_over_the_epoch():
    from vrthinker.train.grpo import pair_order

    labels = ["B"] * 60 + ["A"] * 36 + ["tie"] * 4
    for seed in range(3):
        plain = pair_order(len(labels), seed, 0)
        order = pair_order(len(labels), seed, 0, labels)
        assert sorted(order.tolist()) == list(range(len(labels)))  # a permutation: every pair once per epoch
        assert order.tolist() != pair_order(len(labels), seed, 1, labels).tolist()  # a new order each epoch
        assert order.tolist() == pair_order(len(labels), seed, 0, labels).tolist()  # deterministic
        # Any 20 consecutive pairs hold the labels in about their proportions (12 B, 7.2 A).
        for start in range(0, 81, 10):
            window = Counter(labels[i] for i in order[start : start + 20])
            assert 11 <= window["B"] <= 13 and 6 <= window["A"] <= 8, (seed, start, window)
        assert len(plain) == len(order)


def test_take_pairs_stratifies_by_a_label_dimension():
    from vrthinker.train.grpo import take_pairs

    pairs = [SimpleNamespace(pair_id=f"p{i}", labels={"Overall": "A" if i % 4 == 0 else "B"}) for i in range(40)]
    batch, cursor = take_pairs(pairs, 0, 8, seed=1, stratify="Overall")
    assert cursor == 8 and Counter(p.labels["Overall"] for p in batch)["A"] == 2
    both_epochs, _ = take_pairs(pairs, 0, 80, seed=1, stratify="Overall")
    assert Counter(p.pair_id for p in both_epochs) == {p.pair_id: 2 for p in pairs}


def test_step_pairs_in_both_orders_rolls_out_each_pair_and_its_swapped_twin():
    from vrthinker.data.schema import PreferencePair
    from vrthinker.train.grpo import step_pairs
    from vrthinker.train.grpo_config import GRPOSection

    pairs = [
        PreferencePair(pair_id=f"p{i}", prompt="a cat", video_a=f"a{i}.mp4", video_b=f"b{i}.mp4",
                       labels={"Overall": "A" if i % 2 else "B", "TA": "tie"})
        for i in range(10)
    ]  # fmt: skip
    plain, cursor = step_pairs(pairs, 0, 8, 1, GRPOSection())
    assert cursor == 8 and len({p.pair_id for p in plain}) == 8
    both, cursor = step_pairs(pairs, 0, 8, 1, GRPOSection(both_orders=True))
    assert cursor == 4 and len(both) == 8  # 4 pairs from the stream, each with its twin
    for pair, twin in zip(both[0::2], both[1::2]):
        assert twin.pair_id == f"{pair.pair_id}:swapped"
        assert (twin.video_a, twin.video_b) == (pair.video_b, pair.video_a)
        assert twin.labels == {"Overall": {"A": "B", "B": "A"}[pair.labels["Overall"]], "TA": "tie"}
    odd, _ = step_pairs(pairs, 0, 3, 1, GRPOSection(both_orders=True))
    assert len(odd) == 4  # rounded up to whole twins
