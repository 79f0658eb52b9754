"""The native pair format: JSON Lines, one :class:`PreferencePair` per line.

Each line is one JSON object with the schema's fields::

    {"pair_id": "p1", "prompt": "a red ball rolls left", "video_a": "videos/p1_a.mp4",
     "video_b": "videos/p1_b.mp4", "labels": {"TA": "A", "Overall": "tie"},
     "source": "synthetic", "meta": {}}

A dimension without a label is left out of ``labels``. Relative video paths are
relative to the directory of the JSONL file (or to ``root`` when one is given), so a
folder holding ``pairs.jsonl`` and its videos can be moved or copied as a whole.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from vrthinker.data.loaders import OnBadRow, is_remote, load_pairs
from vrthinker.data.schema import DIMENSIONS, PreferencePair

logger = logging.getLogger(__name__)


def pair_to_record(pair: PreferencePair, base_dir: str | Path | None = None) -> dict[str, Any]:
    """The JSON object written for ``pair``.

    When ``base_dir`` is given, absolute local video paths inside it are written
    relative to it, which keeps a data folder relocatable.
    """
    return {
        "pair_id": pair.pair_id,
        "prompt": pair.prompt,
        "video_a": _relative(pair.video_a, base_dir),
        "video_b": _relative(pair.video_b, base_dir),
        "labels": {dim: pair.labels[dim] for dim in DIMENSIONS if dim in pair.labels},
        "source": pair.source,
        "meta": pair.meta,
    }


def write_pairs(path: str | Path, pairs: Iterable[PreferencePair]) -> Path:
    """Write ``pairs`` to ``path`` as native JSON Lines, atomically.

    The lines go to a temporary file in the same directory, which then replaces
    ``path`` in one rename: a crash never leaves a half-written file that a later run
    would read as truncated data. Absolute video paths under the file's directory are
    written relative to it; others are written as they are.

    Returns:
        ``path`` as a ``Path``.
    """
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    base_dir = os.path.abspath(out.parent)  # abspath, not resolve: loaders store abspath too
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    count = 0
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            for pair in pairs:
                handle.write(json.dumps(pair_to_record(pair, base_dir), ensure_ascii=False) + "\n")
                count += 1
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, out)
    except BaseException:
        # Do not leave the temporary file behind on any failure (including Ctrl-C).
        Path(tmp_name).unlink(missing_ok=True)
        raise
    logger.debug("wrote %d pairs to %s", count, out)
    return out


def read_pairs(
    path: str | Path,
    root: str | Path | None = None,
    *,
    on_bad_row: OnBadRow = "fail",
    check_files: bool = True,
) -> list[PreferencePair]:
    """Read a native JSONL file (see :func:`vrthinker.data.loaders.load_pairs`).

    With ``on_bad_row="skip"`` bad rows are logged as a warning and left out; use
    ``load_pairs(path, "native", ...)`` to get them as data.
    """
    return load_pairs(path, "native", root=root, on_bad_row=on_bad_row, check_files=check_files).pairs


def _relative(video: str, base_dir: str | Path | None) -> str:
    if base_dir is None or is_remote(video) or not os.path.isabs(video):
        return video
    base = os.path.abspath(base_dir)
    try:
        if os.path.commonpath([base, os.path.abspath(video)]) != base:
            return video
    except ValueError:  # different drives on Windows
        return video
    return Path(os.path.relpath(video, base)).as_posix()
