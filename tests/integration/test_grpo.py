"""GRPO end to end on the tiny model: rewards vary, updates happen, every metric is logged,
and a run stopped after a checkpoint resumes to the same weights as an uninterrupted one."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from vrthinker.data import read_pairs
from vrthinker.data.synthetic import generate_suite
from vrthinker.episode import EpisodeConfig
from vrthinker.episode.traces import append_traces
from vrthinker.policy.judge import Judge
from vrthinker.policy.scripted import ReplayPolicy
from vrthinker.train.config import DataConfig, ModelConfig, OptimConfig, SFTConfig, TrainConfig
from vrthinker.train.grpo import train_grpo
from vrthinker.train.grpo_config import GRPOConfig, GRPOSection, PairsConfig
from vrthinker.train.logging import read_metrics
from vrthinker.train.rethinking import RethinkConfig
from vrthinker.train.rewards import RewardConfig
from vrthinker.train.sft import train_sft

pytestmark = pytest.mark.slow

EPISODE = EpisodeConfig(frames_per_video=8, initial_per_video=1, max_new_tokens=32, max_tool_calls=0)


def _answer(req, _n):
    # Half the pairs answer "1", half "2": after SFT the model emits well-formed answers whose
    # choice varies under sampling, so GRPO groups have different rewards.
    c = 1 + int(req.episode_key.split("-")[-1].split("#")[0]) % 2
    return f"<think>ok</think><answer>\nTA: {c}\nVQ: {c}\nMQ: {c}\nOverall: {c}\n</answer>"


@pytest.fixture(scope="module")
def start(tmp_path_factory):
    root = tmp_path_factory.mktemp("grpo")
    pairs_path = generate_suite(root / "suite", num_pairs=6, seed=0, show_progress=False)
    traces = root / "traces.jsonl"
    append_traces(traces, Judge(ReplayPolicy(_answer), EPISODE).judge_pairs(read_pairs(pairs_path)))
    sft = SFTConfig(
        model=ModelConfig(name_or_path="tiny", freeze_vision=False),
        data=DataConfig(traces=[str(traces)]),
        optim=OptimConfig(lr=1e-3),
        train=TrainConfig(batch_size=6, max_steps=150, output_dir=str(root / "sft"), save_every=1000, log_every=150),
    )
    return root, pairs_path, train_sft(sft)


def _config(start, out: Path, steps: int, rewards: RewardConfig | None = None, **grpo) -> GRPOConfig:
    root, pairs_path, checkpoint = start
    return GRPOConfig(
        rewards=rewards or RewardConfig(),
        model=ModelConfig(name_or_path=str(checkpoint), freeze_vision=False),
        data=PairsConfig(pairs=str(pairs_path), eval_pairs=str(pairs_path), eval_every=2, eval_limit=4),
        episode=EPISODE.model_copy(update={"temperature": 1.0}),
        grpo=GRPOSection(group_size=4, pairs_per_step=2, micro_batch_size=8, **grpo),
        optim=OptimConfig(lr=1e-4),
        train=TrainConfig(max_steps=steps, output_dir=str(out), save_every=2, log_every=1, seed=1),
    )


def test_grpo_runs_and_logs_every_part(start, tmp_path):
    cfg = _config(start, tmp_path / "run", 2, RewardConfig(process_weight=0.5), replay="ssr",
                  rethinking=RethinkConfig(fraction=0.5))
    # A process verifier of the kind a task supplies: here, "the reasoning says ok" in every turn.
    final = train_grpo(cfg, process_verifier=lambda t: sum("ok" in turn.text for turn in t.turns) / len(t.turns))
    assert (final / "model.safetensors").is_file()
    rows = read_metrics(tmp_path / "run" / "metrics.jsonl")
    last = rows[-1]
    for key in ("rollout/reward", "rollout/reward/accuracy", "rollout/reward/curiosity", "rollout/reward/format",
                "rollout/accuracy/Overall", "rollout/reward/process", "rollout/tool_call_rate", "rollout/invalid_call_rate",
                "rollout/frames_viewed", "rollout/tokens_per_trajectory", "rollout/visual_tokens_in_context",
                "rollout/groups_filtered", "rollout/replay_share", "train/loss", "train/entropy",
                "train/clip_frac_high", "eval/accuracy/Overall", "eval/reward", "time/rollout_s", "time/update_s"):
        assert key in last, key
    assert last["time/rollout_s"] + last["time/update_s"] == pytest.approx(last["time/step_s"])
    assert any(r.get("train/samples", 0) > 0 for r in rows)  # some groups had non-zero advantages
    assert any(f"rollout/accuracy/Overall_{side}" in r for r in rows for side in "AB")  # per gold label
    assert all(0.0 < r["rollout/reward/process"] <= 1.0 for r in rows if "rollout/reward/process" in r)
    assert (tmp_path / "run" / "curves.png").stat().st_size > 1000


def test_grpo_resume_matches_uninterrupted(start, tmp_path):
    straight = train_grpo(_config(start, tmp_path / "a", 4))
    cfg = _config(start, tmp_path / "b", 4)
    train_grpo(cfg.model_copy(update={"train": cfg.train.model_copy(update={"stop_after": 2})}))
    resumed = train_grpo(cfg)
    a, b = load_file(straight / "model.safetensors"), load_file(resumed / "model.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=1e-6)
