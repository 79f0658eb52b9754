"""Pure-numpy rendering of tiny synthetic clips, and the defects we inject into them.

A :class:`Scene` is one coloured shape moving in a straight line across a flat
background ("A red circle moves from left to right on a grey background."). Rendering
goes in three layers, and each defect acts on exactly one of them:

1. the scene itself (``direction``: a wrong-direction clip is the scene reversed);
2. a :class:`Track`, the per-frame centre, colour and shape of the object
   (:func:`recolor`, :func:`reshape`, :func:`teleport`, :func:`jitter`, :func:`freeze`);
3. the rendered frames (:func:`add_noise`, :func:`blur`).

**Motion streak.** Every frame draws a fading tail behind the object, along the
displacement since the previous frame, scaled so that normal motion gives a tail one
radius long. This is a deliberate stylisation: a tiny VLM trained for minutes cannot
compare positions across separate images (``docs/feasibility.md``), so we make motion
readable in a *single* frame. The tail shows the direction (a wrong-direction clip has
its tail on the wrong side); a teleport or jitter frame has an abnormally long tail
pointing the wrong way; a frozen object has no tail at all. The tail depends only on
``centers[t] - centers[t-1]``, so a motion defect changes exactly the frames it
displaces plus the one frame where the object snaps back onto its path.

Coordinates: ``(x, y)`` in pixels, origin top-left, pixel ``(row i, col j)`` covers
``[j, j+1) x [i, i+1)``. Nothing here draws random numbers except :func:`add_noise`,
which takes an explicit generator, so a render is a pure function of its inputs.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Literal, get_args

import numpy as np

Shape = Literal["circle", "square", "triangle", "star", "cross"]
Direction = Literal["right", "left", "down", "up"]

SHAPES: tuple[Shape, ...] = get_args(Shape)
DIRECTIONS: tuple[Direction, ...] = get_args(Direction)

# Well-separated hues and luminances so that a wrong colour is obvious even after
# yuv420p chroma subsampling; every colour contrasts with every background.
PALETTE: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 190, 60),
    "blue": (50, 90, 240),
    "yellow": (245, 215, 40),
    "purple": (160, 60, 210),
    "white": (245, 245, 245),
}
BACKGROUNDS: dict[str, tuple[int, int, int]] = {
    "grey": (120, 120, 120),
    "black": (20, 20, 20),
}

# "moves from <a> to <b>" wording per direction.
DIRECTION_PHRASES: dict[Direction, tuple[str, str]] = {
    "right": ("left", "right"),
    "left": ("right", "left"),
    "down": ("top", "bottom"),
    "up": ("bottom", "top"),
}
OPPOSITE: dict[Direction, Direction] = {"right": "left", "left": "right", "down": "up", "up": "down"}

_UNIT_VECTORS: dict[Direction, tuple[float, float]] = {
    "right": (1.0, 0.0),
    "left": (-1.0, 0.0),
    "down": (0.0, 1.0),
    "up": (0.0, -1.0),
}

# Streak look: normal motion -> tail of STREAK_RADII radii; capped so a teleport
# streak stays inside a sensible length. Alpha of the ghost nearest the object.
STREAK_RADII = 1.0
STREAK_MAX_RADII = 3.0
STREAK_ALPHA = 0.5
_SUPERSAMPLE = 4  # anti-aliasing: 4x4 samples per pixel


@dataclass(frozen=True)
class Scene:
    """One object moving in a straight line at constant speed.

    All geometry is relative so one scene renders at any frame size: ``radius`` is a
    fraction of the frame side; ``speed`` the fraction of the available travel covered
    over the clip; ``lane`` the cross-axis position and ``start`` the along-axis start,
    both as fractions of their free range.
    """

    shape: Shape
    color: str
    direction: Direction
    background: str = "grey"
    radius: float = 0.14
    speed: float = 0.8
    lane: float = 0.5
    start: float = 0.0

    def __post_init__(self) -> None:
        if self.shape not in SHAPES:
            raise ValueError(f"unknown shape {self.shape!r}; known: {SHAPES}")
        if self.color not in PALETTE:
            raise ValueError(f"unknown colour {self.color!r}; known: {tuple(PALETTE)}")
        if self.background not in BACKGROUNDS:
            raise ValueError(f"unknown background {self.background!r}; known: {tuple(BACKGROUNDS)}")
        if self.direction not in DIRECTIONS:
            raise ValueError(f"unknown direction {self.direction!r}; known: {DIRECTIONS}")
        if not 0.03 <= self.radius <= 0.3:
            raise ValueError(f"radius {self.radius} must be in [0.03, 0.3] (fraction of the frame side)")
        if not 0.0 < self.speed <= 1.0:
            raise ValueError(f"speed {self.speed} must be in (0, 1]")
        for name in ("lane", "start"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} {getattr(self, name)} must be in [0, 1]")

    @property
    def prompt(self) -> str:
        """The text prompt this scene illustrates."""
        origin, target = DIRECTION_PHRASES[self.direction]
        return f"A {self.color} {self.shape} moves from {origin} to {target} on a {self.background} background."

    def with_(self, **changes: object) -> "Scene":
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)  # type: ignore[arg-type]


@dataclass
class Track:
    """Per-frame render instructions for the object (mutable: defects edit copies).

    ``velocity0`` is the displacement assumed before frame 0 (it draws frame 0's
    streak); ``nominal_step`` is the clean per-frame step length, which scales all
    streaks so that normal motion gives a one-radius tail.
    """

    centers: np.ndarray  # (T, 2) float64, (x, y) in pixels
    colors: list[str]
    shapes: list[Shape]
    radius_px: float
    nominal_step: float
    velocity0: tuple[float, float] = (0.0, 0.0)

    @property
    def num_frames(self) -> int:
        return len(self.colors)

    def copy(self) -> "Track":
        return Track(
            centers=self.centers.copy(),
            colors=list(self.colors),
            shapes=list(self.shapes),
            radius_px=self.radius_px,
            nominal_step=self.nominal_step,
            velocity0=self.velocity0,
        )


def margin_px(scene: Scene, size: int) -> float:
    """Smallest distance from the frame border to the object centre on a clean path."""
    return scene.radius * size + 1.0


def scene_track(scene: Scene, num_frames: int, size: int) -> Track:
    """The clean track: constant-velocity motion along ``scene.direction``."""
    if num_frames < 2:
        raise ValueError(f"num_frames must be >= 2, got {num_frames}")
    radius_px = scene.radius * size
    margin = margin_px(scene, size)
    free = size - 2 * margin
    if free <= 0:
        raise ValueError(f"radius {scene.radius} leaves no room to move in a {size}px frame")
    travel = scene.speed * free
    along_start = margin + scene.start * (free - travel)
    cross = margin + scene.lane * free
    along = along_start + travel * np.linspace(0.0, 1.0, num_frames)  # (T,)
    ux, uy = _UNIT_VECTORS[scene.direction]
    if ux != 0:
        xs = along if ux > 0 else size - along
        ys = np.full(num_frames, cross)
    else:
        ys = along if uy > 0 else size - along
        xs = np.full(num_frames, cross)
    step = travel / (num_frames - 1)
    return Track(
        centers=np.stack([xs, ys], axis=1).astype(np.float64),
        colors=[scene.color] * num_frames,
        shapes=[scene.shape] * num_frames,
        radius_px=radius_px,
        nominal_step=step,
        velocity0=(ux * step, uy * step),
    )


# --------------------------------------------------------------------------- track defects


def _frame_list(frames: Iterable[int], num_frames: int) -> list[int]:
    out = sorted(set(int(f) for f in frames))
    if out and (out[0] < 0 or out[-1] >= num_frames):
        raise ValueError(f"frame indices {out} out of range for {num_frames} frames")
    return out


def recolor(track: Track, frames: Iterable[int], color: str) -> Track:
    """The object takes ``color`` at ``frames`` (a wrong colour: a TA defect)."""
    if color not in PALETTE:
        raise ValueError(f"unknown colour {color!r}")
    out = track.copy()
    for t in _frame_list(frames, track.num_frames):
        out.colors[t] = color
    return out


def reshape(track: Track, frames: Iterable[int], shape: Shape) -> Track:
    """The object becomes ``shape`` at ``frames`` (a wrong shape: a TA defect)."""
    if shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r}")
    out = track.copy()
    for t in _frame_list(frames, track.num_frames):
        out.shapes[t] = shape
    return out


def teleport(track: Track, frames: Iterable[int], target: tuple[float, float]) -> Track:
    """The object sits at ``target`` during ``frames``, then snaps back onto its path."""
    out = track.copy()
    for t in _frame_list(frames, track.num_frames):
        out.centers[t] = target
    return out


def jitter(track: Track, offsets: dict[int, tuple[float, float]]) -> Track:
    """Displace the object by ``offsets[t]`` pixels at each listed frame."""
    out = track.copy()
    for t in _frame_list(offsets, track.num_frames):
        out.centers[t] = out.centers[t] + np.asarray(offsets[t], dtype=np.float64)
    return out


def freeze(track: Track, frames: Iterable[int]) -> Track:
    """The object stops at its position just before ``frames`` (then jumps back on schedule).

    Freezing frame 0 (a clip that starts frozen) also clears ``velocity0`` so that the
    first frame has no streak either.
    """
    listed = _frame_list(frames, track.num_frames)
    out = track.copy()
    for t in listed:
        if t == 0:
            out.velocity0 = (0.0, 0.0)
        else:
            out.centers[t] = out.centers[t - 1]
    return out


def clamp_center(point: tuple[float, float], radius_px: float, size: int) -> tuple[float, float]:
    """Keep a centre far enough from the border that the whole object stays visible."""
    low, high = radius_px + 1.0, size - radius_px - 1.0
    return (float(min(max(point[0], low), high)), float(min(max(point[1], low), high)))


# --------------------------------------------------------------------------- rendering


def _polygon_inside(px: np.ndarray, py: np.ndarray, vertices: np.ndarray) -> np.ndarray:
    """Even-odd point-in-polygon test, vectorised over the sample points."""
    inside = np.zeros(px.shape, dtype=bool)
    count = len(vertices)
    for i in range(count):
        xi, yi = vertices[i]
        xj, yj = vertices[(i + 1) % count]
        crosses = (yi > py) != (yj > py)
        with np.errstate(divide="ignore", invalid="ignore"):
            x_at = (xj - xi) * (py - yi) / (yj - yi) + xi
        inside ^= crosses & (px < x_at)
    return inside


def _star_vertices(points: int = 5, inner: float = 0.45) -> np.ndarray:
    angles = -math.pi / 2 + np.arange(2 * points) * math.pi / points
    radii = np.where(np.arange(2 * points) % 2 == 0, 1.0, inner)
    return np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=1)


# Unit-radius outlines (y points down, so the triangle's apex at y=-1 is up).
_TRIANGLE = np.array([[0.0, -1.0], [0.95, 0.7], [-0.95, 0.7]])
_STAR = _star_vertices()


def shape_inside(shape: Shape, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Whether points ``(u, v)`` (in object radii from the centre) lie inside ``shape``.

    Sizes are chosen so the shapes cover similar areas and fit in the unit circle.
    """
    if shape == "circle":
        return u * u + v * v <= 1.0
    if shape == "square":
        return np.maximum(np.abs(u), np.abs(v)) <= 0.82
    if shape == "triangle":
        return _polygon_inside(u, v + 0.1, _TRIANGLE)
    if shape == "star":
        return _polygon_inside(u, v, _STAR)
    if shape == "cross":
        au, av_ = np.abs(u), np.abs(v)
        return ((au <= 0.32) & (av_ <= 0.95)) | ((av_ <= 0.32) & (au <= 0.95))
    raise ValueError(f"unknown shape {shape!r}")


