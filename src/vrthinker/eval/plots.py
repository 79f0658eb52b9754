"""PNG plots of a benchmark run (matplotlib's Agg renderer, no pyplot).

Figures are built with the object API (``matplotlib.figure.Figure``) and drawn
on an explicit ``FigureCanvasAgg``: no display needed, and no global backend
switch (``matplotlib.use``) that would change a notebook user's backend.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from vrthinker.eval.metrics import bucket_label
from vrthinker.eval.predictions import PredictionRecord

logger = logging.getLogger(__name__)

PLOT_FILES = {
    "accuracy_per_dimension": "accuracy_per_dimension.png",
    "accuracy_by_length": "accuracy_by_length.png",
    "tool_calls": "tool_calls_hist.png",
    "frames_viewed": "frames_viewed_hist.png",
}

# (metric key, legend label) of the bars per dimension.
_DIM_BARS = (("accuracy_without_ties", "w/o ties"), ("accuracy_with_ties", "w/ ties (calibrated)"))
_BLUE, _ORANGE = "#3a78d6", "#d6793a"


def _save(fig: Figure, path: Path) -> Path:
    FigureCanvasAgg(fig)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def plot_accuracy_per_dimension(metrics: dict[str, Any], path: Path) -> Path:
    """Grouped bars: accuracy w/o and w/ ties per dimension, 95% bootstrap CIs as error bars."""
    per_dim = metrics["per_dimension"]
    dims = list(per_dim)
    fig = Figure(figsize=(6.4, 3.8))
    ax = fig.subplots()
    width = 0.38
    for k, ((key, label), color) in enumerate(zip(_DIM_BARS, (_BLUE, _ORANGE))):
        for i, dim in enumerate(dims):
            x = i + (k - 0.5) * width
            value = per_dim[dim].get(key)
            if value is None:  # undefined, e.g. w/o ties when every label is a tie
                ax.text(x, 2, "n/a", ha="center", va="bottom", fontsize=8, color="#666")
                continue
            ci = per_dim[dim]["ci95"].get(key)
            yerr = None if ci is None else [[100 * (value - ci[0])], [100 * (ci[1] - value)]]
            ax.bar(x, 100 * value, width, color=color, yerr=yerr, capsize=3, label=label if i == 0 else None)
            top = value if ci is None else max(value, ci[1])  # above the error bar, not on it
            ax.text(x, 100 * top + 1, f"{100 * value:.0f}", ha="center", va="bottom", fontsize=7)
    ax.set_xticks(range(len(dims)), [f"{d}\n(n={per_dim[d]['num_pairs']})" for d in dims])
    _percent_axis(ax)
    ax.set_title("Accuracy per dimension (95% bootstrap CI)")
    ax.axhline(50, color="#999", lw=0.8, ls="--")
    return _save(fig, path)


def _percent_axis(ax: Any) -> None:
    """0-100 % y axis with headroom above 100 for the legend, so it never hides a bar."""
    ax.set_ylim(0, 122)
    ax.set_yticks(range(0, 101, 20))
    ax.set_ylabel("accuracy (%)")
    ax.legend(loc="upper left", ncol=2, fontsize=8, frameon=False)


def bucket_order(buckets: Sequence[str], edges: Sequence[float]) -> list[str]:
    """Bucket names from shortest to longest, then any others (``unknown``) in name order."""
    ordered = [bucket_label(edges[0] - 1, edges)]
    ordered += [bucket_label(lo, edges) for lo in edges]
    known = [b for b in ordered if b in buckets]
    return known + sorted(b for b in buckets if b not in ordered)


def plot_accuracy_by_length(metrics: dict[str, Any], edges: Sequence[float], path: Path) -> Path:
    """Headline accuracy (w/o ties and 3-class) per video-length bucket, with pair counts."""
    by_bucket = metrics.get("by_bucket") or {}
    names = bucket_order(list(by_bucket), edges)
    fig = Figure(figsize=(6.4, 3.6))
    ax = fig.subplots()
    width = 0.38
    for k, (key, label, color) in enumerate(
        (("accuracy_without_ties", "w/o ties", _BLUE), ("accuracy_3class", "3-class", _ORANGE))
    ):
        for i, name in enumerate(names):
            value = by_bucket[name].get(key)
            x = i + (k - 0.5) * width
            if value is None:
                ax.text(x, 2, "n/a", ha="center", va="bottom", fontsize=8, color="#666")
                continue
            ax.bar(x, 100 * value, width, color=color, label=label if i == 0 else None)
            ax.text(x, 100 * value + 1, f"{100 * value:.0f}", ha="center", va="bottom", fontsize=7)
    ax.set_xticks(range(len(names)), [f"{n}\n(n={by_bucket[n]['num_pairs']})" for n in names])
    ax.set_xlim(-0.7, max(len(names), 3) - 0.3)  # a lone bucket stays a bar, not a wall
    ax.set_xlabel("length of the longer video")
    ax.set_title(f"Accuracy by video length ({metrics.get('headline')})")
    if names:
        _percent_axis(ax)
    else:
        ax.text(0.5, 0.5, "no video lengths recorded", ha="center", transform=ax.transAxes)
    return _save(fig, path)


def plot_histogram(values: Sequence[int], title: str, xlabel: str, path: Path) -> Path:
    """Histogram of a per-episode count, one bar per integer value."""
    fig = Figure(figsize=(5.2, 3.2))
    ax = fig.subplots()
    if values:
        lo, hi = min(values), max(values)
        ax.hist(values, bins=[b - 0.5 for b in range(lo, hi + 2)], color=_BLUE, rwidth=0.85)
        top = max(hi, lo + 4)  # show a few empty counts beside a single value
        ax.set_xlim(lo - 0.5, top + 0.5)
        if top - lo <= 20:
            ax.set_xticks(range(lo, top + 1))
    else:
        ax.text(0.5, 0.5, "no episodes", ha="center", transform=ax.transAxes)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("episodes")
    return _save(fig, path)


def write_plots(
    metrics: dict[str, Any], records: Sequence[PredictionRecord], plot_dir: Path, edges: Sequence[float]
) -> dict[str, Path]:
    """All plots of a run into ``plot_dir``; returns name -> path (see ``PLOT_FILES``)."""
    plot_dir.mkdir(parents=True, exist_ok=True)
    out = {
        "accuracy_per_dimension": plot_accuracy_per_dimension(metrics, plot_dir / PLOT_FILES["accuracy_per_dimension"]),
        "accuracy_by_length": plot_accuracy_by_length(metrics, edges, plot_dir / PLOT_FILES["accuracy_by_length"]),
    }
    for key, title in (("tool_calls", "Tool calls per episode"), ("frames_viewed", "Frames viewed per episode")):
        values = [int(r.meta[key]) for r in records if isinstance(r.meta.get(key), int)]
        out[key] = plot_histogram(values, title, key.replace("_", " "), plot_dir / PLOT_FILES[key])
    logger.info("wrote %d plots to %s", len(out), plot_dir)
    return out
