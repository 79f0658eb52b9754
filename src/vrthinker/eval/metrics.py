"""Accuracy metrics for pairwise video judges, as pure functions.

Conventions (the whole eval API follows them):

- Every accuracy is a **fraction in [0, 1]**. Human-facing tables print
  percentages with two decimals, the way papers publish them.
- Human labels are :data:`~vrthinker.data.schema.Label` strings: ``"A"`` (first
  video better), ``"B"`` (second better), ``"tie"``.
- A judge's answer for one dimension is either a discrete choice (``"A"``,
  ``"B"``, ``"tie"``) or a **margin** ``m = score(A) - score(B)`` (positive = A
  better). Discrete choices become margins ``+1 / -1 / 0`` for the tie sweep.
- ``None`` means the judge's answer could not be parsed. It counts as **wrong in
  every metric** (never silently dropped, never read as a tie), so a judge cannot
  gain accuracy by failing to answer. (UnifiedReward's scripts read a parse
  failure as "same", which credits it on human ties; we do not.)

Metrics, defined precisely in ``docs/metrics.md``:

- :func:`accuracy_without_ties` - VideoAlign's "w/o ties", UnifiedReward's "diff".
- :func:`accuracy_with_ties` - VideoGen-RewardBench's tie-calibrated accuracy, in
  an order-independent mode (default) and an ``official`` mode that replays
  VideoAlign's ``calc_accuracy.py`` sweep, order dependence included.
- :func:`accuracy_3class` - plain 3-class accuracy (UnifiedReward's "tau").
- :func:`accuracy_4way` / :func:`genai_bench_accuracy` - GenAI-Bench's metric and
  its 3-way and 2-way folds.
- :func:`bootstrap_ci` and :func:`breakdown` for uncertainty and per-bucket views.

No torch here: these run on lists and numpy arrays, and are cheap enough to be
recomputed a thousand times for a bootstrap.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Literal, NamedTuple, get_args

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from vrthinker.data.schema import Dimension, Label

logger = logging.getLogger(__name__)

TieMode = Literal["order_independent", "official"]
"""How :func:`accuracy_with_ties` sweeps the tie threshold (see its docstring)."""

FourWayLabel = Literal["A>B", "B>A", "A=B=Good", "A=B=Bad"]
"""GenAI-Bench's human vote: left better, right better, both good, both bad."""

FourWayVote = Literal["A>B", "B>A", "A=B=Good", "A=B=Bad", "A=B"]
"""A judge's GenAI-Bench vote. ``"A=B"`` is the official script's bare tie: it is
scored correct for both tie kinds (``tievote`` and ``bothbad_vote``)."""

FOUR_WAY_LABELS: tuple[FourWayLabel, ...] = get_args(FourWayLabel)
FOUR_WAY_VOTES: tuple[FourWayVote, ...] = get_args(FourWayVote)

VOTE_TYPE_TO_FOUR_WAY: dict[str, FourWayLabel] = {
    "leftvote": "A>B",
    "rightvote": "B>A",
    "tievote": "A=B=Good",
    "bothbad_vote": "A=B=Bad",
}
"""GenAI-Bench's ``vote_type`` (human) to the 4-way label."""

_LABEL_SIGN: dict[str, int] = {"A": 1, "B": -1, "tie": 0}
# A predicted class that never equals a human sign (-1, 0, 1): an unparsed answer.
_UNPARSED = 2