def _phase_table(shape: Shape, radius_px: float, reach: int, phase_y: int, phase_x: int) -> np.ndarray:
    """Pixel coverage of ``shape`` for one sub-pixel phase of its centre.

    Entry ``[py + reach, px + reach]`` is the coverage of the pixel ``(ky + py, kx + px)``
    when the centre sits at ``(kx + phase_x / ss, ky + phase_y / ss)`` in pixel units.
    """
    ss = _SUPERSAMPLE
    pixels = np.arange(-reach, reach + 1)
    sub = np.arange(ss)

    def offsets(phase: int) -> np.ndarray:  # (P * ss,) sample offsets in radii
        return ((ss * pixels[:, None] - phase + sub[None, :] + 0.5) / ss / radius_px).reshape(-1)

    u, v = np.meshgrid(offsets(phase_x), offsets(phase_y))
    inside = shape_inside(shape, u, v).astype(np.float32)
    size = len(pixels)
    return inside.reshape(size, ss, size, ss).mean(axis=(1, 3))


def shape_coverage(
    shape: Shape,
    cx: float,
    cy: float,
    radius_px: float,
    size: int,
    cache: dict[tuple[Shape, int, int], np.ndarray] | None = None,
) -> tuple[slice, slice, np.ndarray] | None:
    """Anti-aliased coverage (4x4 supersampling) of ``shape`` centred at ``(cx, cy)``.

    The centre is snapped to the 1/4-pixel lattice, so there are only 16 sub-pixel
    phases: each phase's coverage table is computed once per shape (``cache``, owned
    by the caller and valid for one radius) and then only cropped. That makes the ~10
    ghosts of a streak cheap to draw.

    Returns ``(rows, cols, coverage)`` with ``coverage`` in [0, 1] of shape
    ``(len(rows), len(cols))``, or ``None`` if the object is entirely off-frame.
    """
    ss = _SUPERSAMPLE
    reach = math.ceil(radius_px) + 1
    qx, qy = round(cx * ss), round(cy * ss)  # centre in lattice units
    kx, rx = divmod(qx, ss)
    ky, ry = divmod(qy, ss)
    x0, x1 = max(0, kx - reach), min(size, kx + reach + 1)
    y0, y1 = max(0, ky - reach), min(size, ky + reach + 1)
    if x0 >= x1 or y0 >= y1:
        return None
    if cache is None:
        cache = {}
    key = (shape, ry, rx)
    table = cache.get(key)
    if table is None:
        table = cache[key] = _phase_table(shape, radius_px, reach, ry, rx)
    coverage = table[y0 - ky + reach : y1 - ky + reach, x0 - kx + reach : x1 - kx + reach]
    return slice(y0, y1), slice(x0, x1), coverage


