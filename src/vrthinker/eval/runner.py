"""Run a judge over a benchmark, resumably.

``run_benchmark`` judges pairs in chunks (one batched ``Judge.judge_pairs`` call
per chunk) and, after each chunk, appends one line per pair to
``OUT/predictions.jsonl`` (our predictions format: labels, judgment, and the
episode's facts in ``meta``). The line is the commit record of a pair: its trace
(``traces/<name>.json`` and ``.html``) is written *before* it, each line is
flushed and fsynced, so a crash at any point leaves at most one torn last line.

On restart the file is read back, the pairs already in it are skipped, and a
torn last line (the crash hit mid-write) is cut off with a warning, so that
pair is judged again: no pair is ever lost or written twice.

Pairs whose videos cannot be decoded (``VideoError``) and the loader's bad rows
are listed in ``OUT/bad_rows.jsonl``, rewritten whole (atomically) whenever it
changes so it always describes the current state: a pair that failed to decode
is retried on the next run and leaves the list once it succeeds.

``run.json`` holds the settings of the run (``check_run_settings``): rerunning
with other settings into the same directory is refused rather than silently
mixing predictions of two judges.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import math
import os
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from vrthinker.data.loaders import LoadResult
from vrthinker.data.schema import PreferencePair
from vrthinker.episode import Trajectory
from vrthinker.episode.trace_html import render_trace_html
from vrthinker.eval.metrics import Prediction, bucket_label
from vrthinker.eval.predictions import PredictionRecord, load_predictions, prediction_to_json
from vrthinker.files import write_text_atomic
from vrthinker.policy.judge import Judge
from vrthinker.video import VideoError

logger = logging.getLogger(__name__)

PREDICTIONS_FILE = "predictions.jsonl"
BAD_ROWS_FILE = "bad_rows.jsonl"
SETTINGS_FILE = "run.json"
TRACES_DIR = "traces"
# Video length buckets (seconds of the longer video of a pair); docs/metrics.md §8.
DEFAULT_LENGTH_EDGES: tuple[float, ...] = (4.0, 8.0, 16.0)

# Summary fields of a trajectory copied into each prediction's meta.
_SUMMARY_KEYS = (
    "end_reason", "turns", "tool_calls", "invalid_calls", "invalid_kinds", "frames_viewed",
    "visual_tokens_per_turn", "generated_tokens", "answer_complete", "format_ok",
)


class RunError(RuntimeError):
    """The output directory cannot be used for this run (locked, or other settings)."""


def safe_name(pair_id: str) -> str:
    """A file-name-safe, collision-free name for a pair id (``example:1`` -> ``example_1-3f2a9c1b``).

    Ids that are already safe are kept as they are; any other id gets a hash of
    the original appended, so two ids that differ only in unsafe characters
    never share a trace file.
    """
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", pair_id).strip("._")[:80]
    if cleaned == pair_id and cleaned:
        return cleaned
    digest = hashlib.sha1(pair_id.encode("utf-8")).hexdigest()[:8]
    return f"{cleaned}-{digest}" if cleaned else digest


def check_run_settings(out_dir: Path, settings: dict[str, Any]) -> None:
    """Record ``settings`` in ``OUT/run.json``, or check they equal those recorded.

    Raises :class:`RunError` naming every key that differs: resuming with another
    model or other episode settings would mix two judges in one predictions file.
    A directory without predictions yet (e.g. a first attempt that named a missing
    model) takes the new settings.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / SETTINGS_FILE
    current = json.loads(json.dumps(settings))  # normalise tuples, paths...
    predictions = out_dir / PREDICTIONS_FILE
    if path.is_file() and predictions.is_file() and predictions.stat().st_size > 0:
        previous = _flatten(json.loads(path.read_text(encoding="utf-8")))
        now = _flatten(current)
        changed = sorted(k for k in set(previous) | set(now) if previous.get(k) != now.get(k))
        if changed:
            details = "; ".join(f"{k}: was {previous.get(k)!r}, now {now.get(k)!r}" for k in changed)
            raise RunError(
                f"{out_dir} holds a run with other settings ({details}). "
                "Use another --out directory, or delete it to start over."
            )
        return
    write_text_atomic(path, json.dumps(current, indent=2, ensure_ascii=False) + "\n")


