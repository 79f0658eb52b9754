"""The synthetic preference suite: label rules, sampling, determinism, and defects in the MP4s.

The strongest check (``test_defects_are_in_the_decoded_frames_listed_and_nowhere_else``)
decodes the written videos and compares them with two renders from the pair's meta:
the clip with its defects and the clean clip of the same scene. Outside the frames a
defect lists, the two renders are bit-identical; at the listed frames the decoded video
is much closer to the defective render than to the clean one. Per-kind detectors
(grain energy, sharpness, colour, position, streak area, direction) then check that
what survived compression is the defect the description names.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import replace
from pathlib import Path

import av
import numpy as np
import pytest
from pydantic import ValidationError

from vrthinker.data.schema import PreferencePair
from vrthinker.data.synthetic import (
    DEFECT_KINDS,
    KIND_DIMENSION,
    KIND_SCOPES,
    SUITE_NAME,
    Defect,
    SuiteConfig,
    defects_of,
    derive_labels,
    generate_suite,
    initial_view,
    render_plan_of,
    render_video,
    sample_pair,
)
from vrthinker.video.encode import write_video
from vrthinker.video.synthetic import BACKGROUNDS, PALETTE, SHAPES, Scene, render_plan, scene_track

logger = logging.getLogger(__name__)


def decode(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack([frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)])


def load_pairs(path: Path) -> list[PreferencePair]:
    return [PreferencePair.model_validate_json(line) for line in path.read_text().splitlines()]


def d(video: str, kind: str, frames=tuple(range(48)), scope: str = "global") -> Defect:
    return Defect(KIND_DIMENSION[kind], kind, tuple(frames), video, kind, scope)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- label rules (golden cases)


@pytest.mark.parametrize(
    "defects,expected",
    [
        ([], {"TA": "tie", "VQ": "tie", "MQ": "tie", "Overall": "tie"}),
        ([d("a", "color")], {"TA": "B", "VQ": "tie", "MQ": "tie", "Overall": "B"}),
        ([d("b", "noise")], {"TA": "tie", "VQ": "A", "MQ": "tie", "Overall": "A"}),
        # one dimension each way: Overall is a tie
        ([d("a", "shape"), d("b", "blur")], {"TA": "B", "VQ": "A", "MQ": "tie", "Overall": "tie"}),
        # A loses TA and VQ, wins MQ: B wins more dimensions
        ([d("a", "color"), d("a", "noise"), d("b", "jitter")], {"TA": "B", "VQ": "B", "MQ": "A", "Overall": "B"}),
        # both defective in TA (different kinds, different scopes): tie; severity does not count
        ([d("a", "color"), d("b", "direction", [5, 6], "local")], {"TA": "tie", "VQ": "tie", "MQ": "tie", "Overall": "tie"}),
        ([d("a", "color"), d("b", "shape"), d("b", "freeze")], {"TA": "tie", "VQ": "tie", "MQ": "A", "Overall": "A"}),
    ],
)
def test_derive_labels_golden(defects, expected):
    assert derive_labels(defects) == expected


def test_initial_view_frames():
    assert initial_view(48, 4) == (0, 16, 31, 47)
    assert initial_view(32, 4) == (0, 10, 21, 31)
    assert initial_view(48, 1) == (0,)


def test_defect_dict_round_trip():
    defect = Defect("MQ", "teleport", (20, 21, 22), "b", "the object jumps to the top-left corner", "local", {"target": [9.5, 9.5], "displaced": [20, 21]})
    assert Defect.from_dict(json.loads(json.dumps(defect.to_dict()))) == defect
    assert hash(defect) == hash(Defect.from_dict(defect.to_dict()))


# --------------------------------------------------------------------------- sampling (no rendering)


CFG = SuiteConfig()
SAMPLED = [sample_pair(CFG, seed=7, index=i) for i in range(400)]


def test_sampling_is_deterministic_per_seed_and_index():
    assert sample_pair(CFG, 7, 3) == SAMPLED[3]
    assert sample_pair(CFG, 7, 3).model_dump_json() == SAMPLED[3].model_dump_json()
    assert sample_pair(CFG, 8, 3) != SAMPLED[3]


def test_pairs_are_well_formed():
    for pair in SAMPLED:
        meta = pair.meta
        assert pair.source == "synthetic" and pair.pair_id == f"syn-{meta['index']:06d}"
        assert meta["suite"] == SUITE_NAME and meta["seed"] == 7 and meta["num_frames"] == 48 and meta["fps"] == 8.0
        assert pair.prompt == Scene(**meta["scene"]).prompt
        defects = defects_of(pair)
        assert pair.labels == derive_labels(defects)
        for side in "ab":
            dims = [x.dimension for x in defects if x.video == side]
            assert len(dims) == len(set(dims)), "at most one defect per dimension and clip"
            kinds = {x.kind: x.scope for x in defects if x.video == side}
            # the wrong-direction cue (streak side) must not be hidden by a global motion defect
            assert not ("direction" in kinds and (kinds.get("jitter") == "global" or kinds.get("freeze") == "global"))
        json.loads(pair.model_dump_json())  # plain JSON all the way down


def test_local_defects_are_short_contiguous_runs_the_initial_view_misses():
    view = set(initial_view(48, 4))
    for pair in SAMPLED:
        for defect in defects_of(pair):
            assert defect.scope in KIND_SCOPES[defect.kind]
            if defect.scope == "global":
                assert defect.frames == tuple(range(48))
                continue
            assert 2 <= len(defect.frames) <= 5
            assert defect.frames == tuple(range(defect.frames[0], defect.frames[-1] + 1))
            assert not view & set(defect.frames)


def test_hidden_from_initial_view_means_the_initial_view_gives_other_labels():
    view = set(initial_view(48, 4))
    for pair in SAMPLED:
        seen = [x for x in defects_of(pair) if view & set(x.frames)]
        assert pair.meta["initial_view_labels"] == derive_labels(seen)
        assert pair.meta["hidden_from_initial_view"] == (derive_labels(seen) != pair.labels)
    hidden = sum(p.meta["hidden_from_initial_view"] for p in SAMPLED)
    assert 0.3 * len(SAMPLED) < hidden < len(SAMPLED)  # both kinds of pairs exist


def test_label_and_defect_distribution():
    n = len(SAMPLED)
    for dim in ("TA", "VQ", "MQ"):
        labels = [p.labels[dim] for p in SAMPLED]
        assert abs(labels.count("tie") / n - CFG.tie_fraction) < 0.06, dim
        assert abs(labels.count("A") - labels.count("B")) < 0.15 * n, dim
    overall = [p.labels["Overall"] for p in SAMPLED]
    assert all(overall.count(lab) > 0.1 * n for lab in ("A", "B", "tie"))
    defects = [x for p in SAMPLED for x in defects_of(p)]
    assert {x.kind for x in defects} == set(DEFECT_KINDS)
    local = [x.scope == "local" for x in defects if len(KIND_SCOPES[x.kind]) == 2]
    assert abs(np.mean(local) - CFG.local_fraction) < 0.08
    freeze, teleport = sum(x.kind == "freeze" for x in defects), sum(x.kind == "teleport" for x in defects)
    assert freeze < teleport + 0.5 * sum(x.kind == "jitter" for x in defects)  # freeze is drawn at half weight
    # some ties have both clips defective, some both clean
    ties = [(p, dim) for p in SAMPLED for dim in ("TA", "VQ", "MQ") if p.labels[dim] == "tie"]
    both = [any(x.dimension == dim for x in defects_of(p)) for p, dim in ties]
    assert 0 < sum(both) < len(both)


def test_difficulty_makes_defects_subtler_and_shorter():
    def stats(difficulty: float) -> dict[str, float]:
        cfg = SuiteConfig(difficulty=difficulty)
        defects = [x for i in range(200) for x in defects_of(sample_pair(cfg, 1, i))]
        return {
            "noise": np.mean([x.params["sigma"] for x in defects if x.kind == "noise"]),
            "blur": np.mean([x.params["sigma"] for x in defects if x.kind == "blur"]),
            "run": np.mean([len(x.frames) for x in defects if x.scope == "local"]),
        }

    easy, hard = stats(0.0), stats(1.0)
    assert easy["noise"] > 2 * hard["noise"] and easy["blur"] > 1.5 * hard["blur"] and easy["run"] > hard["run"] + 1.5
    assert hard["noise"] >= 16 and hard["blur"] >= 1.25  # still clearly visible (see the render tests)


def test_local_run_frames_overrides_the_difficulty_run_length():
    cfg = SuiteConfig(difficulty=0.0, kinds=("noise",), local_fraction=1.0, num_frames=32, local_run_frames=(2, 3))
    runs = [x for i in range(100) for x in defects_of(sample_pair(cfg, 2, i)) if x.scope == "local"]
    assert runs and {len(x.frames) for x in runs} == {2, 3}
    assert all(x.params["sigma"] >= 40 for x in runs)  # still difficulty 0's strong noise
    view = set(initial_view(32, 4))
    assert not any(view & set(x.frames) for x in runs)
    for bad in ((0, 2), (3, 2)):
        with pytest.raises(ValidationError, match="local_run_frames"):
            SuiteConfig(local_run_frames=bad)


def test_backgrounds_filter():
    cfg = SuiteConfig(backgrounds=("grey",))
    assert {sample_pair(cfg, 0, i).meta["scene"]["background"] for i in range(30)} == {"grey"}
    assert {sample_pair(SuiteConfig(), 0, i).meta["scene"]["background"] for i in range(30)} == {"grey", "black"}
    for bad in ((), ("plaid",)):
        with pytest.raises(ValidationError, match="backgrounds"):
            SuiteConfig(backgrounds=bad)


def test_kinds_filter_leaves_other_dimensions_clean_ties():
    cfg = SuiteConfig(kinds=("noise", "blur"), tie_fraction=0.0)
    for i in range(50):
        pair = sample_pair(cfg, 0, i)
        assert {x.kind for x in defects_of(pair)} <= {"noise", "blur"}
        assert pair.labels["TA"] == pair.labels["MQ"] == "tie"
        assert pair.labels["VQ"] != "tie" and pair.labels["Overall"] == pair.labels["VQ"]


def test_config_validation():
    for bad in ({"size": 63}, {"difficulty": 1.5}, {"kinds": ("sparkles",)}, {"initial_view_frames": 30}, {"unknown": 1}):
        with pytest.raises(ValidationError):
            SuiteConfig(**bad)
    assert SuiteConfig(kinds=("noise", "color", "noise")).kinds == ("color", "noise")


# --------------------------------------------------------------------------- the written suite


@pytest.fixture(scope="module")
def suite(tmp_path_factory) -> Path:
    """50 pairs with 2 worker processes (also the speed smoke test)."""
    out = tmp_path_factory.mktemp("suite")
    started = time.perf_counter()
    path = generate_suite(out, 50, seed=11, workers=2, show_progress=False)
    logger.info("50 synthetic pairs with 2 workers: %.1f s", time.perf_counter() - started)
    return path


def test_suite_files(suite):
    out = suite.parent
    pairs = load_pairs(suite)
    assert len(pairs) == 50 and len({p.pair_id for p in pairs}) == 50
    assert sorted(p.name for p in (out / "videos").iterdir()) == sorted(Path(v).name for p in pairs for v in (p.video_a, p.video_b))
    info = json.loads((out / "suite.json").read_text())
    assert info["suite"] == SUITE_NAME and info["seed"] == 11 and info["num_pairs"] == 50
    assert info["config"]["num_frames"] == 48 and info["config"]["size"] == 64
    summary = info["summary"]
    assert sum(summary["labels"]["Overall"].values()) == 50
    assert summary["hidden_from_initial_view"] == sum(p.meta["hidden_from_initial_view"] for p in pairs)
    frames = decode(out / pairs[0].video_a)
    assert frames.shape == (48, 64, 64, 3)
    with av.open(str(out / pairs[0].video_a)) as container:
        assert container.streams.video[0].average_rate == 8


def test_same_seed_same_bytes_whatever_the_worker_count(suite, tmp_path):
    """Pair i depends only on (seed, i): a 12-pair suite rendered in-process is the 50-pair suite's prefix."""
    small = generate_suite(tmp_path, 12, seed=11, workers=0, show_progress=False)
    big_lines = suite.read_text().splitlines(keepends=True)
    assert small.read_text() == "".join(big_lines[:12])
    for pair in load_pairs(small)[:4]:
        for video in (pair.video_a, pair.video_b):
            assert (tmp_path / video).read_bytes() == (suite.parent / video).read_bytes()
            np.testing.assert_array_equal(decode(tmp_path / video), decode(suite.parent / video))
    again = generate_suite(tmp_path / "again", 12, seed=11, workers=1, show_progress=False)
    assert again.read_bytes() == small.read_bytes()
    assert (tmp_path / "again" / "suite.json").read_bytes() == (tmp_path / "suite.json").read_bytes()
    other = generate_suite(tmp_path / "other", 2, seed=12, workers=0, show_progress=False)
    assert other.read_text().splitlines()[0] != big_lines[0].rstrip("\n")


