"""probe_video, decode_frames and uniform_frame_indices, on real and generated clips."""

from __future__ import annotations

import dataclasses

import av
import numpy as np
import pytest

from vrthinker.video import VideoError, VideoInfo, VideoReader, decode_frames, probe_video, uniform_frame_indices

# Golden values for the VideoAlign example videos, established by decoding every
# frame with PyAV 18.1 (the count equals the MP4 header's and the packet count).
# name: (fps, num_frames, duration_s, width, height)
REAL_GOLDEN = {
    "example_1_A.mp4": (24.0, 126, 5.25, 1360, 752),
    "example_1_B.mp4": (30.0, 152, 152 / 30, 1280, 720),
    "example_2_A.mp4": (24.0, 144, 6.0, 672, 384),
    "example_2_B.mp4": (24.0, 128, 128 / 24, 1280, 768),
    "example_3_A.mp4": (24.0, 128, 128 / 24, 1280, 768),
    "example_3_B.mp4": (16.0, 60, 3.75, 688, 384),
}
# Full decodes of these two take ~0.2 s each; the others are checked by packet count.
FULL_DECODE_CHECKED = ("example_2_A.mp4", "example_3_B.mp4")


# -- real videos --------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(REAL_GOLDEN))
def test_probe_real_video_matches_golden(real_videos, name):
    fps, num_frames, duration_s, width, height = REAL_GOLDEN[name]
    info = probe_video(real_videos / name)
    assert info == VideoInfo(
        path=str(real_videos / name),
        fps=fps,
        num_frames=num_frames,
        duration_s=pytest.approx(duration_s),
        width=width,
        height=height,
        codec="h264",
    )


@pytest.mark.parametrize("name", sorted(REAL_GOLDEN))
def test_real_video_packet_count_matches_golden(real_videos, name):
    with av.open(str(real_videos / name)) as container:
        packets = sum(1 for p in container.demux(video=0) if p.size > 0)
    assert packets == REAL_GOLDEN[name][1]


@pytest.mark.parametrize("name", FULL_DECODE_CHECKED)
def test_real_video_num_frames_is_true_decoded_count(real_videos, clips, name):
    assert probe_video(real_videos / name).num_frames == clips.count_frames(real_videos / name)


def test_real_video_random_access_equals_sequential_decode(real_videos):
    path = real_videos / "example_3_B.mp4"
    with av.open(str(path)) as container:
        sequential = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    indices = [59, 0, 31, 31, 7, 58]
    frames = decode_frames(path, indices)
    assert [f.shape for f in frames] == [(384, 688, 3)] * len(indices)
    for idx, frame in zip(indices, frames):
        assert frame.dtype == np.uint8
        np.testing.assert_array_equal(frame, sequential[idx])


def test_real_video_out_of_range_names_range(real_videos):
    with pytest.raises(VideoError, match=r"60 frames, valid indices are 0\.\.59"):
        decode_frames(real_videos / "example_3_B.mp4", [0, 60])


# -- frame accuracy on generated clips ------------------------------------------


def test_clip_helper_roundtrip(clips):
    assert [clips.read_index(clips.pattern(i)) for i in (0, 1, 37, 255)] == [0, 1, 37, 255]


def test_random_access_returns_requested_frames_in_order(clips):
    path = clips.write(num_frames=60, gop=10)
    rng = np.random.default_rng(0)
    indices = [int(i) for i in rng.integers(0, 60, 40)] + [59, 0, 59, 13, 13]
    frames = decode_frames(path, indices)
    assert [clips.read_index(f) for f in frames] == indices
    # Seeking must give the very pixels a plain sequential decode gives.
    sequential = decode_frames(path, range(60))
    assert [clips.read_index(f) for f in sequential] == list(range(60))
    for idx, frame in zip(indices, frames):
        np.testing.assert_array_equal(frame, sequential[idx])


def test_repeated_index_returns_independent_arrays(clips):
    path = clips.write(num_frames=20)
    first, second = decode_frames(path, [4, 4])
    first[:] = 0
    assert clips.read_index(second) == 4


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("clip.mkv", {}),  # Matroska: no frame count in the header, counted by demuxing
        ("clip.webm", {"codec": "libvpx-vp9"}),
        ("clip.avi", {"codec": "mpeg4"}),
        ("faststart.mp4", {"container_options": {"movflags": "+faststart"}}),
    ],
)
def test_other_containers_and_codecs(clips, name, kwargs):
    path = clips.write(name, num_frames=50, gop=10, **kwargs)
    info = probe_video(path)
    assert info.num_frames == clips.count_frames(path) == 50
    assert info.fps == 12.0
    indices = [49, 3, 27, 10, 9, 0]
    assert [clips.read_index(f) for f in decode_frames(path, indices)] == indices


def test_variable_frame_rate_is_addressed_by_index_not_time(clips):
    # Irregular gaps: an index -> time formula (idx / fps) would land on wrong frames.
    gaps = np.random.default_rng(1).integers(20, 200, 60)
    pts_ms = [0, *np.cumsum(gaps)[:-1].tolist()]
    path = clips.write("vfr.mp4", num_frames=60, gop=10, pts_ms=pts_ms)
    assert probe_video(path).num_frames == 60
    indices = [55, 2, 30, 31, 44, 12, 59]
    assert [clips.read_index(f) for f in decode_frames(path, indices)] == indices