class Prediction(BaseModel):
    """One judge's answer on one pair.

    ``choice`` holds the discrete answer per dimension (``None`` = unparseable);
    ``score_diff`` optionally holds a continuous margin per dimension
    (``score(A) - score(B)``, or ``P(A better) - 0.5``; positive = A better).
    A dimension the judge did not answer at all is simply absent from both.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    pair_id: str = Field(description="Id of the judged pair.")
    choice: dict[Dimension, Label | None] = Field(
        default_factory=dict,
        description="Discrete answer per dimension: A, B, tie, or None when unparseable.",
    )
    score_diff: dict[Dimension, float] = Field(
        default_factory=dict,
        description="Optional margin per dimension, positive = A better; used by the tie sweep.",
    )
    vote_4way: FourWayVote | None = Field(
        default=None,
        description=(
            "GenAI-Bench 4-way vote, when the judge gives one. Without it the 4-way vote is "
            "derived from the Overall choice (A -> A>B, B -> B>A, tie -> A=B)."
        ),
    )

    @model_validator(mode="after")
    def _check_scores(self) -> "Prediction":
        for dim, diff in self.score_diff.items():
            if not math.isfinite(diff):
                raise ValueError(f"score_diff[{dim}] = {diff}: must be finite")
            # A margin that points the other way than the discrete answer is a bug in
            # whatever produced the prediction; a tie with a non-zero margin is fine
            # (a judge may apply its own threshold).
            chosen = self.choice.get(dim)
            if (chosen == "A" and diff < 0) or (chosen == "B" and diff > 0):
                raise ValueError(f"choice[{dim}] = {chosen!r} contradicts score_diff[{dim}] = {diff}")
        return self

    def label(self, dimension: Dimension) -> Label | None:
        """The discrete answer for ``dimension``; from the margin's sign if only that exists."""
        chosen = self.choice.get(dimension)
        if chosen is not None:
            return chosen
        diff = self.score_diff.get(dimension)
        if diff is None:
            return None
        return "A" if diff > 0 else "B" if diff < 0 else "tie"

    def margin(self, dimension: Dimension) -> float | None:
        """The margin for the tie sweep: ``score_diff`` if given, else +1 / -1 / 0 from the choice."""
        if dimension in self.score_diff:
            return self.score_diff[dimension]
        return choice_to_margin(self.choice.get(dimension))

    def four_way(self) -> FourWayVote | None:
        """The GenAI-Bench vote: ``vote_4way`` if given, else derived from the Overall answer."""
        if self.vote_4way is not None:
            return self.vote_4way
        return choice_to_four_way(self.label("Overall"))


class TieCalibration(NamedTuple):
    """Result of the tie-threshold sweep.

    ``threshold`` is the best tau (a margin ``|m| <= tau`` counts as a model tie);
    ``None`` when the best state has no model tie at all.
    """

    accuracy: float
    threshold: float | None


# ---------------------------------------------------------------------------
# Conversions


def choice_to_margin(choice: Label | None) -> float | None:
    """Discrete answer to a margin: A -> +1, B -> -1, tie -> 0, None -> None."""
    if choice is None:
        return None
    return float(_LABEL_SIGN[choice])


def choice_to_four_way(choice: Label | None) -> FourWayVote | None:
    """A 3-class answer as a GenAI-Bench vote.

    A tie becomes the official bare ``"A=B"``, which the official script credits on
    both tie kinds: a 3-class judge cannot say *which* tie, and this is exactly how
    GenAI-Bench scores a judge that answers ``[[A=B]]``.
    """
    return {"A": "A>B", "B": "B>A", "tie": "A=B", None: None}[choice]


def fold_four_way(value: FourWayLabel | FourWayVote) -> Label:
    """Fold a 4-way label or vote to 3 classes: both-good, both-bad and bare ties become ``tie``."""
    if value == "A>B":
        return "A"
    if value == "B>A":
        return "B"
    if value in ("A=B=Good", "A=B=Bad", "A=B"):
        return "tie"
    raise ValueError(f"unknown 4-way value {value!r}; expected one of {', '.join(FOUR_WAY_VOTES)}")


def _human_signs(human: Sequence[Label]) -> np.ndarray:
    try:
        return np.fromiter((_LABEL_SIGN[h] for h in human), dtype=np.int8, count=len(human))
    except KeyError as err:
        raise ValueError(f"unknown human label {err.args[0]!r}; expected A, B or tie") from None


def _predicted_classes(predicted: Sequence[Label | None]) -> np.ndarray:
    try:
        return np.fromiter(
            (_UNPARSED if p is None else _LABEL_SIGN[p] for p in predicted), dtype=np.int8, count=len(predicted)
        )
    except KeyError as err:
        raise ValueError(f"unknown predicted label {err.args[0]!r}; expected A, B, tie or None") from None


def _margins(margins: Sequence[float | None]) -> np.ndarray:
    # NaN marks an unparsed answer inside the arrays; it never enters the sweep.
    out = np.array([math.nan if m is None else float(m) for m in margins], dtype=np.float64)
    if np.isinf(out).any():
        raise ValueError("margins must be finite (or None for an unparsed answer)")
    return out


def _check_lengths(a: Sequence[object], b: Sequence[object]) -> None:
    if len(a) != len(b):
        raise ValueError(f"length mismatch: {len(a)} human labels but {len(b)} predictions")


# ---------------------------------------------------------------------------
# Array-level kernels (used directly by the bootstrap; inputs already encoded)


def _acc_without_ties(h: np.ndarray, p: np.ndarray) -> float:
    keep = h != 0
    n = int(keep.sum())
    if n == 0:
        raise ValueError("accuracy without ties is undefined: no pair has a non-tie human label")
    return float((p[keep] == h[keep]).sum()) / n


