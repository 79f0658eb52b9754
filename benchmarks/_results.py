"""Writing a benchmark's JSON result, with the machine load and date every result carries."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any


def write_results(path: Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` plus the 1-minute load average (other processes competing) and the date."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {**payload, "python": platform.python_version(), "load_average_1min": os.getloadavg()[0],
               "date": time.strftime("%Y-%m-%d")}  # fmt: skip
    path.write_text(json.dumps(payload, indent=2) + "\n")
