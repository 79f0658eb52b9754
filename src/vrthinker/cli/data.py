"""``vrthinker data ...``: inspect preference-pair files and make the synthetic suite."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any, Literal, Optional

import typer
from rich.console import Console
from rich.table import Table

from vrthinker.cli import app
from vrthinker.cli.options import FRAME_LABELS_HELP
from vrthinker.data.check import check_file
from vrthinker.data.loaders import DataError
from vrthinker.data.schema import DIMENSION_NAMES, DIMENSIONS
from vrthinker.episode.config import FrameLabels

data_app = typer.Typer(
    name="data",
    help=(
        "Inspect preference-pair files and build the synthetic suite.\n\n"
        "A preference pair is a prompt, two videos (A and B) and, per dimension "
        "(TA text alignment, VQ visual quality, MQ motion quality, Overall), which "
        "video is better: A, B or tie."
    ),
    no_args_is_help=True,
)
app.add_typer(data_app, name="data")

FormatName = Literal["native", "videogen", "genai-bench", "mj-bench-video", "parquet"]

_FORMAT_HELP = "File format, one of the formats listed above."

_MAX_BAD_ROWS_SHOWN = 20


@data_app.command(
    "check",
    epilog=(
        "Examples:\n\n"
        "  vrthinker data check ../shared/benchmarks/videoalign-example/example.csv "
        "--format videogen --decode\n\n"
        "  vrthinker data check ../shared/benchmarks/genai-bench/test.unifiedreward-export.json "
        "--format genai-bench --no-check-files --json\n\n"
        "  vrthinker data check ../shared/benchmarks/mj-bench-video/test.json "
        "--format mj-bench-video --no-check-files"
    ),
)
def check_cmd(
    file: Annotated[Path, typer.Argument(help="The data file to check.", show_default=False)],
    format: Annotated[FormatName, typer.Option("--format", "-f", help=_FORMAT_HELP, show_default=False)],
    root: Annotated[
        Path | None,
        typer.Option(
            "--root",
            help="Directory that relative video paths are resolved against (default: the file's directory).",
            show_default=False,
        ),
    ] = None,
    decode: Annotated[
        bool,
        typer.Option(
            "--decode",
            help="Open every distinct video once and report fps, frame count and size; "
            "a video that does not decode makes its pairs bad rows.",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print exactly one JSON object on stdout.")] = False,
    on_bad_row: Annotated[
        Literal["skip", "fail"],
        typer.Option(
            "--on-bad-row",
            help="skip: report bad rows and carry on (exit 0). fail: stop at the first bad row (exit 1).",
        ),
    ] = "skip",
    check_files: Annotated[
        bool,
        typer.Option(
            "--check-files/--no-check-files",
            help="Make a missing local video file a bad row. Use --no-check-files for "
            "metadata-only releases (GenAI-Bench, MJ-Bench-Video) whose videos are not here.",
        ),
    ] = True,
) -> None:
    """Load a preference-pair file and report pairs, label distribution per dimension and bad rows.

    A bad row (unknown label, empty prompt, missing field or video, video that does
    not decode) is listed with its row number, field and reason. The exit code is
    non-zero only when the file cannot be read or --on-bad-row fail meets a bad row.
    Relative video paths are resolved against --root (default: the file's directory).

    Formats (--format):

    videogen: VideoGen-RewardBench / VideoAlign CSV. Columns path_A, path_B, prompt,
    VQ, MQ, TA, optional Overall, fps_A/B, num_frames_A/B; values A, B or same (tie).

    genai-bench: GenAI-Bench video, JSON list, JSONL or Parquet. Fields prompt,
    left_video (or video_left), right_video (or video_right), vote_type: leftvote (A),
    rightvote (B), tievote or bothbad_vote (tie; the 4-way value is kept).

    mj-bench-video: MJ-Bench-Video test.json. Fields caption, video_0_path (A),
    video_1_path (B), overall_preference: "Video 1 better", "Video 2 better", "Same",
    "Hard to judge" (no label), any case. Aspect preferences are counted, not mapped.

    native: our JSONL, one pair per line: pair_id, prompt, video_a, video_b,
    labels {TA|VQ|MQ|Overall: A|B|tie}, source, meta.

    parquet: the native columns in a Parquet file (e.g. from datasets.to_parquet).
    """
    try:
        summary = check_file(
            file,
            format,
            root=root,
            decode=decode,
            on_bad_row=on_bad_row,
            check_files=check_files,
        )
    except DataError as err:
        # One clear line, no traceback: the message already names file, row and fix.
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(code=1) from None

    if as_json:
        typer.echo(json.dumps(summary, ensure_ascii=False))
        return
    _print_summary(summary, Console())


@data_app.command(
    "synth",
    epilog="Example:\n\n  vrthinker data synth --out runs/synth --pairs 64 --seed 0",
)
def synth_cmd(
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory to write pairs.jsonl and the videos into.", show_default=False)],
    pairs: Annotated[int, typer.Option("--pairs", "-n", min=1, help="Number of preference pairs to generate.")] = 64,
    seed: Annotated[int, typer.Option("--seed", help="Random seed; the same seed gives the same suite.")] = 0,
    difficulty: Annotated[
        float,
        typer.Option(
            "--difficulty",
            min=0.0,
            max=1.0,
            help="0 = large, long-lasting defects; 1 = subtle defects local in time that the initial frames miss.",
        ),
    ] = 0.5,
    local_fraction: Annotated[
        float,
        typer.Option("--local-fraction", min=0.0, max=1.0, help="Share of defects that are local in time (a few frames)."),
    ] = 0.5,
    tie_fraction: Annotated[
        float, typer.Option("--tie-fraction", min=0.0, max=1.0, help="Chance that a dimension is a tie.")
    ] = 0.15,
    kinds: Annotated[
        Optional[str],
        typer.Option(
            "--kinds",
            help="Comma-separated defect kinds to use (color, shape, direction, noise, blur, teleport, jitter, "
            "freeze); default all. E.g. --kinds noise,blur trains one dimension at a time.",
            show_default=False,
        ),
    ] = None,
    frames: Annotated[int, typer.Option("--frames", min=8, help="Frames per clip (the demo uses 32).")] = 48,
    local_run: Annotated[
        Optional[str],
        typer.Option("--local-run", help="Length of local defect runs as MIN-MAX frames (e.g. 2-3), instead of the "
                     "difficulty's (4-5 at 0, 2-3 at 1).", show_default=False),
    ] = None,
    backgrounds: Annotated[
        Optional[str],
        typer.Option("--backgrounds", help="Comma-separated scene backgrounds (grey, black); default both.",
                     show_default=False),
    ] = None,
) -> None:
    """Generate the synthetic long-video preference suite (short MP4s with injected TA / VQ / MQ defects).

    The suite runs anywhere, offline: it is what `vrthinker demo` trains and evaluates on.
    Check it afterwards with `vrthinker data check OUT/pairs.jsonl --format native --decode`.
    """
    from vrthinker.data.synthetic import generate_suite  # heavy (video writer); only this command needs it

    kind_list = [k.strip() for k in kinds.split(",") if k.strip()] if kinds else None
    background_list = [b.strip() for b in backgrounds.split(",") if b.strip()] if backgrounds else None
    run_range = None
    if local_run is not None:
        try:
            low, high = (int(x) for x in local_run.split("-"))
        except ValueError:
            typer.echo(f"error: --local-run {local_run!r}: expected MIN-MAX frames, e.g. 2-3", err=True)
            raise typer.Exit(2) from None
        run_range = (low, high)
    try:
        path = generate_suite(
            out, num_pairs=pairs, seed=seed, difficulty=difficulty, local_fraction=local_fraction,
            tie_fraction=tie_fraction, kinds=kind_list, num_frames=frames, local_run_frames=run_range,  # type: ignore[arg-type]
            backgrounds=background_list,
        )  # fmt: skip
    except ValueError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"wrote {pairs} pairs to {path}")


def _print_summary(summary: dict[str, Any], console: Console) -> None:
    console.print(
        f"[bold]{summary['file']}[/bold] ({summary['format']}): "
        f"{summary['pairs']} pairs from {summary['rows']} rows, "
        f"{len(summary['bad_rows'])} bad, {summary['unique_prompts']} distinct prompts, "
        f"{summary['unique_videos']} distinct videos"
    )

    labels = Table(title="Labels per dimension")
    labels.add_column("dimension")
    for name in ("A", "B", "tie", "missing"):
        labels.add_column(name, justify="right")
    for dim in DIMENSIONS:
        counts = summary["labels"][dim]
        labels.add_row(f"{dim} ({DIMENSION_NAMES[dim]})", *(str(counts[k]) for k in ("A", "B", "tie", "missing")))
    console.print(labels)

    source_labels = summary.get("source_labels")
    if source_labels:
        table = Table(title="Source labels (kept in meta)")
        table.add_column("label")
        table.add_column("counts")
        for name, counts in source_labels.items():
            table.add_row(name, ", ".join(f"{k} {v}" for k, v in counts.items()))
        console.print(table)

    bad_rows = summary["bad_rows"]
    if bad_rows:
        table = Table(title=f"Bad rows ({len(bad_rows)})")
        table.add_column("row", justify="right")
        table.add_column("field")
        table.add_column("reason", overflow="fold")
        for bad in bad_rows[:_MAX_BAD_ROWS_SHOWN]:
            table.add_row(str(bad["row"]), bad["field"], bad["reason"])
        console.print(table)
        by_field = ", ".join(f"{field} {n}" for field, n in summary["bad_rows_by_field"].items())
        console.print(f"bad rows by field: {by_field}")
        if len(bad_rows) > _MAX_BAD_ROWS_SHOWN:
            console.print(f"... and {len(bad_rows) - _MAX_BAD_ROWS_SHOWN} more (use --json to get them all)")

    videos = summary.get("videos")
    if videos is not None:
        table = Table(title=f"Decoded videos ({len(videos)})")
        table.add_column("video", overflow="fold")
        for name in ("fps", "frames", "size", "seconds"):
            table.add_column(name, justify="right")
        table.add_column("codec / error", overflow="fold")
        root = summary["root"]
        for video in videos:
            shown = _short(video["path"], root)
            if "error" in video:
                table.add_row(shown, "", "", "", "", f"[red]{video['error']}[/red]")
            else:
                table.add_row(
                    shown,
                    f"{video['fps']:g}",
                    str(video["num_frames"]),
                    f"{video['width']}x{video['height']}",
                    f"{video['duration_s']:.2f}",
                    str(video.get("codec", "")),
                )
        console.print(table)
        for mismatch in summary.get("meta_mismatches", []):
            console.print(
                f"[yellow]row {mismatch['row']}: {mismatch['field']} says {mismatch['stated']}, "
                f"the video has {mismatch['measured']}[/yellow]"
            )


def _short(path: str, root: str) -> str:
    """A video path relative to the root when it is inside it (tables stay narrow)."""
    try:
        relative = os.path.relpath(path, os.path.abspath(root))
    except ValueError:
        return path
    return path if relative.startswith("..") else relative


@data_app.command(
    "teach",
    epilog=(
        "Example:\n\n"
        "  vrthinker data synth --out runs/synth --pairs 200\n\n"
        "  vrthinker data teach runs/synth/pairs.jsonl --out runs/synth/traces.jsonl --window 1 --max-calls 3"
    ),
)
def teach_cmd(
    pairs_file: Annotated[Path, typer.Argument(help="A synthetic suite's pairs.jsonl (from `vrthinker data synth`).", show_default=False)],
    out: Annotated[Path, typer.Option("--out", "-o", help="Trace file (JSONL) to append to.", show_default=False)],
    window: Annotated[
        str, typer.Option("--window", help="Memory window p: rounds selected frames stay in view, or 'unlimited'.")
    ] = "1",
    max_calls: Annotated[int, typer.Option("--max-calls", min=0, help="Most select_frames calls per episode.")] = 3,
    frames_per_video: Annotated[int, typer.Option("--frames-per-video", min=1, help="Frames sampled per video (the pool).")] = 48,
    initial_per_video: Annotated[int, typer.Option("--initial-per-video", min=0, help="Frames per video shown up front.")] = 4,
    addressing: Annotated[
        Literal["pooled", "per_video"], typer.Option("--addressing", help="'pooled' (1..2N over both videos) or 'per_video'.")
    ] = "pooled",
    frame_labels: Annotated[
        FrameLabels, typer.Option("--frame-labels", help=FRAME_LABELS_HELP)
    ] = "frame_first",
    seed: Annotated[int, typer.Option("--seed", help="Seed of the teacher's choices (detours, detour frames).")] = 0,
    prompt_style: Annotated[
        Literal["full", "compact"],
        typer.Option("--prompt-style", help="'full' (Qwen tool prompt) or 'compact' (short prompt for models trained from scratch)."),
    ] = "full",
    detour_prob: Annotated[
        float,
        typer.Option("--detour-prob", min=0.0, max=1.0, help="Chance that the first call looks in the wrong place, then corrects itself."),
    ] = 0.2,
    strategy: Annotated[
        Literal["oracle", "scan"],
        typer.Option("--strategy", help="'oracle': call on the frames where a defect hides; 'scan': spend the call budget "
                     "on a fixed spread of skipped frames (a policy a student can imitate)."),
    ] = "oracle",
    describe: Annotated[
        Literal["grouped", "per_frame"],
        typer.Option("--describe", help="'grouped' sentences per video, or 'per_frame': one sentence per frame."),
    ] = "grouped",
    tally: Annotated[
        Literal["closing", "found", "found_compact", "found_letter", "per_video"],
        typer.Option("--tally", help="Running tally of defects seen so far: 'closing' (one sentence naming both videos "
                     "at the end of the thinking), 'found' (the same sentence naming only the videos with a defect: "
                     "'Defects: Video 2 has VQ.'), 'found_compact' (the same with 'Video2': "
                     "a digit a small model carries forward more easily), 'found_letter' ('VideoB': a letter found nowhere else in a "
                     "trace) or 'per_video' (one sentence after each video's frames)."),
    ] = "closing",
    frame_descriptions: Annotated[
        Path | None,
        typer.Option("--frame-descriptions", help="Also write one-frame description turns (perception warm-up data) here.",
                     show_default=False),
    ] = None,
    frames_per_turn: Annotated[
        int, typer.Option("--frames-per-turn", min=1, help="Frames per --frame-descriptions turn (1: one-frame turns).")
    ] = 1,
    batch_pairs: Annotated[int, typer.Option("--batch-pairs", min=1, help="Pairs judged (and appended) per chunk.")] = 32,
    resume: Annotated[
        bool, typer.Option("--resume/--no-resume", help="Skip pairs already in --out (default), or start the file afresh.")
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print exactly one JSON object on stdout.")] = False,
) -> None:
    """Write scripted-teacher traces for synthetic pairs: the cold-start SFT data.

    The teacher knows each pair's injected defects. Each trace describes what the frames
    in view show, calls select_frames on frames where a defect hides (sometimes looking in
    the wrong place first and correcting itself), and answers with the pair's labels.
    Only traces whose answer equals the labels are written; the rest are counted.
    """
    from vrthinker.cli.options import episode_config
    from vrthinker.data.native import read_pairs
    from vrthinker.policy.teacher import generate_frame_description_traces, generate_teacher_traces
    from vrthinker.video import VideoError

    config = episode_config(
        window,
        max_tool_calls=max_calls,
        frames_per_video=frames_per_video,
        initial_per_video=initial_per_video,
        frame_addressing=addressing,
        frame_labels=frame_labels,
        prompt_style=prompt_style,
    )
    try:
        pairs = read_pairs(pairs_file)
        stats = generate_teacher_traces(
            pairs, out, config, seed=seed, detour_prob=detour_prob, strategy=strategy, describe=describe,
            tally=tally, batch_pairs=batch_pairs, resume=resume,
        )
        if frame_descriptions is not None:
            stats["frame_descriptions"] = generate_frame_description_traces(
                pairs, frame_descriptions, config, frames_per_turn=frames_per_turn, seed=seed
            )
    except (DataError, VideoError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(json.dumps(stats, ensure_ascii=False))
        return
    typer.echo(
        f"wrote {stats['written']} traces to {stats['out']} in {stats['seconds']:.1f} s "
        f"({stats['skipped_existing']} already there, {stats['rejected']} rejected, "
        f"{stats['unscriptable']} not synthetic)\n"
        f"mean turns {stats['mean_turns']:.2f} · traces with a call {stats['tool_call_rate']:.0%} · "
        f"mean calls {stats['mean_tool_calls']:.2f} · detours {stats['detours']}"
        + (f"\nwrote {stats['frame_descriptions']['turns']} frame description turns to "
           f"{stats['frame_descriptions']['out']}" if frame_descriptions is not None else "")
    )
