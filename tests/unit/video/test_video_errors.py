"""Every unreadable video raises VideoError with a precise reason; nothing from av leaks."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from vrthinker.video import FrameCache, VideoError, decode_frames, probe_video
from vrthinker.video.errors import DEFAULT_HINT


def test_message_format():
    err = VideoError("/x/a.mp4", "file is empty (0 bytes)")
    assert str(err) == (
        "cannot read video '/x/a.mp4': file is empty (0 bytes). "
        "Check the path, or re-encode the file (e.g. ffmpeg -i in.mp4 -c:v libx264 out.mp4)."
    )
    assert (err.path, err.reason, err.hint) == ("/x/a.mp4", "file is empty (0 bytes)", DEFAULT_HINT)


def test_pickles():
    err = pickle.loads(pickle.dumps(VideoError("/x/a.mp4", "why", "hint.")))
    assert (err.path, err.reason, err.hint, str(err)) == ("/x/a.mp4", "why", "hint.", "cannot read video '/x/a.mp4': why. hint.")


def _truncated_moov_at_end(clips):
    path = clips.write("cut.mp4", num_frames=40)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _truncated_moov_at_start(clips):
    # With +faststart the index survives the cut, so only the frame data is missing.
    path = clips.write("cut_fs.mp4", num_frames=40, container_options={"movflags": "+faststart"})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _empty(clips):
    path = clips.dir / "empty.mp4"
    path.write_bytes(b"")
    return path


def _text(clips):
    path = clips.dir / "notes.mp4"
    path.write_text("this is a text file, not a video\n" * 20)
    return path


def _random_bytes(clips):
    path = clips.dir / "noise.mp4"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    return path


def _missing(clips):
    return clips.dir / "does_not_exist.mp4"


def _directory(clips):
    path = clips.dir / "folder.mp4"
    path.mkdir()
    return path


def _broken_symlink(clips):
    path = clips.dir / "link.mp4"
    path.symlink_to(clips.dir / "gone.mp4")
    return path


BAD_INPUTS = {
    "truncated": (_truncated_moov_at_end, "truncated or corrupt.*'moov' index box is missing"),
    "truncated_faststart": (_truncated_moov_at_start, r"truncated or corrupt.*declares 40 frames but holds data for only"),
    "empty": (_empty, r"file is empty \(0 bytes\)"),
    "text": (_text, "not a video container.*starts with text: 'this is a text file"),
    "random_bytes": (_random_bytes, "not a video container"),
    "missing": (_missing, "file does not exist"),
    "directory": (_directory, "path is a directory"),
    "broken_symlink": (_broken_symlink, "broken symbolic link"),
    "audio_only": (lambda clips: clips.write_audio_only(), r"no video stream \(the file has: audio stream\)"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_raises_video_error(clips, case):
    make, reason = BAD_INPUTS[case]
    path = make(clips)
    # The faststart cut keeps its header: probing succeeds, decoding frames fails.
    calls = [lambda: decode_frames(path, [0, 39])]
    if case != "truncated_faststart":
        calls += [lambda: probe_video(path), lambda: FrameCache().get(path, 8, 56 * 56, 28 * 28 * 64)]
    for call in calls:
        with pytest.raises(VideoError, match=reason) as err:
            call()
        assert err.value.path == str(path)
        assert repr(str(path)) in str(err.value)


def test_truncated_faststart_probe_reports_header_count(clips):
    path = _truncated_moov_at_start(clips)
    assert probe_video(path).num_frames == 40  # from the header, as documented


def test_accepts_pathlike_and_str(clips):
    path = clips.write(num_frames=5)
    assert probe_video(str(path)) == probe_video(path)


@pytest.mark.parametrize("seed", range(6))
def test_corrupted_bytes_never_leak_av_errors(clips, seed):
    """Overwrite random byte ranges: the result is frames or a VideoError, nothing else."""
    path = clips.write("fuzz.mp4", num_frames=30, gop=10)
    data = bytearray(path.read_bytes())
    rng = np.random.default_rng(seed)
    for _ in range(3):
        start = int(rng.integers(0, len(data) - 64))
        data[start : start + 64] = rng.integers(0, 256, 64, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))
    try:
        info = probe_video(path)
        frames = decode_frames(path, range(info.num_frames))
    except VideoError as err:
        assert err.path == str(path)
    else:
        assert len(frames) == info.num_frames
