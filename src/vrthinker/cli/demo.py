"""``vrthinker demo``: the whole pipeline on the synthetic suite with the tiny model."""

from __future__ import annotations

import json
import sys
from typing import Optional

import typer

from vrthinker.cli import app


@app.command(
    "demo",
    help=(
        "Run the full VR-Thinker pipeline on the embedded default, on a CPU: generate the synthetic long-video "
        "suite, write cold-start traces with the scripted teacher, warm the random tiny offline Qwen2.5-VL up on "
        "one-frame descriptions (its 'pretraining'), train it through SFT, rejection sampling + RFT and GRPO, evaluate after every stage on held-out pairs, and compare "
        "frame selection with a static frame sample at equal visual-token budget.\n\n"
        "Writes OUT/demo_results.json, OUT/index.html (links to each stage's report with plots and trace "
        "pages) and prints the table. Rerunning continues where it stopped. --fast is a few-minute version "
        "that checks every stage and artefact (numbers at that size are noise)."
    ),
)
def demo(
    out: str = typer.Option("runs/demo", "--out", "-o", help="Output directory."),
    fast: bool = typer.Option(False, "--fast", help="Small sizes: minutes, for CI and a first look."),
    seed: Optional[int] = typer.Option(
        None, "--seed", help="Seed of the warm-up, training and sampling (default 1, see docs/demo.md).", show_default=False
    ),
    data_seed: Optional[int] = typer.Option(
        None, "--data-seed", help="Seed of the synthetic suites and the teacher's data (default 0).", show_default=False
    ),
    sft_steps: Optional[int] = typer.Option(None, "--sft-steps", min=1, help="Override stage I steps."),
    grpo_steps: Optional[int] = typer.Option(None, "--grpo-steps", min=1, help="Override stage III steps."),
    as_json: bool = typer.Option(False, "--json", help="Print demo_results.json instead of the table."),
) -> None:
    from rich.console import Console
    from rich.table import Table

    from vrthinker.demo import TABLE_COLUMNS, DemoConfig, ablation_summary, ceiling_summary, results_table, run_demo

    overrides: dict = {"out": out}
    if seed is not None:
        overrides["seed"] = seed
    if data_seed is not None:
        overrides["data_seed"] = data_seed
    if sft_steps is not None:
        overrides["sft_steps"] = sft_steps
    if grpo_steps is not None:
        overrides["grpo_steps"] = grpo_steps
    cfg = DemoConfig.fast(**overrides) if fast else DemoConfig(**overrides)
    results = run_demo(cfg)
    if as_json:
        sys.stdout.write(json.dumps(results) + "\n")
        return
    # Piped output (make, CI logs) gets room for the whole table; a terminal keeps its own width.
    console = Console(width=None if sys.stdout.isatty() else 160)
    table = Table(title="Held-out accuracy without ties (%)")
    for short, _ in TABLE_COLUMNS:
        table.add_column(short)
    for row in results_table(results):
        table.add_row(*row)
    console.print(table)
    console.print("; ".join(f"{short}: {long}" for short, long in TABLE_COLUMNS if short != long))
    ab = results["ablation"]
    console.print(ablation_summary(ab))
    console.print(ceiling_summary(ab))
    console.print(f"report: {out}/index.html · results: {out}/demo_results.json · {results['wall_seconds']} s")