def _acc_3class(h: np.ndarray, p: np.ndarray) -> float:
    if len(h) == 0:
        raise ValueError("accuracy is undefined on zero pairs")
    return float((p == h).sum()) / len(h)


def _tie_sweep(h: np.ndarray, m: np.ndarray, mode: TieMode) -> TieCalibration:
    """The with-ties sweep on encoded arrays (h in {-1, 0, 1}, m with NaN = unparsed).

    Start from the state with no model tie: correct pairs are the concordant
    non-ties (C). Turning one pair into a model tie changes the number correct by
    +1 for a human tie (Th -> Thm), -1 for a concordant pair (C -> Tm) and 0 for a
    discordant one (D -> Tm; a non-tie pair with m = 0 starts as D, as in the
    reference). Pairs are turned into ties in ascending |m|, so each state is a
    prefix of that order and its score is ``base + cumsum(delta)``.
    """
    n = len(h)
    if n == 0:
        raise ValueError("accuracy with ties is undefined on zero pairs")
    parsed = ~np.isnan(m)
    hp, mp = h[parsed], m[parsed]
    concordant = (hp != 0) & (hp * mp > 0)
    base = int(concordant.sum())
    delta = np.where(hp == 0, 1, np.where(concordant, -1, 0))
    size = np.abs(mp)
    # Stable sort: the official routine uses Python's stable `sorted`, so equal |m|
    # keep their input order - that is where its order dependence comes from.
    order = np.argsort(size, kind="stable")
    size, correct = size[order], base + np.cumsum(delta[order])
    if mode == "official":
        # Score after every single conversion (k = 1..N), never the no-tie state,
        # first maximum wins: exactly the reference loop.
        if len(correct) == 0:
            # The reference returns -inf here; all answers unparsed means all wrong.
            return TieCalibration(0.0, None)
        best = int(np.argmax(correct))
        return TieCalibration(float(correct[best]) / n, float(size[best]))
    if mode != "order_independent":
        raise ValueError(f"unknown tie mode {mode!r}; expected 'order_independent' or 'official'")
    # Only states where every pair with the same |m| has been converted are real
    # thresholds: keep the last index of each run of equal |m|.
    group_end = np.r_[size[1:] != size[:-1], True] if len(size) else np.zeros(0, dtype=bool)
    candidates, thresholds = correct[group_end], size[group_end]
    best_correct, best_threshold = base, None  # the no-tie state (tau below the smallest |m|)
    if len(candidates):
        i = int(np.argmax(candidates))
        # Strictly better only: on equal accuracy prefer fewer model ties.
        if candidates[i] > best_correct:
            best_correct, best_threshold = int(candidates[i]), float(thresholds[i])
    return TieCalibration(float(best_correct) / n, best_threshold)


def _four_way_correct(human: np.ndarray, votes: np.ndarray) -> np.ndarray:
    """Elementwise GenAI-Bench correctness on object arrays of strings/None."""
    exact = human == votes
    bare_tie = (votes == "A=B") & ((human == "A=B=Good") | (human == "A=B=Bad"))
    return exact | bare_tie


# ---------------------------------------------------------------------------
# Public metrics


def accuracy_without_ties(human: Sequence[Label], predicted: Sequence[Label | None]) -> float:
    """Accuracy on pairs whose human label is not a tie.

    A predicted tie is wrong, an unparsed answer (``None``) is wrong. This is
    VideoAlign's ``calc_accuracy_without_ties`` (threshold -1, so an exact model
    tie is discordant) and UnifiedReward's "diff". Raises ``ValueError`` when no
    pair has a non-tie human label.
    """
    _check_lengths(human, predicted)
    return _acc_without_ties(_human_signs(human), _predicted_classes(predicted))


def side_balanced_accuracy(human: Sequence[Label], predicted: Sequence[Label | None]) -> float:
    """Accuracy without ties, averaged over the two sides: mean of the accuracy on pairs labelled A and
    on pairs labelled B (a side with no pair is left out).

    A judge that always names one side scores 50 % here whatever the label balance, while plain
    accuracy without ties gives it the majority side's share (61.5 % on the demo's held-out
    local-defect pairs, 48 B to 30 A). Raises ``ValueError`` when no pair has a non-tie label.
    """
    _check_lengths(human, predicted)
    h, p = _human_signs(human), _predicted_classes(predicted)
    per_side = [float((p[h == side] == side).mean()) for side in (1, -1) if (h == side).any()]
    if not per_side:
        raise ValueError("side-balanced accuracy is undefined: no pair has a non-tie human label")
    return sum(per_side) / len(per_side)


