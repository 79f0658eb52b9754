"""A judge: a policy plus episode settings, applied to preference pairs.

This is what ``vrthinker judge``, evaluation runs and the reward service use:
build each pair's workspace (decoding each video once through a shared
``FrameCache``), run the episodes batched, return the trajectories.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

from vrthinker.data.schema import PreferencePair
from vrthinker.episode import EpisodeConfig, EpisodeJob, Policy, SelectFrames, Trajectory, VideoPreferenceTask, run_episodes
from vrthinker.episode.workspace import VideoPairWorkspace
from vrthinker.video import FrameCache


@dataclass
class Judge:
    policy: Policy
    config: EpisodeConfig = field(default_factory=EpisodeConfig)
    cache: FrameCache = field(default_factory=lambda: FrameCache(max_entries=64))

    def workspace(self, prompt: str, video_a: str, video_b: str) -> VideoPairWorkspace:
        c = self.config
        return VideoPairWorkspace.from_paths(
            prompt,
            video_a,
            video_b,
            frames_per_video=c.frames_per_video,
            min_pixels=c.min_pixels,
            max_pixels=c.max_pixels,
            addressing=c.frame_addressing,
            labels=c.frame_labels,
            cache=self.cache,
        )

    def judge_pairs(
        self,
        pairs: Sequence[PreferencePair],
        *,
        samples_per_pair: int = 1,
        on_round: Callable[[int, int], None] | None = None,
    ) -> list[Trajectory]:
        """One trajectory per pair and sample, keyed ``pair_id`` or ``pair_id#k``."""
        jobs = []
        for pair in pairs:
            ws = self.workspace(pair.prompt, pair.video_a, pair.video_b)
            for k in range(samples_per_pair):
                key = pair.pair_id if samples_per_pair == 1 else f"{pair.pair_id}#{k}"
                jobs.append(EpisodeJob(key=key, workspace=ws, labels=dict(pair.labels), meta={"pair_id": pair.pair_id}))
        task = VideoPreferenceTask()
        tools = [SelectFrames(max_frames_per_call=self.config.max_frames_per_call)]
        return run_episodes(jobs, self.policy, task, tools, self.config, on_round=on_round)
