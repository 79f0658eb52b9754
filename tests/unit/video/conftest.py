"""Fixtures for the video tests: small clips whose frames encode their own index.

Frame ``i`` of a clip is 8 vertical bars, 16 px wide; bar ``b`` is white when
bit ``b`` of ``i`` is set and black otherwise. The bars survive lossy coding and
resizing, so any decoded frame tells which frame it is (``read_frame_index``).
Clips are written with PyAV directly, so these tests do not depend on
``vrthinker.video.encode``.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

CLIP_WIDTH, CLIP_HEIGHT = 128, 64
BAR_WIDTH = CLIP_WIDTH // 8
REAL_VIDEOS = "videoalign-example/videos"


def index_pattern(frame_idx: int) -> np.ndarray:
    """The RGB frame (H, W, 3) that carries ``frame_idx`` (0..255) as bars."""
    frame = np.zeros((CLIP_HEIGHT, CLIP_WIDTH, 3), np.uint8)
    for bit in range(8):
        if frame_idx >> bit & 1:
            frame[:, bit * BAR_WIDTH : (bit + 1) * BAR_WIDTH] = 255
    return frame


def read_frame_index(frame: np.ndarray | Image.Image) -> int:
    """Read the index back from a decoded (possibly resized) frame."""
    rgb = np.asarray(frame)
    height, width = rgb.shape[:2]
    bar = width / 8
    row = rgb[height // 2]
    return sum(1 << bit for bit in range(8) if row[int((bit + 0.5) * bar)].mean() > 128)


def write_clip(
    path: Path,
    num_frames: int = 60,
    fps: int = 12,
    gop: int = 10,
    codec: str = "libx264",
    pts_ms: Sequence[int] | None = None,
    container_options: dict[str, str] | None = None,
) -> Path:
    """Write an index-pattern clip; ``pts_ms`` gives variable frame timing in ms."""
    with av.open(str(path), "w", options=container_options or {}) as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = CLIP_WIDTH, CLIP_HEIGHT, "yuv420p"
        stream.codec_context.gop_size = gop
        if codec == "libx264":
            # B-frames make decode order differ from presentation order; no
            # scene-cut keyframes so the GOP is exactly ``gop``.
            stream.options = {"bf": "2", "sc_threshold": "0", "crf": "18"}
        if pts_ms is not None:
            stream.time_base = stream.codec_context.time_base = Fraction(1, 1000)
        for i in range(num_frames):
            frame = av.VideoFrame.from_ndarray(index_pattern(i), format="rgb24")
            if pts_ms is not None:
                frame.pts, frame.time_base = pts_ms[i], Fraction(1, 1000)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_audio_only(path: Path) -> Path:
    """An MP4 holding one AAC audio stream and no video."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=16000)
        for k in range(10):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 16000, k * 1024
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def count_decoded_frames(path: Path) -> int:
    """Ground truth for frame counts: decode every frame."""
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


class Clips:
    """Test-clip tools bound to a temporary directory (the ``clips`` fixture)."""

    pattern = staticmethod(index_pattern)
    read_index = staticmethod(read_frame_index)
    count_frames = staticmethod(count_decoded_frames)

    def __init__(self, directory: Path) -> None:
        self.dir = directory

    def write(self, name: str = "clip.mp4", **kwargs: object) -> Path:
        """``clips.write("a.mp4", num_frames=60, gop=10, ...)``; see ``write_clip``."""
        return write_clip(self.dir / name, **kwargs)  # type: ignore[arg-type]

    def write_audio_only(self, name: str = "audio.mp4") -> Path:
        return write_audio_only(self.dir / name)


@pytest.fixture
def clips(tmp_path: Path) -> Clips:
    return Clips(tmp_path)


@pytest.fixture(scope="session")
def real_videos(shared_benchmarks: Path) -> Path:
    """The VideoAlign example MP4s (16, 24 and 30 fps; 60-152 frames)."""
    return shared_benchmarks / REAL_VIDEOS
