"""``metrics.jsonl``: one JSON object per logged step, written by rank zero only.

Keys follow ``split/area/name`` (``train/loss``, ``train/lr``...), plus ``step``
and wall-clock ``time``. Lines are flushed as written so a killed run keeps
what it logged; on resume, lines past the checkpoint's step are dropped
(:meth:`MetricsWriter.truncate_after`) so the file reads as one run.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Mapping


class MetricsWriter:
    """Appends metric dicts to a JSONL file; a no-op when ``enabled`` is false (other ranks)."""

    def __init__(self, path: str | Path, *, enabled: bool = True) -> None:
        self.path = Path(path)
        self.enabled = enabled
        self._file = None
        if enabled:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("a", encoding="utf-8")

    def log(self, step: int, metrics: Mapping[str, Any]) -> None:
        if self._file is None:
            return
        record = {"step": step, "time": round(time.time(), 3), **metrics}
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()

    def truncate_after(self, step: int) -> None:
        """Drop records with ``step`` > ``step`` (logged after the checkpoint a resume starts from)."""
        if self._file is None:
            return
        self._file.close()
        kept = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                if json.loads(line).get("step", 0) <= step:
                    kept.append(line)
            except json.JSONDecodeError:
                continue  # a torn last line from a kill mid-write
        tmp = self.path.with_suffix(".jsonl.tmp")
        tmp.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
        os.replace(tmp, self.path)
        self._file = self.path.open("a", encoding="utf-8")

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """All records of a ``metrics.jsonl`` (for tests and plots)."""
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


__all__ = ["MetricsWriter", "read_metrics"]
