from __future__ import annotations

from types import SimpleNamespace

import pytest
from PIL import Image

from vrthinker.episode import EpisodeConfig, SelectFrames, VideoPreferenceTask
from vrthinker.episode.workspace import VideoPairWorkspace


def fake_workspace(frames_per_video: int = 48, size: int = 56, addressing: str = "pooled") -> VideoPairWorkspace:
    """Two in-memory frame pools; frame i of video v has a distinct colour."""
    videos = []
    for v in range(2):
        frames = tuple(Image.new("RGB", (size, size), (v * 100, i * 5 % 256, 7)) for i in range(frames_per_video))
        videos.append(SimpleNamespace(frames=frames, frame_indices=tuple(range(frames_per_video))))
    return VideoPairWorkspace(prompt="A red circle moves left to right.", videos=tuple(videos), addressing=addressing)


@pytest.fixture
def workspace() -> VideoPairWorkspace:
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
