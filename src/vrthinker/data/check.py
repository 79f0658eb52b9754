"""Check a preference-pair file: counts, label distributions, bad rows, and (optionally)
that every video decodes. Backs ``vrthinker data check``.

The summary is a plain JSON-ready dict so the CLI can print it as JSON or as tables, and
tests can assert on it.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from vrthinker.data.loaders import SKIP_HINT, BadRow, DataError, Format, OnBadRow, format_bad_row, is_remote, load_pairs
from vrthinker.data.schema import DIMENSIONS, LABELS, PreferencePair

logger = logging.getLogger(__name__)


def check_file(
    path: str | Path,
    format: Format,
    root: str | Path | None = None,
    decode: bool = False,
    on_bad_row: OnBadRow = "skip",
    check_files: bool = True,
    show_progress: bool = True,
) -> dict[str, Any]:
    """Load ``path`` and summarise it.

    Args:
        path, format, root, on_bad_row, check_files: as for
            :func:`vrthinker.data.loaders.load_pairs`.
        decode: also open every distinct local video once with
            :func:`vrthinker.video.probe_video`. A video that fails makes every pair
            using it a bad row (field ``video_a`` / ``video_b``).
        show_progress: show a progress bar on stderr while probing videos.

    Returns:
        ``{"file", "format", "root", "rows", "pairs", "bad_rows": [{row, field, reason}],
        "bad_rows_by_field": {field: n}, "labels": {dim: {"A", "B", "tie",
        "missing"}}, "unique_prompts", "unique_videos"}``, ``"source_labels"`` when the
        source has a richer label scheme (GenAI-Bench ``vote_type`` counts, MJ-Bench-Video
        per-aspect ``{A, B, tie, missing}``), plus with ``decode`` ``"videos": [{path, fps, num_frames,
        width, height, duration_s, codec} | {path, error}]`` in first-use order and
        ``"meta_mismatches"``: fps / frame counts stated in the file (VideoGen CSV) that
        disagree with the decoded video. ``pairs`` counts the good pairs after decoding.

    Raises:
        DataError: the file cannot be read, or ``on_bad_row="fail"`` and a row is bad
            (including a video that does not decode).
    """
    file = Path(path)
    result = load_pairs(file, format, root=root, on_bad_row=on_bad_row, check_files=check_files)
    pairs, rows, bad_rows = list(result.pairs), list(result.rows), list(result.bad_rows)

    summary: dict[str, Any] = {
        "file": str(file),
        "format": format,
        "root": str(Path(root) if root is not None else file.parent),
    }
    videos: list[dict[str, Any]] | None = None
    mismatches: list[dict[str, Any]] = []
    if decode:
        infos = _probe_all(pairs, show_progress=show_progress)
        videos = list(infos.values())
        kept_pairs: list[PreferencePair] = []
        kept_rows: list[int] = []
        for pair, row in zip(pairs, rows):
            bad = _decode_bad_row(file, row, pair, infos)
            if bad is not None:
                if on_bad_row == "fail":
                    raise DataError(f"{format_bad_row(bad)}; fix the video, or {SKIP_HINT}", file=file, row=row, field=bad.field)
                bad_rows.append(bad)
                continue
            kept_pairs.append(pair)
            kept_rows.append(row)
            mismatches.extend(_meta_mismatches(row, pair, infos))
        pairs, rows = kept_pairs, kept_rows
        bad_rows.sort(key=lambda b: b.row)

    summary["rows"] = len(pairs) + len(bad_rows)
    summary["pairs"] = len(pairs)
    summary["bad_rows"] = [{"row": b.row, "field": b.field, "reason": b.reason} for b in bad_rows]
    summary["labels"] = label_counts(pairs)
    summary["unique_prompts"] = len({p.prompt for p in pairs})
    summary["unique_videos"] = len({v for p in pairs for v in (p.video_a, p.video_b)})
    summary["bad_rows_by_field"] = dict(Counter(b.field for b in bad_rows).most_common())
    source_labels = _source_label_counts(pairs)
    if source_labels:
        summary["source_labels"] = source_labels
    if videos is not None:
        summary["videos"] = videos
        summary["meta_mismatches"] = mismatches
    return summary


def label_counts(pairs: list[PreferencePair]) -> dict[str, dict[str, int]]:
    """``{dim: {"A": n, "B": n, "tie": n, "missing": n}}`` over ``pairs``."""
    counts: dict[str, dict[str, int]] = {}
    for dim in DIMENSIONS:
        counter = Counter(p.labels.get(dim, "missing") for p in pairs)
        counts[dim] = {label: counter.get(label, 0) for label in (*LABELS, "missing")}
    return counts


def _source_label_counts(pairs: list[PreferencePair]) -> dict[str, dict[str, int]]:
    """Label schemes richer than our four dimensions, counted from ``meta``.

    GenAI-Bench's 4-way ``vote_type`` (both ties are one label for us) and
    MJ-Bench-Video's per-aspect preferences (not mapped to TA / VQ / MQ).
    """
    out: dict[str, dict[str, int]] = {}
    votes = Counter(p.meta["vote_type"] for p in pairs if "vote_type" in p.meta)
    if votes:
        out["vote_type"] = dict(sorted(votes.items()))
    aspects: dict[str, Counter[str]] = {}
    for pair in pairs:
        for aspect, label in (pair.meta.get("category_labels") or {}).items():
            aspects.setdefault(aspect, Counter())[label or "missing"] += 1
    for aspect, counter in aspects.items():
        out[aspect] = {label: counter.get(label, 0) for label in (*LABELS, "missing")}
    return out


def _probe_all(pairs: list[PreferencePair], show_progress: bool) -> dict[str, dict[str, Any]]:
    """Probe each distinct video once; ``{path: info dict or {path, error}}``."""
    from vrthinker.video import VideoError, probe_video  # only --decode needs PyAV

    paths = list(dict.fromkeys(v for p in pairs for v in (p.video_a, p.video_b)))
    infos: dict[str, dict[str, Any]] = {}
    with _progress(len(paths), show_progress) as advance:
        for path in paths:
            if is_remote(path):
                # Decoding a URL would download it; report, but do not count it as bad.
                infos[path] = {"path": path, "error": "remote URL, not decoded", "skipped": True}
            else:
                try:
                    info = probe_video(path)
                except VideoError as err:
                    infos[path] = {"path": path, "error": err.reason}
                else:
                    infos[path] = {
                        "path": path,
                        "fps": info.fps,
                        "num_frames": info.num_frames,
                        "width": info.width,
                        "height": info.height,
                        "duration_s": info.duration_s,
                        "codec": info.codec,
                    }
            advance()
    failed = sum(1 for v in infos.values() if "error" in v and not v.get("skipped"))
    logger.info("probed %d videos, %d failed", len(infos), failed)
    return infos


def _decode_bad_row(file: Path, row: int, pair: PreferencePair, infos: dict[str, dict[str, Any]]) -> BadRow | None:
    for field, path in (("video_a", pair.video_a), ("video_b", pair.video_b)):
        info = infos[path]
        if "error" in info and not info.get("skipped"):
            return BadRow(file=str(file), row=row, field=field, reason=f"video does not decode: {path}: {info['error']}")
    return None


def _meta_mismatches(row: int, pair: PreferencePair, infos: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Where the file states fps / frame counts (VideoGen CSV), compare with the decoded video."""
    out: list[dict[str, Any]] = []
    for side, path in (("A", pair.video_a), ("B", pair.video_b)):
        info = infos[path]
        if "error" in info:
            continue
        for key, measured in (("fps", info["fps"]), ("num_frames", info["num_frames"])):
            stated = pair.meta.get(f"{key}_{side}")
            if stated is None or measured is None:
                continue
            # fps is a rational (30000/1001) written with few decimals: allow rounding.
            if abs(float(stated) - float(measured)) > (0.01 if key == "fps" else 0):
                out.append({"row": row, "video": path, "field": f"{key}_{side}", "stated": stated, "measured": measured})
    return out


@contextmanager
def _progress(total: int, enabled: bool) -> Iterator[Callable[[], None]]:
    """A rich progress bar on stderr, yielding ``advance()``; a no-op when disabled."""
    if not enabled or total < 2:
        yield lambda: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    # stderr, so that `--json` keeps stdout a single JSON object.
    with Progress(
        TextColumn("probing videos"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task("probe", total=total)
        yield lambda: bar.advance(task)
