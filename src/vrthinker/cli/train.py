"""``vrthinker train sft|rft|grpo``: the three training stages."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from vrthinker.cli import app

train_app = typer.Typer(
    name="train",
    help=(
        "Train a thinking-with-image judge in three stages (VR-Thinker):\n\n"
        "1. `sft`: supervised fine-tuning on multi-turn traces (JSONL written by `vrthinker data teach` or by "
        "rollouts). Each assistant turn is one training segment, trained on exactly the context it was "
        "generated from; only the assistant's tokens carry loss.\n\n"
        "2. `rft`: the same, on the traces `vrthinker sample` accepted (every dimension right).\n\n"
        "3. `grpo`: multi-turn GRPO with tool-use rewards, dynamic sampling, Selective Sample Replay and "
        "Forced Rethinking."
    ),
    no_args_is_help=True,
)
app.add_typer(train_app, name="train")


def _load(path: Path, overrides: Optional[list[str]], print_config: bool, schema: type):
    """The validated config, or None after printing it (--print-config); exit 2 on a bad config."""
    from vrthinker.train.config import ConfigError, load_config

    try:
        # --print-config shows a config whose input files are not made yet, too.
        cfg = load_config(path, overrides or (), check_paths=not print_config, schema=schema)
    except ConfigError as err:
        typer.echo(f"invalid config:\n{err}", err=True)
        raise typer.Exit(2) from None
    if print_config:
        typer.echo(cfg.to_yaml(), nl=False)
        return None
    return cfg


@train_app.command(
    "sft",
    help=(
        "Supervised fine-tuning on traces (cold start).\n\n"
        "Settings come from a YAML file with four sections: model (which checkpoint, frozen vision "
        "tower, LoRA), data (trace files), optim (AdamW, warm-up, schedule, clipping, accumulation) "
        "and train (batch, steps, precision, checkpoints, output_dir). Any setting can be overridden "
        "after the options as dotted key=value pairs. Every setting and its default: docs/training.md.\n\n"
        "The run writes output_dir/config.yaml (resolved), metrics.jsonl and checkpoint-<step>/ "
        "directories (HF format: `vrthinker judge --model output_dir/checkpoint-<step>` loads one). "
        "If output_dir already has a checkpoint the run resumes from it, exactly: same data order, "
        "optimizer and RNG states, so the final weights equal an uninterrupted run's.\n\n"
        "Several processes or GPUs: prefix with `accelerate launch --multi_gpu --num_processes N` "
        "(CPU processes over gloo: also set ACCELERATE_USE_CPU=1; accelerate's --cpu flag starts only one "
        "process); the global batch is batch_size x grad_accum x N."
    ),
    epilog=(
        "Examples:\n\n"
        "  vrthinker train sft --config configs/sft_tiny.yaml\n\n"
        "  vrthinker train sft --config configs/sft_tiny.yaml optim.lr=3e-4 train.max_steps=200 "
        "train.output_dir=runs/sft_try\n\n"
        "  ACCELERATE_USE_CPU=1 accelerate launch --multi_gpu --num_processes 2 $(which vrthinker) train sft "
        "--config configs/sft_tiny.yaml train.batch_size=4"
    ),
)
def sft_cmd(
    config: Annotated[
        Path, typer.Option("--config", "-c", help="YAML config, e.g. configs/sft_tiny.yaml.", show_default=False)
    ],
    overrides: Annotated[
        Optional[list[str]],
        typer.Argument(
            help="Dotted overrides applied after the file, e.g. optim.lr=1e-3 train.max_steps=100 "
            "data.traces=runs/synth/traces.jsonl (values are read as YAML: null, true, lists).",
            show_default=False,
        ),
    ] = None,
    resume: Annotated[
        Optional[bool],
        typer.Option(
            "--resume/--no-resume",
            help="--resume: continue from output_dir/latest (error if absent). --no-resume: refuse an "
            "output_dir that already has checkpoints. Default: resume when there is a checkpoint.",
            show_default=False,
        ),
    ] = None,
    print_config: Annotated[
        bool, typer.Option("--print-config", help="Print the resolved config as YAML and exit.")
    ] = False,
) -> None:
    from vrthinker.train.config import ConfigError, SFTConfig

    cfg = _load(config, overrides, print_config, SFTConfig)
    if cfg is None:
        return

    from vrthinker.train.sft import ResumeError, train_sft

    try:
        final = train_sft(cfg, resume=resume)
    except (ConfigError, ResumeError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"final model: {final}")


@train_app.command(
    "rft",
    help=(
        "Rejection-sampling fine-tuning (stage 2): SFT on the traces `vrthinker sample` accepted, starting "
        "from the stage-1 checkpoint.\n\n"
        "The same loop and config schema as `train sft`; set model.name_or_path to the SFT checkpoint and "
        "data.traces to the accepted traces (configs/rft_tiny.yaml)."
    ),
    epilog="Example:\n\n  vrthinker train rft --config configs/rft_tiny.yaml model.name_or_path=runs/sft_tiny/checkpoint-600",
)
def rft_cmd(
    config: Annotated[Path, typer.Option("--config", "-c", help="YAML config (SFT schema).", show_default=False)],
    overrides: Annotated[Optional[list[str]], typer.Argument(help="Dotted key=value overrides.", show_default=False)] = None,
    resume: Annotated[Optional[bool], typer.Option("--resume/--no-resume", help="As for `train sft`.", show_default=False)] = None,
    print_config: Annotated[bool, typer.Option("--print-config", help="Print the resolved config and exit.")] = False,
) -> None:
    sft_cmd(config=config, overrides=overrides, resume=resume, print_config=print_config)


@train_app.command(
    "grpo",
    help=(
        "Multi-turn GRPO (stage 3) from an RFT checkpoint.\n\n"
        "Each step rolls out grpo.group_size episodes for grpo.pairs_per_step pairs (select_frames and the "
        "memory window as in `judge`), scores every trajectory with the reward parts in `rewards` (each "
        "logged: accuracy, dimensions, format, curiosity, efficiency or the VR-Thinker call schedule), "
        "normalises rewards within each group, drops all-equal groups (dynamic sampling), optionally "
        "replays earlier samples (Selective Sample Replay) and forces rethinking, then takes "
        "grpo.num_iterations PPO-clip steps on the trajectories' segments. Every field: docs/training.md."
    ),
    epilog="Example:\n\n  vrthinker train grpo --config configs/grpo_tiny.yaml model.name_or_path=runs/rft_tiny/checkpoint-200",
)
def grpo_cmd(
    config: Annotated[Path, typer.Option("--config", "-c", help="YAML config (GRPO schema).", show_default=False)],
    overrides: Annotated[Optional[list[str]], typer.Argument(help="Dotted key=value overrides.", show_default=False)] = None,
    resume: Annotated[Optional[bool], typer.Option("--resume/--no-resume", help="As for `train sft`.", show_default=False)] = None,
    print_config: Annotated[bool, typer.Option("--print-config", help="Print the resolved config and exit.")] = False,
) -> None:
    from vrthinker.train.config import ConfigError
    from vrthinker.train.grpo_config import GRPOConfig

    cfg = _load(config, overrides, print_config, GRPOConfig)
    if cfg is None:
        return
    from vrthinker.train.grpo import train_grpo

    try:
        final = train_grpo(cfg, resume=resume)
    except ConfigError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"final model: {final}")
