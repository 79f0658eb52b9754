"""Prediction files: read them, write them, score them.

Two formats are read:

``vrthinker`` (our own JSONL; one object per pair)::

    {"pair_id": "p0", "labels": {"Overall": "A", "TA": "tie"},
     "judgment": {"Overall": "A", "TA": null},
     "scores": {"Overall": 0.7, "TA": {"a": 3.1, "b": 3.0}, "VQ": {"p_a": 0.4}},
     "judgment_4way": "A>B",
     "meta": {"vote_type": "leftvote", "length_bucket": "4-8s"}}

- ``labels``: the human label per dimension (A / B / tie); absent = unlabelled.
- ``judgment``: the judge's answer per dimension; ``null`` = unparseable.
- ``scores`` (optional): a margin per dimension, as a number (``score(A) -
  score(B)``), ``{"a": .., "b": ..}`` or ``{"p_a": ..}`` (probability that A is
  better; stored as ``p_a - 0.5``). A dimension with a score but no judgment takes
  the margin's sign as its answer.
- ``judgment_4way`` (optional): a GenAI-Bench vote (``A>B``, ``B>A``,
  ``A=B=Good``, ``A=B=Bad``, ``A=B``).
- ``meta`` (optional): anything; ``meta.vote_type`` (GenAI-Bench's
  ``leftvote | rightvote | tievote | bothbad_vote``) enables the 4-way metric.

``genai-bench``: the judgment files TIGER-Lab released with GenAI-Bench
(``results/<task>/<model>/pairwise.jsonl``): ``idx``, ``prompt``, ``response``,
``model_vote`` (the official parser's output: the first ``[[...]]`` in the
response, or ``null``), ``human_vote`` (a ``vote_type``) and ``correct``. The
vote is mapped exactly as the official ``inference.py`` scores it: ``[[A>B]]`` /
``[[A>>B]]`` -> A>B, ``[[B>A]]`` / ``[[B>>A]]`` -> B>A, ``[[A=B=Good]]``,
``[[A=B=Bad]]``, ``[[A=B]]`` (a bare tie, credited on both tie kinds); any other
string or ``null`` is unparsed and therefore wrong. Its Overall label and answer
are the 3-class folds, so the w/o-ties and 3-class metrics are GenAI-Bench's
2-way and 3-way accuracies.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from vrthinker.data.schema import DIMENSIONS, Dimension, Label
from vrthinker.eval.metrics import (
    VOTE_TYPE_TO_FOUR_WAY,
    FourWayLabel,
    FourWayVote,
    Prediction,
    _acc_3class,
    _acc_without_ties,
    _four_way_correct,
    _LABEL_SIGN,
    _tie_sweep,
    _UNPARSED,
    bootstrap_ci,
    bucket_label,
    fold_four_way,
)

logger = logging.getLogger(__name__)

PredictionFormat = Literal["auto", "vrthinker", "genai-bench"]
PREDICTION_FORMATS: tuple[str, ...] = ("auto", "vrthinker", "genai-bench")

# The official GenAI-Bench parser keeps the matched string as is and compares it
# to these exact spellings; anything else can never be correct.
_GENAI_MODEL_VOTES: dict[str, FourWayVote] = {
    "[[A>B]]": "A>B",
    "[[A>>B]]": "A>B",
    "[[B>A]]": "B>A",
    "[[B>>A]]": "B>A",
    "[[A=B=Good]]": "A=B=Good",
    "[[A=B=Bad]]": "A=B=Bad",
    "[[A=B]]": "A=B",
}

# Metrics reported at the top level and per dimension, in table order.
_DIM_METRICS = ("accuracy_without_ties", "accuracy_with_ties", "accuracy_with_ties_official", "accuracy_3class")
_FOUR_WAY_METRICS = ("accuracy_4way", "accuracy_3way", "accuracy_2way")


class PredictionFileError(ValueError):
    """A predictions file could not be read; the message names the file and line."""


class PredictionRecord(NamedTuple):
    """One scored pair: the human labels, the judge's prediction, and extras."""

    labels: dict[Dimension, Label]
    prediction: Prediction
    meta: dict[str, Any]


