"""The JSONL trace format: one episode per line, replayable as training segments.

A line is ``Trajectory.to_json()``: the summary, the labels, the workspace
spec (prompt, the two video paths, pool size, pixel bounds, addressing) and,
per turn, the exact windowed context (text and frame references), the
assistant prefix and the generated text. ``read_segments`` rebuilds the
frames from the videos (through a shared cache) and returns the segments the
turns were generated from — SFT trains on exactly what a rollout saw.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable, Iterator

from vrthinker.episode.messages import FrameRef, Message
from vrthinker.episode.trajectory import Segment, Trajectory
from vrthinker.episode.workspace import VideoPairWorkspace
from vrthinker.files import write_text_atomic
from vrthinker.video import FrameCache


class TraceFormatError(ValueError):
    """A trace line is not a valid episode record."""


def append_traces(path: str | Path, trajectories: list[Trajectory]) -> None:
    """Append one JSON line per trajectory, flushed and fsynced (safe to resume after a crash)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as f:
        for t in trajectories:
            f.write(json.dumps(t.to_json(), ensure_ascii=False) + "\n")
        f.flush()
        os.fsync(f.fileno())


def write_trace_records(path: str | Path, records: Iterable[dict[str, Any]]) -> None:
    """Rewrite ``path`` with one JSON line per record, atomically (a crash leaves the old file or the new one)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))


def iter_trace_records(path: str | Path, *, drop_torn_tail: bool = True) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line_number, record)`` for each line; a torn last line (crash mid-write) is dropped."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            yield i, json.loads(line)
        except json.JSONDecodeError as err:
            if drop_torn_tail and i == len(lines):
                return
            raise TraceFormatError(f"{path}:{i}: not valid JSON ({err.msg})") from err


def read_segments(record: dict[str, Any], cache: FrameCache | None = None, weight: float = 1.0) -> list[Segment]:
    """The training segments of one trace record."""
    ws = VideoPairWorkspace.from_spec(_field(record, "workspace"), cache)  # decoded once for every turn
    return [_segment(record, t, ws, weight) for t in _field(record, "turn_records")]


def read_segment(record: dict[str, Any], turn: int, cache: FrameCache | None = None, weight: float = 1.0) -> Segment:
    """The training segment of turn ``turn`` (position in ``turn_records``) of one trace record.

    Builds only that turn: a trainer indexing single segments of long records (e.g. the
    one-frame warm-up records, ~100 turns each) does not rebuild the whole record per access.
    """
    ws = VideoPairWorkspace.from_spec(_field(record, "workspace"), cache)
    return _segment(record, _field(record, "turn_records")[turn], ws, weight)


def _segment(record: dict[str, Any], t: dict[str, Any], ws: VideoPairWorkspace, weight: float) -> Segment:
    messages = tuple(Message.from_json(m) for m in t["context"])
    refs = [ref for m in messages for ref in m.images]
    for ref in refs:
        if not (0 <= ref.video < 2 and 0 <= ref.frame_idx < ws.frames_per_video):
            raise TraceFormatError(f"trace {record.get('key')!r} turn {t['index']}: frame {ref} outside the pool")
    return Segment(
        messages=messages,
        images=tuple(ws.image(FrameRef(r.video, r.frame_idx)) for r in refs),
        completion=t["text"],
        assistant_prefix=t.get("assistant_prefix", ""),
        prefix_trainable_chars=int(t.get("prefix_trainable_chars", 0)),
        weight=weight,
        trajectory_key=record.get("key", ""),
        turn_index=int(t["index"]),
    )


def _field(record: dict[str, Any], name: str) -> Any:
    try:
        return record[name]
    except KeyError:
        raise TraceFormatError(f"trace {record.get('key', '?')!r} has no {name!r} field") from None
