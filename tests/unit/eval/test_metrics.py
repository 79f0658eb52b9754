"""Golden-value tests for the metrics; every expected number is derived in a comment."""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest

from vrthinker.eval.metrics import (
    Prediction,
    accuracy_3class,
    accuracy_4way,
    accuracy_with_ties,
    accuracy_without_ties,
    bootstrap_ci,
    breakdown,
    bucket_label,
    choice_to_four_way,
    fold_four_way,
    genai_bench_accuracy,
    per_dimension_accuracy,
    side_balanced_accuracy,
    tie_calibration,
)

# The 8-pair golden example of docs/metrics.md: a discrete judge (margins +-1,
# no predicted ties). p1, p2 discordant; p3..p6 concordant; p7, p8 human ties.
GOLDEN_HUMAN = ["A", "B", "A", "B", "A", "B", "tie", "tie"]
GOLDEN_MARGINS = [-1.0, 1.0, 1.0, -1.0, 1.0, -1.0, 1.0, -1.0]


# ---------------------------------------------------------------------------
# accuracy without ties


def test_without_ties_benchmarks_doc_check() -> None:
    # benchmarks.md 4.1: labels (1, -1, 1), margins (0.5, -0.2, 0) -> 0.667.
    # Margin 0 is a model tie, which counts wrong: 2 right of 3.
    assert accuracy_without_ties(["A", "B", "A"], ["A", "B", "tie"]) == pytest.approx(2 / 3)


def test_without_ties_ignores_human_ties_and_counts_unparsed_wrong() -> None:
    # Non-tie pairs: 1 (A/A right), 2 (B/None wrong), 4 (A/B wrong), 5 (B/B right) -> 2/4.
    # Pair 3 is a human tie and is not counted, whatever the judge said.
    human = ["A", "B", "tie", "A", "B"]
    predicted = ["A", None, "A", "B", "B"]
    assert accuracy_without_ties(human, predicted) == 0.5


def test_without_ties_undefined_when_all_ties() -> None:
    with pytest.raises(ValueError, match="undefined"):
        accuracy_without_ties(["tie", "tie"], ["tie", "A"])


# ---------------------------------------------------------------------------
# 3-class accuracy


def test_3class_counts_ties_and_unparsed() -> None:
    # Right: 1 (A), 3 (tie/tie); wrong: 2 (None), 4 (tie vs B), 5 (A vs tie) -> 2/5.
    human = ["A", "B", "tie", "B", "tie"]
    predicted = ["A", None, "tie", "tie", "A"]
    assert accuracy_3class(human, predicted) == pytest.approx(0.4)


def test_3class_unparsed_on_human_tie_is_wrong() -> None:
    # UnifiedReward's scripts would credit this (parse failure = "same"); we do not.
    assert accuracy_3class(["tie"], [None]) == 0.0


def test_rejects_unknown_labels_and_length_mismatch() -> None:
    with pytest.raises(ValueError, match="unknown human label"):
        accuracy_3class(["same"], ["A"])
    with pytest.raises(ValueError, match="unknown predicted label"):
        accuracy_3class(["A"], ["1"])
    with pytest.raises(ValueError, match="length mismatch"):
        accuracy_3class(["A", "B"], ["A"])


# ---------------------------------------------------------------------------
# accuracy with ties


def test_with_ties_videoalign_demo() -> None:
    # calc_accuracy.py's own 9-pair demo (benchmarks.md 4.1: 0.6667 / 0.8333).
    # margins m = A - B: 0.8, 0.1, -0.4, 0.3, -0.3, -0.1, 0.3, -0.1, -0.1
    # h:                 +1,  -1,   0,  +1,  -1,    0,  +1,  -1,    0
    # no model tie: C = pairs 1,4,5,7,8 = 5 -> 5/9.  w/o ties = 5/6.
    # tie |m| <= 0.1 (pairs 2,6,8,9): +1 (6, human tie) -1 (8, concordant)
    #   +1 (9, human tie) +0 (2, discordant) -> 6 correct -> 6/9 = 0.6667 (the best:
    # tying the 0.3 group loses 3 concordant pairs, the 0.4 tie then gains only 1).
    h = ["A", "B", "tie", "A", "B", "tie", "A", "B", "tie"]
    a = [0.9, -0.7, 0.1, 0.8, -0.6, 0.2, 0.7, -0.5, 0.3]
    b = [0.1, -0.8, 0.5, 0.5, -0.3, 0.3, 0.4, -0.4, 0.4]
    m = [x - y for x, y in zip(a, b)]
    assert accuracy_with_ties(h, m) == pytest.approx(6 / 9)
    assert accuracy_with_ties(h, m, mode="official") == pytest.approx(6 / 9)
    choices = ["A" if x > 0 else "B" if x < 0 else "tie" for x in m]
    assert accuracy_without_ties(h, choices) == pytest.approx(5 / 6)


