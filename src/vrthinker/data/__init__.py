"""Preference pairs: the schema, benchmark loaders, the native JSONL format, file checks
and the synthetic suite.

``generate_suite`` (the synthetic suite) is imported lazily on first use, so importing
``vrthinker.data`` does not pull in the video generator.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vrthinker.data.check import check_file, label_counts
from vrthinker.data.loaders import (
    FORMATS,
    BadRow,
    DataError,
    Format,
    LoadResult,
    OnBadRow,
    is_remote,
    load_pairs,
    resolve_video_path,
)
from vrthinker.data.native import pair_to_record, read_pairs, write_pairs
from vrthinker.data.schema import (
    DIMENSION_NAMES,
    DIMENSIONS,
    LABELS,
    Dimension,
    Label,
    PreferencePair,
)

if TYPE_CHECKING:
    from vrthinker.data.synthetic import generate_suite

__all__ = [
    "DIMENSIONS",
    "DIMENSION_NAMES",
    "FORMATS",
    "LABELS",
    "BadRow",
    "DataError",
    "Dimension",
    "Format",
    "Label",
    "LoadResult",
    "OnBadRow",
    "PreferencePair",
    "check_file",
    "generate_suite",
    "is_remote",
    "label_counts",
    "load_pairs",
    "pair_to_record",
    "read_pairs",
    "resolve_video_path",
    "write_pairs",
]

_LAZY = {"generate_suite": "vrthinker.data.synthetic"}


def __getattr__(name: str) -> Any:
    # PEP 562: resolve the synthetic suite only when someone asks for it.
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
