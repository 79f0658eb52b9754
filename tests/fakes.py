"""Small in-memory stand-ins shared by tests (importable as ``fakes`` from any test)."""

from __future__ import annotations

from types import SimpleNamespace

from PIL import Image

from vrthinker.episode.workspace import VideoPairWorkspace


def fake_workspace(frames_per_video: int = 48, size: int = 56, addressing: str = "pooled") -> VideoPairWorkspace:
    """Two in-memory frame pools; frame i of video v has a distinct colour."""
    videos = []
    for v in range(2):
        frames = tuple(Image.new("RGB", (size, size), (v * 100, i * 5 % 256, 7)) for i in range(frames_per_video))
        videos.append(SimpleNamespace(frames=frames, frame_indices=tuple(range(frames_per_video))))
    return VideoPairWorkspace(prompt="A red circle moves left to right.", videos=tuple(videos), addressing=addressing)