class _ScoreSpec(BaseModel):
    """A margin given as two scores or as P(A better)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    a: float | None = None
    b: float | None = None
    p_a: float | None = Field(default=None, ge=0.0, le=1.0)

    def margin(self) -> float:
        if self.p_a is not None and self.a is None and self.b is None:
            return self.p_a - 0.5
        if self.a is not None and self.b is not None and self.p_a is None:
            return self.a - self.b
        raise ValueError("a score object needs either both 'a' and 'b', or only 'p_a'")


class PredictionLine(BaseModel):
    """One line of a ``vrthinker`` predictions JSONL file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pair_id: str = Field(min_length=1, description="Unique id of the pair within the file.")
    labels: dict[Dimension, Label] = Field(default_factory=dict, description="Human label per dimension.")
    judgment: dict[Dimension, Label | None] = Field(
        default_factory=dict, description="The judge's answer per dimension; null when unparseable."
    )
    scores: dict[Dimension, float | _ScoreSpec] | None = Field(
        default=None, description="Optional margin per dimension (number, {a, b} or {p_a})."
    )
    judgment_4way: FourWayVote | None = Field(default=None, description="Optional GenAI-Bench vote.")
    meta: dict[str, Any] = Field(default_factory=dict, description="Anything; vote_type enables 4-way.")

    @field_validator("scores")
    @classmethod
    def _finite(cls, value: dict[Dimension, float | _ScoreSpec] | None) -> dict[Dimension, float | _ScoreSpec] | None:
        for dim, score in (value or {}).items():
            margin = score if isinstance(score, float) else score.margin()
            if not math.isfinite(margin):
                raise ValueError(f"scores[{dim}] is not finite")
        return value

    def margins(self) -> dict[Dimension, float]:
        return {
            dim: (score if isinstance(score, float) else score.margin()) for dim, score in (self.scores or {}).items()
        }


# ---------------------------------------------------------------------------
# Reading


def detect_format(path: str | Path) -> Literal["vrthinker", "genai-bench"]:
    """Guess the format of a predictions file from the keys of its first object."""
    path = Path(path)
    for lineno, line in _lines(path):
        row = _parse_json(path, lineno, line)
        if "model_vote" in row and "human_vote" in row:
            return "genai-bench"
        if "pair_id" in row and ("judgment" in row or "scores" in row):
            return "vrthinker"
        raise PredictionFileError(
            f"{path}:{lineno}: cannot tell the format from keys {sorted(row)}; expected vrthinker "
            "(pair_id, labels, judgment) or genai-bench (model_vote, human_vote); pass --format"
        )
    raise PredictionFileError(f"{path}: no predictions (the file is empty)")


def load_predictions(path: str | Path, format: PredictionFormat = "auto") -> list[PredictionRecord]:
    """Read a predictions file into ``(labels, prediction, meta)`` records.

    Raises :class:`PredictionFileError` naming the file and line for any malformed
    line, unknown label or duplicate pair id: a half-read file is never scored.
    """
    path = Path(path)
    if not path.is_file():
        raise PredictionFileError(f"{path}: no such file")
    if format == "auto":
        format = detect_format(path)
    if format == "vrthinker":
        records = _load_vrthinker(path)
    elif format == "genai-bench":
        records = _load_genai_bench(path)
    else:
        raise PredictionFileError(f"unknown predictions format {format!r}; expected one of {', '.join(PREDICTION_FORMATS)}")
    if not records:
        raise PredictionFileError(f"{path}: no predictions (the file is empty)")
    logger.info("read %d predictions from %s (%s format)", len(records), path, format)
    return records


def _lines(path: Path) -> Iterable[tuple[int, str]]:
    with path.open(encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, start=1):
            if line.strip():
                yield lineno, line


def _parse_json(path: Path, lineno: int, line: str) -> dict[str, Any]:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as err:
        raise PredictionFileError(f"{path}:{lineno}: not valid JSON ({err.msg} at column {err.colno})") from None
    if not isinstance(row, dict):
        raise PredictionFileError(f"{path}:{lineno}: expected a JSON object, got {type(row).__name__}")
    return row


