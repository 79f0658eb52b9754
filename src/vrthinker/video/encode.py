"""Write RGB frames to an MP4 with PyAV.

Used by the synthetic suite, so the defaults are tuned for small clips whose
defects must survive compression: a low CRF (14) keeps heavy per-pixel noise
and one-frame glitches visible after H.264, and for libx264 ``threads=1``, no
B-frames and no threaded lookahead make the output byte-identical from run to run
(see ``write_video``; the suite parallelises over processes instead).

The file is written to a temporary name in the same directory and renamed into
place, so a crash never leaves a truncated MP4 behind.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Mapping, Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

logger = logging.getLogger(__name__)

# Codecs whose "constant rate factor" option is called `crf`; for the others the
# quality setting goes in through `options` (e.g. {"qscale": "2"} for mpeg4).
_CRF_CODECS = {"libx264", "libx265", "libvpx-vp9", "libaom-av1", "libsvtav1"}


def write_video(
    path: str | os.PathLike[str],
    frames: Sequence[np.ndarray] | np.ndarray,
    fps: float,
    codec: str = "libx264",
    crf: int = 14,
    preset: str = "veryfast",
    options: Mapping[str, str] | None = None,
) -> None:
    """Encode ``frames`` (each ``(H, W, 3)`` RGB uint8) to ``path`` as yuv420p video.

    Args:
        path: Output file; the container format follows the suffix (``.mp4``, ``.mkv``…).
        frames: The frames, all the same even height and width (yuv420p halves the
            chroma resolution, so odd sizes are rejected rather than silently cropped).
        fps: Frame rate; non-integer rates are stored as an exact fraction.
        codec: Any PyAV/FFmpeg encoder name (``libx264``, ``libvpx-vp9``, ``mpeg4``…).
        crf: Constant rate factor for codecs that have one (lower = better quality;
            0–51 for x264). 14 keeps heavy noise on 64 px frames visible.
        preset: x264/x265 speed preset; ignored by other codecs.
        options: Extra encoder options, applied last (they win over ``crf``/``preset``).

    Raises:
        ValueError: empty input, wrong dtype or shape, mixed sizes, odd sizes, bad fps.
    """
    arrays = _check_frames(frames)
    if not fps > 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    height, width = arrays[0].shape[:2]
    rate = Fraction(fps).limit_denominator(1001)

    stream_options: dict[str, str] = {}
    if codec in _CRF_CODECS:
        stream_options["crf"] = str(crf)
    if codec in {"libx264", "libx265"}:
        stream_options["preset"] = preset
    if codec == "libx264":
        # Measured: with B-frames (x264's adaptive B-frame decision) or a threaded
        # lookahead the bitstream, and the decoded pixels, varied between identical
        # runs on a loaded machine (~1 in 20 encodes with 4 concurrent processes).
        # Without them 2,400 concurrent encodes were identical. No B-frames also
        # means no frame reordering, which makes frame-accurate seeking simpler.
        # mbtree=0: with macroblock-tree rate control, frames that few others reference
        # (e.g. the last frame) got coarse quantisation and kept part of a defect from
        # the frame before (a blurred frame 46 left frame 47 visibly soft). Without it
        # a defect stays on the frames it was drawn on.
        stream_options["x264-params"] = "bframes=0:sync-lookahead=0:mbtree=0"
    if codec == "libvpx-vp9":
        stream_options["b"] = "0"  # constant-quality mode needs a zero target bitrate
    stream_options["threads"] = "1"  # deterministic bitstream (see module docstring)
    for key, value in (options or {}).items():
        if key == "x264-params" and "x264-params" in stream_options:
            value = f"{stream_options[key]}:{value}"  # the caller's settings come last and win
        stream_options[key] = value

    out_path = Path(path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out_path.name}.", suffix=out_path.suffix, dir=out_path.parent)
    os.close(fd)
    try:
        with av.open(tmp_name, mode="w", format=_container_format(out_path)) as container:
            stream = container.add_stream(codec, rate=rate, options=stream_options)
            stream.width = width
            stream.height = height
            stream.pix_fmt = "yuv420p"
            stream.codec_context.time_base = 1 / rate
            for index, array in enumerate(arrays):
                frame = av.VideoFrame.from_ndarray(array, format="rgb24")
                frame.pts = index  # in units of time_base = 1/fps
                frame.time_base = stream.codec_context.time_base
                container.mux(stream.encode(frame))
            container.mux(stream.encode(None))  # flush delayed (B-)frames
        os.replace(tmp_name, out_path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    logger.debug("wrote %s (%d frames, %dx%d, %s fps, %s)", out_path, len(arrays), width, height, rate, codec)


def _container_format(path: Path) -> str:
    """FFmpeg muxer name for ``path``: needed because the temp name must not decide it."""
    suffix = path.suffix.lower()
    return {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm", ".avi": "avi"}.get(
        suffix, "mp4"
    )


def _check_frames(frames: Sequence[np.ndarray] | np.ndarray) -> list[np.ndarray]:
    if len(frames) == 0:
        raise ValueError("no frames to write")
    arrays = [np.ascontiguousarray(frame) for frame in frames]
    first = arrays[0]
    if first.ndim != 3 or first.shape[2] != 3:
        raise ValueError(f"frames must be (H, W, 3) RGB, got shape {first.shape}")
    height, width = first.shape[:2]
    if height % 2 or width % 2:
        raise ValueError(f"yuv420p needs even frame sizes, got {width}x{height}")
    for index, array in enumerate(arrays):
        if array.dtype != np.uint8:
            raise ValueError(f"frame {index} has dtype {array.dtype}, expected uint8")
        if array.shape != first.shape:
            raise ValueError(f"frame {index} has shape {array.shape}, expected {first.shape} like frame 0")
    return arrays
