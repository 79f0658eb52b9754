"""``vrthinker eval``: score a judge's predictions on a preference benchmark.

Mode implemented here: ``--predictions FILE`` scores an existing predictions file
(ours, or a judgment file released with GenAI-Bench). Every mode ends in the same
``metrics`` dict, printed by :func:`_report`; a mode that runs a model first is a
new branch in :func:`eval_cmd` that produces that dict (and is exclusive with
``--predictions``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from vrthinker.cli import app
from vrthinker.eval.predictions import (
    PREDICTION_FORMATS,
    PredictionFileError,
    detect_format,
    load_predictions,
    score_predictions,
)

_FORMAT_HELP = (
    "Format of the --predictions file. "
    "vrthinker: our JSONL (pair_id, labels, judgment, optional scores, judgment_4way, meta). "
    "genai-bench: a judgment file released with GenAI-Bench (idx, prompt, model_vote such as "
    "[[A>B]], human_vote such as leftvote, correct). auto: tell from the first line."
)

# Top-level metrics in table order, with the label a reader knows them by.
_ROWS = (
    ("accuracy_without_ties", "w/o ties (diff)"),
    ("accuracy_with_ties", "w/ ties, calibrated"),
    ("accuracy_with_ties_official", "w/ ties, VideoAlign script"),
    ("accuracy_3class", "3-class (tau)"),
    ("accuracy_4way", "GenAI-Bench 4-way"),
    ("accuracy_3way", "GenAI-Bench 3-way fold"),
    ("accuracy_2way", "GenAI-Bench 2-way fold"),
)


@app.command(
    "eval",
    epilog=(
        "Example:\n\n"
        "  vrthinker eval --predictions ../shared/benchmarks/genai-bench/gpt4o.pairwise.jsonl\n\n"
        "Metrics are fractions in [0, 1] in JSON and percentages in the tables; "
        "docs/metrics.md defines each one."
    ),
)
def eval_cmd(
    predictions: Annotated[
        Path | None,
        typer.Option(
            "--predictions",
            "-p",
            help="Score this predictions file (JSONL, one pair per line).",
            show_default=False,
        ),
    ] = None,
    format: Annotated[str, typer.Option("--format", "-f", help=_FORMAT_HELP)] = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="Print exactly one JSON object on stdout.")] = False,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Directory to write metrics.json into.", show_default=False),
    ] = None,
    bucket_key: Annotated[
        str | None,
        typer.Option(
            "--bucket-key",
            help="Also report the headline metrics per value of this meta field (e.g. length_bucket).",
            show_default=False,
        ),
    ] = None,
    bucket_edges: Annotated[
        str | None,
        typer.Option(
            "--bucket-edges",
            help="Comma-separated ascending edges to bucket a numeric --bucket-key field, e.g. 4,8,16 (seconds).",
            show_default=False,
        ),
    ] = None,
    bootstrap: Annotated[
        int, typer.Option("--bootstrap", min=0, help="Bootstrap resamples for the 95% intervals; 0 turns them off.")
    ] = 1000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the bootstrap resampling.")] = 0,
) -> None:
    """Score a judge's predictions: accuracy with and without ties, 3-class, GenAI-Bench 4-way, per dimension.

    Prints a table (or one JSON object with --json) and writes OUT/metrics.json when
    --out is given. Exit code 1 when the file cannot be read (the message names the
    line), 2 for a usage error.
    """
    edges = _parse_edges(bucket_edges)
    if predictions is None:
        typer.echo("error: nothing to evaluate: give --predictions FILE", err=True)
        raise typer.Exit(code=2)
    metrics = _metrics_from_predictions(predictions, format, bucket_key, edges, bootstrap, seed)
    _report(metrics, as_json=as_json, out=out)


def _parse_edges(text: str | None) -> list[float] | None:
    if text is None:
        return None
    try:
        edges = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise typer.BadParameter(f"{text!r}: expected comma-separated numbers", param_hint="--bucket-edges") from None
    if not edges or edges != sorted(edges):
        raise typer.BadParameter(f"{text!r}: edges must be ascending", param_hint="--bucket-edges")
    return edges


def _metrics_from_predictions(
    path: Path, format: str, bucket_key: str | None, edges: list[float] | None, bootstrap: int, seed: int
) -> dict[str, Any]:
    if format not in PREDICTION_FORMATS:
        raise typer.BadParameter(
            f"{format!r} is not a predictions format; expected one of {', '.join(PREDICTION_FORMATS)}",
            param_hint="--format",
        )
    try:
        resolved = detect_format(path) if format == "auto" and path.is_file() else format
        records = load_predictions(path, resolved)  # type: ignore[arg-type]
    except PredictionFileError as err:
        # One clear line, no traceback: the message names the file and line.
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(code=1) from None
    metrics = score_predictions(records, n_resamples=bootstrap, seed=seed, bucket_key=bucket_key, bucket_edges=edges)
    return {"predictions": str(path), "format": resolved, **metrics}


def _report(metrics: dict[str, Any], *, as_json: bool, out: Path | None) -> None:
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "metrics.json").write_text(json.dumps(metrics, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    if as_json:
        typer.echo(json.dumps(metrics, ensure_ascii=False))
        return
    console = Console()
    _print_tables(metrics, console)
    if out is not None:
        console.print(f"wrote {out / 'metrics.json'}")


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}"


def _ci_text(ci: list[float] | None) -> str:
    return "-" if ci is None else f"[{_pct(ci[0])}, {_pct(ci[1])}]"


def _print_tables(metrics: dict[str, Any], console: Console) -> None:
    source = metrics.get("predictions", "")
    title = f"{source} ({metrics.get('format', '?')}): {metrics['num_pairs']} pairs, {metrics['num_unparsed']} unparsed"
    table = Table(title=title, caption=f"headline: {metrics['headline']}; values in %, 95% bootstrap CI")
    for column in ("metric", "value", "95% CI", "n"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    for key, label in _ROWS:
        if key in metrics:
            table.add_row(label, _pct(metrics[key]), _ci_text(metrics["ci95"].get(key)), str(metrics["support"][key]))
    console.print(table)

    per_dim = metrics["per_dimension"]
    if per_dim:
        dims = Table(title="per dimension (%)", caption="w/ ties off.: VideoAlign's script")
        for column in ("dim", "w/o ties", "w/ ties", "w/ ties off.", "3-class", "n", "non-tie", "unparsed"):
            dims.add_column(column, justify="left" if column == "dim" else "right")
        for dim, entry in per_dim.items():
            dims.add_row(
                dim,
                _pct(entry["accuracy_without_ties"]),
                _pct(entry["accuracy_with_ties"]),
                _pct(entry["accuracy_with_ties_official"]),
                _pct(entry["accuracy_3class"]),
                str(entry["num_pairs"]),
                str(entry["num_non_tie"]),
                str(entry["num_unparsed"]),
            )
        console.print(dims)

    by_bucket = metrics.get("by_bucket")
    if by_bucket:
        buckets = Table(title="by bucket (%)")
        for column in ("bucket", "n", "w/o ties", "w/ ties", "3-class", "4-way"):
            buckets.add_column(column, justify="left" if column == "bucket" else "right")
        for bucket, entry in by_bucket.items():
            buckets.add_row(
                bucket,
                str(entry["num_pairs"]),
                _pct(entry["accuracy_without_ties"]),
                _pct(entry["accuracy_with_ties"]),
                _pct(entry["accuracy_3class"]),
                _pct(entry.get("accuracy_4way")),
            )
        console.print(buckets)