def _occlude(transmittance: np.ndarray, cover: tuple[slice, slice, np.ndarray] | None, alpha: float) -> None:
    """Lay one layer of opacity ``alpha * coverage`` over ``transmittance`` (in place)."""
    if cover is None:
        return
    rows, cols, coverage = cover
    transmittance[rows, cols] *= 1.0 - alpha * coverage


def streak_vector(track: Track, t: int) -> tuple[float, float]:
    """Tail vector (pointing backwards from the object) for frame ``t``, in pixels."""
    if t == 0:
        dx, dy = track.velocity0
    else:
        dx, dy = (track.centers[t] - track.centers[t - 1]).tolist()
    distance = math.hypot(dx, dy)
    if distance < 1e-6 or track.nominal_step <= 0:
        return (0.0, 0.0)
    length = min(distance / track.nominal_step * STREAK_RADII, STREAK_MAX_RADII) * track.radius_px
    return (-dx / distance * length, -dy / distance * length)


def render_track(track: Track, background: str, size: int) -> np.ndarray:
    """Draw ``track`` on a flat ``background``: frames ``(T, size, size, 3)`` uint8."""
    if background not in BACKGROUNDS:
        raise ValueError(f"unknown background {background!r}")
    bg = np.asarray(BACKGROUNDS[background], dtype=np.float32)
    out = np.empty((track.num_frames, size, size, 3), dtype=np.uint8)
    cache: dict[tuple[Shape, int, int], np.ndarray] = {}  # per call: one radius per track
    for t in range(track.num_frames):
        cx, cy = track.centers[t]
        shape = track.shapes[t]
        tail_x, tail_y = streak_vector(track, t)
        tail_len = math.hypot(tail_x, tail_y)
        # Ghosts every ~1.5 px along the tail, fading out. All layers share one colour,
        # so compositing them one over another equals blending the background with the
        # colour by 1 - prod(1 - alpha_k * coverage_k): track that product only.
        transmittance = np.ones((size, size), dtype=np.float32)
        ghosts = min(24, math.ceil(tail_len / 1.5))
        for k in range(ghosts, 0, -1):
            frac = k / ghosts
            alpha = STREAK_ALPHA * (1.0 - frac) + 0.05
            _occlude(transmittance, shape_coverage(shape, cx + tail_x * frac, cy + tail_y * frac, track.radius_px, size, cache), alpha)
        _occlude(transmittance, shape_coverage(shape, cx, cy, track.radius_px, size, cache), 1.0)
        rgb = np.asarray(PALETTE[track.colors[t]], dtype=np.float32)
        canvas = rgb + transmittance[..., None] * (bg - rgb)  # (H, W, 3)
        out[t] = np.clip(np.rint(canvas), 0, 255).astype(np.uint8)
    return out