def _flatten(settings: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"episode": {"memory_window": 1}}`` -> ``{"episode.memory_window": 1}``."""
    flat: dict[str, Any] = {}
    for key, value in settings.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def read_done(out_dir: Path) -> dict[str, PredictionRecord]:
    """The predictions already in ``OUT/predictions.jsonl``, by pair id.

    A torn last line is cut off the file (with a warning) so the next append
    starts on a fresh line; a complete last line missing only its newline gets
    one. Any other malformed line raises ``PredictionFileError`` (that is not a
    crash artefact, and guessing would risk losing pairs).
    """
    path = out_dir / PREDICTIONS_FILE
    if not path.is_file():
        return {}
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        cut = data.rfind(b"\n") + 1
        tail = data[cut:]
        try:
            json.loads(tail)
        except ValueError:
            logger.warning(
                "%s: the last line is incomplete (%d bytes; the previous run stopped while writing it): "
                "dropping it, that pair will be judged again",
                path, len(tail),
            )
            with path.open("r+b") as handle:
                handle.truncate(cut)
                handle.flush()
                os.fsync(handle.fileno())
        else:
            with path.open("ab") as handle:
                handle.write(b"\n")
                handle.flush()
                os.fsync(handle.fileno())
    if not path.read_bytes().strip():
        return {}
    return {record.prediction.pair_id: record for record in load_predictions(path, "vrthinker")}


def prediction_line(
    pair: PreferencePair, trajectory: Trajectory, length_edges: Sequence[float] = DEFAULT_LENGTH_EDGES
) -> tuple[PredictionRecord, dict[str, Any]]:
    """The record of a judged pair and its JSON line (our predictions format)."""
    summary = trajectory.summary()
    meta: dict[str, Any] = {key: summary[key] for key in _SUMMARY_KEYS}
    meta["visual_tokens"] = sum(summary["visual_tokens_per_turn"])  # over every turn: the cost of a judgment
    meta.update(_video_facts(trajectory.workspace, length_edges))
    if "vote_type" in pair.meta:  # GenAI-Bench's 4-way label: turns on the 4-way metrics
        meta["vote_type"] = pair.meta["vote_type"]
    meta["trace"] = f"{TRACES_DIR}/{safe_name(pair.pair_id)}.json"
    prediction = Prediction(pair_id=pair.pair_id, choice=trajectory.judgment)
    record = PredictionRecord(dict(pair.labels), prediction, meta)
    return record, prediction_to_json(record.labels, prediction, meta)


def _video_facts(workspace: Any, length_edges: Sequence[float]) -> dict[str, Any]:
    """Frame counts and durations of both videos, the pair's length and its bucket."""
    facts: dict[str, Any] = {}
    durations = []
    for side, video in zip("ab", getattr(workspace, "videos", ())):
        info = video.info
        facts[f"num_frames_{side}"] = info.num_frames
        duration = info.duration_s if math.isfinite(info.duration_s) and info.duration_s > 0 else None
        facts[f"duration_{side}_s"] = None if duration is None else round(duration, 3)
        durations.append(duration)
    if durations and all(d is not None for d in durations):
        # The longer video sets how much there is to search through.
        facts["duration_s"] = round(max(durations), 3)  # type: ignore[type-var]
        facts["length_bucket"] = bucket_label(facts["duration_s"], length_edges)
    return facts


