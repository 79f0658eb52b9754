"""Forced rethinking: kept continuations replace their own originals, and only correct ones."""

from __future__ import annotations

import numpy as np

from fakes import fake_workspace
from vrthinker.episode import EpisodeConfig, EpisodeJob, SelectFrames, VideoPreferenceTask, run_episodes
from vrthinker.policy.scripted import ReplayPolicy
from vrthinker.train.rethinking import RethinkConfig, force_rethink

WRONG = "<think>Video 2 looks fine.</think><answer>\nTA: 2\nVQ: 2\nMQ: 2\nOverall: 2\n</answer>"
RIGHT = "<think>Video 1 looks fine.</think><answer>\nTA: 1\nVQ: 1\nMQ: 1\nOverall: 1\n</answer>"


def _group(keys):
    jobs = [EpisodeJob(k, fake_workspace(), labels={"Overall": "A", "TA": "A"}) for k in keys]
    script = {k: [WRONG if i % 2 == 0 else RIGHT] for i, k in enumerate(keys)}
    return run_episodes(jobs, ReplayPolicy(script), VideoPreferenceTask(), [SelectFrames()], EpisodeConfig())


def test_rewards_land_on_the_right_rollouts():
    groups = [_group([f"g0#{i}" for i in range(4)]), _group([f"g1#{i}" for i in range(4)])]

    # The continuation depends on *which* rollout asks: only g0#2 and g1#0 recover.
    def continuation(req, _n):
        return " Frame 5 is noisy.</think><answer>\nTA: 1\nVQ: 1\nMQ: 1\nOverall: 1\n</answer>" if req.episode_key in {
            "g0#2#rethink", "g1#0#rethink"} else "</think><answer>\nOverall: 2\n</answer>"

    cfg = RethinkConfig(fraction=1.0, max_kept_per_group=2)
    new_groups, stats = force_rethink(groups, ReplayPolicy(continuation), VideoPreferenceTask(), EpisodeConfig(), cfg,
                                      np.random.default_rng(0))
    assert stats.attempted == 8 and stats.kept == 2
    changed = {t.key for g in new_groups for t in g if t.meta.get("rethought")}
    assert changed == {"g0#2", "g1#0"}
    for g_old, g_new in zip(groups, new_groups):
        for old, new in zip(g_old, g_new):
            assert old.key == new.key  # same slot, same rollout
            if new.key in changed:
                assert new.judgment["Overall"] == "A" and old.judgment["Overall"] == "B"
                last = new.turns[-1]
                assert last.assistant_prefix.startswith("<think>Video 2 looks fine.")
                assert "Wait" in last.assistant_prefix[last.prefix_trainable_chars:]  # trigger not trainable
                assert "Wait" not in last.assistant_prefix[: last.prefix_trainable_chars]
            else:
                assert new is old


def test_at_most_k_per_group_and_fraction_zero_is_off():
    groups = [_group([f"g#{i}" for i in range(4)])]
    always = lambda req, n: "</think><answer>\nOverall: 1\n</answer>"  # noqa: E731
    new, stats = force_rethink(groups, ReplayPolicy(always), VideoPreferenceTask(), EpisodeConfig(),
                               RethinkConfig(fraction=1.0, max_kept_per_group=1), np.random.default_rng(0))
    assert stats.kept == 1
    new, stats = force_rethink(groups, ReplayPolicy(always), VideoPreferenceTask(), EpisodeConfig(),
                               RethinkConfig(fraction=0.0), np.random.default_rng(0))
    assert stats.attempted == 0 and new[0] == groups[0]
