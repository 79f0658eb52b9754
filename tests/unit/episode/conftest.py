from __future__ import annotations

import pytest

from vrthinker.episode import EpisodeConfig, SelectFrames, VideoPreferenceTask
from fakes import fake_workspace


@pytest.fixture
def workspace():
    return fake_workspace()


@pytest.fixture
def task() -> VideoPreferenceTask:
    return VideoPreferenceTask()


@pytest.fixture
def tools() -> list[SelectFrames]:
    return [SelectFrames(max_frames_per_call=8)]


@pytest.fixture
def config() -> EpisodeConfig:
    return EpisodeConfig()


@pytest.fixture
def make_workspace():
    return fake_workspace
