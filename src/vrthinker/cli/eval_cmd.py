"""``vrthinker eval``: score a judge on a preference benchmark.

Two exclusive modes, both ending in the same ``metrics`` dict printed by
:func:`_report`:

- ``--predictions FILE`` scores an existing predictions file (ours, or a
  judgment file released with GenAI-Bench);
- ``--model MODEL --data FILE --out DIR`` runs the judge over a benchmark with
  ``vrthinker.eval.runner`` (resumable: rerunning continues where it stopped),
  then writes the report (``vrthinker.eval.report``: metrics.json, report.md,
  report.html, plots, per-pair trace pages).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated, Any, NamedTuple, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from vrthinker.cli import app
from vrthinker.cli.options import FRAME_LABELS_HELP
from vrthinker.eval.predictions import (
    PREDICTION_FORMATS,
    PredictionFileError,
    detect_format,
    load_predictions,
    score_predictions,
)

logger = logging.getLogger(__name__)

_FORMAT_HELP = (
    "With --model: format of the --data file (native, videogen, genai-bench, mj-bench-video, parquet; "
    "auto = videogen for .csv, parquet for .parquet, native otherwise). "
    "With --predictions: format of the predictions file. "
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
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            "-m",
            help="Run this judge over --data: 'tiny' (offline random-init Qwen2.5-VL), a checkpoint directory, a "
            "cached hub id, or the served model's name with --endpoint.",
            show_default=False,
        ),
    ] = None,
    data: Annotated[
        Path | None, typer.Option("--data", "-d", help="With --model: the benchmark file.", show_default=False)
    ] = None,
    format: Annotated[str, typer.Option("--format", "-f", help=_FORMAT_HELP)] = "auto",
    root: Annotated[
        Path | None,
        typer.Option("--root", help="With --model: directory relative video paths are resolved against "
                     "(default: the data file's directory).", show_default=False),
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option("--limit", min=1, help="With --model: judge only the first N pairs.", show_default=False),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print exactly one JSON object on stdout.")] = False,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Directory to write metrics.json into; with --model (required) also the predictions, traces and "
            "report. Rerunning with the same --out continues where the run stopped.",
            show_default=False,
        ),
    ] = None,
    window: Annotated[
        str | None,
        typer.Option("--window", help="With --model: memory window p (rounds), or 'unlimited'. [default: 1]",
                     show_default=False),
    ] = None,
    max_calls: Annotated[
        int | None,
        typer.Option("--max-calls", min=0, help="With --model: most select_frames calls. [default: 3]", show_default=False),
    ] = None,
    frames_per_video: Annotated[
        int | None,
        typer.Option("--frames-per-video", min=1, help="With --model: frames sampled per video. [default: 48]",
                     show_default=False),
    ] = None,
    max_new_tokens: Annotated[
        int | None,
        typer.Option("--max-new-tokens", min=1, help="With --model: most tokens per turn. [default: 512]",
                     show_default=False),
    ] = None,
    initial_per_video: Annotated[
        int | None,
        typer.Option("--initial-per-video", min=0, help="With --model: frames per video shown up front. [default: 4]",
                     show_default=False),
    ] = None,
    prompt_style: Annotated[
        str | None,
        typer.Option("--prompt-style", help="With --model: 'full' (Qwen tool prompt) or 'compact' (models trained "
                     "on our compact traces). [default: full]", show_default=False),
    ] = None,
    frame_labels: Annotated[
        str | None,
        typer.Option("--frame-labels", help=f"With --model: {FRAME_LABELS_HELP} [default: frame_first]",
                     show_default=False),
    ] = None,
    batch_pairs: Annotated[
        int, typer.Option("--batch-pairs", min=1, help="With --model: pairs judged per batch (and per write).")
    ] = 8,
    endpoint: Annotated[
        str | None,
        typer.Option("--endpoint", help="With --model: base URL of an OpenAI-compatible server "
                     "(e.g. http://localhost:8000/v1 from `vllm serve`).", show_default=False),
    ] = None,
    on_bad_row: Annotated[
        str, typer.Option("--on-bad-row", help="With --model: 'skip' (record in OUT/bad_rows.jsonl) or 'fail'.")
    ] = "skip",
    device: Annotated[str, typer.Option("--device", help="With --model: cpu, cuda or auto.")] = "cpu",
    bucket_key: Annotated[
        str | None,
        typer.Option(
            "--bucket-key",
            help="Also report the headline metrics per value of this meta field (e.g. length_bucket). "
            "With --model the report always buckets by video length (duration_s).",
            show_default=False,
        ),
    ] = None,
    bucket_edges: Annotated[
        str | None,
        typer.Option(
            "--bucket-edges",
            help="Comma-separated ascending edges to bucket a numeric --bucket-key field, e.g. 4,8,16 (seconds); "
            "with --model, the video-length buckets [default: 4,8,16].",
            show_default=False,
        ),
    ] = None,
    bootstrap: Annotated[
        int, typer.Option("--bootstrap", min=0, help="Bootstrap resamples for the 95% intervals; 0 turns them off.")
    ] = 1000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the bootstrap resampling (and of the tiny model).")] = 0,
) -> None:
    """Score a judge: accuracy with and without ties, 3-class, GenAI-Bench 4-way, per dimension.

    --predictions FILE scores an existing predictions file. --model MODEL --data FILE
    --out DIR runs the judge over a benchmark first (resumable), and writes
    predictions.jsonl, traces/, metrics.json, report.md, report.html and plots/ in DIR.
    Prints a table (or one JSON object with --json). Exit code 1 when a file cannot
    be read (the message names the line), 2 for a usage error.
    """
    edges = _parse_edges(bucket_edges)
    if predictions is not None and model is not None:
        _usage_error("give either --predictions FILE or --model MODEL --data FILE --out DIR, not both")
    if predictions is None and model is None:
        _usage_error("nothing to evaluate: give --predictions FILE, or --model MODEL --data FILE --out DIR")
    if model is not None:
        if data is None or out is None:
            _usage_error("--model needs --data FILE and --out DIR")
        if bucket_key is not None:
            _usage_error("--bucket-key is only used with --predictions (a --model run buckets by video length)")
        episode = {"memory_window": window, "max_tool_calls": max_calls, "frames_per_video": frames_per_video,
                   "max_new_tokens": max_new_tokens, "initial_per_video": initial_per_video,
                   "prompt_style": prompt_style, "frame_labels": frame_labels}
        run = _ModelRun(model, data, format, root, limit, out, episode, batch_pairs, endpoint, on_bad_row, device, seed)
        metrics = _run_model(run, edges, bootstrap, seed, show_progress=True)
        _report(metrics, as_json=as_json, out=None)
        return
    model_only = {"--data": data, "--root": root, "--limit": limit, "--window": window, "--max-calls": max_calls,
                  "--frames-per-video": frames_per_video, "--max-new-tokens": max_new_tokens, "--endpoint": endpoint,
                  "--initial-per-video": initial_per_video, "--prompt-style": prompt_style,
                  "--frame-labels": frame_labels}
    given = [name for name, value in model_only.items() if value is not None]
    if given:
        _usage_error(f"{', '.join(given)} only apply with --model")
    assert predictions is not None
    metrics = _metrics_from_predictions(predictions, format, bucket_key, edges, bootstrap, seed)
    _report(metrics, as_json=as_json, out=out)


def _usage_error(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=2)


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


class _ModelRun(NamedTuple):
    """The --model options, as given on the command line."""

    model: str
    data: Path
    format: str
    root: Path | None
    limit: int | None
    out: Path
    episode: dict[str, Any]  # EpisodeConfig fields given (None = the config's default)
    batch_pairs: int
    endpoint: str | None
    on_bad_row: str
    device: str
    seed: int


def _data_format(data: Path, format: str) -> str:
    from vrthinker.data.loaders import FORMATS

    if format == "auto":
        suffix = data.suffix.lower()
        format = "videogen" if suffix == ".csv" else "parquet" if suffix == ".parquet" else "native"
        logger.info("reading %s as %s (pass --format to choose)", data, format)
    if format not in FORMATS:
        _usage_error(f"--format {format!r} is not a data format; expected auto or one of {', '.join(FORMATS)}")
    return format


def _run_model(run: _ModelRun, edges: list[float] | None, bootstrap: int, seed: int, show_progress: bool) -> dict[str, Any]:
    """Judge the benchmark into run.out (resuming), write the report, return its metrics."""
    from vrthinker.cli.options import episode_config
    from vrthinker.data.loaders import DataError, load_pairs
    from vrthinker.eval.report import write_report
    from vrthinker.eval.runner import DEFAULT_LENGTH_EDGES, RunError, check_run_settings, run_benchmark
    from vrthinker.policy.openai_http import OpenAIEndpointError
    from vrthinker.video import VideoError

    if run.on_bad_row not in ("skip", "fail"):
        _usage_error(f"--on-bad-row {run.on_bad_row!r}: expected skip or fail")
    fields = dict(run.episode)
    config = episode_config(fields.pop("memory_window", None), **fields)
    data_format = _data_format(run.data, run.format)
    try:
        loaded = load_pairs(run.data, data_format, root=run.root, on_bad_row=run.on_bad_row)  # type: ignore[arg-type]
    except DataError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(code=1) from None
    # Everything that changes a prediction; --limit and --batch-pairs do not.
    model = str(Path(run.model).resolve()) if run.endpoint is None and Path(run.model).exists() else run.model
    settings = {"model": model, "endpoint": run.endpoint, "data": str(run.data.resolve()), "format": data_format,
                "root": None if run.root is None else str(run.root.resolve()), "seed": run.seed,
                "episode": config.model_dump()}
    try:
        check_run_settings(run.out, settings)
        records = run_benchmark(loaded, lambda: _build_judge(run, config), run.out, batch_pairs=run.batch_pairs,
                                limit=run.limit, show_progress=show_progress, on_bad_row=run.on_bad_row,  # type: ignore[arg-type]
                                length_edges=edges or DEFAULT_LENGTH_EDGES)
    except (RunError, PredictionFileError, VideoError, OpenAIEndpointError) as err:
        # One line, no traceback; what is done so far is kept and the next run resumes.
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(code=1) from None
    if not records:
        typer.echo(f"error: no pair could be judged; see {run.out / 'bad_rows.jsonl'}", err=True)
        raise typer.Exit(code=1)
    return write_report(run.out, records, n_resamples=bootstrap, seed=seed,
                        length_edges=edges or DEFAULT_LENGTH_EDGES, run_info=settings,
                        title=f"{run.model} on {run.data.name}")


def _build_judge(run: _ModelRun, config: Any) -> Any:
    """The judge: an OpenAI-compatible endpoint, or a model loaded here (only when pairs are left)."""
    import torch

    from vrthinker.policy.hf import HFPolicy
    from vrthinker.policy.judge import Judge
    from vrthinker.policy.models import ModelNotFoundError, load_model
    from vrthinker.policy.openai_http import OpenAIPolicy
    from vrthinker.video import FrameCache

    torch.manual_seed(run.seed)
    if run.endpoint is not None:
        policy: Any = OpenAIPolicy(run.endpoint, run.model)
    else:
        try:
            loaded = load_model(run.model, device=run.device, seed=run.seed)  # type: ignore[arg-type]
        except ModelNotFoundError as err:
            _usage_error(str(err))
        loaded.processor.min_pixels, loaded.processor.max_pixels = config.min_pixels, config.max_pixels
        policy = HFPolicy(loaded.model, loaded.processor, batch_size=run.batch_pairs)
    # Room for one chunk's videos: the runner decodes a chunk up front, then judges it
    # from the cache; a bigger cache would only hold frames of pairs already done.
    return Judge(policy=policy, config=config, cache=FrameCache(max_entries=2 * run.batch_pairs + 2))


def _report(metrics: dict[str, Any], *, as_json: bool, out: Path | None) -> None:
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "metrics.json").write_text(json.dumps(metrics, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    if as_json:
        typer.echo(json.dumps(metrics, ensure_ascii=False))
        return
    console = Console()
    _print_tables(metrics, console)
    if "tool_use" in metrics:
        _print_tool_use(metrics["tool_use"], console)
    if out is not None:
        console.print(f"wrote {out / 'metrics.json'}")
    if "report" in metrics:
        console.print(f"report: {metrics['report']}")


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


def _print_tool_use(tool_use: dict[str, Any], console: Console) -> None:
    from vrthinker.eval.report import TOOL_USE_ROWS

    table = Table(title="tool use (means per episode)")
    table.add_column("statistic")
    table.add_column("value", justify="right")
    for key, label in TOOL_USE_ROWS:
        value = tool_use.get(key)
        if key in tool_use:
            text = f"{_pct(value)} %" if key.endswith("rate") and value is not None else ("-" if value is None else f"{value:g}")
            table.add_row(label, text)
    ends = ", ".join(f"{reason} {count}" for reason, count in tool_use.get("end_reasons", {}).items())
    console.print(table)
    if ends:
        console.print(f"end reasons: {ends}")
