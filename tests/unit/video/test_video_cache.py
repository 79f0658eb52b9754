"""sample_video and FrameCache: decode once, LRU eviction, file-change keys, threads."""

from __future__ import annotations

import os
import threading
import time

import pytest

import vrthinker.video.cache as cache_module
from vrthinker.video import CacheStats, FrameCache, SampledVideo, VideoError, sample_video, smart_resize

MIN, MAX = 56 * 56, 28 * 28 * 256


@pytest.fixture
def count_decodes(monkeypatch):
    """Count calls of the real sample_video made by the cache (optionally slowed down)."""
    calls: list[str] = []
    real = cache_module.sample_video

    def counting(path, *args, **kwargs):
        calls.append(str(path))
        time.sleep(counting.delay)
        return real(path, *args, **kwargs)

    counting.delay = 0.0  # type: ignore[attr-defined]
    monkeypatch.setattr(cache_module, "sample_video", counting)
    return counting, calls


def test_sample_video_frames_are_uniform_resized_and_correct(clips):
    path = clips.write(num_frames=60)
    sampled = sample_video(path, 8, MIN, MAX)
    assert sampled.frame_indices == (0, 8, 17, 25, 34, 42, 51, 59)
    # 64x128 -> 56x140 (rounded 56x140 = 7840 is within range)
    assert smart_resize(64, 128) == (56, 140)
    assert all(im.size == (140, 56) and im.mode == "RGB" for im in sampled.frames)
    assert [clips.read_index(im) for im in sampled.frames] == list(sampled.frame_indices)
    assert sampled.info.num_frames == 60


def test_sample_video_short_video_repeats_frames(clips):
    path = clips.write(num_frames=3)
    sampled = sample_video(path, 5, MIN, MAX)
    assert sampled.frame_indices == (0, 0, 1, 2, 2)
    assert len(sampled.frames) == 5
    assert [clips.read_index(im) for im in sampled.frames] == [0, 0, 1, 2, 2]


def test_sample_real_video(real_videos):
    sampled = sample_video(real_videos / "example_3_B.mp4", 48, MIN, MAX)
    assert len(sampled.frames) == 48 and sampled.frame_indices[-1] == 59
    assert {im.size for im in sampled.frames} == {(588, 308)}  # 384x688 -> 308x588


def test_repeated_gets_decode_once(clips, count_decodes):
    _, calls = count_decodes
    path = clips.write(num_frames=30)
    cache = FrameCache()
    first = cache.get(path, 8, MIN, MAX)
    for _ in range(7):  # a GRPO group of 8 rollouts over the same video
        assert cache.get(path, 8, MIN, MAX) is first
    assert isinstance(first, SampledVideo)
    assert len(calls) == 1
    assert cache.stats == CacheStats(hits=7, misses=1, evictions=0, entries=1)


def test_concurrent_gets_of_one_video_decode_once(clips, count_decodes):
    counting, calls = count_decodes
    counting.delay = 0.2  # keep the first decode in flight while the others arrive
    path = clips.write(num_frames=30)
    cache = FrameCache()
    results: list[SampledVideo] = []
    barrier = threading.Barrier(8)

    def rollout() -> None:
        barrier.wait()
        results.append(cache.get(path, 8, MIN, MAX))

    threads = [threading.Thread(target=rollout) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert len(results) == 8 and all(r is results[0] for r in results)
    assert cache.stats == CacheStats(hits=7, misses=1, evictions=0, entries=1)


def test_lru_eviction(clips, count_decodes):
    _, calls = count_decodes
    a, b, c = (clips.write(f"{name}.mp4", num_frames=10) for name in "abc")
    cache = FrameCache(max_entries=2)
    cache.get(a, 4, MIN, MAX)
    cache.get(b, 4, MIN, MAX)
    cache.get(a, 4, MIN, MAX)  # a is now the most recently used
    cache.get(c, 4, MIN, MAX)  # evicts b
    assert cache.stats == CacheStats(hits=1, misses=3, evictions=1, entries=2)
    cache.get(a, 4, MIN, MAX)
    assert len(calls) == 3
    cache.get(b, 4, MIN, MAX)  # decoded again, evicts c
    assert len(calls) == 4
    assert cache.stats.evictions == 2


def test_key_includes_sampling_parameters(clips, count_decodes):
    _, calls = count_decodes
    path = clips.write(num_frames=20)
    cache = FrameCache()
    cache.get(path, 4, MIN, MAX)
    cache.get(path, 8, MIN, MAX)
    cache.get(path, 4, MIN, 28 * 28 * 4)
    cache.get(path, 4, 28 * 28 * 16, MAX)
    assert len(calls) == 4 and len(cache) == 4


def test_same_file_through_symlink_shares_entry(clips, count_decodes):
    _, calls = count_decodes
    path = clips.write(num_frames=20)
    link = clips.dir / "link.mp4"
    link.symlink_to(path)
    cache = FrameCache()
    assert cache.get(link, 4, MIN, MAX) is cache.get(path, 4, MIN, MAX)
    assert len(calls) == 1


def test_changed_file_is_decoded_again(clips, count_decodes):
    _, calls = count_decodes
    path = clips.write("v.mp4", num_frames=20)
    cache = FrameCache()
    old = cache.get(path, 4, MIN, MAX)
    assert old.info.num_frames == 20
    clips.write("v.mp4", num_frames=30)  # rewritten in place: new size
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # and surely a new mtime
    new = cache.get(path, 4, MIN, MAX)
    assert new.info.num_frames == 30 and new.frame_indices == (0, 10, 19, 29)
    assert len(calls) == 2
    assert len(cache) == 1  # the stale entry was dropped
    assert cache.stats.evictions == 1


def test_touching_file_changes_key(clips, count_decodes):
    _, calls = count_decodes
    path = clips.write(num_frames=10)
    cache = FrameCache()
    cache.get(path, 4, MIN, MAX)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    cache.get(path, 4, MIN, MAX)
    assert len(calls) == 2


def test_errors_are_raised_to_all_waiters_and_not_cached(clips, count_decodes):
    counting, calls = count_decodes
    counting.delay = 0.2
    path = clips.dir / "bad.mp4"
    path.write_text("not a video")
    cache = FrameCache()
    errors: list[BaseException] = []
    barrier = threading.Barrier(3)

    def rollout() -> None:
        barrier.wait()
        try:
            cache.get(path, 4, MIN, MAX)
        except VideoError as err:
            errors.append(err)

    threads = [threading.Thread(target=rollout) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(errors) == 3 and len(calls) == 1
    assert all("not a video container" in str(e) for e in errors)
    assert len(cache) == 0
    counting.delay = 0.0
    with pytest.raises(VideoError):
        cache.get(path, 4, MIN, MAX)
    assert len(calls) == 2  # a failure is retried, not remembered


def test_clear_resets_entries_and_stats(clips):
    path = clips.write(num_frames=10)
    cache = FrameCache()
    cache.get(path, 4, MIN, MAX)
    cache.get(path, 4, MIN, MAX)
    cache.clear()
    assert cache.stats == CacheStats(hits=0, misses=0, evictions=0, entries=0)
    cache.get(path, 4, MIN, MAX)
    assert cache.stats.misses == 1


def test_missing_file_raises_before_decoding(clips, count_decodes):
    _, calls = count_decodes
    with pytest.raises(VideoError, match="file does not exist"):
        FrameCache().get(clips.dir / "nope.mp4", 4, MIN, MAX)
    assert calls == []


@pytest.mark.parametrize("bad", [0, -1])
def test_rejects_bad_capacity(bad):
    with pytest.raises(ValueError):
        FrameCache(max_entries=bad)
