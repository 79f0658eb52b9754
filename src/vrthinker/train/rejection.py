"""Stage II: rejection sampling. Sample K traces per pair, keep the fully correct ones.

A trace is accepted when its format is valid (every turn thinks, no invalid call, a
complete answer) and **every labelled dimension and Overall** is judged correctly —
the filter VR-Thinker describes but whose code is not in its repository. An optional
process ``check`` (a predicate on the whole trace) can further require that the reasoning
itself is right, not only the answer: a tiny judge reaches many right answers through a wrong
intermediate step, and training on those traces teaches the wrong step (docs/demo.md).

The run is append-only and resumable. Two files:

- ``out`` (trace JSONL): the accepted traces, the input of ``vrthinker train rft``;
- ``out.progress.jsonl``: one line per *finished* pair (samples drawn, accepted,
  correct per dimension), written after that pair's traces.

On restart, trace lines of pairs without a progress line (a crash between the two
writes) are removed, then the remaining pairs are sampled: nothing is lost and
nothing is duplicated.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import torch

from vrthinker.data.schema import DIMENSIONS, PreferencePair
from vrthinker.episode.traces import append_traces, iter_trace_records, write_trace_records
from vrthinker.episode.trajectory import Trajectory
from vrthinker.policy.judge import Judge

logger = logging.getLogger(__name__)


def is_fully_correct(t: Trajectory) -> bool:
    """Valid format and every labelled dimension (and Overall) right."""
    labels = t.labels or {}
    return t.format_ok and bool(labels) and all(t.judgment.get(d) == v for d, v in labels.items())


@dataclass
class SamplingStats:
    pairs: int = 0
    samples: int = 0
    accepted: int = 0
    answers_right: int = 0  # fully correct answers, before the process check
    correct: dict[str, int] | None = None  # per dimension, over samples whose pair has that label
    labelled: dict[str, int] | None = None
    format_ok: int = 0

    def add(self, trajectories: Sequence[Trajectory], accepted: Sequence[Trajectory]) -> None:
        """Count ``trajectories``; ``accepted`` are the ones kept (fully correct and past the check)."""
        self.correct = self.correct or {d: 0 for d in DIMENSIONS}
        self.labelled = self.labelled or {d: 0 for d in DIMENSIONS}
        kept = {id(t) for t in accepted}
        for t in trajectories:
            self.samples += 1
            self.answers_right += is_fully_correct(t)
            self.accepted += id(t) in kept
            self.format_ok += t.format_ok
            for d, v in (t.labels or {}).items():
                self.labelled[d] += 1
                self.correct[d] += t.judgment.get(d) == v

    def merge(self, record: dict) -> None:
        """Add one finished pair's progress record (see ``progress_record``)."""
        self.correct = self.correct or {d: 0 for d in DIMENSIONS}
        self.labelled = self.labelled or {d: 0 for d in DIMENSIONS}
        self.pairs += 1
        self.samples += record["samples"]
        self.accepted += record["accepted"]
        self.answers_right += record.get("answers_right", record["accepted"])
        self.format_ok += record.get("format_ok", 0)
        for d in DIMENSIONS:
            self.correct[d] += record["correct"].get(d, 0)
            self.labelled[d] += record["labelled"].get(d, 0)

    def summary(self) -> dict:
        labelled = self.labelled or {}
        return {
            "pairs": self.pairs,
            "samples": self.samples,
            "accepted": self.accepted,
            "acceptance_rate": self.accepted / self.samples if self.samples else 0.0,
            "answers_right": self.answers_right,
            "format_ok_rate": self.format_ok / self.samples if self.samples else 0.0,
            "accuracy_per_dim": {
                d: (self.correct or {})[d] / n for d, n in labelled.items() if n
            },
        }


def _progress_path(out: Path) -> Path:
    return out.with_name(out.name + ".progress.jsonl")


def _done_pairs(out: Path) -> dict[str, dict]:
    """Finished pairs from the progress file; trace lines of unfinished pairs are dropped."""
    progress = _progress_path(out)
    done: dict[str, dict] = {}
    if progress.is_file():
        for line in progress.read_text(encoding="utf-8").splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue  # a torn last line: that pair is redone
            done[rec["pair_id"]] = rec
    if out.is_file():
        kept, dropped = [], 0
        for _, rec in iter_trace_records(out):
            if rec.get("meta", {}).get("pair_id") in done:
                kept.append(rec)
            else:
                dropped += 1
        if dropped:
            logger.warning("%s: dropping %d trace(s) of pairs that did not finish before the last stop", out, dropped)
            write_trace_records(out, kept)
    return done