def _mse(x: np.ndarray, y: np.ndarray) -> float:
    return float(((x.astype(np.float64) - y) ** 2).mean())


def test_defects_are_in_the_decoded_frames_listed_and_nowhere_else(suite, tmp_path):
    out = suite.parent
    for pair in load_pairs(suite)[:25]:  # ~60 defects of mixed kinds; every kind alone is checked below
        for side, video in (("a", pair.video_a), ("b", pair.video_b)):
            defects = [x for x in defects_of(pair) if x.video == side]
            listed = {t for x in defects for t in x.frames}
            raw = render_video(pair.meta, side)
            clean = render_video(pair.meta, side, clean=True)
            write_video(tmp_path / "clean.mp4", clean, fps=8.0)  # same compression, no defect
            decoded, decoded_clean = decode(out / video), decode(tmp_path / "clean.mp4")
            for t in range(48):
                where = f"{pair.pair_id}{side} frame {t} ({[x.kind for x in defects]})"
                if t not in listed:
                    np.testing.assert_array_equal(raw[t], clean[t], err_msg=where)
                    # nothing leaks through inter-frame prediction into unlisted frames
                    assert _mse(decoded[t], decoded_clean[t]) < 3, where
                    continue
                assert _mse(decoded[t], decoded_clean[t]) > 5, where
                if not any(x.kind == "noise" and t in x.frames for x in defects):
                    # (grain is checked by its own detector: the encoder keeps its energy, not its exact pixels)
                    assert _mse(decoded[t], clean[t]) > 1.5 * _mse(decoded[t], raw[t]), where