def test_dense_request_is_one_forward_pass(clips):
    path = clips.write(num_frames=60, gop=10)
    with VideoReader(path) as reader:
        decoded = reader.read(range(5, 45), lambda f: clips.read_index(f.to_ndarray(format="rgb24")))
        assert reader.seek_count == 1
    assert decoded == {i: i for i in range(5, 45)}


def test_sparse_request_seeks_per_gop(clips):
    path = clips.write(num_frames=60, gop=10)
    with VideoReader(path) as reader:
        decoded = reader.read([55, 3, 25], lambda f: clips.read_index(f.to_ndarray(format="rgb24")))
        # Three frames in three different GOPs: three seeks, no decode of the gaps.
        assert reader.seek_count == 3
    assert decoded == {3: 3, 25: 25, 55: 55}


def test_probe_clip(clips):
    path = clips.write(num_frames=30, fps=10)
    info = probe_video(path)
    assert (info.fps, info.num_frames, info.duration_s) == (10.0, 30, 3.0)
    assert (info.width, info.height, info.codec) == (128, 64, "h264")
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.fps = 1.0  # type: ignore[misc]


@pytest.mark.parametrize("bad", [[-1], [30], [0, 5, 100]])
def test_out_of_range_indices(clips, bad):
    path = clips.write(num_frames=30)
    with pytest.raises(VideoError, match=r"out of range .*30 frames, valid indices are 0\.\.29") as err:
        decode_frames(path, bad)
    assert err.value.path == str(path)


def test_empty_request_returns_empty_list(clips):
    assert decode_frames(clips.write(num_frames=5), []) == []


# -- uniform sampling ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("num_frames", "n", "expected"),
    [
        (126, 4, [0, 42, 83, 125]),  # linspace 0, 41.67, 83.33, 125
        (10, 4, [0, 3, 6, 9]),
        (60, 1, [0]),
        (3, 5, [0, 0, 1, 2, 2]),  # 0, .5, 1, 1.5, 2: halves round to even; repeats keep n
        (1, 3, [0, 0, 0]),
        (5, 5, [0, 1, 2, 3, 4]),
    ],
)
def test_uniform_frame_indices(num_frames, n, expected):
    assert uniform_frame_indices(num_frames, n) == expected


def test_uniform_frame_indices_always_n_in_range():
    for num_frames in (1, 2, 7, 48, 152):
        for n in (1, 4, 48, 200):
            indices = uniform_frame_indices(num_frames, n)
            assert len(indices) == n
            assert indices == sorted(indices)
            assert indices[0] == 0
            assert indices[-1] == (num_frames - 1 if n > 1 else 0)
            assert all(isinstance(i, int) for i in indices)


@pytest.mark.parametrize(("num_frames", "n"), [(10, 0), (0, 4), (-1, 4)])
def test_uniform_frame_indices_rejects_bad_sizes(num_frames, n):
    with pytest.raises(ValueError):
        uniform_frame_indices(num_frames, n)


# -- fallback paths ---------------------------------------------------------------


def test_without_usable_pts_frames_are_counted_from_the_start(clips, monkeypatch):
    import vrthinker.video.decode as decode_module

    real_build = decode_module._build_index

    def build_without_pts(*args, **kwargs):
        index = real_build(*args, **kwargs)
        return decode_module._FrameIndex(index.num_packets, None, (0,), None)

    monkeypatch.setattr(decode_module, "_build_index", build_without_pts)
    path = clips.write(num_frames=40, gop=10)
    indices = [39, 1, 20, 20]
    assert [clips.read_index(f) for f in decode_frames(path, indices)] == indices


def test_frames_missed_by_seeking_are_decoded_from_the_start(clips, monkeypatch, caplog):
    # Simulate a demuxer whose seeks land nowhere useful: the seeking pass finds nothing.
    monkeypatch.setattr(VideoReader, "_read_by_seeking", lambda self, *args: 0)
    path = clips.write(num_frames=40, gop=10)
    indices = [33, 2, 17]
    assert [clips.read_index(f) for f in decode_frames(path, indices)] == indices
    assert "seeking missed frames" in caplog.text


def test_video_package_imports_no_torch_or_transformers():
    import subprocess
    import sys

    code = (
        "import sys, vrthinker.video; "
        "bad = [m for m in ('torch', 'transformers', 'vrthinker.data', 'vrthinker.episode') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_frame_to_rgb_equals_to_ndarray_across_sizes_formats_and_threads(real_videos, clips):
    """One cached reformatter per thread: the same pixels as PyAV's per-frame conversion, whatever came before."""
    from concurrent.futures import ThreadPoolExecutor

    from vrthinker.video.decode import frame_to_rgb

    paths = [real_videos / "example_3_B.mp4", clips.write("vp9.webm", num_frames=6, gop=3, codec="libvpx-vp9"),
             real_videos / "example_2_A.mp4", clips.write("small.mp4", num_frames=6, gop=3)]

    def check(path):
        with av.open(str(path)) as container:
            for i, frame in enumerate(container.decode(video=0)):
                np.testing.assert_array_equal(frame_to_rgb(frame), frame.to_ndarray(format="rgb24"))
                if i == 5:
                    break
        return True

    assert all(check(p) for p in paths + paths[::-1])  # sizes change back and forth in one thread
    with ThreadPoolExecutor(3) as pool:
        assert all(pool.map(check, paths * 2))