def rejection_sample(
    pairs: Sequence[PreferencePair],
    judge: Judge,
    out: str | Path,
    *,
    k: int,
    batch_pairs: int = 8,
    on_progress: Callable[[int, int], None] | None = None,
    check: Callable[[Trajectory], bool] | None = None,
    seed: int | None = None,
) -> dict:
    """Sample ``k`` episodes per pair with ``judge`` and append the accepted ones to ``out``.

    Accepted: fully correct (:func:`is_fully_correct`) and, when given, passing ``check``
    (e.g. :meth:`vrthinker.policy.teacher.ScriptedTeacher.reasoning_agrees`). The stats count
    both: ``answers_right`` before the check, ``accepted`` after it.

    ``seed``: reseed torch's default generator before each batch from ``seed`` and the batch's
    position in ``pairs``. A run resumed after any batch then draws the same samples as one run
    straight through (torch seeds its generator differently in every process, so without a seed
    every process samples something else).
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    done = _done_pairs(out)
    stats = SamplingStats()
    for rec in done.values():  # earlier runs count in the totals
        stats.merge(rec)
    todo = [p for p in pairs if p.pair_id not in done]
    if len(todo) < len(pairs):
        logger.info("resuming: %d of %d pairs already sampled", len(pairs) - len(todo), len(pairs))
    progress = _progress_path(out)
    finished = len(pairs) - len(todo)
    for start in range(0, len(todo), batch_pairs):
        chunk = todo[start : start + batch_pairs]
        if seed is not None:
            # ``finished`` is the batch's offset in ``pairs`` whether resumed or not (batches are
            # recorded whole), so the batch's draws do not depend on where the run started.
            torch.manual_seed(seed * 1_000_003 + finished)
        trajectories = judge.judge_pairs(chunk, samples_per_pair=k)
        accepted = [t for t in trajectories if is_fully_correct(t) and (check is None or check(t))]
        append_traces(out, accepted)
        lines = []
        for pair in chunk:
            pair_stats = SamplingStats()
            pair_stats.add([t for t in trajectories if t.meta["pair_id"] == pair.pair_id], accepted)
            record = {
                "pair_id": pair.pair_id, "samples": pair_stats.samples, "accepted": pair_stats.accepted,
                "answers_right": pair_stats.answers_right,
                "format_ok": pair_stats.format_ok, "correct": pair_stats.correct, "labelled": pair_stats.labelled,
            }  # fmt: skip
            stats.merge(record)
            lines.append(json.dumps(record))
        with progress.open("a", encoding="utf-8") as f:
            f.write("".join(line + "\n" for line in lines))
            f.flush()
            os.fsync(f.fileno())
        finished += len(chunk)
        if on_progress is not None:
            on_progress(finished, len(pairs))
    return stats.summary()


def balance_sides(traces: str | Path, out: str | Path, dimension: str = "Overall") -> dict[str, int]:
    """Write ``traces`` to ``out`` with the less frequent winning side repeated until both sides are even.

    Accepted samples inherit the sampling model's lean: a judge that finds defects in Video 1 more
    easily gets more of its "B" traces accepted, and fine-tuning on them deepens the lean (the demo's
    stage II went from 25/30 to 16/30 right on A-labelled held-out pairs on 41 B : 23 A accepted
    traces; docs/demo.md). Records whose ``dimension`` label is "A" or "B" are balanced by repeating
    the minority side's records in file order (whole copies, then the first few again); ties and
    unlabelled records are kept once. With no record on one side there is nothing to repeat, and
    the file is copied unchanged (with a warning).

    Returns the counts per label before (``A``, ``B``, ``other``) and the repeats added (``added``).
    """
    sides: dict[str, list[dict]] = {"A": [], "B": []}
    other: list[dict] = []
    for _, record in iter_trace_records(traces):
        label = (record.get("labels") or {}).get(dimension)
        (sides[label] if label in sides else other).append(record)
    counts = {"A": len(sides["A"]), "B": len(sides["B"]), "other": len(other), "added": 0}
    minority, majority = sorted(sides.values(), key=len)
    extra: list[dict] = []
    if minority:
        short = len(majority) - len(minority)
        extra = [minority[i % len(minority)] for i in range(short)]
    elif majority:
        logger.warning("%s: no accepted trace labelled %s on one side; nothing to balance", traces, dimension)
    counts["added"] = len(extra)
    write_trace_records(out, sides["A"] + sides["B"] + other + extra)
    return counts


def fill_rejected(
    accepted: str | Path, fallback: str | Path, pair_ids: Sequence[str], out: str | Path
) -> dict[str, int]:
    """Write the ``accepted`` traces to ``out``, plus the ``fallback`` traces of every pair of
    ``pair_ids`` none of whose samples was accepted.

    Accepted samples are the pairs the sampling judge already gets right; fine-tuning on them alone
    shifts the training mix towards those pairs and away from the cases it gets wrong (in the demo,
    the judge carried a tally digit of one video better than the other, and stage II taught that
    video: docs/demo.md, fourteenth session). Filling each failed pair with a reference trace (the
    cold-start teacher's) keeps every sampled pair in the mix — STaR's "rationalization" for failed
    problems (Zelikman et al., 2022, arXiv:2203.14465), with the teacher's trace for the rationale.

    Returns ``accepted`` (records kept), ``filled`` (pairs filled), ``fallback_traces`` (records
    added) and ``missing`` (failed pairs with no fallback trace either).
    """
    kept = [rec for _, rec in iter_trace_records(accepted)] if Path(accepted).is_file() else []
    have = {rec.get("meta", {}).get("pair_id") for rec in kept}
    failed = [p for p in dict.fromkeys(pair_ids) if p not in have]
    by_pair: dict[str, list[dict]] = {}
    for _, rec in iter_trace_records(fallback):
        by_pair.setdefault(rec.get("meta", {}).get("pair_id"), []).append(rec)
    added = [rec for p in failed for rec in by_pair.get(p, [])]
    missing = sum(p not in by_pair for p in failed)
    if missing:
        logger.warning("%s: %d failed pair(s) have no trace in %s either", accepted, missing, fallback)
    write_trace_records(out, kept + added)
    return {"accepted": len(kept), "filled": len(failed) - missing, "fallback_traces": len(added), "missing": missing}
