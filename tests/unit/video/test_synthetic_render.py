"""The numpy renderer of synthetic clips, its defect injections, and the MP4 writer.

The central property: every injection changes exactly the frames it claims (the
renderer is deterministic, so "unchanged" means bit-identical to the clean render),
and what it changes survives H.264 encoding.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import av
import numpy as np
import pytest

from vrthinker.video.encode import write_video
from vrthinker.video.synthetic import (
    BACKGROUNDS,
    DIRECTIONS,
    PALETTE,
    SHAPES,
    RenderPlan,
    Scene,
    add_noise,
    blur,
    freeze,
    jitter,
    recolor,
    render_plan,
    render_scene,
    render_track,
    reshape,
    scene_track,
    shape_coverage,
    streak_vector,
    teleport,
)

T, SIZE = 24, 64
SCENE = Scene(shape="square", color="red", direction="right", background="grey", radius=0.14, speed=0.9, lane=0.5, start=0.2)


def decode(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack([frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)])


def luma(frame: np.ndarray) -> np.ndarray:
    return frame.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)


def hf_energy(frame: np.ndarray) -> float:
    """Median |Laplacian| of luma: ~0 on a flat background with one object, large with grain."""
    y = luma(frame)
    lap = 4 * y[1:-1, 1:-1] - y[:-2, 1:-1] - y[2:, 1:-1] - y[1:-1, :-2] - y[1:-1, 2:]
    return float(np.median(np.abs(lap)))


def gradient_energy(frame: np.ndarray) -> float:
    y = luma(frame)
    return float((np.diff(y, axis=0) ** 2).sum() + (np.diff(y, axis=1) ** 2).sum())


def changed_frames(frames: np.ndarray, reference: np.ndarray) -> set[int]:
    return {t for t in range(len(frames)) if not np.array_equal(frames[t], reference[t])}


# --------------------------------------------------------------------------- scene and track


def test_prompt_names_colour_shape_direction_background():
    assert SCENE.prompt == "A red square moves from left to right on a grey background."
    assert Scene("star", "blue", "up", "black").prompt == "A blue star moves from bottom to top on a black background."


@pytest.mark.parametrize(
    "field,value", [("shape", "hexagon"), ("color", "teal"), ("background", "pink"), ("direction", "sideways"), ("radius", 0.5), ("speed", 0.0), ("lane", 1.5)]
)
def test_scene_rejects_bad_values(field, value):
    with pytest.raises(ValueError):
        SCENE.with_(**{field: value})


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_clean_track_is_straight_constant_speed_inside_the_frame(direction):
    scene = SCENE.with_(direction=direction, lane=0.0, start=1.0, speed=1.0)  # extreme placement
    track = scene_track(scene, T, SIZE)
    steps = np.diff(track.centers, axis=0)  # (T-1, 2)
    np.testing.assert_allclose(steps, np.broadcast_to(steps[0], steps.shape), atol=1e-9)
    unit = {"right": (1, 0), "left": (-1, 0), "down": (0, 1), "up": (0, -1)}[direction]
    np.testing.assert_allclose(steps[0] / np.linalg.norm(steps[0]), unit, atol=1e-9)
    assert np.linalg.norm(steps[0]) == pytest.approx(track.nominal_step)
    assert track.centers.min() >= track.radius_px and track.centers.max() <= SIZE - track.radius_px


def test_render_shape_background_and_object_colour():
    frames = render_scene(SCENE, T, SIZE)
    assert frames.shape == (T, SIZE, SIZE, 3) and frames.dtype == np.uint8
    assert tuple(frames[5, 0, 0]) == BACKGROUNDS["grey"]
    cx, cy = scene_track(SCENE, T, SIZE).centers[5]
    assert tuple(frames[5, int(cy), int(cx)]) == PALETTE["red"]
    np.testing.assert_array_equal(frames, render_scene(SCENE, T, SIZE))  # deterministic


def test_shapes_are_distinct_masks_of_similar_area():
    masks = {}
    for shape in SHAPES:
        rows, cols, coverage = shape_coverage(shape, 32.0, 32.0, 10.0, SIZE)
        full = np.zeros((SIZE, SIZE), dtype=np.float32)
        full[rows, cols] = coverage
        masks[shape] = full > 0.5
    areas = {s: m.sum() for s, m in masks.items()}
    assert max(areas.values()) < 4 * min(areas.values())
    for i, a in enumerate(SHAPES):
        for b in SHAPES[i + 1 :]:
            iou = (masks[a] & masks[b]).sum() / (masks[a] | masks[b]).sum()
            assert iou < 0.8, f"{a} and {b} look alike (IoU {iou:.2f})"


def test_coverage_is_antialiased_and_clipped_at_the_border():
    rows, cols, coverage = shape_coverage("circle", 0.3, 10.0, 5.0, SIZE)
    assert rows.start >= 0 and cols.start == 0
    assert 0.0 < coverage[coverage > 0].min() < 1.0 and coverage.max() == 1.0
    assert shape_coverage("circle", -50.0, 10.0, 5.0, SIZE) is None


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_streak_trails_behind_the_object(direction):
    """Motion is readable in one frame: the tail lies opposite to the direction of motion."""
    scene = SCENE.with_(direction=direction, start=0.5, speed=0.5)
    track = scene_track(scene, T, SIZE)
    frame = render_track(track, scene.background, SIZE)[T // 2].astype(np.float32)
    tint = np.abs(frame - np.asarray(BACKGROUNDS["grey"], dtype=np.float32)).sum(-1)  # (H, W)
    cx, cy = track.centers[T // 2]
    ys, xs = np.mgrid[0:SIZE, 0:SIZE] + 0.5
    along = {"right": xs - cx, "left": cx - xs, "down": ys - cy, "up": cy - ys}[direction]
    behind = tint[along < -track.radius_px].sum()
    ahead = tint[along > track.radius_px].sum()
    assert behind > 20 * max(ahead, 1.0)
    tail = streak_vector(track, T // 2)
    assert np.hypot(*tail) == pytest.approx(track.radius_px)  # normal motion: one radius


def test_streak_length_follows_displacement():
    track = scene_track(SCENE, T, SIZE)
    assert np.hypot(*streak_vector(freeze(track, [5]), 5)) == 0.0  # stopped: no tail
    jumped = teleport(track, [5], (10.0, 10.0))
    assert np.hypot(*streak_vector(jumped, 5)) == pytest.approx(3.0 * track.radius_px)  # capped long tail
    assert np.hypot(*streak_vector(jumped, 6)) == pytest.approx(3.0 * track.radius_px)  # snapping back
    assert np.hypot(*streak_vector(freeze(track, range(T)), 0)) == 0.0  # frozen from the start


# --------------------------------------------------------------------------- injections change exactly their frames


@pytest.mark.parametrize(
    "edit,expected",
    [
        (lambda tr: recolor(tr, [10, 11], "blue"), {10, 11}),
        (lambda tr: reshape(tr, [10, 11, 12], "star"), {10, 11, 12}),
        (lambda tr: teleport(tr, [10, 11], (8.0, 8.0)), {10, 11, 12}),  # + the snap-back frame
        (lambda tr: jitter(tr, {10: (4.0, -3.0), 11: (-5.0, 2.0)}), {10, 11, 12}),
        (lambda tr: freeze(tr, [10, 11]), {10, 11, 12}),  # + the frame that jumps back on schedule
        (lambda tr: freeze(tr, range(T)), set(range(T))),
    ],
    ids=["recolor", "reshape", "teleport", "jitter", "freeze", "freeze-all"],
)
def test_track_edits_change_exactly_the_expected_frames(edit, expected):
    track = scene_track(SCENE, T, SIZE)
    clean = render_track(track, "grey", SIZE)
    edited = render_track(edit(track), "grey", SIZE)
    assert changed_frames(edited, clean) == expected
    np.testing.assert_array_equal(render_track(track, "grey", SIZE), clean)  # edits work on copies


def test_teleport_puts_the_object_at_the_target():
    track = teleport(scene_track(SCENE, T, SIZE), [10, 11], (12.0, 50.0))
    frame = render_track(track, "grey", SIZE)[11]  # second displaced frame: object at rest, no tail
    mask = np.abs(frame.astype(int) - PALETTE["red"]).max(-1) < 30
    ys, xs = np.nonzero(mask)
    assert abs(xs.mean() + 0.5 - 12.0) < 0.6 and abs(ys.mean() + 0.5 - 50.0) < 0.6


def test_noise_and_blur_change_only_their_frames():
    clean = render_scene(SCENE, T, SIZE)
    noisy = add_noise(clean, [3, 4], 30.0, np.random.default_rng(0))
    assert changed_frames(noisy, clean) == {3, 4}
    assert hf_energy(noisy[3]) > 40 and hf_energy(clean[3]) < 1e-3  # ~0: float rounding differs by CPU
    np.testing.assert_array_equal(noisy, add_noise(clean, [3, 4], 30.0, np.random.default_rng(0)))
    # grey grain: identical on R, G, B (where not clipped) so chroma subsampling cannot erase it
    delta = noisy[3].astype(int) - clean[3]
    unclipped = (noisy[3] > 0).all(-1) & (noisy[3] < 255).all(-1)
    assert (delta[unclipped][:, 0] == delta[unclipped][:, 1]).mean() > 0.95

    blurred = blur(clean, [7], 1.5)
    assert changed_frames(blurred, clean) == {7}
    assert gradient_energy(blurred[7]) < 0.5 * gradient_energy(clean[7])
    assert abs(blurred[7].astype(float).mean() - clean[7].astype(float).mean()) < 0.5  # normalised kernel
    flat = np.full((2, 8, 8, 3), 77, dtype=np.uint8)
    np.testing.assert_array_equal(blur(flat, [0, 1], 2.0), flat)


def test_render_plan_is_deterministic_and_seeded():
    plan = RenderPlan(
        scene=SCENE,
        num_frames=T,
        size=SIZE,
        track_edits=(("recolor", {"frames": [2], "color": "green"}),),
        frame_edits=(("blur", {"frames": [5], "sigma": 2.0}), ("noise", {"frames": [5, 6], "sigma": 25.0})),
        noise_seed=(1, 2, 0),
    )
    frames = render_plan(plan)
    np.testing.assert_array_equal(frames, render_plan(plan))
    other_seed = render_plan(RenderPlan(**{**plan.__dict__, "noise_seed": (1, 2, 1)}))
    assert changed_frames(frames, other_seed) == {5, 6}
    assert changed_frames(frames, render_scene(SCENE, T, SIZE)) == {2, 5, 6}
    with pytest.raises(ValueError, match="unknown track edit"):
        render_plan(RenderPlan(SCENE, T, SIZE, track_edits=(("spin", {}),)))


# --------------------------------------------------------------------------- encoding


def test_write_video_round_trip(tmp_path):
    frames = render_scene(SCENE, T, SIZE)
    path = tmp_path / "sub" / "clip.mp4"
    write_video(path, frames, fps=8.0)
    decoded = decode(path)
    assert decoded.shape == frames.shape
    mse = ((decoded.astype(np.float64) - frames) ** 2).mean()
    assert 10 * np.log10(255**2 / mse) > 30  # PSNR in dB
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.average_rate == 8 and stream.codec_context.name == "h264"
        assert stream.codec_context.pix_fmt == "yuv420p"
    assert [p.name for p in path.parent.iterdir()] == ["clip.mp4"]  # no temp file left behind


def test_write_video_is_byte_deterministic_and_takes_fractional_fps(tmp_path):
    frames = add_noise(render_scene(SCENE, T, SIZE), range(T), 20.0, np.random.default_rng(3))
    write_video(tmp_path / "a.mp4", frames, fps=7.5)
    write_video(tmp_path / "b.mp4", list(frames), fps=7.5)
    digest = [hashlib.sha256((tmp_path / n).read_bytes()).hexdigest() for n in ("a.mp4", "b.mp4")]
    assert digest[0] == digest[1]
    with av.open(str(tmp_path / "a.mp4")) as container:
        assert container.streams.video[0].average_rate == pytest.approx(7.5)


def test_heavy_noise_and_blur_survive_compression(tmp_path):
    clean = render_scene(SCENE, T, SIZE)
    noisy = add_noise(clean, [5], 18.0, np.random.default_rng(0))  # the suite's weakest noise
    defective = blur(noisy, [12], 1.3)  # a little under the suite's weakest blur
    write_video(tmp_path / "d.mp4", defective, fps=8.0)
    write_video(tmp_path / "c.mp4", clean, fps=8.0)
    dec, ref = decode(tmp_path / "d.mp4"), decode(tmp_path / "c.mp4")
    assert hf_energy(dec[5]) > 30
    assert max(hf_energy(dec[t]) for t in range(T) if t != 5) < 3
    assert gradient_energy(dec[12]) < 0.75 * gradient_energy(ref[12])
    for t in (3, 8, 20):
        assert gradient_energy(dec[t]) == pytest.approx(gradient_energy(ref[t]), rel=0.2)


def test_write_video_other_codec(tmp_path):
    frames = render_scene(SCENE, 6, SIZE)
    write_video(tmp_path / "clip.mp4", frames, fps=8.0, codec="mpeg4", options={"b": "2000000"})
    assert decode(tmp_path / "clip.mp4").shape == frames.shape


@pytest.mark.parametrize(
    "frames,message",
    [
        ([], "no frames"),
        (np.zeros((2, 63, 64, 3), np.uint8), "even"),
        (np.zeros((2, 64, 64, 3), np.float32), "dtype"),
        (np.zeros((2, 64, 64), np.uint8), "RGB"),
        ([np.zeros((64, 64, 3), np.uint8), np.zeros((32, 32, 3), np.uint8)], "shape"),
    ],
    ids=["empty", "odd", "float", "gray", "mixed"],
)
def test_write_video_rejects_bad_input(tmp_path, frames, message):
    with pytest.raises(ValueError, match=message):
        write_video(tmp_path / "x.mp4", frames, fps=8.0)
    assert not list(tmp_path.iterdir())


def test_write_video_leaves_nothing_on_encoder_error(tmp_path):
    with pytest.raises(Exception):
        write_video(tmp_path / "x.mp4", render_scene(SCENE, 4, SIZE), fps=8.0, codec="no-such-codec")
    assert not list(tmp_path.iterdir())
