"""The native JSONL format (and its Parquet twin): round trip, atomic writes, paths,
bad rows."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from vrthinker.data import DataError, PreferencePair, load_pairs, pair_to_record, read_pairs, write_pairs


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A data folder with two (dummy) video files; existence is all the loader checks."""
    (tmp_path / "videos").mkdir()
    for name in ("a.mp4", "b.mp4"):
        (tmp_path / "videos" / name).write_bytes(b"not decoded here")
    return tmp_path


def make_pair(folder: Path, pair_id: str = "p1", **changes: object) -> PreferencePair:
    fields: dict[str, object] = {
        "pair_id": pair_id,
        "prompt": "a red ball rolls left",
        "video_a": str(folder / "videos" / "a.mp4"),
        "video_b": str(folder / "videos" / "b.mp4"),
        "labels": {"Overall": "tie", "TA": "A"},
        "source": "synthetic",
        "meta": {"defects": {"b": ["blur"]}},
    }
    fields.update(changes)
    return PreferencePair(**fields)  # type: ignore[arg-type]


def test_round_trip_with_relative_paths(folder: Path) -> None:
    pairs = [make_pair(folder, "p1"), make_pair(folder, "p2", labels={}, meta={})]
    out = write_pairs(folder / "pairs.jsonl", pairs)
    assert out == folder / "pairs.jsonl"
    first = json.loads(out.read_text().splitlines()[0])
    # Videos under the file's folder are written relative to it; labels in canonical order.
    assert first == {
        "pair_id": "p1",
        "prompt": "a red ball rolls left",
        "video_a": "videos/a.mp4",
        "video_b": "videos/b.mp4",
        "labels": {"TA": "A", "Overall": "tie"},
        "source": "synthetic",
        "meta": {"defects": {"b": ["blur"]}},
    }
    assert list(first["labels"]) == ["TA", "Overall"]
    assert read_pairs(out) == pairs


