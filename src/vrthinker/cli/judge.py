"""``vrthinker judge``: compare two videos with a thinking-with-image judge."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

from vrthinker.cli import app
from vrthinker.cli.options import FRAME_LABELS_HELP, episode_config


@app.command(
    "judge",
    help=(
        "Judge which of two videos better matches a prompt, per dimension (TA, VQ, MQ, Overall).\n\n"
        "The judge sees a few frames of each video, reasons in rounds and may call select_frames to "
        "look at more; frames it asked for stay in view for --window rounds.\n\n"
        "Example (offline tiny model; untrained, so its answers are noise):\n\n"
        "  vrthinker judge --model tiny --prompt 'A red circle moves right' a.mp4 b.mp4 --json --trace-html t.html"
    ),
)
def judge(
    video_a: Path = typer.Argument(..., help="First video (called 'Video 1' in the prompt)."),
    video_b: Path = typer.Argument(..., help="Second video ('Video 2')."),
    prompt: str = typer.Option(..., "--prompt", "-p", help="The text prompt both videos were generated from."),
    model: str = typer.Option(
        "tiny",
        "--model",
        "-m",
        help="'tiny' (offline random-init Qwen2.5-VL), 'tiny-real-vocab', 'tiny-qwen3', a checkpoint directory, "
        "or a cached hub id such as Qwen/Qwen2.5-VL-7B-Instruct.",
    ),
    window: str = typer.Option("1", "--window", help="Memory window p: rounds a selected frame stays in view, or 'unlimited'."),
    max_calls: int = typer.Option(3, "--max-calls", min=0, help="Most select_frames calls (0 = answer from the initial view)."),
    frames_per_video: int = typer.Option(48, "--frames-per-video", min=1, help="Frames sampled per video (the pool)."),
    initial_per_video: int = typer.Option(4, "--initial-per-video", min=0, help="Frames per video shown up front."),
    addressing: str = typer.Option("pooled", "--addressing", help="'pooled' (1..2N over both videos) or 'per_video'."),
    frame_labels: str = typer.Option(
        "frame_first", "--frame-labels", help=FRAME_LABELS_HELP
    ),
    max_new_tokens: int = typer.Option(256, "--max-new-tokens", min=1, help="Most tokens per turn."),
    prompt_style: str = typer.Option(
        "full", "--prompt-style", help="'full' (Qwen tool prompt) or 'compact' (models trained on our compact traces)."
    ),
    temperature: float = typer.Option(0.0, "--temperature", min=0.0, help="0 = greedy."),
    endpoint: Optional[str] = typer.Option(
        None,
        "--endpoint",
        help="Base URL of an OpenAI-compatible server (e.g. http://localhost:8000/v1 from `vllm serve`); "
        "--model is then the served model's name.",
    ),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda or auto."),
    seed: int = typer.Option(0, "--seed", help="Sampling seed (and tiny-model init seed)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of a table."),
    trace_html: Optional[Path] = typer.Option(None, "--trace-html", help="Write a self-contained HTML page of the episode."),
) -> None:
    import torch
    from vrthinker.data.schema import PreferencePair
    from vrthinker.episode.trace_html import render_trace_html
    from vrthinker.policy.hf import HFPolicy
    from vrthinker.policy.judge import Judge
    from vrthinker.policy.models import ModelNotFoundError, load_model
    from vrthinker.policy.openai_http import OpenAIEndpointError, OpenAIPolicy
    from vrthinker.video import VideoError

    config = episode_config(
        window,
        max_tool_calls=max_calls,
        frames_per_video=frames_per_video,
        initial_per_video=initial_per_video,
        frame_addressing=addressing,
        frame_labels=frame_labels,
        max_new_tokens=max_new_tokens,
        temperature=temperature,
        prompt_style=prompt_style,
    )
    torch.manual_seed(seed)
    if endpoint is not None:
        policy = OpenAIPolicy(endpoint, model)
    else:
        try:
            loaded = load_model(model, device=device, seed=seed)
        except ModelNotFoundError as err:
            typer.echo(f"error: {err}", err=True)
            raise typer.Exit(2) from None
        loaded.processor.min_pixels, loaded.processor.max_pixels = config.min_pixels, config.max_pixels
        policy = HFPolicy(loaded.model, loaded.processor)
    judge_ = Judge(policy=policy, config=config)
    pair = PreferencePair(pair_id="cli", prompt=prompt, video_a=str(video_a), video_b=str(video_b))
    try:
        [trajectory] = judge_.judge_pairs([pair])
    except VideoError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None
    except OpenAIEndpointError as err:  # server unreachable or failing
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None

    summary = trajectory.summary()
    summary.update({"model": model, "video_a": str(video_a), "video_b": str(video_b), "prompt": prompt})
    if trace_html is not None:
        trace_html.parent.mkdir(parents=True, exist_ok=True)
        trace_html.write_text(
            render_trace_html(trajectory, title="vrthinker judge", videos=(str(video_a), str(video_b))),
            encoding="utf-8",
        )
        summary["trace_html"] = str(trace_html)
    if as_json:
        sys.stdout.write(json.dumps(summary) + "\n")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Judgment ({model})")
    table.add_column("dimension")
    table.add_column("better video")
    names = {"A": "Video 1", "B": "Video 2", "tie": "tie", None: "no answer"}
    for dim, choice in summary["judgment"].items():
        table.add_row(dim, names[choice])
    console = Console()
    console.print(table)
    console.print(
        f"end: {summary['end_reason']} · turns {summary['turns']} · tool calls {summary['tool_calls']} "
        f"(invalid {summary['invalid_calls']}) · visual tokens per turn {summary['visual_tokens_per_turn']}"
    )
    if trace_html is not None:
        console.print(f"trace: {trace_html}")
