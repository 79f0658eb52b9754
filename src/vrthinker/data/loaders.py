"""Benchmark loaders: every supported file format becomes a list of ``PreferencePair``.

One entry point, :func:`load_pairs`, reads any of the formats below and returns a
:class:`LoadResult` with the good pairs and the bad rows. A bad row never crashes a
long run halfway: with ``on_bad_row="skip"`` it is recorded (file, row number, field,
reason) and skipped; with ``on_bad_row="fail"`` the first one raises :class:`DataError`
whose message says how to fix or skip it.

Formats (``format=``):

``videogen``
    VideoGen-RewardBench CSV and VideoAlign's training CSV. Required columns
    ``path_A, path_B, prompt, VQ, MQ, TA``; optional ``Overall`` (absent from the
    training CSV), ``fps_A, fps_B, num_frames_A, num_frames_B`` (kept in ``meta`` as
    numbers) and any other column (``A_model``, ``B_model``...; kept in ``meta`` as text).
    Label values ``A`` / ``B`` / ``same`` (case-insensitive; ``same`` becomes ``tie``).
``genai-bench``
    GenAI-Bench video as a JSON list, JSON Lines or Parquet: ``prompt``,
    ``left_video`` (or ``video_left``), ``right_video`` (or ``video_right``),
    ``vote_type``. ``leftvote`` -> A, ``rightvote`` -> B, ``tievote`` and
    ``bothbad_vote`` -> tie, as an ``Overall`` label only; the 4-way value stays in
    ``meta["vote_type"]`` for GenAI-Bench's own metric. Other fields (``id``,
    ``left_model``...) are kept in ``meta``.
``mj-bench-video``
    MJ-Bench-Video ``test.json``: ``caption``, ``video_0_path`` (video 1 = A),
    ``video_1_path`` (video 2 = B), ``overall_preference`` and, optionally,
    ``category_preference``. Values are free text, matched case-insensitively:
    "Video 1 better" -> A, "Video 2 better" -> B, "Same" -> tie, "Hard to judge" ->
    no label (the dimension is left out; MJ-Video's own metric skips these pairs too).
    Any other text is a bad row. Only ``Overall`` goes into ``labels``:
    ``docs/benchmarks.md`` gives no mapping from MJ's five aspects (Alignment, Safety,
    Fineness, Coherence & Consistency, Bias) to TA / VQ / MQ, and we do not invent one.
    The aspect preferences are kept, normalised the same way, in
    ``meta["category_labels"]`` (``{"Alignment": "A" | "B" | "tie" | None, ...}``);
    every other field (raw strings, the 28 per-video criteria, scores) is kept in
    ``meta`` unchanged.
``native``
    Our own format, one pair per JSON line (see :mod:`vrthinker.data.native`):
    ``pair_id, prompt, video_a, video_b, labels{dim: A|B|tie}, source, meta``. A JSON
    list or a Parquet file with the same columns is read too.
``parquet``
    The native columns in a Parquet file (for instance one written by
    ``datasets.Dataset.to_parquet``). ``labels`` and ``meta`` may be structs / maps or
    JSON strings; a ``None`` label means "no label".

JSON-like inputs (everything except ``videogen``) are sniffed: ``.parquet`` files are
read with pyarrow (the engine under ``datasets``, without its import cost), a file whose
first non-blank character is ``[`` is one JSON list, anything else is JSON Lines.

Row numbers (``BadRow.row``, always 1-based):

- CSV: the data record number, the header not counted (record 1 is line 2 when no field
  spans lines);
- JSON Lines: the physical line number in the file (blank lines count, so it is what an
  editor shows);
- JSON list: the position of the element in the list;
- Parquet: the row index in the table plus one.

Video paths: a relative path is resolved against ``root``, which defaults to the
directory of the data file (VideoGen-RewardBench and VideoAlign store paths relative
to the CSV, e.g. ``videos/...`` and ``./videos/...``, which both normalise to the same
file). The pair stores the resolved, normalised absolute path. URLs (``scheme://...``)
are kept as they are and never checked.

``check_files`` (default True) makes a missing local video a bad row. The two metadata
only releases we keep as fixtures (GenAI-Bench, MJ-Bench-Video) ship without videos,
so load them with ``check_files=False`` (CLI: ``--no-check-files``) unless ``root``
points at the downloaded videos; otherwise every row is a "video file not found" row.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import ValidationError

from vrthinker.data.schema import DIMENSIONS, LABELS, Dimension, Label, PreferencePair

logger = logging.getLogger(__name__)

Format = Literal["native", "videogen", "genai-bench", "mj-bench-video", "parquet"]
FORMATS: tuple[Format, ...] = get_args(Format)
OnBadRow = Literal["skip", "fail"]

SKIP_HINT = "pass --on-bad-row skip (Python: on_bad_row='skip') to skip bad rows"

_URL_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")


# --------------------------------------------------------------------------- types


@dataclass(frozen=True)
class BadRow:
    """A row that could not become a pair.

    ``row`` is 1-based; what it counts depends on the format (see the module docstring:
    CSV data record, JSON Lines physical line, JSON list element, Parquet table row).
    ``field`` names the offending column (``<json>`` for a line that is not valid JSON,
    ``<row>`` for a row that is not a record at all).
    """

    file: str
    row: int
    field: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class LoadResult:
    """The good pairs of a file and its bad rows.

    ``rows[i]`` is the source row number of ``pairs[i]`` (same numbering as
    ``BadRow.row``), so later checks (e.g. decoding) can report the row of a pair.
    """

    pairs: list[PreferencePair]
    bad_rows: list[BadRow]
    rows: list[int] = field(default_factory=list)


class DataError(Exception):
    """A data file cannot be used: unreadable, a required column missing, or (with
    ``on_bad_row="fail"``) a bad row. The message is meant for the user as is."""

    def __init__(self, message: str, *, file: str | Path, row: int | None = None, field: str | None = None):
        super().__init__(message)
        self.file = str(file)
        self.row = row
        self.field = field


class _RowError(Exception):
    """Raised by a converter: this row is bad because of ``field``."""

    def __init__(self, field: str, reason: str):
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True)
class _Context:
    """What a converter needs besides the record."""

    file: Path
    root: Path
    row: int
    check_files: bool


# ---------------------------------------------------------------------- public API


def load_pairs(
    path: str | Path,
    format: Format,
    root: str | Path | None = None,
    on_bad_row: OnBadRow = "fail",
    check_files: bool = True,
) -> LoadResult:
    """Read a preference-pair file of any supported ``format`` (see module docstring).

    Args:
        path: the data file.
        format: ``native``, ``videogen``, ``genai-bench``, ``mj-bench-video`` or ``parquet``.
        root: directory that relative video paths are resolved against; defaults to
            the directory of ``path``.
        on_bad_row: ``"skip"`` records bad rows in ``LoadResult.bad_rows``;
            ``"fail"`` raises :class:`DataError` on the first one.
        check_files: make a missing local video file a bad row. Turn off for
            metadata-only releases whose videos are not on this machine.

    Returns:
        The pairs in file order, their row numbers, and the bad rows.

    A row is bad when a field is missing, a label value is unknown or missing, the
    prompt is empty, a local video file is missing (with ``check_files``), the line is
    not valid JSON, or its ``pair_id`` repeats an earlier row's.

    Raises:
        DataError: the file cannot be read or parsed, a required column is missing
            from the whole file, or (``on_bad_row="fail"``) a row is bad.
    """
    if format not in FORMATS:
        raise ValueError(f"unknown format {format!r}; expected one of {', '.join(FORMATS)}")
    if on_bad_row not in get_args(OnBadRow):
        raise ValueError(f"on_bad_row must be 'skip' or 'fail', got {on_bad_row!r}")
    file = Path(path)
    if not file.is_file():
        raise DataError(f"{file}: no such file", file=file)
    root_dir = Path(root) if root is not None else file.parent
    if root is not None and not root_dir.is_dir():
        raise DataError(f"{file}: root {root_dir} is not a directory", file=file)

    if format == "videogen":
        records = _read_csv(file, _VIDEOGEN_REQUIRED)
    else:
        records = _read_records(file, force_parquet=(format == "parquet"))
    spec = _SPECS[format]

    pairs: list[PreferencePair] = []
    rows: list[int] = []
    bad_rows: list[BadRow] = []
    seen_ids: dict[str, int] = {}
    buffered = list(records)
    if format != "videogen":  # a CSV's columns were checked on its header
        _check_columns(file, [r for _, r in buffered if isinstance(r, dict)], spec.required)

    for row, record in buffered:
        try:
            pair = _convert_row(spec, record, _Context(file=file, root=root_dir, row=row, check_files=check_files))
            if pair.pair_id in seen_ids:
                raise _RowError("pair_id", f"duplicate pair_id {pair.pair_id!r} (first seen in row {seen_ids[pair.pair_id]})")
            seen_ids[pair.pair_id] = row
        except _RowError as err:
            bad = BadRow(file=str(file), row=row, field=err.field, reason=err.reason)
            if on_bad_row == "fail":
                raise DataError(format_bad_row(bad) + f"; fix the row, or {SKIP_HINT}", file=file, row=row, field=err.field) from None
            bad_rows.append(bad)
            continue
        pairs.append(pair)
        rows.append(row)

    if bad_rows:
        logger.warning("%s: skipped %d bad row(s) of %d (first: %s)", file, len(bad_rows), len(buffered), format_bad_row(bad_rows[0]))
    logger.debug("%s: loaded %d pairs as %s", file, len(pairs), format)
    return LoadResult(pairs=pairs, bad_rows=bad_rows, rows=rows)


def _convert_row(spec: _FormatSpec, record: Any, ctx: _Context) -> PreferencePair:
    """One record to a pair; every problem surfaces as a ``_RowError``."""
    if isinstance(record, _RowError):  # the reader already found it broken
        raise record
    if not isinstance(record, dict):
        raise _RowError("<row>", f"expected a JSON object, got {type(record).__name__}")
    try:
        return spec.convert(record, ctx)
    except ValidationError as err:
        # The converters check fields first; this is the schema's last word and must
        # stay a bad row, not a crash halfway through a long run.
        first = err.errors()[0]
        raise _RowError(".".join(str(x) for x in first["loc"]) or "<row>", first["msg"]) from None


def format_bad_row(bad: BadRow) -> str:
    """One line naming the file, row, field and reason."""
    return f"{bad.file}: row {bad.row}: field {bad.field!r}: {bad.reason}"


def resolve_video_path(value: str, root: str | Path) -> str:
    """Absolute, normalised path of a video path found in a data file.

    URLs are returned unchanged; ``./videos/x.mp4`` and ``videos/x.mp4`` give the same
    result, so a video is recognised as one file however the rows spell it.
    """
    if is_remote(value):
        return value
    expanded = os.path.expanduser(value)
    return os.path.normpath(os.path.join(os.path.abspath(root), expanded))


def is_remote(path: str) -> bool:
    """True for ``scheme://`` URLs, which are never checked or decoded locally."""
    return bool(_URL_RE.match(path))


