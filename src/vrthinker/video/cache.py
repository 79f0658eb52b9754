"""Uniformly sampled, resized frames of a video, and a bounded LRU cache of them.

A GRPO group runs G rollouts over the same pair of videos; with a shared
:class:`FrameCache` each video is decoded once per group instead of G times.
The cache is an object the caller creates and passes around (no module-level
cache), and it is safe to share between threads.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import av
from PIL import Image

from .decode import PathLike, VideoInfo, VideoReader, frame_to_rgb, stat_video_file, uniform_frame_indices
from .resize import resize_frame

logger = logging.getLogger(__name__)

# (resolved path, mtime in ns, size in bytes, n frames, min_pixels, max_pixels)
_CacheKey = tuple[str, int, int, int, int, int]


@dataclass(frozen=True)
class SampledVideo:
    """``n`` uniformly spaced frames of a video, already smart-resized.

    ``frames[k]`` is frame ``frame_indices[k]`` (0-based) of the video. Indices
    repeat when the video is shorter than ``n`` (see ``uniform_frame_indices``);
    repeated indices share one image. The images may be shared by many callers
    through a :class:`FrameCache`: treat them as read-only.
    """

    info: VideoInfo
    frame_indices: tuple[int, ...]
    frames: tuple[Image.Image, ...]


@dataclass(frozen=True)
class CacheStats:
    """Counters of a :class:`FrameCache` (a snapshot)."""

    hits: int  # gets answered without decoding (including waits on another thread's decode)
    misses: int  # gets that decoded the video
    evictions: int  # entries dropped: least recently used, or stale because the file changed
    entries: int  # entries held now


def sample_video(
    path: PathLike, num_frames: int, min_pixels: int, max_pixels: int, factor: int = 28
) -> SampledVideo:
    """Decode ``num_frames`` uniformly spaced frames and smart-resize each (no caching).

    Each frame is resized as soon as it is decoded, so only one full-size frame
    is alive at a time.

    Raises:
        VideoError: the video cannot be read.
        ValueError: ``num_frames < 1``.
    """
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")

    def convert(frame: av.VideoFrame) -> Image.Image:
        rgb = frame_to_rgb(frame)  # (H, W, 3)
        return resize_frame(rgb, min_pixels, max_pixels, factor)

    with VideoReader(path) as reader:
        indices = uniform_frame_indices(reader.info.num_frames, num_frames)
        images = reader.read(indices, convert)
        info = reader.info
    return SampledVideo(info, tuple(indices), tuple(images[i] for i in indices))


@dataclass
class _Pending:
    """A decode in progress; other threads asking for the same key wait on it."""

    done: threading.Event = field(default_factory=threading.Event)
    result: SampledVideo | None = None
    error: BaseException | None = None


class FrameCache:
    """Bounded LRU cache of :class:`SampledVideo`, keyed by file identity and sampling.

    The key is (resolved path, file mtime and size, ``num_frames``,
    ``min_pixels``, ``max_pixels``): rewriting a file changes its key, so stale
    frames are never served. Thread-safe: when several threads ask for the same
    video at once, one decodes and the others wait for its result. Errors are
    not cached.

    Memory: an entry holds ``num_frames`` images of at most ``max_pixels`` pixels
    (48 frames at 28*28*256 pixels are about 29 MB), so size ``max_entries`` to
    the videos in flight, e.g. the pairs of one GRPO batch.
    """

    def __init__(self, max_entries: int = 64, factor: int = 28) -> None:
        if max_entries < 1:
            raise ValueError(f"max_entries must be >= 1, got {max_entries}")
        self.max_entries = max_entries
        self.factor = factor
        self._lock = threading.Lock()
        self._entries: OrderedDict[_CacheKey, SampledVideo] = OrderedDict()
        self._pending: dict[_CacheKey, _Pending] = {}
        self._hits = self._misses = self._evictions = 0

    def get(self, path: PathLike, num_frames: int, min_pixels: int, max_pixels: int) -> SampledVideo:
        """Return the sampled video, decoding it only if no equal entry is cached.

        Raises:
            VideoError: the video cannot be read.
            ValueError: ``num_frames < 1``.
        """
        path = os.fspath(path)
        st = stat_video_file(path)
        key: _CacheKey = (str(Path(path).resolve()), st.st_mtime_ns, st.st_size, num_frames, min_pixels, max_pixels)
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
                self._hits += 1
                return entry
            pending = self._pending.get(key)
            owner = pending is None
            if owner:
                pending = self._pending[key] = _Pending()
                self._misses += 1
        assert pending is not None
        if not owner:
            pending.done.wait()
            if pending.error is not None:
                raise pending.error
            with self._lock:
                self._hits += 1
            assert pending.result is not None
            return pending.result
        try:
            pending.result = sample_video(path, num_frames, min_pixels, max_pixels, self.factor)
        except BaseException as exc:
            pending.error = exc
            raise
        finally:
            with self._lock:
                del self._pending[key]
                if pending.result is not None:
                    self._store(key, pending.result)
            pending.done.set()
        return pending.result

    @property
    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(self._hits, self._misses, self._evictions, len(self._entries))

    def clear(self) -> None:
        """Drop every entry and reset the counters."""
        with self._lock:
            self._entries.clear()
            self._hits = self._misses = self._evictions = 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def _store(self, key: _CacheKey, value: SampledVideo) -> None:
        """Insert under the lock; drop stale versions of the file, then the LRU overflow."""
        stale = [k for k in self._entries if k[0] == key[0] and k[1:3] != key[1:3]]
        for k in stale:
            del self._entries[k]
        self._entries[key] = value
        while len(self._entries) > self.max_entries:
            evicted, _ = self._entries.popitem(last=False)
            logger.debug("frame cache full (%d entries): evicting %s", self.max_entries, evicted[0])
            stale.append(evicted)
        self._evictions += len(stale)