# --------------------------------------------------------------------------- one kind at a time: semantic detectors


def luma(frame: np.ndarray) -> np.ndarray:
    return frame.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)


def hf_energy(frame: np.ndarray) -> float:
    y = luma(frame)
    return float(np.median(np.abs(4 * y[1:-1, 1:-1] - y[:-2, 1:-1] - y[2:, 1:-1] - y[1:-1, :-2] - y[1:-1, 2:])))


def gradient_energy(frame: np.ndarray) -> float:
    y = luma(frame)
    return float((np.diff(y, axis=0) ** 2).sum() + (np.diff(y, axis=1) ** 2).sum())


def object_pixels(frame: np.ndarray, background: str, threshold: float = 20) -> np.ndarray:
    return np.abs(frame.astype(np.float32) - np.asarray(BACKGROUNDS[background], np.float32)).max(-1) > threshold


def dominant_colour(frame: np.ndarray, background: str) -> str:
    """Majority palette colour among strongly non-background pixels."""
    pixels = frame[object_pixels(frame, background, 60)].astype(np.float32)
    names = list(PALETTE)
    palette = np.asarray([PALETTE[n] for n in names], np.float32)
    nearest = np.abs(pixels[:, None, :] - palette[None]).sum(-1).argmin(1)
    return names[int(np.bincount(nearest, minlength=len(names)).argmax())]