# ------------------------------------------------------------------------- readers


def _read_csv(file: Path, required: tuple[tuple[str, ...], ...]) -> Iterator[tuple[int, dict[str, Any] | _RowError]]:
    """Yield (record number, row dict) of a CSV; the header is checked first."""
    try:
        text = file.read_text(encoding="utf-8-sig")  # VideoGen CSVs exported by Excel carry a BOM
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"{file}: cannot read as UTF-8 text: {err}", file=file) from None
    # newline="" lets the csv module see quoted line breaks inside a prompt as data.
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
    except csv.Error as err:
        raise DataError(f"{file}: not a valid CSV header: {err}", file=file) from None
    if not header:
        raise DataError(f"{file}: empty file, expected a CSV header with columns {_describe(required)}", file=file)
    header = [h.strip() for h in header]
    _check_columns(file, [dict.fromkeys(header)], required)

    def rows() -> Iterator[tuple[int, dict[str, Any] | _RowError]]:
        number = 0
        while True:
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error as err:
                number += 1
                yield number, _RowError("<row>", f"malformed CSV: {err}")
                continue
            if not values or all(not v.strip() for v in values):
                continue  # a blank line is not a record
            number += 1
            if len(values) != len(header):
                yield number, _RowError("<row>", f"row has {len(values)} fields, the header has {len(header)}")
                continue
            yield number, dict(zip(header, values))

    return rows()