def accuracy_3class(human: Sequence[Label], predicted: Sequence[Label | None]) -> float:
    """Plain 3-class accuracy over all pairs (A / B / tie must match exactly).

    UnifiedReward's "tau" for generative judges, without their quirk of crediting
    a parse failure on a human tie: here ``None`` is always wrong.
    """
    _check_lengths(human, predicted)
    return _acc_3class(_human_signs(human), _predicted_classes(predicted))


def tie_calibration(
    human: Sequence[Label], margins: Sequence[float | None], mode: TieMode = "order_independent"
) -> TieCalibration:
    """Best 3-class accuracy over tie thresholds tau, and the tau that gives it.

    A pair is a model tie when ``|m| <= tau``; otherwise the sign of ``m`` is the
    model's preference. 3-class accuracy is ``(C + Thm) / N`` (concordant non-ties
    plus pairs both human and model call a tie) over all N pairs; unparsed answers
    (``None``) stay wrong for every tau.

    ``mode="order_independent"`` (default) is the maximum over **every** real
    tau >= 0. The accuracy only changes where tau crosses a distinct ``|m|``, so
    the candidates are: no model tie (tau below the smallest |m|) and each distinct
    |m| with all pairs at or below it tied. The result depends only on the
    multiset of (label, margin).

    ``mode="official"`` replays VideoAlign's ``calc_accuracy.py``: pairs sorted by
    |m| (stable), converted to ties one at a time and scored after each
    conversion. With repeated |m| - always, for a discrete judge - it scores
    partial thresholds no real tau produces, so the result depends on the input
    order; it also never scores the no-tie state. Use it only to compare with
    numbers computed by that script.
    """
    _check_lengths(human, margins)
    return _tie_sweep(_human_signs(human), _margins(margins), mode)


def accuracy_with_ties(
    human: Sequence[Label], margins: Sequence[float | None], mode: TieMode = "order_independent"
) -> float:
    """VideoGen-RewardBench accuracy with ties: see :func:`tie_calibration`."""
    return tie_calibration(human, margins, mode).accuracy


def accuracy_4way(human: Sequence[FourWayLabel], votes: Sequence[FourWayVote | None]) -> float:
    """GenAI-Bench's accuracy over all pairs, as the official ``inference.py`` scores it.

    Correct when the vote equals the human 4-way label, or when the vote is the
    bare tie ``"A=B"`` and the human voted either tie kind. ``None`` (the official
    regex found no ``[[...]]``, or found something else) is wrong.
    """
    return genai_bench_accuracy(human, votes, ways=4)


def genai_bench_accuracy(
    human: Sequence[FourWayLabel], votes: Sequence[FourWayVote | None], ways: Literal[4, 3, 2] = 4
) -> float:
    """GenAI-Bench accuracy with 4 classes, or folded to 3 or 2.

    - ``ways=4``: the official metric (:func:`accuracy_4way`).
    - ``ways=3``: both-good and both-bad folded into one tie class, on both sides
      (UnifiedReward's w/-ties protocol without calibration); all pairs.
    - ``ways=2``: only pairs with a left or right human vote; any model tie is wrong.
    """
    _check_lengths(human, votes)
    for value in human:
        if value not in FOUR_WAY_LABELS:
            raise ValueError(f"unknown 4-way human label {value!r}; expected one of {', '.join(FOUR_WAY_LABELS)}")
    for vote in votes:
        if vote is not None and vote not in FOUR_WAY_VOTES:
            raise ValueError(f"unknown 4-way vote {vote!r}; expected one of {', '.join(FOUR_WAY_VOTES)} or None")
    if ways == 4:
        if not human:
            raise ValueError("accuracy is undefined on zero pairs")
        hv = np.array(human, dtype=object)
        vv = np.array(votes, dtype=object)
        return float(_four_way_correct(hv, vv).sum()) / len(hv)
    folded_h = [fold_four_way(x) for x in human]
    folded_v = [None if v is None else fold_four_way(v) for v in votes]
    if ways == 3:
        return accuracy_3class(folded_h, folded_v)
    if ways == 2:
        return accuracy_without_ties(folded_h, folded_v)
    raise ValueError(f"ways must be 4, 3 or 2, not {ways!r}")


