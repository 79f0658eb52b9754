"""Helpers shared by the sub-commands: turning episode options into a validated config."""

from __future__ import annotations

from typing import Any

import typer

# --frame-labels, shared by the commands that run or write episodes (EpisodeConfig.frame_labels).
FRAME_LABELS_HELP = (
    "How pooled frames are named: 'frame_first' ('Frame 37 (Video 2)') or 'video_first' ('(Video 2) Frame 37', "
    "what the demo's judge is trained on)."
)


def parse_window(value: str) -> int | str:
    """``--window`` accepts a number of rounds or ``unlimited``."""
    if value.strip().lower() in {"unlimited", "inf", "none"}:
        return "unlimited"
    try:
        number = int(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r}: give a number of rounds (0, 1, 2, ...) or 'unlimited'") from None
    if number < 0:
        raise typer.BadParameter(f"{value}: must be >= 0")
    return number


def episode_config(window: str | None = None, **fields: Any):
    """An ``EpisodeConfig`` from command-line values; a bad value exits 2 naming the setting."""
    from pydantic import ValidationError

    from vrthinker.episode import EpisodeConfig

    if window is not None:
        fields["memory_window"] = parse_window(window)
    try:
        return EpisodeConfig(**{k: v for k, v in fields.items() if v is not None})
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "episode"
        typer.echo(f"error: bad setting: {where}: {first['msg'].removeprefix('Value error, ')}", err=True)
        raise typer.Exit(2) from None