def _read_records(file: Path, force_parquet: bool = False) -> Iterator[tuple[int, Any]]:
    """Yield (row number, record) from a Parquet file, a JSON list or JSON Lines.

    A JSON Lines line that is not valid JSON is yielded as a ``_RowError`` so that it
    becomes a bad row with its line number instead of failing the whole file.
    """
    if force_parquet or file.suffix.lower() in (".parquet", ".pq"):
        return iter(_read_parquet(file))
    try:
        text = file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"{file}: cannot read as UTF-8 text: {err}", file=file) from None
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            # One broken element spoils the whole list: there is no row to skip.
            raise DataError(f"{file}: not valid JSON (line {err.lineno}, column {err.colno}): {err.msg}", file=file) from None
        return iter(enumerate(data, start=1))
    return _jsonl_rows(file, text)


def _jsonl_rows(file: Path, text: str) -> Iterator[tuple[int, Any]]:
    lines = text.splitlines()
    first = next((line for line in lines if line.strip()), None)
    if first is not None:
        try:
            json.loads(first)
        except json.JSONDecodeError:
            # A pretty-printed single object is a file-level mistake, not N bad lines.
            try:
                whole = json.loads(text)
            except json.JSONDecodeError:
                whole = None
            if isinstance(whole, dict):
                raise DataError(
                    f"{file}: the file is one JSON object; expected a JSON list of records or JSON Lines (one record per line)",
                    file=file,
                ) from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except json.JSONDecodeError as err:
            yield number, _RowError("<json>", f"invalid JSON at column {err.colno}: {err.msg}")


