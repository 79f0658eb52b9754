"""The single error type raised for every video that cannot be read.

Callers (data loaders, the frame cache, long training runs) catch exactly one
exception, :class:`VideoError`, and can report ``path`` and ``reason`` for the
bad row instead of crashing. PyAV's own exceptions never escape this package.
"""

from __future__ import annotations

DEFAULT_HINT = "Check the path, or re-encode the file (e.g. ffmpeg -i in.mp4 -c:v libx264 out.mp4)."


class VideoError(Exception):
    """A video file could not be read.

    Attributes:
        path: the path as given by the caller.
        reason: what is wrong, in words (``"file is empty (0 bytes)"``).
        hint: what the user can do about it.

    ``str(err)`` reads like::

        cannot read video '/x/a.mp4': file is empty (0 bytes). Check the path, or
        re-encode the file (e.g. ffmpeg -i in.mp4 -c:v libx264 out.mp4).
    """

    def __init__(self, path: str, reason: str, hint: str = DEFAULT_HINT) -> None:
        # Pass every field to Exception so the error pickles (DataLoader
        # workers and multiprocessing send exceptions across processes).
        super().__init__(str(path), reason, hint)
        self.path = str(path)
        self.reason = reason
        self.hint = hint

    def __str__(self) -> str:
        return f"cannot read video {self.path!r}: {self.reason}. {self.hint}"


PATH_HINT = "Check the path."
REENCODE_HINT = "Re-encode or re-download the file (e.g. ffmpeg -i in.mp4 -c:v libx264 out.mp4)."
RANGE_HINT = "Frame indices are 0-based and must be below num_frames (see probe_video)."

# Leading bytes of containers we can name when FFmpeg refuses a file: a file that
# starts like an MP4 but cannot be opened is truncated or corrupt, not "not a video".
_CONTAINER_MAGIC: tuple[tuple[int, bytes, str], ...] = (
    (4, b"ftyp", "MP4/MOV"),
    (4, b"moov", "MOV"),
    (4, b"mdat", "MOV"),
    (0, b"\x1a\x45\xdf\xa3", "Matroska/WebM"),
    (0, b"RIFF", "AVI"),
    (0, b"FLV", "FLV"),
    (0, b"OggS", "Ogg"),
    (0, b"GIF8", "GIF"),
)


def describe_unopenable_file(path: str, ffmpeg_message: str) -> tuple[str, str]:
    """Return ``(reason, hint)`` for a file FFmpeg cannot open.

    FFmpeg says "Invalid data found" for a text file and for a half-written MP4
    alike; the file's first bytes tell a damaged video from a file that never
    was one.
    """
    try:
        with open(path, "rb") as f:
            head = f.read(64)
    except OSError:
        head = b""
    for offset, magic, kind in _CONTAINER_MAGIC:
        if head[offset : offset + len(magic)] == magic:
            reason = (
                f"file is truncated or corrupt: it starts like an {kind} file "
                f"but FFmpeg cannot open it (ffmpeg: {ffmpeg_message})"
            )
            if kind.startswith(("MP4", "MOV")) and b"moov" not in _mp4_top_level_boxes(path):
                reason += "; its 'moov' index box is missing, so the file was probably cut short while being written"
            return reason, REENCODE_HINT
    reason = f"not a video container (FFmpeg does not recognise the format: {ffmpeg_message})"
    # The 64-byte head may end inside a multi-byte character: tolerate that only.
    text = head.decode("utf-8", errors="replace").rstrip("\ufffd")
    if text.strip() and "\ufffd" not in text and all(c.isprintable() or c.isspace() for c in text):
        snippet = " ".join(text.split())[:40]
        reason += f"; the file starts with text: {snippet!r}"
    return reason, DEFAULT_HINT


def _mp4_top_level_boxes(path: str) -> list[bytes]:
    """Names of the ISO-BMFF top-level boxes, read from box headers only (stops at damage)."""
    names: list[bytes] = []
    with open(path, "rb") as f:
        file_size = f.seek(0, 2)
        offset = 0
        while offset + 8 <= file_size and len(names) < 1000:
            f.seek(offset)
            header = f.read(16)
            size, name = int.from_bytes(header[:4], "big"), header[4:8]
            if size == 1 and len(header) >= 16:
                size = int.from_bytes(header[8:16], "big")  # 64-bit "largesize"
            elif size == 0:
                size = file_size - offset  # the box runs to the end of the file
            names.append(name)
            if size < 8:
                break
            offset += size
    return names