def test_official_is_order_dependent_ours_is_not() -> None:
    # Base state (no model tie): 4 concordant of 8 -> 0.50.
    # Every |m| = 1, so the only real thresholds are "no ties" (0.50) and "all
    # ties" (2 human ties right -> 0.25): ours = 0.50 in any order.
    # Official, listed order: the discordant p1, p2 are tied first (+0, +0 ->
    # 4/8), then concordant ones (-1 each), human ties last -> best 0.50.
    # Official, reversed order: p8, p7 (human ties) first: 5/8, then 6/8 = 0.75
    # - a state no threshold can produce (two |m| = 1 pairs tied, six not).
    reversed_h, reversed_m = GOLDEN_HUMAN[::-1], GOLDEN_MARGINS[::-1]
    assert accuracy_with_ties(GOLDEN_HUMAN, GOLDEN_MARGINS, mode="official") == 0.5
    assert accuracy_with_ties(reversed_h, reversed_m, mode="official") == 0.75
    assert accuracy_with_ties(GOLDEN_HUMAN, GOLDEN_MARGINS) == 0.5
    assert accuracy_with_ties(reversed_h, reversed_m) == 0.5


def test_order_independent_mode_is_invariant_under_permutation() -> None:
    rng = random.Random(0)
    human = [rng.choice(["A", "B", "tie"]) for _ in range(40)]
    margins = [float(rng.choice([-2, -1, 0, 1, 2])) for _ in range(40)]
    expected = accuracy_with_ties(human, margins)
    official_values = set()
    for _ in range(30):
        order = list(range(40))
        rng.shuffle(order)
        h = [human[i] for i in order]
        m = [margins[i] for i in order]
        assert accuracy_with_ties(h, m) == expected
        official_values.add(accuracy_with_ties(h, m, mode="official"))
    # With heavy |m| repetition the official sweep moves with the order.
    assert len(official_values) > 1


def test_order_independent_is_max_over_every_threshold() -> None:
    # Brute force: evaluate the 3-class accuracy at tau = -1 and at each |m|.
    rng = random.Random(1)
    for _ in range(50):
        n = rng.randint(1, 12)
        human = [rng.choice(["A", "B", "tie"]) for _ in range(n)]
        margins = [round(rng.uniform(-1, 1), 1) for _ in range(n)]

        def acc(tau: float) -> float:
            right = 0
            for h, m in zip(human, margins):
                # m = 0 outside a tie has no direction: wrong, as in the reference.
                pred = "tie" if abs(m) <= tau else ("A" if m > 0 else "B" if m < 0 else None)
                right += pred == h
            return right / n

        best = max(acc(t) for t in [-1.0, *map(abs, margins)])
        assert accuracy_with_ties(human, margins) == pytest.approx(best)


def test_modes_agree_on_distinct_margins_except_no_tie_state() -> None:
    # Distinct |m| and the best state has a tie: both modes give the same.
    h = ["A", "tie", "B", "A"]
    m = [0.9, 0.05, -0.7, 0.4]
    # No tie: C = 3 -> 3/4. Tie 0.05 (human tie): 4/4 = 1.0, best in both.
    assert accuracy_with_ties(h, m) == accuracy_with_ties(h, m, mode="official") == 1.0
    # Quirk (b): the official sweep never scores "no model tie". A perfect judge
    # on 2 non-tie pairs: ours 2/2; official ties |m| = 0.3 first -> 1/2 at best.
    assert accuracy_with_ties(["A", "B"], [0.5, -0.3]) == 1.0
    assert accuracy_with_ties(["A", "B"], [0.5, -0.3], mode="official") == 0.5


def test_tie_calibration_threshold() -> None:
    # Discrete judge with its own ties: margins 0 / +-1.
    # No tie: C = 1 (pair 1) -> 1/4. tau = 0: pair 3 (human tie, m = 0) right,
    # pair 4 (human A, m = 0) stays wrong -> 2/4. tau = 1: all ties -> 1/4.
    h = ["A", "B", "tie", "A"]
    m = [1.0, 1.0, 0.0, 0.0]
    calib = tie_calibration(h, m)
    assert calib.accuracy == 0.5 and calib.threshold == 0.0
    # Same numbers as plain 3-class accuracy on the discrete choices.
    assert accuracy_3class(h, ["A", "A", "tie", "tie"]) == 0.5
    # A perfect non-tie judge needs no tie at all: threshold None.
    assert tie_calibration(["A", "B"], [0.5, -0.3]).threshold is None


