"""Probe videos and decode exact frames with PyAV.

Frames are addressed by 0-based ``frame_idx`` in presentation order. Decoding is
frame-accurate: the packets are demuxed once (cheap, no decoding) to learn every
frame's presentation timestamp (pts) and which frames are keyframes; a requested
frame is then reached by seeking to the keyframe before it and decoding forward
until the frame with exactly that pts comes out. Frames are matched by pts, not
by counting, so a seek that lands somewhere unexpected can never shift indices.
When the requested frames are dense (no keyframe between one and the next) the
decoder simply keeps going, so a dense request is one forward pass.

Every failure is raised as :class:`~vrthinker.video.errors.VideoError`.
"""

from __future__ import annotations

import bisect
import logging
import operator
import os
import stat
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from .errors import PATH_HINT, RANGE_HINT, REENCODE_HINT, VideoError, describe_unopenable_file

logger = logging.getLogger(__name__)

T = TypeVar("T")
PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe_video` learns about a video's first video stream.

    ``num_frames`` is the true number of frames: the container's frame count when
    it declares one, else the number of video packets (counted without decoding).
    ``width``/``height`` are the coded size, which is the size of decoded frames.
    """

    path: str
    fps: float
    num_frames: int
    duration_s: float
    width: int
    height: int
    codec: str


@dataclass(frozen=True)
class _FrameIndex:
    """Per-frame timestamps learnt by demuxing, in presentation order."""

    num_packets: int
    pts: tuple[int, ...] | None  # frame_idx -> pts; None when pts are missing or repeated
    keyframes: tuple[int, ...]  # frame_idx of each keyframe, ascending
    demux_error: str | None  # set when demuxing stopped early on an error

    def keyframe_before(self, frame_idx: int) -> int:
        """The last keyframe at or before ``frame_idx`` (0 when none is flagged)."""
        pos = bisect.bisect_right(self.keyframes, frame_idx) - 1
        return self.keyframes[pos] if pos >= 0 else 0


def probe_video(path: PathLike) -> VideoInfo:
    """Read a video's frame rate, true frame count, duration, size and codec.

    Raises:
        VideoError: the file is missing, empty, not a video, has no video
            stream, or is corrupt.
    """
    with VideoReader(path) as reader:
        return reader.info


def decode_frames(path: PathLike, frame_indices: Sequence[int]) -> list[np.ndarray]:
    """Decode frames by 0-based index, as RGB uint8 arrays of shape ``(H, W, 3)``.

    Indices may come in any order and repeat; frames are returned in the order
    requested (a repeated index gets its own copy of the frame).

    Raises:
        VideoError: an index is out of range (the message names the valid range),
            or the file cannot be read, or fewer frames decode than it declares.
    """
    indices = [operator.index(i) for i in frame_indices]
    with VideoReader(path) as reader:
        decoded = reader.read(indices, frame_to_rgb)
    frames: list[np.ndarray] = []
    returned: set[int] = set()
    for frame_idx in indices:
        frame = decoded[frame_idx]
        frames.append(frame.copy() if frame_idx in returned else frame)
        returned.add(frame_idx)
    return frames


def uniform_frame_indices(num_frames: int, n: int) -> list[int]:
    """``n`` frame indices spread uniformly over ``[0, num_frames - 1]``.

    Computed as ``np.linspace(0, num_frames - 1, n).round()`` (NumPy rounds
    halves to even). The first and, for ``n >= 2``, the last frame are included. When the
    video has fewer than ``n`` frames some indices repeat, so a frame pool always
    holds exactly ``n`` frames and frame numbers mean the same thing for every
    video.

    Raises:
        ValueError: ``n < 1`` or ``num_frames < 1``.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    return [int(i) for i in np.linspace(0, num_frames - 1, n).round()]


def stat_video_file(path: str) -> os.stat_result:
    """Check that ``path`` is a non-empty, readable regular file; return its stat.

    Catches the cheap cases before FFmpeg does, with precise reasons.
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        reason = "broken symbolic link" if os.path.islink(path) else "file does not exist"
        raise VideoError(path, reason, PATH_HINT) from None
    except OSError as exc:
        raise VideoError(path, f"cannot access the file ({exc.strerror})") from None
    if stat.S_ISDIR(st.st_mode):
        raise VideoError(path, "path is a directory, not a video file", PATH_HINT)
    if not stat.S_ISREG(st.st_mode):
        raise VideoError(path, "path is not a regular file", PATH_HINT)
    if st.st_size == 0:
        raise VideoError(path, "file is empty (0 bytes)")
    if not os.access(path, os.R_OK):
        raise VideoError(path, "permission denied (file is not readable)", "Check the file permissions.")
    return st


class VideoReader:
    """An open video: probe once, then :meth:`read` frames. Use as a context manager.

    ``with VideoReader(path) as reader: reader.info; reader.read([0, 5], convert)``
    """

    def __init__(self, path: PathLike) -> None:
        self.path = os.fspath(path)
        self._container: av.container.InputContainer | None = None
        self._index_cache: _FrameIndex | None = None
        self.seek_count = 0  # seeks made by read(), for tests and debugging

    def __enter__(self) -> VideoReader:
        stat_video_file(self.path)
        self._container = _open_container(self.path)
        try:
            with _av_errors(self.path, "reading the stream header"):
                self._stream = _pick_video_stream(self.path, self._container)
                self.info = self._read_info()
        except BaseException:
            self._container.close()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None

    def read(self, frame_indices: Sequence[int], convert: Callable[[av.VideoFrame], T]) -> dict[int, T]:
        """Decode the distinct ``frame_indices``; return ``{frame_idx: convert(frame)}``.

        ``convert`` runs as each frame comes out of the decoder, so callers that
        shrink frames (the frame cache) never hold many full-size frames at once.
        """
        targets = sorted(set(frame_indices))
        if not targets:
            return {}
        self._check_range(targets)
        start = time.perf_counter()
        index = self._index
        found: dict[int, T] = {}
        seeks = 0
        try:
            if index.pts is not None:
                seeks = self._read_by_seeking(targets, index, convert, found)
                # A frame the seeking pass missed (e.g. the demuxer's seek landed past
                # it) gets one more chance: a plain pass from the start, still by pts.
                retry = [i for i in targets if i not in found and i < len(index.pts)]
                if retry:
                    logger.warning("%s: seeking missed frames %s; decoding from the start", self.path, retry[:8])
                    self._read_forward(retry, index, convert, found)
            else:
                # Without usable pts, count frames in decode order from the start.
                self._read_forward(targets, index, convert, found)
        except VideoError as exc:
            note = self._truncation_note(index)
            if note:  # a decode error in a file that lacks data: say both
                raise VideoError(exc.path, f"{exc.reason}; {note}", exc.hint) from exc
            raise
        self._check_complete(targets, found, index)
        logger.debug(
            "%s: decoded %d frames in %.1f ms (%d seeks)",
            self.path, len(targets), 1000 * (time.perf_counter() - start), seeks,
        )
        return found

    # -- probing --------------------------------------------------------------

    @property
    def _index(self) -> _FrameIndex:
        if self._index_cache is None:
            self._index_cache = _build_index(self.path, self._container_open, self._stream)
        return self._index_cache

    @property
    def _container_open(self) -> av.container.InputContainer:
        if self._container is None:
            raise RuntimeError("VideoReader is not open; use it as a context manager")
        return self._container

    def _read_info(self) -> VideoInfo:
        stream, container = self._stream, self._container_open
        # stream.frames comes from the container header (MP4 sample table); 0
        # means unknown (e.g. Matroska/WebM), so count packets instead.
        num_frames = stream.frames if stream.frames > 0 else self._index.num_packets
        if num_frames < 1:
            raise VideoError(self.path, "the video stream has no frames", REENCODE_HINT)
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate else 0.0
        if stream.duration and stream.time_base:
            duration_s = float(stream.duration * stream.time_base)
        elif container.duration:
            duration_s = container.duration / av.time_base
        else:
            duration_s = num_frames / fps if fps > 0 else 0.0
        if fps <= 0:
            if duration_s <= 0:
                raise VideoError(self.path, "the frame rate is unknown", REENCODE_HINT)
            fps = num_frames / duration_s
        ctx = stream.codec_context
        return VideoInfo(
            path=self.path,
            fps=fps,
            num_frames=num_frames,
            duration_s=duration_s,
            width=ctx.width,
            height=ctx.height,
            codec=ctx.name,
        )

    # -- decoding -------------------------------------------------------------

    def _check_range(self, targets: list[int]) -> None:
        n = self.info.num_frames
        bad = [i for i in targets if not 0 <= i < n]
        if bad:
            shown = ", ".join(str(i) for i in bad[:5]) + (", ..." if len(bad) > 5 else "")
            raise VideoError(
                self.path,
                f"frame index out of range ({shown}): the video has {n} frames, valid indices are 0..{n - 1}",
                RANGE_HINT,
            )

    def _read_by_seeking(
        self, targets: list[int], index: _FrameIndex, convert: Callable[[av.VideoFrame], T], found: dict[int, T]
    ) -> int:
        """Seek-and-decode pass over ascending ``targets``; return the number of seeks."""
        assert index.pts is not None
        container, stream = self._container_open, self._stream
        pts_to_idx = {pts: i for i, pts in enumerate(index.pts)}
        wanted = set(targets)
        frames: Iterator[av.VideoFrame] | None = None
        position = -1  # frame_idx of the last frame decoded since the last seek
        segment_start = 0  # frames before the keyframe we sought to may be broken
        seeks = 0
        for target in targets:
            if target in found or target >= len(index.pts):
                continue  # frames past the demuxed end are reported as missing
            keyframe = index.keyframe_before(target)
            # Seek only when that skips decoding: a keyframe lies beyond the
            # current position, or the decoder has already passed the target.
            if frames is None or position >= target or keyframe > position + 1:
                with _av_errors(self.path, f"seeking to frame {keyframe}"):
                    container.seek(index.pts[keyframe], stream=stream, backward=True, any_frame=False)
                frames = container.decode(stream)
                position, segment_start = keyframe - 1, keyframe
                seeks += 1
                self.seek_count += 1
            with _av_errors(self.path, f"decoding near frame {position + 1}"):
                for frame in frames:
                    frame_idx = pts_to_idx.get(frame.pts)
                    if frame_idx is None:
                        continue
                    position = frame_idx
                    if frame_idx in wanted and frame_idx >= segment_start and frame_idx not in found:
                        found[frame_idx] = convert(frame)
                    if frame_idx >= target:
                        break
                else:
                    frames = None  # end of stream: the next target needs a seek
        return seeks

    def _read_forward(
        self, targets: list[int], index: _FrameIndex, convert: Callable[[av.VideoFrame], T], found: dict[int, T]
    ) -> None:
        """One decode pass from the start (fresh container, no seek state)."""
        wanted, last = set(targets), max(targets)
        pts_to_idx = {pts: i for i, pts in enumerate(index.pts)} if index.pts is not None else None
        with _open_container(self.path) as container:
            stream = container.streams[self._stream.index]
            count = 0  # frames decoded so far
            try:
                for frame in container.decode(stream):
                    frame_idx = pts_to_idx.get(frame.pts) if pts_to_idx is not None else count
                    count += 1
                    if frame_idx is None:
                        continue
                    if frame_idx in wanted and frame_idx not in found:
                        found[frame_idx] = convert(frame)
                    if frame_idx >= last:
                        break
            except (av.error.FFmpegError, OSError) as exc:
                raise _corrupt(self.path, f"decoding frame {count}", exc) from exc

    def _truncation_note(self, index: _FrameIndex) -> str:
        """Say so when the file holds fewer frames than its header declares."""
        declared = self.info.num_frames
        if index.num_packets >= declared:
            return ""
        note = f"it declares {declared} frames but holds data for only {index.num_packets}"
        return note + (f" (ffmpeg: {index.demux_error})" if index.demux_error else "")

    def _check_complete(self, targets: list[int], found: dict[int, object], index: _FrameIndex) -> None:
        missing = [i for i in targets if i not in found]
        if not missing:
            return
        detail = self._truncation_note(index) or f"{len(missing)} of the requested frames could not be decoded"
        raise VideoError(
            self.path,
            f"file is truncated or corrupt: {detail}; missing frame {missing[0]}",
            REENCODE_HINT,
        )


_reformatters = threading.local()


def frame_to_rgb(frame: av.VideoFrame) -> np.ndarray:
    """``frame`` as an (H, W, 3) uint8 RGB array: ``frame.to_ndarray(format="rgb24")``, only faster.

    ``to_ndarray(format=...)`` builds a new swscale context for every frame, which costs
    ~10x the conversion of a small frame; one ``VideoReformatter`` per thread keeps its
    context cached across frames of the same size and format (same pixels, tested).
    """
    reformatter = getattr(_reformatters, "instance", None)
    if reformatter is None:
        reformatter = _reformatters.instance = VideoReformatter()
    return reformatter.reformat(frame, format="rgb24").to_ndarray()


def _build_index(path: str, container: av.container.InputContainer, stream: av.VideoStream) -> _FrameIndex:
    """Demux (no decoding) to list every frame's pts and the keyframes."""
    entries: list[tuple[int | None, bool]] = []
    demux_error = None
    try:
        for packet in container.demux(stream):
            # Size-0 packets are the demuxer's end-of-stream flush; discard-flagged
            # ones are decoded for state but never shown (MP4 edit lists).
            if packet.size == 0 or packet.is_discard:
                continue
            entries.append((packet.pts, packet.is_keyframe))
    except (av.error.FFmpegError, OSError) as exc:
        demux_error = _describe(exc)
        logger.warning("%s: demuxing stopped after %d packets: %s", path, len(entries), demux_error)
    all_pts = [pts for pts, _ in entries]
    if any(pts is None for pts in all_pts) or len(set(all_pts)) != len(all_pts):
        return _FrameIndex(len(entries), None, (0,), demux_error)
    order = sorted(range(len(entries)), key=lambda k: all_pts[k])
    pts = tuple(all_pts[k] for k in order)  # type: ignore[misc]
    keyframes = tuple(i for i, k in enumerate(order) if entries[k][1]) or (0,)
    return _FrameIndex(len(entries), pts, keyframes, demux_error)


def _open_container(path: str) -> av.container.InputContainer:
    try:
        # "replace": a badly encoded title tag must not make the video unreadable.
        return av.open(path, metadata_errors="replace")
    except PermissionError as exc:  # also av.error.PermissionError
        raise VideoError(path, f"permission denied ({_describe(exc)})", "Check the file permissions.") from exc
    except (av.error.FFmpegError, OSError) as exc:
        reason, hint = describe_unopenable_file(path, _describe(exc))
        raise VideoError(path, reason, hint) from exc


def _pick_video_stream(path: str, container: av.container.InputContainer) -> av.VideoStream:
    # Cover art (attached_pic) is a one-frame "video" stream in audio files; skip it.
    attached = av.stream.Disposition.attached_pic
    videos = [s for s in container.streams.video if not s.disposition & attached]
    if videos:
        return videos[0]
    kinds = [("cover image" if s.type == "video" else f"{s.type} stream") for s in container.streams]
    found = ", ".join(kinds) if kinds else "no streams at all"
    raise VideoError(path, f"no video stream (the file has: {found})", PATH_HINT)


def _describe(exc: BaseException) -> str:
    # FFmpeg errors carry a clean message in strerror; str() adds errno noise.
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


@contextmanager
def _av_errors(path: str, doing: str) -> Iterator[None]:
    """Turn PyAV/OS errors raised while ``doing`` something into a VideoError."""
    try:
        yield
    except (av.error.FFmpegError, OSError) as exc:
        raise _corrupt(path, doing, exc) from exc


def _corrupt(path: str, doing: str, exc: BaseException) -> VideoError:
    reason = f"file is truncated or corrupt: {doing} failed (ffmpeg: {_describe(exc)})"
    return VideoError(path, reason, REENCODE_HINT)