def per_dimension_accuracy(
    human: Sequence[Mapping[Dimension, Label]],
    predictions: Sequence[Prediction],
    metric: Literal["without_ties", "3class", "with_ties", "with_ties_official"] = "without_ties",
) -> dict[Dimension, float]:
    """One metric per dimension, each over the pairs that have a human label for it.

    Dimensions where the metric is undefined (e.g. no non-tie label) are left out.
    """
    _check_lengths(human, predictions)
    dims: list[Dimension] = []
    for labels in human:
        dims.extend(d for d in labels if d not in dims)
    out: dict[Dimension, float] = {}
    for dim in dims:
        rows = [(labels[dim], pred) for labels, pred in zip(human, predictions) if dim in labels]
        h = [label for label, _ in rows]
        try:
            if metric == "without_ties":
                out[dim] = accuracy_without_ties(h, [p.label(dim) for _, p in rows])
            elif metric == "3class":
                out[dim] = accuracy_3class(h, [p.label(dim) for _, p in rows])
            elif metric == "with_ties":
                out[dim] = accuracy_with_ties(h, [p.margin(dim) for _, p in rows])
            elif metric == "with_ties_official":
                out[dim] = accuracy_with_ties(h, [p.margin(dim) for _, p in rows], mode="official")
            else:
                raise ValueError(f"unknown metric {metric!r}")
        except ValueError as err:
            if "undefined" not in str(err):
                raise
            logger.debug("skipping %s for %s: %s", metric, dim, err)
    return out


# ---------------------------------------------------------------------------
# Uncertainty and breakdowns


def bootstrap_ci(
    statistic: Callable[[np.ndarray], float],
    num_items: int,
    *,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of ``statistic``.

    ``statistic`` takes an array of item indices (a resample, with repetition)
    and returns the metric on those items. Resamples where the metric is
    undefined (it raised ``ValueError``, e.g. no non-tie pair was drawn) are
    skipped. The same ``seed`` gives the same interval; two metrics bootstrapped
    with the same seed and ``num_items`` see the same resamples (paired).
    """
    if num_items <= 0:
        raise ValueError("bootstrap needs at least one item")
    if n_resamples <= 0:
        raise ValueError("n_resamples must be positive")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence = {confidence}: must be in (0, 1)")
    rng = np.random.default_rng(seed)
    values = np.empty(n_resamples, dtype=np.float64)
    for i in range(n_resamples):
        # One resample at a time keeps memory at O(num_items) for 26k-pair benchmarks.
        idx = rng.integers(0, num_items, size=num_items)
        try:
            values[i] = statistic(idx)
        except ValueError:
            values[i] = math.nan
    if np.isnan(values).all():
        raise ValueError("the statistic is undefined on every bootstrap resample")
    alpha = (1.0 - confidence) / 2.0
    lo, hi = np.nanpercentile(values, [100.0 * alpha, 100.0 * (1.0 - alpha)])
    return float(lo), float(hi)


def breakdown(buckets: Sequence[str], statistic: Callable[[np.ndarray], float]) -> dict[str, tuple[float | None, int]]:
    """``statistic`` on the items of each bucket: ``{bucket: (value, num_items)}``.

    ``statistic`` takes item indices, as in :func:`bootstrap_ci`. A bucket where it
    is undefined gets ``None``. Buckets come back sorted by name.
    """
    groups: dict[str, list[int]] = {}
    for i, bucket in enumerate(buckets):
        groups.setdefault(bucket, []).append(i)
    out: dict[str, tuple[float | None, int]] = {}
    for bucket in sorted(groups):
        idx = np.asarray(groups[bucket], dtype=np.int64)
        try:
            out[bucket] = (statistic(idx), len(idx))
        except ValueError:
            out[bucket] = (None, len(idx))
    return out


def bucket_label(value: float, edges: Sequence[float], unit: str = "s") -> str:
    """Name the bucket of ``value`` for ascending ``edges``: e.g. ``<4s``, ``4-8s``, ``>=8s``.

    Used to bucket pairs by video length (seconds) for :func:`breakdown`.
    """
    if list(edges) != sorted(edges) or not edges:
        raise ValueError(f"bucket edges must be a non-empty ascending list, got {list(edges)}")

    def fmt(x: float) -> str:
        return f"{x:g}"

    if value < edges[0]:
        return f"<{fmt(edges[0])}{unit}"
    for lo, hi in zip(edges[:-1], edges[1:]):
        if lo <= value < hi:
            return f"{fmt(lo)}-{fmt(hi)}{unit}"
    return f">={fmt(edges[-1])}{unit}"
