"""Visual tokens in context per turn: memory window p vs keeping every frame.

Baseline: ``unlimited`` (no window; what a framework that keeps all returned
images does, e.g. TRL's tool loop). Episodes are scripted (each turn selects
``--per-call`` new frames) so the numbers depend only on the window, the frame
size and the Qwen2.5-VL token rule, not on a model's choices.

    .venv/bin/python benchmarks/context_tokens.py --out benchmarks/results/context_tokens.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from types import SimpleNamespace

from PIL import Image

from vrthinker.episode import EpisodeConfig, EpisodeJob, SelectFrames, VideoPreferenceTask, run_episodes
from vrthinker.episode.workspace import VideoPairWorkspace
from vrthinker.policy.scripted import ReplayPolicy
from vrthinker.video import smart_resize


def workspace(frames_per_video: int, side: int, max_pixels: int) -> VideoPairWorkspace:
    h, w = smart_resize(side, side, max_pixels=max_pixels)
    videos = [
        SimpleNamespace(frames=tuple(Image.new("RGB", (w, h)) for _ in range(frames_per_video)),
                        frame_indices=tuple(range(frames_per_video)))
        for _ in range(2)
    ]
    return VideoPairWorkspace(prompt="benchmark", videos=tuple(videos))


def measure(window, calls: int, per_call: int, frames_per_video: int, side: int, max_pixels: int) -> list[int]:
    def call(i: int) -> str:
        frames = [(i * per_call + k) % (2 * frames_per_video) + 1 for k in range(per_call)]
        body = json.dumps({"name": "select_frames", "arguments": {"target_frames": frames}})
        return f"<think>t</think><recommend answer>1</recommend answer><tool_call>{body}</tool_call>"

    script = [call(i) for i in range(calls)] + ["<think>t</think><answer>\nTA: 1\nVQ: 1\nMQ: 1\nOverall: 1\n</answer>"]
    cfg = EpisodeConfig(memory_window=window, max_tool_calls=calls, max_images=10_000,
                        frames_per_video=frames_per_video, max_frames_per_call=per_call, max_episode_tokens=10**9)
    [t] = run_episodes([EpisodeJob("b", workspace(frames_per_video, side, max_pixels))], ReplayPolicy(script),
                       VideoPreferenceTask(), [SelectFrames(max_frames_per_call=per_call)], cfg)
    return t.visual_tokens_per_turn


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=8)
    ap.add_argument("--per-call", type=int, default=8)
    ap.add_argument("--frames-per-video", type=int, default=48)
    ap.add_argument("--side", type=int, default=448, help="frame side before smart-resize")
    ap.add_argument("--max-pixels", type=int, default=28 * 28 * 256)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/context_tokens.json"))
    args = ap.parse_args()
    windows = [0, 1, 2, "unlimited"]
    rows = {str(w): measure(w, args.calls, args.per_call, args.frames_per_video, args.side, args.max_pixels)
            for w in windows}
    baseline_peak = max(rows["unlimited"])
    result = {
        "settings": vars(args) | {"out": str(args.out)},
        "baseline": "unlimited (keep every returned frame)",
        "visual_tokens_per_turn": rows,
        "peak": {w: max(v) for w, v in rows.items()},
        "peak_vs_baseline": {w: round(max(v) / baseline_peak, 3) for w, v in rows.items()},
    }
    print(f"{'window':>10} | peak visual tokens | vs unlimited | per turn")
    for w, v in rows.items():
        print(f"{w:>10} | {max(v):>18} | {max(v) / baseline_peak:>12.2f} | {v}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