def test_with_ties_unparsed_is_always_wrong() -> None:
    # The unparsed human tie would become right once tau covers it if it were a
    # margin of 0; as None it stays wrong: best = no tie, pair 1 right -> 1/2.
    assert accuracy_with_ties(["A", "tie"], [1.0, None]) == 0.5
    # The official sweep must tie at least one parsed pair (quirk b): tying the
    # only one, pair 1, leaves 0 right -> 0/2.
    assert accuracy_with_ties(["A", "tie"], [1.0, None], mode="official") == 0.0
    # Everything unparsed: 0, not the reference's -inf.
    assert accuracy_with_ties(["A", "tie"], [None, None], mode="official") == 0.0


def test_with_ties_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="zero pairs"):
        accuracy_with_ties([], [])
    with pytest.raises(ValueError, match="unknown tie mode"):
        accuracy_with_ties(["A"], [1.0], mode="grouped")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="finite"):
        accuracy_with_ties(["A"], [float("inf")])


# ---------------------------------------------------------------------------
# GenAI-Bench 4-way


FOUR_HUMAN = ["A>B", "B>A", "A=B=Good", "A=B=Bad", "A=B=Good", "A=B=Bad", "A>B", "B>A"]
FOUR_VOTES = ["A>B", "A>B", "A=B=Good", "A=B=Good", "A=B", "A=B", None, "A=B=Bad"]


def test_4way_official_scoring() -> None:
    # Right: 1 (exact), 3 (exact), 5 and 6 (bare A=B is credited on either tie
    # kind, as in inference.py). Wrong: 2, 4 (Good vs Bad), 7 (unparsed), 8.
    # -> 4/8 = 0.5.
    assert accuracy_4way(FOUR_HUMAN, FOUR_VOTES) == 0.5


def test_4way_folds() -> None:
    # 3-way: human folds to A B t t t t A B; votes to A A t t t t None t.
    # Right: 1, 3, 4, 5, 6 -> 5/8 (pair 4, Good vs Bad, becomes right).
    assert genai_bench_accuracy(FOUR_HUMAN, FOUR_VOTES, ways=3) == 5 / 8
    # 2-way: only pairs 1, 2, 7, 8 (left/right human votes); right: 1 -> 1/4.
    assert genai_bench_accuracy(FOUR_HUMAN, FOUR_VOTES, ways=2) == 0.25


def test_4way_rejects_unknown_values() -> None:
    with pytest.raises(ValueError, match="4-way human"):
        accuracy_4way(["leftvote"], ["A>B"])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="4-way vote"):
        accuracy_4way(["A>B"], ["[[A>B]]"])  # type: ignore[list-item]


def test_four_way_conversions() -> None:
    assert [fold_four_way(x) for x in ("A>B", "B>A", "A=B=Good", "A=B=Bad", "A=B")] == ["A", "B", "tie", "tie", "tie"]
    assert [choice_to_four_way(x) for x in ("A", "B", "tie", None)] == ["A>B", "B>A", "A=B", None]


# ---------------------------------------------------------------------------
# Prediction


def test_prediction_label_margin_and_vote() -> None:
    pred = Prediction(
        pair_id="p",
        choice={"Overall": "tie", "TA": None},
        score_diff={"VQ": -0.25, "Overall": 0.1},
    )
    assert pred.label("Overall") == "tie"  # the discrete answer wins for discrete metrics
    assert pred.margin("Overall") == 0.1  # the margin wins for the sweep
    assert pred.label("VQ") == "B" and pred.margin("VQ") == -0.25  # sign of the margin
    assert pred.label("TA") is None and pred.margin("TA") is None  # unparsed
    assert pred.label("MQ") is None  # not answered at all
    assert pred.four_way() == "A=B"
    assert Prediction(pair_id="q", choice={"Overall": "B"}, vote_4way="A=B=Bad").four_way() == "A=B=Bad"


def test_prediction_rejects_contradiction() -> None:
    with pytest.raises(ValueError, match="contradicts"):
        Prediction(pair_id="p", choice={"TA": "A"}, score_diff={"TA": -1.0})


def test_per_dimension_accuracy() -> None:
    # TA: 2 non-tie pairs, 1 right -> 0.5. Overall: 1 labelled pair, right -> 1.0.
    human = [{"TA": "A", "Overall": "B"}, {"TA": "B"}, {"TA": "tie"}]
    preds = [
        Prediction(pair_id="0", choice={"TA": "A", "Overall": "B"}),
        Prediction(pair_id="1", choice={"TA": "A"}),
        Prediction(pair_id="2", choice={"TA": "tie"}),
    ]
    assert per_dimension_accuracy(human, preds) == {"TA": 0.5, "Overall": 1.0}
    # 3-class on TA: pairs 1 and 3 right -> 2/3.
    assert per_dimension_accuracy(human, preds, "3class")["TA"] == pytest.approx(2 / 3)


# ---------------------------------------------------------------------------
# Bootstrap and breakdowns