def render_scene(scene: Scene, num_frames: int, size: int) -> np.ndarray:
    """The clean clip of ``scene``: frames ``(T, size, size, 3)`` uint8."""
    return render_track(scene_track(scene, num_frames, size), scene.background, size)


# --------------------------------------------------------------------------- frame defects


def add_noise(frames: np.ndarray, indices: Iterable[int], sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Add Gaussian grain (std ``sigma`` grey levels) to ``frames[indices]``; returns a copy.

    The noise is luminance-only (the same value on R, G and B): yuv420p keeps luma at
    full resolution but averages chroma over 2x2 blocks, so colour noise would be
    mostly erased by the encoder while grey grain survives (verified in the tests).
    """
    out = frames.copy()
    listed = _frame_list(indices, len(frames))
    if not listed:
        return out
    grain = rng.normal(0.0, sigma, size=(len(listed), *frames.shape[1:3], 1))  # (n, H, W, 1)
    noisy = out[listed].astype(np.float32) + grain.astype(np.float32)
    out[listed] = np.clip(np.rint(noisy), 0, 255).astype(np.uint8)
    return out


def gaussian_kernel(sigma: float) -> np.ndarray:
    """Normalised 1-D Gaussian taps, truncated at 3 sigma."""
    half = max(1, math.ceil(3.0 * sigma))
    taps = np.exp(-0.5 * (np.arange(-half, half + 1) / sigma) ** 2)
    return (taps / taps.sum()).astype(np.float32)


def blur(frames: np.ndarray, indices: Iterable[int], sigma: float) -> np.ndarray:
    """Gaussian-blur ``frames[indices]`` (std ``sigma`` pixels, edge padding); returns a copy."""
    out = frames.copy()
    listed = _frame_list(indices, len(frames))
    if not listed or sigma <= 0:
        return out
    kernel = gaussian_kernel(sigma)
    half = len(kernel) // 2
    work = out[listed].astype(np.float32)  # (n, H, W, 3)
    height, width = work.shape[1:3]
    # Separable convolution as a sum of shifted copies: the kernel is short (<= 25 taps),
    # and a fixed summation order (unlike a threaded BLAS product) keeps pixels identical
    # on every machine and worker count.
    padded = np.pad(work, ((0, 0), (half, half), (0, 0), (0, 0)), mode="edge")
    work = sum(w * padded[:, i : i + height] for i, w in enumerate(kernel))
    padded = np.pad(work, ((0, 0), (0, 0), (half, half), (0, 0)), mode="edge")
    work = sum(w * padded[:, :, i : i + width] for i, w in enumerate(kernel))
    out[listed] = np.clip(np.rint(work), 0, 255).astype(np.uint8)
    return out


@dataclass(frozen=True)
class RenderPlan:
    """Everything needed to render one (possibly defective) clip, as plain data.

    ``track_edits`` are applied in order to the clean track of ``scene``; ``frame_edits``
    in order to the rendered frames. Each edit is ``(name, kwargs)`` with ``name`` one
    of ``recolor``, ``reshape``, ``teleport``, ``jitter``, ``freeze`` (track) or
    ``noise``, ``blur`` (frames). ``noise_seed`` seeds the grain generator.
    """

    scene: Scene
    num_frames: int
    size: int
    track_edits: tuple[tuple[str, dict], ...] = ()
    frame_edits: tuple[tuple[str, dict], ...] = ()
    noise_seed: tuple[int, ...] = (0,)


def build_track(plan: RenderPlan) -> Track:
    """The track of ``plan``: the scene's clean track with the track edits applied."""
    track = scene_track(plan.scene, plan.num_frames, plan.size)
    for name, kwargs in plan.track_edits:
        if name == "recolor":
            track = recolor(track, kwargs["frames"], kwargs["color"])
        elif name == "reshape":
            track = reshape(track, kwargs["frames"], kwargs["shape"])
        elif name == "teleport":
            track = teleport(track, kwargs["frames"], tuple(kwargs["target"]))
        elif name == "jitter":
            track = jitter(track, {int(t): tuple(o) for t, o in kwargs["offsets"].items()})
        elif name == "freeze":
            track = freeze(track, kwargs["frames"])
        else:
            raise ValueError(f"unknown track edit {name!r}")
    return track


def render_plan(plan: RenderPlan) -> np.ndarray:
    """Render ``plan``: frames ``(T, size, size, 3)`` uint8, deterministic."""
    frames = render_track(build_track(plan), plan.scene.background, plan.size)
    rng = np.random.default_rng(list(plan.noise_seed))
    for name, kwargs in plan.frame_edits:
        if name == "noise":
            frames = add_noise(frames, kwargs["frames"], float(kwargs["sigma"]), rng)
        elif name == "blur":
            frames = blur(frames, kwargs["frames"], float(kwargs["sigma"]))
        else:
            raise ValueError(f"unknown frame edit {name!r}")
    return frames
