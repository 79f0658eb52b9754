"""``vrthinker sample``: rejection sampling (stage 2) — K episodes per pair, keep the fully correct ones."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Literal, Optional

import typer

from vrthinker.cli import app
from vrthinker.cli.options import FRAME_LABELS_HELP


@app.command(
    "sample",
    help=(
        "Rejection sampling: run K episodes per pair with a model, keep the traces whose format is valid and "
        "whose every labelled dimension and Overall judgment is right, and append them to --out (the input of "
        "`vrthinker train rft`). Prints acceptance and accuracy per dimension.\n\n"
        "The run is resumable: kill it and run the same command again; it continues with the pairs not yet "
        "finished, with no duplicates and nothing lost (progress is kept in OUT.progress.jsonl).\n\n"
        "On synthetic pairs, --check-reasoning also requires every turn to think what the scripted teacher "
        "would in its place (right frame sentences and tallies), not only a right answer; give the teacher "
        "settings the model was trained with (`vrthinker data teach`)."
    ),
    epilog="Example:\n\n  vrthinker sample --model runs/sft_tiny/checkpoint-600 --data runs/synth/pairs.jsonl --k 4 --out runs/rft/accepted.jsonl",
)
def sample(
    model: str = typer.Option(..., "--model", "-m", help="Checkpoint directory, tiny preset, or cached hub id."),
    data: Path = typer.Option(..., "--data", help="Pairs file (labels required)."),
    out: Path = typer.Option(..., "--out", help="Trace JSONL to append accepted traces to."),
    balanced_out: Optional[Path] = typer.Option(
        None, "--balanced-out",
        help="Also write the accepted traces with the smaller winning side (Overall A or B) repeated until both sides "
        "are even, as input for `train rft`: a sampling model that leans to one side gets more of that side "
        "accepted (docs/demo.md, eighth session).",
    ),
    fill_from: Optional[Path] = typer.Option(
        None, "--fill-from",
        help="Reference traces (e.g. `vrthinker data teach`'s) to fill in for every pair none of whose samples was "
        "accepted, written with the accepted ones to --filled-out (STaR's rationalization; docs/demo.md, fourteenth "
        "session). With --balanced-out too, the sides are evened on the filled traces.",
    ),
    filled_out: Optional[Path] = typer.Option(None, "--filled-out", help="Where --fill-from writes (required with it)."),
    k: int = typer.Option(4, "--k", min=1, help="Episodes per pair."),
    data_format: str = typer.Option("native", "--format", help="native, videogen, genai-bench, mj-bench-video or parquet."),
    root: Optional[Path] = typer.Option(None, "--root", help="Directory for relative video paths."),
    temperature: float = typer.Option(1.0, "--temperature", min=0.0, help="Sampling temperature (reference RFT: greedy = 0)."),
    window: str = typer.Option("1", "--window", help="Memory window p (rounds), or 'unlimited'."),
    max_calls: int = typer.Option(3, "--max-calls", min=0, help="Most select_frames calls per episode."),
    frames_per_video: int = typer.Option(48, "--frames-per-video", min=1, help="Frame pool size per video."),
    initial_per_video: int = typer.Option(4, "--initial-per-video", min=0, help="Frames per video shown up front."),
    max_new_tokens: int = typer.Option(256, "--max-new-tokens", min=1, help="Most tokens per turn."),
    prompt_style: str = typer.Option("full", "--prompt-style", help="'full' (Qwen tool prompt) or 'compact' (models trained on our traces)."),
    frame_labels: str = typer.Option("frame_first", "--frame-labels", help=FRAME_LABELS_HELP),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Only the first N pairs."),
    batch_pairs: int = typer.Option(8, "--batch-pairs", min=1, help="Pairs per batched rollout (and per progress record)."),
    seed: int = typer.Option(0, "--seed", help="Sampling seed: each batch of pairs draws from it and its position, so a resumed run samples what one straight through would."),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda or auto."),
    check_reasoning: bool = typer.Option(
        False, "--check-reasoning", help="Synthetic pairs only: keep a trace only if its reasoning is the teacher's too."
    ),
    # Defaults: the demo's teacher (`DemoConfig`). An oracle teacher's detours are drawn per episode key, so
    # sampled episodes (keys pair#k) cannot be checked against it reliably: scan is the strategy to check.
    teacher_strategy: Literal["scan", "oracle"] = typer.Option("scan", "--teacher-strategy", help="With --check-reasoning: 'scan' or 'oracle'."),
    teacher_describe: Literal["per_frame", "grouped"] = typer.Option("per_frame", "--teacher-describe", help="With --check-reasoning: 'per_frame' or 'grouped'."),
    teacher_tally: Literal["closing", "found", "found_compact", "found_letter", "per_video"] = typer.Option("found_compact", "--teacher-tally", help="With --check-reasoning: 'closing', 'found', 'found_compact', 'found_letter' or 'per_video' (as `data teach --tally`)."),
    as_json: bool = typer.Option(False, "--json", help="Print the statistics as one JSON object."),
) -> None:
    from vrthinker.cli.options import episode_config
    from vrthinker.data import DataError, load_pairs
    from vrthinker.policy.hf import HFPolicy
    from vrthinker.policy.judge import Judge
    from vrthinker.policy.models import ModelNotFoundError, load_model
    from vrthinker.train.rejection import balance_sides, fill_rejected, rejection_sample
    from vrthinker.video import VideoError

    if (fill_from is None) != (filled_out is None):
        typer.echo("error: --fill-from and --filled-out go together (the reference traces, and where the accepted "
                   "plus filled-in traces are written)", err=True)  # fmt: skip
        raise typer.Exit(2)
    if fill_from is not None and not fill_from.is_file():
        typer.echo(f"error: --fill-from {fill_from}: no such file (write reference traces with `vrthinker data teach`)",
                   err=True)  # fmt: skip
        raise typer.Exit(2)
    config = episode_config(
        window, max_tool_calls=max_calls, frames_per_video=frames_per_video, initial_per_video=initial_per_video,
        max_new_tokens=max_new_tokens, temperature=temperature, prompt_style=prompt_style, frame_labels=frame_labels,
    )  # fmt: skip
    try:
        pairs = load_pairs(data, data_format, root=root, on_bad_row="skip").pairs[:limit]
    except DataError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None
    check = None
    if check_reasoning:
        from vrthinker.policy.teacher import ScriptedTeacher, TeacherError

        try:
            teacher = ScriptedTeacher(pairs, config, seed, strategy=teacher_strategy, describe=teacher_describe,
                                      tally=teacher_tally)  # fmt: skip
        except (TeacherError, ValueError) as err:
            typer.echo(f"error: --check-reasoning: {err}", err=True)
            raise typer.Exit(2) from None
        check = teacher.reasoning_agrees
    try:
        loaded = load_model(model, device=device)
    except ModelNotFoundError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None
    loaded.processor.min_pixels, loaded.processor.max_pixels = config.min_pixels, config.max_pixels
    judge = Judge(HFPolicy(loaded.model, loaded.processor, batch_size=max(8, batch_pairs * k)), config)

    from rich.progress import Progress

    with Progress(transient=True, disable=as_json) as bar:
        task = bar.add_task("sampling", total=len(pairs))
        try:
            stats = rejection_sample(
                pairs, judge, out, k=k, batch_pairs=batch_pairs,
                on_progress=lambda done, total: bar.update(task, completed=done), check=check, seed=seed,
            )  # fmt: skip
        except VideoError as err:
            typer.echo(f"error: {err}", err=True)
            raise typer.Exit(1) from None
    train_traces = out
    if fill_from is not None and filled_out is not None:
        stats["fill_rejected"] = fill_rejected(out, fill_from, [p.pair_id for p in pairs], filled_out)
        train_traces = filled_out
    if balanced_out is not None:
        stats["side_balance"] = balance_sides(train_traces, balanced_out)
    if as_json:
        sys.stdout.write(json.dumps(stats) + "\n")
        return
    typer.echo(
        f"{stats['pairs']} pairs, {stats['samples']} samples, {stats['accepted']} accepted "
        f"({100 * stats['acceptance_rate']:.1f}%), format ok {100 * stats['format_ok_rate']:.1f}%"
        + (f"; {stats['answers_right']} answered right, {stats['accepted']} of them reasoned right" if check else "")
    )
    for dim, acc in stats["accuracy_per_dim"].items():
        typer.echo(f"  {dim:8s} correct in {100 * acc:.1f}% of samples")
    typer.echo(f"accepted traces: {out}")
    if filled_out is not None:
        filled = stats["fill_rejected"]
        typer.echo(f"{filled['filled']} pairs with no accepted sample filled from {fill_from} "
                   f"({filled['missing']} had no reference trace): {filled_out}")  # fmt: skip
    if balanced_out is not None:
        sides = stats["side_balance"]
        typer.echo(f"sides evened (A {sides['A']}, B {sides['B']}, {sides['added']} repeated): {balanced_out}")
