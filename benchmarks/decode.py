"""Frame conversion speed: PyAV's per-frame ``to_ndarray(format="rgb24")`` vs vrthinker's ``frame_to_rgb``.

Baseline: ``frame.to_ndarray(format="rgb24")``, which builds a new swscale context for every
frame. ``frame_to_rgb`` keeps one ``VideoReformatter`` per thread. Both decode the same
files in the same process, taking turns (baseline first), so a busy machine slows both alike;
the numbers are milliseconds per frame including decoding.

    .venv/bin/python benchmarks/decode.py --out benchmarks/results/decode.json
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import av

from vrthinker.video.decode import frame_to_rgb

from _results import write_results  # benchmarks/_results.py (the script's folder is on sys.path)

SHARED = Path(__file__).resolve().parents[2] / "shared" / "benchmarks" / "videoalign-example" / "videos"


def ms_per_frame(paths: list[Path], convert) -> float:
    start, frames = time.perf_counter(), 0
    for path in paths:
        with av.open(str(path)) as container:
            for frame in container.decode(video=0):
                convert(frame)
                frames += 1
    return 1000 * (time.perf_counter() - start) / frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=16, help="Synthetic pairs to render (64x64, 32 frames per clip).")
    parser.add_argument("--repeats", type=int, default=5, help="Turns per method; the median is reported.")
    parser.add_argument("--out", type=Path, default=None, help="Write the JSON results here.")
    args = parser.parse_args()

    from vrthinker.data.synthetic import generate_suite

    workloads: dict[str, list[Path]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        generate_suite(tmp, num_pairs=args.pairs, seed=0, num_frames=32, show_progress=False)
        workloads["synthetic 64x64"] = sorted(Path(tmp, "videos").glob("*.mp4"))
        if SHARED.is_dir():
            workloads["VideoAlign examples (real)"] = sorted(SHARED.glob("*.mp4"))
        results = {}
        for name, paths in workloads.items():
            base, ours = [], []
            for _ in range(args.repeats):
                base.append(ms_per_frame(paths, lambda f: f.to_ndarray(format="rgb24")))
                ours.append(ms_per_frame(paths, frame_to_rgb))
            results[name] = {
                "files": len(paths),
                "baseline_to_ndarray_ms_per_frame": statistics.median(base),
                "frame_to_rgb_ms_per_frame": statistics.median(ours),
                "speedup": statistics.median(base) / statistics.median(ours),
            }
    print(f"{'workload':<30} {'files':>5} {'to_ndarray ms/frame':>20} {'frame_to_rgb ms/frame':>22} {'speedup':>8}")
    for name, r in results.items():
        print(f"{name:<30} {r['files']:>5} {r['baseline_to_ndarray_ms_per_frame']:>20.3f} "
              f"{r['frame_to_rgb_ms_per_frame']:>22.3f} {r['speedup']:>7.1f}x")
    if args.out:
        write_results(args.out, {
            "results": results,
            "settings": vars(args) | {"out": str(args.out)},
            "versions": {"av": av.__version__},
        })  # fmt: skip


if __name__ == "__main__":
    main()