def _read_parquet(file: Path) -> list[tuple[int, Any]]:
    import pyarrow.parquet as pq  # imported here: only Parquet inputs pay for it

    try:
        table = pq.read_table(file)
    except Exception as err:  # pyarrow raises several types (ArrowInvalid, OSError...)
        raise DataError(f"{file}: cannot read as Parquet: {err}", file=file) from None
    return list(enumerate(table.to_pylist(), start=1))


def _describe(required: tuple[tuple[str, ...], ...]) -> str:
    return ", ".join(" or ".join(names) for names in required)


def _check_columns(file: Path, records: list[dict[str, Any]], required: tuple[tuple[str, ...], ...]) -> None:
    """Raise when a required column (any of its aliases) occurs in no record at all.

    A column missing from *every* record means a wrong file or a wrong ``--format``
    (one error), while one missing from some records is a bad row each.
    """
    if not records:
        return
    found: dict[str, None] = {}
    for record in records:
        found.update(dict.fromkeys(record))
    for names in required:
        if not any(name in found for name in names):
            wanted = " or ".join(repr(n) for n in names)
            raise DataError(
                f"{file}: required column {wanted} is missing; columns found: {', '.join(map(str, found)) or '(none)'}",
                file=file,
                field=names[0],
            )


# ----------------------------------------------------------------- field helpers


def _get(record: dict[str, Any], *names: str) -> tuple[str, Any]:
    """The first of ``names`` present in ``record`` (name, value); a row error if none."""
    for name in names:
        if name in record and record[name] is not None:
            return name, record[name]
    raise _RowError(names[0], "missing field" + (f" (also looked for {', '.join(names[1:])})" if len(names) > 1 else ""))


def _text(record: dict[str, Any], *names: str) -> tuple[str, str]:
    name, value = _get(record, *names)
    if not isinstance(value, str):
        raise _RowError(name, f"expected text, got {type(value).__name__} {value!r}")
    return name, value


def _prompt(record: dict[str, Any], name: str) -> str:
    _, value = _text(record, name)
    if not value.strip():
        raise _RowError(name, "empty prompt")
    return value


def _video(record: dict[str, Any], ctx: _Context, *names: str) -> str:
    name, value = _text(record, *names)
    if not value.strip():
        raise _RowError(name, "empty video path")
    resolved = resolve_video_path(value.strip(), ctx.root)
    if ctx.check_files and not is_remote(resolved) and not os.path.isfile(resolved):
        raise _RowError(
            name,
            f"video file not found: {resolved} (resolved against root {ctx.root}); "
            "pass --root DIR where the videos are, or --no-check-files to load metadata only",
        )
    return resolved


def _number(record: dict[str, Any], name: str, kind: Callable[[float], Any]) -> Any:
    """An optional numeric column: ``None`` when absent or blank, a row error when not a number."""
    value = record.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise _RowError(name, f"expected a number, got {value!r}") from None
    if not math.isfinite(number) or number < 0:
        raise _RowError(name, f"expected a non-negative number, got {value!r}")
    return kind(number)


# ---------------------------------------------------------------------- converters

_VIDEOGEN_REQUIRED: tuple[tuple[str, ...], ...] = (("path_A",), ("path_B",), ("prompt",), ("VQ",), ("MQ",), ("TA",))
_VIDEOGEN_LABELS: dict[str, Label] = {"a": "A", "b": "B", "same": "tie", "tie": "tie"}
_VIDEOGEN_NUMBERS: dict[str, Callable[[float], Any]] = {
    "fps_A": float,
    "fps_B": float,
    "num_frames_A": int,  # stored as "126.0" in the CSVs
    "num_frames_B": int,
}