def centroid(frame: np.ndarray, colour: str) -> np.ndarray:
    mask = np.abs(frame.astype(np.float32) - np.asarray(PALETTE[colour], np.float32)).max(-1) < 40
    ys, xs = np.nonzero(mask)
    return np.array([xs.mean() + 0.5, ys.mean() + 0.5])


KIND_SCOPE_CASES = [(kind, scope) for kind in DEFECT_KINDS for scope in KIND_SCOPES[kind]]


@pytest.mark.parametrize("kind,scope", KIND_SCOPE_CASES, ids=[f"{k}-{s}" for k, s in KIND_SCOPE_CASES])
def test_each_kind_is_detectable_after_encoding(tmp_path, kind, scope):
    path = generate_suite(
        tmp_path, 3, seed=5, difficulty=1.0, kinds=[kind], local_fraction=1.0 if scope == "local" else 0.0,
        tie_fraction=0.0, workers=0, show_progress=False,
    )  # fmt: skip
    checked = 0
    for pair in load_pairs(path):
        scene = pair.meta["scene"]
        (defect,) = defects_of(pair)  # tie_fraction 0 and one allowed kind: exactly one defect
        assert (defect.kind, defect.scope) == (kind, scope)
        assert pair.labels[defect.dimension] == ("B" if defect.video == "a" else "A") == pair.labels["Overall"]
        video = pair.video_a if defect.video == "a" else pair.video_b
        decoded = decode(tmp_path / video)
        listed = set(defect.frames)
        others = [t for t in range(48) if t not in listed]
        if scope == "local":
            assert not set(initial_view(48, 4)) & listed and pair.meta["hidden_from_initial_view"]
        if kind == "noise":
            assert min(hf_energy(decoded[t]) for t in listed) > 30
            assert max((hf_energy(decoded[t]) for t in others), default=0.0) < 3
        elif kind == "blur":
            write_video(tmp_path / "clean.mp4", render_video(pair.meta, defect.video, clean=True), fps=8.0)
            reference = decode(tmp_path / "clean.mp4")  # same compression, no blur
            ratio = [gradient_energy(decoded[t]) / gradient_energy(reference[t]) for t in range(48)]
            assert max(ratio[t] for t in listed) < 0.72
            assert min((ratio[t] for t in others), default=1.0) > 0.78
        elif kind == "color":
            for t in range(48):
                want = defect.params["color"] if t in listed else scene["color"]
                assert dominant_colour(decoded[t], scene["background"]) == want, t
            assert defect.params["color"] in defect.description
            assert scope == "local" or scene["color"] in defect.description
        elif kind == "shape":
            # template match: render the frame with every candidate shape, the closest must be the named one
            plan = render_plan_of(pair.meta, defect.video, clean=True)
            for t in sorted(listed)[:3] + others[:2]:
                error = {}
                for shape in SHAPES:
                    edited = replace(plan, track_edits=(("reshape", {"frames": [t], "shape": shape}),))
                    error[shape] = _mse(decoded[t], render_plan(edited)[t])
                assert min(error, key=error.get) == (defect.params["shape"] if t in listed else scene["shape"]), (t, error)
            assert defect.params["shape"] in defect.description
        elif kind == "direction":
            c0, c1 = centroid(decoded[0], scene["color"]), centroid(decoded[47], scene["color"])
            unit = {"right": (1, 0), "left": (-1, 0), "down": (0, 1), "up": (0, -1)}[scene["direction"]]
            assert float(np.dot(c1 - c0, unit)) < -5  # it moves against the prompt
        elif kind == "teleport":
            track = scene_track(Scene(**scene), 48, 64)
            target = np.asarray(defect.params["target"])
            colour = np.asarray(PALETTE[scene["color"]], np.float32)
            for i, t in enumerate(defect.params["displaced"]):
                at_target = decoded[t, int(target[1]), int(target[0])].astype(np.float32)
                assert np.abs(at_target - colour).max() < 40, t  # the object is at the target...
                if i > 0:  # ...and, once at rest there (no streak), centred on it
                    assert np.linalg.norm(centroid(decoded[t], scene["color"]) - target) < 1.5
                assert np.linalg.norm(target - track.centers[t]) > 0.2 * 64 * 0.9 * 0.7  # far from its path
            assert defect.params["displaced"] == list(defect.frames[:-1])  # last listed frame: the snap back
        elif kind == "freeze":
            clean = render_video(pair.meta, defect.video, clean=True)
            for t in defect.params["frozen"]:
                area = object_pixels(decoded[t], scene["background"]).sum()
                assert area < 0.9 * object_pixels(clean[t], scene["background"]).sum()  # no streak
        elif kind == "jitter":
            offsets = {t: np.hypot(dx, dy) for t, dx, dy in defect.params["offsets"]}
            assert min(offsets.values()) > 0.6 * (0.05 if scope == "global" else 0.08) * 64
        checked += 1
    assert checked == 3


def test_generate_suite_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValidationError):
        generate_suite(tmp_path, 2, seed=0, size=63, workers=0, show_progress=False)
    with pytest.raises(ValueError):
        generate_suite(tmp_path, -1, seed=0, workers=0, show_progress=False)
    assert not (tmp_path / "pairs.jsonl").exists()
