"""Evaluation: metrics as pure functions, prediction files and their scoring.

All accuracies are fractions in [0, 1]; human-facing tables print percentages
with two decimals. ``docs/metrics.md`` defines every metric and says which
published numbers use which variant.
"""

from __future__ import annotations

from vrthinker.eval.metrics import (
    FOUR_WAY_LABELS,
    FOUR_WAY_VOTES,
    VOTE_TYPE_TO_FOUR_WAY,
    FourWayLabel,
    FourWayVote,
    Prediction,
    TieCalibration,
    TieMode,
    accuracy_3class,
    accuracy_4way,
    accuracy_with_ties,
    accuracy_without_ties,
    bootstrap_ci,
    breakdown,
    bucket_label,
    choice_to_four_way,
    choice_to_margin,
    fold_four_way,
    genai_bench_accuracy,
    per_dimension_accuracy,
    side_balanced_accuracy,
    tie_calibration,
)
from vrthinker.eval.predictions import (
    PREDICTION_FORMATS,
    PredictionFileError,
    PredictionFormat,
    PredictionLine,
    PredictionRecord,
    detect_format,
    four_way_label,
    load_predictions,
    prediction_to_json,
    score_predictions,
    write_predictions,
)

__all__ = [
    "FOUR_WAY_LABELS",
    "FOUR_WAY_VOTES",
    "PREDICTION_FORMATS",
    "VOTE_TYPE_TO_FOUR_WAY",
    "FourWayLabel",
    "FourWayVote",
    "Prediction",
    "PredictionFileError",
    "PredictionFormat",
    "PredictionLine",
    "PredictionRecord",
    "TieCalibration",
    "TieMode",
    "accuracy_3class",
    "accuracy_4way",
    "accuracy_with_ties",
    "accuracy_without_ties",
    "bootstrap_ci",
    "breakdown",
    "bucket_label",
    "choice_to_four_way",
    "choice_to_margin",
    "detect_format",
    "fold_four_way",
    "four_way_label",
    "genai_bench_accuracy",
    "load_predictions",
    "per_dimension_accuracy",
    "prediction_to_json",
    "score_predictions",
    "side_balanced_accuracy",
    "tie_calibration",
    "write_predictions",
]