def _videogen_label(record: dict[str, Any], column: str) -> Label:
    raw = record.get(column)
    value = (raw or "").strip()
    if not value:
        raise _RowError(column, "missing label value; expected A, B or same")
    label = _VIDEOGEN_LABELS.get(value.lower())
    if label is None:
        raise _RowError(column, f"unknown label value {value!r}; expected A, B or same")
    return label


def _convert_videogen(record: dict[str, Any], ctx: _Context) -> PreferencePair:
    labels: dict[Dimension, Label] = {}
    for dim in ("TA", "VQ", "MQ"):
        labels[dim] = _videogen_label(record, dim)
    if "Overall" in record:  # optional column: the VideoAlign training CSV has none
        labels["Overall"] = _videogen_label(record, "Overall")
    prompt = _prompt(record, "prompt")
    video_a = _video(record, ctx, "path_A")
    video_b = _video(record, ctx, "path_B")
    meta: dict[str, Any] = {}
    for name, kind in _VIDEOGEN_NUMBERS.items():
        number = _number(record, name, kind)
        if number is not None:
            meta[name] = number
    consumed = {"path_A", "path_B", "prompt", *DIMENSIONS, *_VIDEOGEN_NUMBERS}
    meta.update({k: v for k, v in record.items() if k not in consumed})
    return PreferencePair(
        pair_id=f"{ctx.file.stem}:{ctx.row}",
        prompt=prompt,
        video_a=video_a,
        video_b=video_b,
        labels=_ordered(labels),
        source="videogen",
        meta=meta,
    )


_GENAI_VOTES: dict[str, Label] = {
    "leftvote": "A",
    "rightvote": "B",
    "tievote": "tie",
    "bothbad_vote": "tie",  # "both bad" is a tie for the with-ties metric; meta keeps it apart
}
_GENAI_LEFT = ("left_video", "video_left")
_GENAI_RIGHT = ("right_video", "video_right")


def _convert_genai(record: dict[str, Any], ctx: _Context) -> PreferencePair:
    _, raw_vote = _text(record, "vote_type")
    vote = raw_vote.strip().lower()
    if vote not in _GENAI_VOTES:
        raise _RowError("vote_type", f"unknown vote_type {raw_vote!r}; expected one of {', '.join(_GENAI_VOTES)}")
    prompt = _prompt(record, "prompt")
    video_a = _video(record, ctx, *_GENAI_LEFT)
    video_b = _video(record, ctx, *_GENAI_RIGHT)
    consumed = {"prompt", "vote_type", *_GENAI_LEFT, *_GENAI_RIGHT}
    meta = {k: v for k, v in record.items() if k not in consumed}
    meta["vote_type"] = vote
    # The export's own `id` is stable across reorderings; fall back to the row number.
    pair_id = f"{ctx.file.stem}:{record['id']}" if record.get("id") is not None else f"{ctx.file.stem}:{ctx.row}"
    return PreferencePair(
        pair_id=pair_id,
        prompt=prompt,
        video_a=video_a,
        video_b=video_b,
        labels={"Overall": _GENAI_VOTES[vote]},
        source="genai-bench",
        meta=meta,
    )


# Normalised MJ-Bench-Video preference text -> label; None = "no label" (hard to judge).
_MJ_PREFERENCES: dict[str, Label | None] = {
    "video 1 better": "A",
    "video 1 is better": "A",
    "video 2 better": "B",
    "video 2 is better": "B",
    "same": "tie",
    "tie": "tie",
    "hard to judge": None,
}
_MJ_REQUIRED: tuple[tuple[str, ...], ...] = (("caption",), ("video_0_path",), ("video_1_path",), ("overall_preference",))


def _mj_label(value: Any, field_name: str) -> Label | None:
    if not isinstance(value, str):
        raise _RowError(field_name, f"expected text, got {type(value).__name__} {value!r}")
    # "Video 1 Better" (capital B) occurs 6 times in test.json: normalise case and spaces.
    key = " ".join(value.lower().replace(".", " ").split())
    if key not in _MJ_PREFERENCES:
        known = '"Video 1 better", "Video 2 better", "Same", "Hard to judge"'
        raise _RowError(field_name, f"unknown preference text {value!r}; expected one of {known} (any case)")
    return _MJ_PREFERENCES[key]