def _check_unique(path: Path, lineno: int, pair_id: str, seen: dict[str, int]) -> None:
    if pair_id in seen:
        raise PredictionFileError(f"{path}:{lineno}: duplicate pair_id {pair_id!r} (first on line {seen[pair_id]})")
    seen[pair_id] = lineno


def _load_vrthinker(path: Path) -> list[PredictionRecord]:
    records: list[PredictionRecord] = []
    seen: dict[str, int] = {}
    for lineno, line in _lines(path):
        row = _parse_json(path, lineno, line)
        try:
            parsed = PredictionLine.model_validate(row)
            prediction = Prediction(
                pair_id=parsed.pair_id,
                choice=dict(parsed.judgment),
                score_diff=parsed.margins(),
                vote_4way=parsed.judgment_4way,
            )
        except ValidationError as err:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or '(line)'}: {e['msg']}" for e in err.errors()
            )
            raise PredictionFileError(f"{path}:{lineno}: {problems}") from None
        vote_type = parsed.meta.get("vote_type")
        if vote_type is not None and vote_type not in VOTE_TYPE_TO_FOUR_WAY:
            raise PredictionFileError(
                f"{path}:{lineno}: meta.vote_type = {vote_type!r}; expected one of {', '.join(VOTE_TYPE_TO_FOUR_WAY)}"
            )
        _check_unique(path, lineno, parsed.pair_id, seen)
        records.append(PredictionRecord(dict(parsed.labels), prediction, dict(parsed.meta)))
    return records


def _load_genai_bench(path: Path) -> list[PredictionRecord]:
    records: list[PredictionRecord] = []
    seen: dict[str, int] = {}
    disagreements: list[int] = []
    for lineno, line in _lines(path):
        row = _parse_json(path, lineno, line)
        missing = [key for key in ("model_vote", "human_vote") if key not in row]
        if missing:
            raise PredictionFileError(f"{path}:{lineno}: missing key(s) {', '.join(missing)} for the genai-bench format")
        human_vote, raw_vote = row["human_vote"], row["model_vote"]
        if human_vote not in VOTE_TYPE_TO_FOUR_WAY:
            raise PredictionFileError(
                f"{path}:{lineno}: human_vote = {human_vote!r}; expected one of {', '.join(VOTE_TYPE_TO_FOUR_WAY)}"
            )
        if raw_vote is not None and not isinstance(raw_vote, str):
            raise PredictionFileError(f"{path}:{lineno}: model_vote must be a string or null, got {raw_vote!r}")
        vote = _GENAI_MODEL_VOTES.get(raw_vote) if raw_vote is not None else None
        human = VOTE_TYPE_TO_FOUR_WAY[human_vote]
        # Line order is the official dataset order when idx is absent.
        pair_id = str(row.get("idx", lineno - 1))
        _check_unique(path, lineno, pair_id, seen)
        if "correct" in row and bool(row["correct"]) != bool(
            _four_way_correct(np.array([human], dtype=object), np.array([vote], dtype=object))[0]
        ):
            disagreements.append(lineno)
        prediction = Prediction(
            pair_id=pair_id,
            choice={"Overall": None if vote is None else fold_four_way(vote)},
            vote_4way=vote,
        )
        meta: dict[str, Any] = {"vote_type": human_vote, "model_vote": raw_vote}
        if "prompt" in row:
            meta["prompt"] = row["prompt"]
        records.append(PredictionRecord({"Overall": fold_four_way(human)}, prediction, meta))
    if disagreements:
        # Not fatal: the file's own `correct` may come from another parser version,
        # but the user should know our score will not match theirs.
        logger.warning(
            "%s: our 4-way correctness differs from the file's `correct` field on %d line(s), first: %s",
            path,
            len(disagreements),
            ", ".join(map(str, disagreements[:10])),
        )
    return records


# ---------------------------------------------------------------------------
# Writing


