"""Training curves from ``metrics.jsonl`` as a PNG (matplotlib's Agg canvas; no global backend change)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from vrthinker.train.logging import read_metrics

GRPO_CURVES = ("rollout/reward", "eval/reward", "rollout/accuracy/Overall", "eval/accuracy/Overall",
               "rollout/tool_calls_per_episode")


def plot_curves(metrics_path: str | Path, out_png: str | Path, keys: Sequence[str] = GRPO_CURVES) -> Path | None:
    """One panel per key that was logged at least once; returns the PNG path (None if nothing to plot)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = read_metrics(metrics_path)
    series = {k: [(r["step"], r[k]) for r in rows if k in r and r[k] is not None] for k in keys}
    series = {k: v for k, v in series.items() if v}
    if not series:
        return None
    fig = Figure(figsize=(4.2 * len(series), 3.2))
    FigureCanvasAgg(fig)
    for i, (key, points) in enumerate(series.items()):
        ax = fig.add_subplot(1, len(series), i + 1)
        xs, ys = zip(*points)
        ax.plot(xs, ys, marker="o", markersize=3)
        ax.set_title(key, fontsize=9)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=110)
    return out_png