def _convert_mj(record: dict[str, Any], ctx: _Context) -> PreferencePair:
    _, overall_raw = _get(record, "overall_preference")
    overall = _mj_label(overall_raw, "overall_preference")
    category_labels: dict[str, Label | None] = {}
    categories = record.get("category_preference")
    if categories is not None:
        if not isinstance(categories, dict):
            raise _RowError("category_preference", f"expected an object, got {type(categories).__name__}")
        for name, value in categories.items():
            category_labels[name] = _mj_label(value, f"category_preference.{name}")
    prompt = _prompt(record, "caption")
    video_a = _video(record, ctx, "video_0_path")
    video_b = _video(record, ctx, "video_1_path")
    meta = {k: v for k, v in record.items() if k not in {"caption", "video_0_path", "video_1_path"}}
    if categories is not None:
        meta["category_labels"] = category_labels
    return PreferencePair(
        pair_id=f"{ctx.file.stem}:{ctx.row}",
        prompt=prompt,
        video_a=video_a,
        video_b=video_b,
        labels={"Overall": overall} if overall is not None else {},
        source="mj-bench-video",
        meta=meta,
    )


_NATIVE_FIELDS = ("pair_id", "prompt", "video_a", "video_b", "labels", "source", "meta")
_NATIVE_REQUIRED: tuple[tuple[str, ...], ...] = (("pair_id",), ("prompt",), ("video_a",), ("video_b",))


def _json_field(record: dict[str, Any], name: str) -> dict[str, Any]:
    """``labels`` / ``meta`` as a dict: Parquet may hold them as a JSON string."""
    value = record.get(name)
    if value is None:
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as err:
            raise _RowError(name, f"not valid JSON: {err.msg}") from None
    if isinstance(value, list) and all(isinstance(v, (list, tuple)) and len(v) == 2 for v in value):
        value = dict(value)  # a Parquet map column comes back as a list of (key, value)
    if not isinstance(value, dict):
        raise _RowError(name, f"expected an object, got {type(value).__name__}")
    return value


def _convert_native(record: dict[str, Any], ctx: _Context) -> PreferencePair:
    unknown = [k for k in record if k not in _NATIVE_FIELDS]
    if unknown:
        raise _RowError(unknown[0], f"unknown field; a native record has {', '.join(_NATIVE_FIELDS)}")
    pair_id_value = record.get("pair_id")
    if pair_id_value is None or isinstance(pair_id_value, bool) or not isinstance(pair_id_value, (str, int)):
        raise _RowError("pair_id", "missing field" if pair_id_value is None else f"expected text, got {pair_id_value!r}")
    pair_id = str(pair_id_value)
    if not pair_id.strip():
        raise _RowError("pair_id", "empty pair_id")
    labels: dict[Dimension, Label] = {}
    for dim, value in _json_field(record, "labels").items():
        if dim not in DIMENSIONS:
            raise _RowError(f"labels.{dim}", f"unknown dimension; expected {', '.join(DIMENSIONS)}")
        if value is None:
            continue  # Parquet structs fill absent dimensions with null
        if value not in LABELS:
            raise _RowError(f"labels.{dim}", f"unknown label value {value!r}; expected A, B or tie")
        labels[dim] = value
    source = record.get("source") or "native"
    if not isinstance(source, str):
        raise _RowError("source", f"expected text, got {source!r}")
    meta = _json_field(record, "meta")
    prompt = _prompt(record, "prompt")
    video_a = _video(record, ctx, "video_a")
    video_b = _video(record, ctx, "video_b")
    return PreferencePair(
        pair_id=pair_id,
        prompt=prompt,
        video_a=video_a,
        video_b=video_b,
        labels=_ordered(labels),
        source=source,
        meta=meta,
    )


def _ordered(labels: dict[Dimension, Label]) -> dict[Dimension, Label]:
    """Labels in the canonical dimension order, so outputs diff cleanly."""
    return {dim: labels[dim] for dim in DIMENSIONS if dim in labels}


@dataclass(frozen=True)
class _FormatSpec:
    required: tuple[tuple[str, ...], ...]
    convert: Callable[[dict[str, Any], _Context], PreferencePair]


_SPECS: dict[Format, _FormatSpec] = {
    "videogen": _FormatSpec(_VIDEOGEN_REQUIRED, _convert_videogen),
    "genai-bench": _FormatSpec((("prompt",), _GENAI_LEFT, _GENAI_RIGHT, ("vote_type",)), _convert_genai),
    "mj-bench-video": _FormatSpec(_MJ_REQUIRED, _convert_mj),
    "native": _FormatSpec(_NATIVE_REQUIRED, _convert_native),
    "parquet": _FormatSpec(_NATIVE_REQUIRED, _convert_native),
}
