"""Writing a file so that a crash leaves either the old file or the new one, never half of one.

Every long run here resumes from what it wrote (checkpoints' metadata, suites, predictions,
trace files), so a file it rewrites must never be read torn.
"""

from __future__ import annotations

import os
from pathlib import Path


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file beside it, synced, then renamed over it.

    The temporary file is removed if writing fails (Ctrl-C included). It is opened like any file
    (not with ``mkstemp``), so the result gets the usual permissions of the user's umask.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