def test_bootstrap_is_deterministic_and_brackets_the_estimate() -> None:
    correct = np.array([1, 0, 1, 1, 0, 1, 1, 1, 0, 1] * 10, dtype=float)  # mean 0.7

    def stat(idx: np.ndarray) -> float:
        return float(correct[idx].mean())

    first = bootstrap_ci(stat, len(correct), n_resamples=500, seed=3)
    assert first == bootstrap_ci(stat, len(correct), n_resamples=500, seed=3)
    assert first != bootstrap_ci(stat, len(correct), n_resamples=500, seed=4)
    lo, hi = first
    assert lo < 0.7 < hi
    # Normal approximation: 1.96 * sqrt(0.7 * 0.3 / 100) = 0.0898; the percentile
    # interval must be close to that half-width.
    assert (hi - lo) / 2 == pytest.approx(0.0898, abs=0.02)


def test_bootstrap_constant_statistic_and_undefined_resamples() -> None:
    assert bootstrap_ci(lambda idx: 0.25, 5, n_resamples=20) == (0.25, 0.25)
    with pytest.raises(ValueError, match="every bootstrap resample"):
        bootstrap_ci(lambda idx: accuracy_without_ties(["tie"], ["A"]), 3, n_resamples=5)
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_ci(lambda idx: 0.0, 3, confidence=1.5)


def test_breakdown_by_bucket() -> None:
    human = ["A", "B", "A", "tie"]
    predicted = ["A", "A", "A", "B"]
    buckets = ["short", "short", "long", "long"]
    h, p = np.array(human), np.array(predicted, dtype=object)

    def stat(idx: np.ndarray) -> float:
        return accuracy_without_ties(list(h[idx]), list(p[idx]))

    # long: pair 3 right (pair 4 is a human tie) -> 1.0 on 2 pairs.
    # short: pair 1 right, pair 2 wrong -> 0.5.
    assert breakdown(buckets, stat) == {"long": (1.0, 2), "short": (0.5, 2)}
    # A bucket with only human ties has no w/o-ties accuracy.
    assert breakdown(["x", "y", "y", "y"], stat)["x"] == (1.0, 1)
    assert breakdown(["t", "t", "t", "u"], stat)["u"] == (None, 1)


@pytest.mark.parametrize(
    ("value", "label"),
    [(2.0, "<4s"), (4.0, "4-8s"), (7.9, "4-8s"), (8.0, ">=8s"), (60, ">=8s")],
)
def test_bucket_label(value: float, label: str) -> None:
    assert bucket_label(value, [4, 8]) == label


def test_bucket_label_rejects_bad_edges() -> None:
    with pytest.raises(ValueError, match="ascending"):
        bucket_label(1.0, [8, 4])


def test_every_order_of_a_small_case() -> None:
    # Pairs p1, p2 (discordant), p6 (concordant), p7, p8 (human ties) of the golden
    # example, all |m| = 1. Ours: no tie -> 1/5; all tied -> 2/5; so 0.4 in all
    # 120 orders. Official: ties first gives 3/5, discordant first then ties 3/5,
    # concordant first 2/5 at best: several values.
    pairs = [(GOLDEN_HUMAN[i], GOLDEN_MARGINS[i]) for i in (0, 1, 5, 6, 7)]
    ours, official = set(), set()
    for order in itertools.permutations(pairs):
        h, m = [x for x, _ in order], [y for _, y in order]
        ours.add(accuracy_with_ties(h, m))
        official.add(accuracy_with_ties(h, m, mode="official"))
    assert ours == {0.4}
    assert official == {0.4, 0.6}


def test_side_balanced_accuracy_does_not_reward_naming_the_majority_side():
    human = ["B"] * 48 + ["A"] * 30 + ["tie"] * 3
    always_b = ["B"] * len(human)
    # Plain accuracy without ties gives a constant answer the majority side's share...
    assert accuracy_without_ties(human, always_b) == pytest.approx(48 / 78)
    # ...the side-balanced mean gives it half, whatever the balance.
    assert side_balanced_accuracy(human, always_b) == pytest.approx(0.5)
    # A judge right on 4 of 30 A pairs and 47 of 48 B pairs: (4/30 + 47/48) / 2.
    predicted = ["A"] * 4 + ["B"] * 26 + ["B"] * 47 + ["A"] + ["tie"] * 3
    human = ["A"] * 30 + ["B"] * 48 + ["tie"] * 3
    assert side_balanced_accuracy(human, predicted) == pytest.approx((4 / 30 + 47 / 48) / 2)
    # Unparsed answers are wrong; a side with no pair is left out.
    assert side_balanced_accuracy(["A", "A"], [None, "A"]) == 0.5
    with pytest.raises(ValueError, match="no pair has a non-tie"):
        side_balanced_accuracy(["tie"], ["A"])