class _BadRows:
    """``OUT/bad_rows.jsonl``: the loader's bad rows and the pairs that failed to decode."""

    def __init__(self, out_dir: Path, loader_rows: list[dict[str, Any]] | None) -> None:
        self.path = out_dir / BAD_ROWS_FILE
        previous = []
        if self.path.is_file():
            previous = [json.loads(line) for line in self.path.read_text(encoding="utf-8").splitlines() if line.strip()]
        # The loader re-reads the whole file every run: its rows replace the old ones.
        self.load = loader_rows if loader_rows is not None else [r for r in previous if r.get("stage") == "load"]
        self.decode = {r["pair_id"]: r for r in previous if r.get("stage") == "decode"}
        self.dirty = loader_rows is not None

    def add(self, pair: PreferencePair, err: VideoError) -> None:
        self.decode[pair.pair_id] = {
            "stage": "decode", "pair_id": pair.pair_id, "video": err.path, "reason": err.reason,
            "video_a": pair.video_a, "video_b": pair.video_b,
        }
        self.dirty = True

    def discard(self, pair_id: str) -> None:
        if self.decode.pop(pair_id, None) is not None:
            self.dirty = True

    def write(self) -> None:
        if not self.dirty:
            return
        rows = [*self.load, *self.decode.values()]
        write_text_atomic(self.path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
        self.dirty = False


def run_benchmark(
    pairs: Sequence[PreferencePair] | LoadResult,
    judge: Judge | Callable[[], Judge],
    out_dir: Path,
    *,
    batch_pairs: int = 8,
    limit: int | None = None,
    show_progress: bool = True,
    on_bad_row: Literal["skip", "fail"] = "skip",
    trace_pages: bool = True,
    length_edges: Sequence[float] = DEFAULT_LENGTH_EDGES,
) -> list[PredictionRecord]:
    """Judge ``pairs[:limit]`` into ``out_dir``, skipping those already done; see the module docstring.

    Args:
        pairs: the pairs, or a ``LoadResult`` (its bad rows go to ``bad_rows.jsonl``).
        judge: a ``Judge``, or a function building one, called only if a pair is left
            to judge (so a finished run is re-reported without loading a model).
        batch_pairs: pairs per batched ``judge_pairs`` call, and per group of appends.
        on_bad_row: ``"fail"`` re-raises a ``VideoError`` (after recording it).
        trace_pages: also write ``traces/<name>.html`` (frames embedded; ~0.1-1 MB each).

    Returns:
        The records of the selected pairs that are done (this run or earlier), in input order.

    Raises:
        RunError: another process is writing to ``out_dir``.
        PredictionFileError: ``predictions.jsonl`` is damaged other than in its last line.
    """
    if batch_pairs < 1:
        raise ValueError(f"batch_pairs = {batch_pairs}: must be >= 1")
    loader_rows = None
    if isinstance(pairs, LoadResult):
        loader_rows = [{"stage": "load", **bad.to_dict()} for bad in pairs.bad_rows]
        pairs = pairs.pairs
    selection = list(pairs if limit is None else pairs[:limit])
    ids = [p.pair_id for p in selection]
    if len(set(ids)) != len(ids):
        raise ValueError("pair ids must be unique: the predictions file is keyed by them")
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / TRACES_DIR).mkdir(exist_ok=True)
    with _locked(out_dir):
        done = read_done(out_dir)
        extra = len(set(done) - set(ids))
        if extra:
            logger.info("%s: %d earlier predictions are not among the selected pairs; kept, not reported", out_dir, extra)
        pending = [p for p in selection if p.pair_id not in done]
        bad = _BadRows(out_dir, loader_rows)
        logger.info("%d of %d pairs already judged in %s; %d to go", len(selection) - len(pending), len(selection), out_dir, len(pending))
        if pending:
            active = judge if isinstance(judge, Judge) else judge()
            with _progress(show_progress, total=len(selection), completed=len(selection) - len(pending)) as advance:
                with (out_dir / PREDICTIONS_FILE).open("a", encoding="utf-8") as sink:
                    for start in range(0, len(pending), batch_pairs):
                        chunk = pending[start : start + batch_pairs]
                        _judge_chunk(chunk, active, out_dir, sink, done, bad, on_bad_row, trace_pages, length_edges)
                        bad.write()
                        advance(len(chunk))
        bad.write()
    return [done[i] for i in ids if i in done]


def _judge_chunk(
    chunk: list[PreferencePair],
    judge: Judge,
    out_dir: Path,
    sink: Any,
    done: dict[str, PredictionRecord],
    bad: _BadRows,
    on_bad_row: str,
    trace_pages: bool,
    length_edges: Sequence[float],
) -> None:
    good = []
    for pair in chunk:
        # Decode up front, pair by pair: one bad video must not sink the whole batch.
        # judge_pairs then finds the frames in the judge's cache.
        try:
            judge.workspace(pair.prompt, pair.video_a, pair.video_b)
        except VideoError as err:
            logger.warning("pair %s skipped: %s", pair.pair_id, err)
            bad.add(pair, err)
            if on_bad_row == "fail":
                bad.write()
                raise
            continue
        good.append(pair)
    if not good:
        return
    trajectories = judge.judge_pairs(good)
    for pair, trajectory in zip(good, trajectories, strict=True):
        record, line = prediction_line(pair, trajectory, length_edges)
        name = safe_name(pair.pair_id)
        # Traces first: the predictions line commits the pair, so it must come last.
        trace = trajectory.to_json()
        trace["pair_id"] = pair.pair_id
        write_text_atomic(out_dir / TRACES_DIR / f"{name}.json", json.dumps(trace, ensure_ascii=False) + "\n")
        if trace_pages:
            page = render_trace_html(trajectory, title=f"Pair {pair.pair_id}", videos=(pair.video_a, pair.video_b))
            write_text_atomic(out_dir / TRACES_DIR / f"{name}.html", page)
        sink.write(json.dumps(line, ensure_ascii=False) + "\n")
        sink.flush()
        os.fsync(sink.fileno())
        done[pair.pair_id] = record
        bad.discard(pair.pair_id)


@contextmanager
def _locked(out_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``out_dir`` (two writers would duplicate pairs)."""
    with (out_dir / ".lock").open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunError(f"{out_dir} is in use by another run (lock file {out_dir / '.lock'})") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def _progress(show: bool, total: int, completed: int) -> Iterator[Callable[[int], None]]:
    """A rich progress bar on stderr (stdout may carry ``--json``), or a no-op."""
    if not show:
        yield lambda n: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    columns = (TextColumn("judging"), BarColumn(), MofNCompleteColumn(), TextColumn("pairs"),
               TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True)) as progress:
        task = progress.add_task("judging", total=total, completed=completed)
        yield lambda n: progress.advance(task, n)
