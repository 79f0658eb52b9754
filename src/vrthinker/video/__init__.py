"""Video decoding for vrthinker: PyAV probing, frame-accurate decoding, sampling,
Qwen smart-resize, a frame cache, MP4 writing and synthetic clips (``synthetic``).

Imports no torch, no transformers and no other vrthinker package.
Every unreadable video raises :class:`VideoError`.
"""

from .cache import CacheStats, FrameCache, SampledVideo, sample_video
from .encode import write_video
from .decode import VideoInfo, VideoReader, decode_frames, probe_video, uniform_frame_indices
from .errors import VideoError
from .resize import resize_frame, smart_resize

__all__ = [
    "CacheStats",
    "FrameCache",
    "SampledVideo",
    "VideoError",
    "VideoInfo",
    "VideoReader",
    "decode_frames",
    "probe_video",
    "resize_frame",
    "sample_video",
    "smart_resize",
    "uniform_frame_indices",
    "write_video",
]