def prediction_to_json(labels: dict[Dimension, Label], prediction: Prediction, meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """One ``vrthinker``-format object for a scored pair (the inverse of the loader)."""
    row: dict[str, Any] = {
        "pair_id": prediction.pair_id,
        "labels": dict(labels),
        "judgment": dict(prediction.choice),
    }
    if prediction.score_diff:
        row["scores"] = dict(prediction.score_diff)
    if prediction.vote_4way is not None:
        row["judgment_4way"] = prediction.vote_4way
    if meta:
        row["meta"] = dict(meta)
    return row


def write_predictions(path: str | Path, records: Iterable[PredictionRecord]) -> None:
    """Write records as a ``vrthinker`` predictions JSONL file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for labels, prediction, meta in records:
            handle.write(json.dumps(prediction_to_json(labels, prediction, meta), ensure_ascii=False) + "\n")


# ---------------------------------------------------------------------------
# Scoring


class _DimArrays(NamedTuple):
    """Encoded answers of the pairs labelled on one dimension."""

    rows: np.ndarray  # record index of each labelled pair
    human: np.ndarray  # {-1, 0, 1}
    predicted: np.ndarray  # {-1, 0, 1} or _UNPARSED
    margins: np.ndarray  # float, NaN = unparsed


def _encode_dimension(records: Sequence[PredictionRecord], dim: Dimension) -> _DimArrays:
    rows, human, predicted, margins = [], [], [], []
    for i, (labels, prediction, _) in enumerate(records):
        if dim not in labels:
            continue
        rows.append(i)
        human.append(_LABEL_SIGN[labels[dim]])
        label = prediction.label(dim)
        predicted.append(_UNPARSED if label is None else _LABEL_SIGN[label])
        margin = prediction.margin(dim)
        margins.append(math.nan if margin is None else margin)
    return _DimArrays(
        np.asarray(rows, dtype=np.int64),
        np.asarray(human, dtype=np.int8),
        np.asarray(predicted, dtype=np.int8),
        np.asarray(margins, dtype=np.float64),
    )


def _dim_metric(arrays: _DimArrays, name: str, idx: np.ndarray | None = None) -> float:
    """One metric on (a resample of) the labelled pairs of a dimension; ValueError if undefined."""
    h, p, m = arrays.human, arrays.predicted, arrays.margins
    if idx is not None:
        h, p, m = h[idx], p[idx], m[idx]
    if name == "accuracy_without_ties":
        return _acc_without_ties(h, p)
    if name == "accuracy_3class":
        return _acc_3class(h, p)
    if name == "accuracy_with_ties":
        return _tie_sweep(h, m, "order_independent").accuracy
    if name == "accuracy_with_ties_official":
        return _tie_sweep(h, m, "official").accuracy
    raise ValueError(f"unknown metric {name!r}")


def _four_way_metric(human: np.ndarray, votes: np.ndarray, name: str) -> float:
    if len(human) == 0:
        raise ValueError("4-way accuracy is undefined on zero pairs")
    if name == "accuracy_4way":
        return float(_four_way_correct(human, votes).sum()) / len(human)
    fold = {"A>B": 1, "B>A": -1, "A=B=Good": 0, "A=B=Bad": 0, "A=B": 0}
    h = np.fromiter((fold[x] for x in human), dtype=np.int8, count=len(human))
    p = np.fromiter((_UNPARSED if v is None else fold[v] for v in votes), dtype=np.int8, count=len(votes))
    if name == "accuracy_3way":
        return _acc_3class(h, p)
    if name == "accuracy_2way":
        return _acc_without_ties(h, p)
    raise ValueError(f"unknown metric {name!r}")


def _try(fn: Any, *args: Any) -> float | None:
    try:
        return fn(*args)
    except ValueError as err:
        if "undefined" not in str(err):
            raise
        return None


def _support(arrays: _DimArrays, name: str) -> int:
    return int((arrays.human != 0).sum()) if name == "accuracy_without_ties" else len(arrays.human)


def _ci(stat: Any, num_items: int, n_resamples: int, seed: int) -> list[float] | None:
    if n_resamples <= 0 or num_items == 0:
        return None
    try:
        lo, hi = bootstrap_ci(stat, num_items, n_resamples=n_resamples, seed=seed)
    except ValueError:
        return None
    return [lo, hi]


def score_predictions(
    records: Sequence[PredictionRecord],
    *,
    n_resamples: int = 1000,
    seed: int = 0,
    bucket_key: str | None = None,
    bucket_edges: Sequence[float] | None = None,
    ndigits: int | None = 4,
) -> dict[str, Any]:
    """All metrics of a set of predictions as one JSON-ready dict.

    Values are fractions in [0, 1], rounded to ``ndigits`` (4 by default, i.e. the
    two-decimal percentages papers print; ``None`` keeps full precision). A metric
    that is undefined on this data (e.g. w/o ties when every label is a tie) is
    ``None``.

    Top-level accuracies are those of the headline: the ``Overall`` dimension when
    any pair has an Overall label, otherwise the mean over the labelled dimensions
    (like a leaderboard's "Avg"). ``per_dimension`` has each dimension; the 4-way
    metrics appear when pairs carry a GenAI-Bench ``meta.vote_type``.
    ``ci95`` holds percentile-bootstrap 95% intervals over pairs (``n_resamples``
    resamples with ``seed``; 0 resamples disables them). ``support`` gives the
    number of pairs each top-level metric is computed on. With ``bucket_key`` the
    headline metrics are also given per value of ``meta[bucket_key]`` (numbers are
    bucketed by ``bucket_edges`` when given); pairs without it go to ``"unknown"``.
    """
    if not records:
        raise ValueError("no predictions to score")
    out: dict[str, Any] = {"num_pairs": len(records)}

    dims = [d for d in DIMENSIONS if any(d in labels for labels, _, _ in records)]
    encoded = {dim: _encode_dimension(records, dim) for dim in dims}
    unparsed_rows = set()
    per_dimension: dict[str, Any] = {}
    for dim in dims:
        arrays = encoded[dim]
        unparsed = arrays.predicted == _UNPARSED
        unparsed_rows.update(arrays.rows[unparsed].tolist())
        entry: dict[str, Any] = {name: _try(_dim_metric, arrays, name) for name in _DIM_METRICS}
        entry["tie_threshold"] = (
            _tie_sweep(arrays.human, arrays.margins, "order_independent").threshold if len(arrays.human) else None
        )
        entry["num_pairs"] = len(arrays.human)
        entry["num_non_tie"] = int((arrays.human != 0).sum())
        entry["num_unparsed"] = int(unparsed.sum())
        entry["ci95"] = {
            name: _ci(lambda idx, a=arrays, n=name: _dim_metric(a, n, idx), len(arrays.human), n_resamples, seed)
            for name in _DIM_METRICS
        }
        per_dimension[dim] = entry
    out["num_unparsed"] = len(unparsed_rows)

    # Headline: Overall, or the mean over dimensions when no pair has an Overall label.
    headline_dims = ["Overall"] if "Overall" in dims else dims
    out["headline"] = "Overall" if "Overall" in dims else ("mean(" + ",".join(dims) + ")" if dims else None)
    support: dict[str, int] = {}
    ci95: dict[str, list[float] | None] = {}

    # Record index -> position among a dimension's labelled pairs (-1 = unlabelled),
    # so a resample of records can be turned into a resample of each dimension.
    positions: dict[Dimension, np.ndarray] = {}
    for dim in headline_dims:
        positions[dim] = np.full(len(records), -1, dtype=np.int64)
        positions[dim][encoded[dim].rows] = np.arange(len(encoded[dim].rows))

    def headline_stat(name: str) -> Any:
        """A statistic over record indices: the mean of ``name`` over the headline dimensions."""

        def stat(idx: np.ndarray) -> float:
            values = []
            for dim in headline_dims:
                chosen = positions[dim][idx]
                values.append(_dim_metric(encoded[dim], name, chosen[chosen >= 0]))
            return float(np.mean(values))

        return stat

    for name in _DIM_METRICS:
        if len(headline_dims) == 1:
            dim = headline_dims[0]
            out[name] = per_dimension[dim][name]
            ci95[name] = per_dimension[dim]["ci95"][name]
            support[name] = _support(encoded[dim], name)
        else:
            values = [per_dimension[d][name] for d in headline_dims]
            out[name] = None if not values or any(v is None for v in values) else float(np.mean(values))
            ci95[name] = _ci(headline_stat(name), len(records), n_resamples, seed) if out[name] is not None else None
            support[name] = len(records)

    # GenAI-Bench 4-way metrics, on the pairs that carry a human 4-way vote.
    four_rows = [i for i, (_, _, meta) in enumerate(records) if meta.get("vote_type") in VOTE_TYPE_TO_FOUR_WAY]
    if four_rows:
        human4 = np.array([VOTE_TYPE_TO_FOUR_WAY[records[i].meta["vote_type"]] for i in four_rows], dtype=object)
        votes4 = np.array([records[i].prediction.four_way() for i in four_rows], dtype=object)
        for name in _FOUR_WAY_METRICS:
            out[name] = _try(_four_way_metric, human4, votes4, name)
            ci95[name] = _ci(
                lambda idx, n=name: _four_way_metric(human4[idx], votes4[idx], n), len(four_rows), n_resamples, seed
            )
            support[name] = int(np.isin(human4, ["A>B", "B>A"]).sum()) if name == "accuracy_2way" else len(four_rows)

    out["support"] = support
    out["per_dimension"] = per_dimension
    out["ci95"] = ci95

    if bucket_key is not None:
        out["by_bucket"] = _by_bucket(records, encoded, headline_dims, bucket_key, bucket_edges)

    out["scale"] = "fraction of pairs in [0, 1]"
    return _round(out, ndigits) if ndigits is not None else out


def _by_bucket(
    records: Sequence[PredictionRecord],
    encoded: dict[Dimension, _DimArrays],
    headline_dims: list[Dimension],
    bucket_key: str,
    bucket_edges: Sequence[float] | None,
) -> dict[str, Any]:
    def name_of(value: Any) -> str:
        if value is None:
            return "unknown"
        if bucket_edges is not None and isinstance(value, (int, float)) and not isinstance(value, bool):
            return bucket_label(float(value), bucket_edges)
        return str(value)

    buckets: dict[str, list[int]] = {}
    for i, (_, _, meta) in enumerate(records):
        buckets.setdefault(name_of(meta.get(bucket_key)), []).append(i)
    out: dict[str, Any] = {}
    for bucket in sorted(buckets):
        members = np.asarray(buckets[bucket], dtype=np.int64)
        entry: dict[str, Any] = {"num_pairs": len(members)}
        for name in _DIM_METRICS:
            values = []
            for dim in headline_dims:
                arrays = encoded[dim]
                chosen = np.flatnonzero(np.isin(arrays.rows, members))
                values.append(_try(_dim_metric, arrays, name, chosen))
            entry[name] = None if not values or any(v is None for v in values) else float(np.mean(values))
        four = [i for i in members.tolist() if records[i].meta.get("vote_type") in VOTE_TYPE_TO_FOUR_WAY]
        if four:
            human4 = np.array([VOTE_TYPE_TO_FOUR_WAY[records[i].meta["vote_type"]] for i in four], dtype=object)
            votes4 = np.array([records[i].prediction.four_way() for i in four], dtype=object)
            entry["accuracy_4way"] = _four_way_metric(human4, votes4, "accuracy_4way")
        out[bucket] = entry
    return out


_NOT_ROUNDED = {"tie_threshold"}  # margins keep their precision; only accuracies are rounded


def _round(value: Any, ndigits: int, key: str | None = None) -> Any:
    if key in _NOT_ROUNDED:
        return value
    if isinstance(value, float):
        return round(value, ndigits)
    if isinstance(value, dict):
        return {k: _round(v, ndigits, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_round(v, ndigits, key) for v in value]
    return value


def four_way_label(meta: dict[str, Any]) -> FourWayLabel | None:
    """The human GenAI-Bench 4-way label of a record, from ``meta["vote_type"]``."""
    return VOTE_TYPE_TO_FOUR_WAY.get(meta.get("vote_type"))  # type: ignore[arg-type]