def test_folder_can_be_moved(folder: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    write_pairs(folder / "pairs.jsonl", [make_pair(folder)])
    moved = tmp_path_factory.mktemp("moved") / "suite"
    os.rename(folder, moved)
    pair = read_pairs(moved / "pairs.jsonl")[0]
    assert pair.video_a == str(moved / "videos" / "a.mp4")


def test_outside_and_remote_paths_are_kept(folder: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    other = tmp_path_factory.mktemp("other")
    pair = make_pair(folder, video_a=str(folder / "videos" / "a.mp4"), video_b="https://x.org/b.mp4")
    record = pair_to_record(pair, base_dir=other)
    assert record["video_a"] == str(folder / "videos" / "a.mp4")
    assert record["video_b"] == "https://x.org/b.mp4"
    assert pair_to_record(pair)["video_a"] == pair.video_a  # no base_dir: unchanged


def test_root_overrides_file_directory(folder: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    elsewhere = tmp_path_factory.mktemp("lists") / "pairs.jsonl"
    elsewhere.write_text(json.dumps({"pair_id": "x", "prompt": "p", "video_a": "videos/a.mp4", "video_b": "videos/b.mp4"}) + "\n")
    with pytest.raises(DataError, match="video file not found"):
        read_pairs(elsewhere)
    pair = read_pairs(elsewhere, root=folder)[0]
    assert pair.video_b == str(folder / "videos" / "b.mp4")
    assert pair.source == "native" and pair.labels == {} and pair.meta == {}


def test_write_is_atomic(folder: Path) -> None:
    path = folder / "pairs.jsonl"
    write_pairs(path, [make_pair(folder, "old")])
    before = path.read_bytes()

    def exploding():
        yield make_pair(folder, "new")
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError, match="disk on fire"):
        write_pairs(path, exploding())
    assert path.read_bytes() == before  # the old file is untouched
    assert sorted(p.name for p in folder.iterdir()) == ["pairs.jsonl", "videos"]  # no temp file left


def test_write_creates_parent_directories(folder: Path) -> None:
    out = write_pairs(folder / "deep" / "er" / "pairs.jsonl", [make_pair(folder)])
    # Videos are outside deep/er/, so they stay absolute and still resolve.
    assert read_pairs(out)[0].video_a == str(folder / "videos" / "a.mp4")


def _line(**record: object) -> str:
    base: dict[str, object] = {"pair_id": "p", "prompt": "x", "video_a": "videos/a.mp4", "video_b": "videos/b.mp4"}
    base.update(record)
    return json.dumps({k: v for k, v in base.items() if v is not None})


def test_bad_rows(folder: Path) -> None:
    path = folder / "bad.jsonl"
    lines = [
        _line(pair_id="ok1", labels={"TA": "A"}),
        _line(pair_id="l2", labels={"TA": "same"}),  # native labels are A|B|tie only
        _line(pair_id="l3", labels={"Style": "A"}),
        _line(pair_id="l4", prompt=""),
        "{broken",
        _line(pair_id="l6", video_b="videos/zzz.mp4"),
        _line(pair_id="l7", colour="red"),
        _line(pair_id=None),
        _line(pair_id="ok1"),
        _line(pair_id="l10", labels="not json"),
        _line(pair_id="ok2"),
    ]
    path.write_text("\n".join(lines) + "\n")
    result = load_pairs(path, "native", on_bad_row="skip")
    assert [(b.row, b.field) for b in result.bad_rows] == [
        (2, "labels.TA"),
        (3, "labels.Style"),
        (4, "prompt"),
        (5, "<json>"),
        (6, "video_b"),
        (7, "colour"),
        (8, "pair_id"),
        (9, "pair_id"),
        (10, "labels"),
    ]
    assert "unknown label value 'same'; expected A, B or tie" in result.bad_rows[0].reason
    assert "duplicate pair_id 'ok1'" in result.bad_rows[7].reason
    assert [p.pair_id for p in result.pairs] == ["ok1", "ok2"] and result.rows == [1, 11]

    with pytest.raises(DataError) as info:
        read_pairs(path)
    assert "row 2: field 'labels.TA'" in str(info.value) and "--on-bad-row skip" in str(info.value)
    assert [p.pair_id for p in read_pairs(path, on_bad_row="skip")] == ["ok1", "ok2"]


def test_json_list_is_accepted_too(folder: Path) -> None:
    path = folder / "pairs.json"
    path.write_text(json.dumps([json.loads(_line(pair_id="a")), json.loads(_line(pair_id="b"))]))
    assert [p.pair_id for p in read_pairs(path)] == ["a", "b"]


def test_parquet_written_by_datasets(folder: Path) -> None:
    datasets = pytest.importorskip("datasets")
    pairs = [
        make_pair(folder, "p1", labels={"TA": "A", "Overall": "B"}, meta={"k": 1}),
        make_pair(folder, "p2", labels={"VQ": "tie"}, meta={"k": 2}),
    ]
    records = [pair_to_record(p, base_dir=folder) for p in pairs]
    path = folder / "pairs.parquet"
    datasets.Dataset.from_list(records).to_parquet(str(path))
    result = load_pairs(path, "parquet")
    assert result.bad_rows == []
    # datasets stores labels as a struct: absent dimensions come back as null and are dropped.
    assert [p.labels for p in result.pairs] == [{"TA": "A", "Overall": "B"}, {"VQ": "tie"}]
    assert [p.meta for p in result.pairs] == [{"k": 1}, {"k": 2}]
    assert result.pairs[0].video_a == str(folder / "videos" / "a.mp4")
    assert load_pairs(path, "native").pairs == result.pairs  # native sniffs .parquet


def test_parquet_with_json_string_columns(folder: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = folder / "strings.pq"
    table = pa.Table.from_pylist(
        [
            {"pair_id": "p1", "prompt": "x", "video_a": "videos/a.mp4", "video_b": "videos/b.mp4", "labels": '{"MQ": "B"}', "meta": "{}"},
            {"pair_id": "p2", "prompt": "x", "video_a": "videos/a.mp4", "video_b": "videos/b.mp4", "labels": '{"MQ": "?"}', "meta": "{}"},
        ]
    )
    pq.write_table(table, path)
    result = load_pairs(path, "parquet", on_bad_row="skip")
    assert result.pairs[0].labels == {"MQ": "B"}
    assert [(b.row, b.field) for b in result.bad_rows] == [(2, "labels.MQ")]


def test_parquet_missing_column(folder: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = folder / "nocol.parquet"
    pq.write_table(pa.Table.from_pylist([{"pair_id": "p", "prompt": "x", "video_a": "a.mp4"}]), path)
    with pytest.raises(DataError, match="required column 'video_b' is missing; columns found: pair_id, prompt, video_a"):
        load_pairs(path, "parquet")
