"""The ``vrthinker`` command line.

Each sub-command lives in its own module of this package and registers itself
on ``app`` here. Only this package reads ``sys.argv``; nothing imports it.
"""

from __future__ import annotations

import logging

import typer

app = typer.Typer(
    name="vrthinker",
    help=(
        "Train and evaluate thinking-with-image video reward models.\n\n"
        "A judge reads a prompt and two videos, reasons in rounds, pulls in the frames it "
        "wants to see with select_frames (under a visual memory window) and outputs a "
        "preference per dimension: TA (text alignment), VQ (visual quality), MQ (motion "
        "quality) and Overall.\n\n"
        "Start with `vrthinker demo --fast` (the whole pipeline on the synthetic suite in minutes), or "
        "`vrthinker data synth` then `vrthinker judge --model tiny ...`."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root(verbose: bool = typer.Option(False, "--verbose", "-v", help="Log debug messages.")) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )


def _register() -> None:
    # Imported for their side effect of adding commands to `app`.
    from vrthinker.cli import data, demo, eval_cmd, judge, sample, train  # noqa: F401


def main() -> None:
    _register()
    app()
