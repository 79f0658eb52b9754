"""Benchmark loaders and ``check_file``: tiny self-made fixtures for every bad-input case,
plus the real benchmark files in ``../shared/benchmarks`` (counts and label
distributions as stated in ``docs/benchmarks.md``)."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from vrthinker.data import (
    BadRow,
    DataError,
    LoadResult,
    check_file,
    is_remote,
    label_counts,
    load_pairs,
    resolve_video_path,
)

# --------------------------------------------------------------------- fixtures


def write_video(path: Path, frames: int = 8, size: int = 32, fps: int = 8) -> Path:
    """A tiny MPEG-4 clip: a bright square moving over a dark background."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width = stream.height = size
        stream.pix_fmt = "yuv420p"
        for i in range(frames):
            image = np.full((size, size, 3), 20, dtype=np.uint8)
            image[4:12, 2 + 2 * i : 10 + 2 * i] = 230
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


@pytest.fixture(scope="module")
def video_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``videos/a.mp4``, ``videos/b.mp4`` (8 frames) and ``videos/c.mp4`` (12 frames)."""
    root = tmp_path_factory.mktemp("data")
    write_video(root / "videos" / "a.mp4")
    write_video(root / "videos" / "b.mp4")
    write_video(root / "videos" / "c.mp4", frames=12)
    return root


VIDEOGEN_HEADER = ["path_A", "path_B", "prompt", "VQ", "MQ", "TA", "Overall", "fps_A", "num_frames_A", "fps_B", "num_frames_B", "A_model"]


def write_csv(path: Path, rows: list[list[str]], header: list[str] = VIDEOGEN_HEADER) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def good_row(**changes: str) -> list[str]:
    row = {
        "path_A": "videos/a.mp4",
        "path_B": "./videos/b.mp4",
        "prompt": "a square moves right",
        "VQ": "A",
        "MQ": "same",
        "TA": "B",
        "Overall": "A",
        "fps_A": "8.0",
        "num_frames_A": "8.0",
        "fps_B": "8.0",
        "num_frames_B": "8.0",
        "A_model": "kling1.5",
    }
    row.update(changes)
    return [row[name] for name in VIDEOGEN_HEADER]


def write_json(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def write_jsonl(path: Path, lines: list[Any]) -> Path:
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines), encoding="utf-8")
    return path


def genai_record(vote: str = "leftvote", **changes: Any) -> dict[str, Any]:
    record = {"id": 7, "prompt": "a cat", "left_video": "videos/a.mp4", "right_video": "videos/b.mp4", "vote_type": vote}
    record.update(changes)
    return record


def mj_record(overall: str = "Same", **changes: Any) -> dict[str, Any]:
    record = {
        "caption": "a dog runs",
        "video_0_path": "videos/a.mp4",
        "video_1_path": "videos/b.mp4",
        "overall_preference": overall,
        "category_preference": {"Alignment": "Same", "Fineness": "Video 2 better"},
        "video_0_total_score": 1,
        "video_1_total_score": 2,
    }
    record.update(changes)
    return record


def only_bad(result: LoadResult) -> BadRow:
    assert len(result.bad_rows) == 1, result.bad_rows
    return result.bad_rows[0]


# ---------------------------------------------------------------------- videogen


def test_videogen_good_rows(video_dir: Path) -> None:
    path = write_csv(video_dir / "good.csv", [good_row(), good_row(VQ="B", TA="Same", Overall="same")])
    result = load_pairs(path, "videogen")
    assert result.bad_rows == [] and result.rows == [1, 2]
    first, second = result.pairs
    # `videos/...` and `./videos/...` resolve to the same absolute, normalised path.
    assert first.video_a == str(video_dir / "videos" / "a.mp4")
    assert first.video_b == str(video_dir / "videos" / "b.mp4")
    assert first.labels == {"TA": "B", "VQ": "A", "MQ": "tie", "Overall": "A"}
    assert second.labels == {"TA": "tie", "VQ": "B", "MQ": "tie", "Overall": "tie"}
    assert first.meta == {"fps_A": 8.0, "num_frames_A": 8, "fps_B": 8.0, "num_frames_B": 8, "A_model": "kling1.5"}
    assert first.source == "videogen"
    assert first.pair_id == "good:1" and second.pair_id == "good:2"


def test_videogen_without_overall_column(video_dir: Path) -> None:
    header = [h for h in VIDEOGEN_HEADER if h != "Overall"]
    row = [v for h, v in zip(VIDEOGEN_HEADER, good_row()) if h != "Overall"]
    result = load_pairs(write_csv(video_dir / "train.csv", [row], header=header), "videogen")
    assert result.pairs[0].labels == {"TA": "B", "VQ": "A", "MQ": "tie"}


def test_videogen_root_resolves_relative_paths(video_dir: Path, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "elsewhere.csv", [good_row()])
    with pytest.raises(DataError, match="video file not found"):
        load_pairs(path, "videogen")
    pair = load_pairs(path, "videogen", root=video_dir).pairs[0]
    assert pair.video_a == str(video_dir / "videos" / "a.mp4")


@pytest.mark.parametrize(
    ("changes", "field", "reason"),
    [
        ({"VQ": "C"}, "VQ", "unknown label value 'C'; expected A, B or same"),
        ({"MQ": ""}, "MQ", "missing label value"),
        ({"Overall": "better"}, "Overall", "unknown label value 'better'"),
        ({"prompt": "  "}, "prompt", "empty prompt"),
        ({"path_B": "videos/missing.mp4"}, "path_B", "video file not found"),
        ({"path_A": ""}, "path_A", "empty video path"),
        ({"fps_A": "fast"}, "fps_A", "expected a number, got 'fast'"),
    ],
)
def test_videogen_bad_row_skip_and_fail(video_dir: Path, changes: dict[str, str], field: str, reason: str) -> None:
    path = write_csv(video_dir / f"bad_{field}.csv", [good_row(), good_row(**changes), good_row()])
    result = load_pairs(path, "videogen", on_bad_row="skip")
    bad = only_bad(result)
    assert (bad.file, bad.row, bad.field) == (str(path), 2, field)
    assert reason in bad.reason
    assert result.rows == [1, 3] and len(result.pairs) == 2

    with pytest.raises(DataError) as info:
        load_pairs(path, "videogen", on_bad_row="fail")
    message = str(info.value)
    for part in (str(path), "row 2", repr(field), reason, "--on-bad-row skip"):
        assert part in message
    assert (info.value.row, info.value.field) == (2, field)


def test_videogen_missing_video_ignored_without_check_files(video_dir: Path) -> None:
    path = write_csv(video_dir / "nocheck.csv", [good_row(path_B="videos/missing.mp4")])
    pair = load_pairs(path, "videogen", check_files=False).pairs[0]
    assert pair.video_b == str(video_dir / "videos" / "missing.mp4")


def test_videogen_missing_column_is_a_file_error(video_dir: Path) -> None:
    header = [h for h in VIDEOGEN_HEADER if h != "TA"]
    row = [v for h, v in zip(VIDEOGEN_HEADER, good_row()) if h != "TA"]
    path = write_csv(video_dir / "no_ta.csv", [row], header=header)
    with pytest.raises(DataError) as info:
        load_pairs(path, "videogen", on_bad_row="skip")  # skip does not hide a wrong file
    message = str(info.value)
    assert str(path) in message and "'TA'" in message and "columns found: path_A, path_B, prompt, VQ, MQ, Overall" in message


def test_videogen_wrong_field_count_and_blank_lines(video_dir: Path) -> None:
    path = video_dir / "ragged.csv"
    write_csv(path, [good_row(), good_row()[:4], good_row()])
    with path.open("a", encoding="utf-8") as handle:
        handle.write("\n\n")
    result = load_pairs(path, "videogen", on_bad_row="skip")
    bad = only_bad(result)
    assert (bad.row, bad.field) == (2, "<row>") and "4 fields" in bad.reason
    assert result.rows == [1, 3]


def test_videogen_bom_and_multiline_prompt(video_dir: Path) -> None:
    path = video_dir / "excel.csv"
    rows = [good_row(prompt="line one\nline two\u2028still two"), good_row(VQ="B")]
    with path.open("w", newline="", encoding="utf-8-sig") as handle:  # utf-8-sig writes a BOM
        writer = csv.writer(handle)
        writer.writerow(VIDEOGEN_HEADER)
        writer.writerows(rows)
    result = load_pairs(path, "videogen")
    assert result.pairs[0].prompt == "line one\nline two\u2028still two"
    assert result.rows == [1, 2] and result.pairs[1].labels["VQ"] == "B"


def test_videogen_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("")
    with pytest.raises(DataError, match="empty file"):
        load_pairs(path, "videogen")


def test_missing_file_and_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        load_pairs(tmp_path / "nope.csv", "videogen")
    path = write_csv(tmp_path / "x.csv", [])
    with pytest.raises(ValueError, match="unknown format"):
        load_pairs(path, "csv")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="on_bad_row"):
        load_pairs(path, "videogen", on_bad_row="ignore")  # type: ignore[arg-type]
    with pytest.raises(DataError, match="not a directory"):
        load_pairs(path, "videogen", root=tmp_path / "no-such-dir")


# ------------------------------------------------------------------- GenAI-Bench


def test_genai_json_list_vote_mapping(video_dir: Path) -> None:
    votes = ["leftvote", "rightvote", "tievote", "bothbad_vote"]
    records = [genai_record(v, id=i, left_model="m1") for i, v in enumerate(votes)]
    result = load_pairs(write_json(video_dir / "genai.json", records), "genai-bench")
    assert [p.labels for p in result.pairs] == [{"Overall": "A"}, {"Overall": "B"}, {"Overall": "tie"}, {"Overall": "tie"}]
    assert [p.meta["vote_type"] for p in result.pairs] == votes
    assert result.pairs[0].meta == {"id": 0, "left_model": "m1", "vote_type": "leftvote"}
    assert result.pairs[3].pair_id == "genai:3"
    assert result.pairs[0].video_a == str(video_dir / "videos" / "a.mp4")


def test_genai_jsonl_with_unifiedreward_field_names(video_dir: Path) -> None:
    record = {"prompt": "a cat", "video_left": "videos/a.mp4", "video_right": "videos/b.mp4", "vote_type": "rightvote"}
    result = load_pairs(write_jsonl(video_dir / "genai.jsonl", [record, record]), "genai-bench")
    assert [p.labels["Overall"] for p in result.pairs] == ["B", "B"]
    assert [p.pair_id for p in result.pairs] == ["genai:1", "genai:2"]  # no id: row number


def test_genai_parquet(video_dir: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = video_dir / "genai.parquet"
    pq.write_table(pa.Table.from_pylist([genai_record("tievote", id=1), genai_record("bothbad_vote", id=2)]), path)
    result = load_pairs(path, "genai-bench")
    assert [p.meta["vote_type"] for p in result.pairs] == ["tievote", "bothbad_vote"]


def test_genai_urls_are_not_checked(tmp_path: Path) -> None:
    url = "https://huggingface.co/datasets/tianleliphoebe/genai-arena-video-mp4/resolve/main/x.mp4"
    result = load_pairs(write_json(tmp_path / "urls.json", [genai_record(left_video=url, right_video=url)]), "genai-bench")
    assert result.pairs[0].video_a == url


def test_genai_bad_rows(video_dir: Path) -> None:
    lines = [
        genai_record("leftvote", id=1),
        genai_record("sidevote", id=2),  # line 2: unknown vote
        '{"prompt": "a cat", "left_video": ',  # line 3: malformed JSON
        "",  # line 4: blank, skipped but counted
        genai_record(prompt="", id=5),  # line 5: empty prompt
        {k: v for k, v in genai_record(id=6).items() if k != "vote_type"},  # line 6: missing field
        [1, 2],  # line 7: not an object
        genai_record(right_video="videos/nope.mp4", id=8),  # line 8: missing video
        genai_record("rightvote", id=9),
        genai_record("rightvote", id=1),  # line 10: the id of line 1 again
    ]
    path = write_jsonl(video_dir / "genai_bad.jsonl", lines)
    result = load_pairs(path, "genai-bench", on_bad_row="skip")
    assert [(b.row, b.field) for b in result.bad_rows] == [
        (2, "vote_type"),
        (3, "<json>"),
        (5, "prompt"),
        (6, "vote_type"),
        (7, "<row>"),
        (8, "right_video"),
        (10, "pair_id"),
    ]
    reasons = [b.reason for b in result.bad_rows]
    assert "unknown vote_type 'sidevote'" in reasons[0]
    assert reasons[1].startswith("invalid JSON at column")
    assert reasons[3].startswith("missing field")
    assert reasons[6] == "duplicate pair_id 'genai_bad:1' (first seen in row 1)"
    assert result.rows == [1, 9]

    with pytest.raises(DataError, match=r"row 2: field 'vote_type'"):
        load_pairs(path, "genai-bench", on_bad_row="fail")


def test_malformed_jsonl_line_fails_with_its_line_number(video_dir: Path) -> None:
    path = write_jsonl(video_dir / "broken.jsonl", [genai_record(id=1), genai_record(id=2), "{not json"])
    with pytest.raises(DataError, match=r"row 3: field '<json>': invalid JSON"):
        load_pairs(path, "genai-bench")


def test_genai_missing_column_everywhere(tmp_path: Path) -> None:
    records = [{"prompt": "x", "left_video": "a.mp4", "right_video": "b.mp4", "vote": "leftvote"}]
    with pytest.raises(DataError) as info:
        load_pairs(write_json(tmp_path / "g.json", records), "genai-bench", check_files=False)
    assert "'vote_type'" in str(info.value) and "columns found: prompt, left_video, right_video, vote" in str(info.value)


def test_alias_column_error_names_both_spellings(tmp_path: Path) -> None:
    records = [{"prompt": "x", "left": "a.mp4", "right_video": "b.mp4", "vote_type": "leftvote"}]
    with pytest.raises(DataError, match="'left_video' or 'video_left'"):
        load_pairs(write_json(tmp_path / "g.json", records), "genai-bench", check_files=False)


def test_unparseable_json_files(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('[{"prompt": "x"},\n {oops}]')
    with pytest.raises(DataError, match=r"not valid JSON \(line 2"):
        load_pairs(broken, "genai-bench")
    pretty = tmp_path / "pretty.json"
    pretty.write_text(json.dumps({"data": [genai_record()]}, indent=2))
    with pytest.raises(DataError, match="one JSON object"):
        load_pairs(pretty, "genai-bench")
    not_parquet = tmp_path / "x.parquet"
    not_parquet.write_text("hello")
    with pytest.raises(DataError, match="cannot read as Parquet"):
        load_pairs(not_parquet, "genai-bench")


# ---------------------------------------------------------------- MJ-Bench-Video


def test_mj_free_text_is_case_insensitive(video_dir: Path) -> None:
    records = [
        mj_record("Video 1 better"),
        mj_record("Video 1 Better"),
        mj_record("video 2 better"),
        mj_record("Same"),
        mj_record("Hard to judge"),
    ]
    result = load_pairs(write_json(video_dir / "mj.json", records), "mj-bench-video")
    assert [p.labels for p in result.pairs] == [{"Overall": "A"}, {"Overall": "A"}, {"Overall": "B"}, {"Overall": "tie"}, {}]
    pair = result.pairs[0]
    assert pair.prompt == "a dog runs"
    assert pair.video_a.endswith("videos/a.mp4") and pair.video_b.endswith("videos/b.mp4")  # video_0 is A
    assert pair.meta["category_labels"] == {"Alignment": "tie", "Fineness": "B"}
    assert pair.meta["overall_preference"] == "Video 1 better"  # raw text kept
    assert pair.meta["video_1_total_score"] == 2
    assert pair.source == "mj-bench-video" and pair.pair_id == "mj:1"


def test_mj_unknown_text_is_a_bad_row(video_dir: Path) -> None:
    records = [
        mj_record("Video 3 better"),
        mj_record(category_preference={"Alignment": "both fine"}),
        mj_record(caption=""),
        mj_record(),
    ]
    result = load_pairs(write_json(video_dir / "mj_bad.json", records), "mj-bench-video", on_bad_row="skip")
    assert [(b.row, b.field) for b in result.bad_rows] == [
        (1, "overall_preference"),
        (2, "category_preference.Alignment"),
        (3, "caption"),
    ]
    assert "unknown preference text 'Video 3 better'" in result.bad_rows[0].reason
    assert result.rows == [4]


# ---------------------------------------------------------------------- helpers


def test_resolve_and_remote(tmp_path: Path) -> None:
    assert resolve_video_path("./v/../v/a.mp4", tmp_path) == str(tmp_path / "v" / "a.mp4")
    assert resolve_video_path("/abs/a.mp4", tmp_path) == "/abs/a.mp4"
    assert resolve_video_path("s3://bucket/a.mp4", tmp_path) == "s3://bucket/a.mp4"
    assert is_remote("https://x/y.mp4") and not is_remote("videos/y.mp4") and not is_remote("C:\\v\\y.mp4")


# ----------------------------------------------------------------------- check_file


def test_check_file_counts_labels_and_bad_rows(video_dir: Path) -> None:
    path = write_csv(video_dir / "check.csv", [good_row(), good_row(VQ="?"), good_row(Overall="B")])
    summary = check_file(path, "videogen")
    json.dumps(summary)  # JSON-ready
    assert summary["file"] == str(path) and summary["format"] == "videogen"
    assert (summary["rows"], summary["pairs"]) == (3, 2)
    assert summary["bad_rows"] == [{"row": 2, "field": "VQ", "reason": "unknown label value '?'; expected A, B or same"}]
    assert summary["bad_rows_by_field"] == {"VQ": 1}
    assert summary["labels"]["Overall"] == {"A": 1, "B": 1, "tie": 0, "missing": 0}
    assert summary["labels"]["MQ"] == {"A": 0, "B": 0, "tie": 2, "missing": 0}
    assert "videos" not in summary
    with pytest.raises(DataError, match="row 2"):
        check_file(path, "videogen", on_bad_row="fail")


def test_check_file_decode_probes_each_video_once(video_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import vrthinker.video as video

    (tmp_path / "videos").mkdir()
    for name in ("a", "c"):
        (tmp_path / "videos" / f"{name}.mp4").write_bytes((video_dir / "videos" / f"{name}.mp4").read_bytes())
    (tmp_path / "videos" / "broken.mp4").write_bytes(b"\x00not a video" * 50)
    rows = [
        good_row(),  # a + b... b is absent here: row 1 is a file-missing bad row
        good_row(path_B="videos/c.mp4", num_frames_B="12"),
        good_row(path_B="videos/broken.mp4"),
        good_row(path_A="videos/c.mp4", path_B="./videos/broken.mp4"),
        good_row(path_B="videos/c.mp4", fps_B="25", num_frames_B="99"),
    ]
    path = write_csv(tmp_path / "decode.csv", rows)

    calls: list[str] = []
    real_probe = video.probe_video
    monkeypatch.setattr(video, "probe_video", lambda p: calls.append(p) or real_probe(p))

    summary = check_file(path, "videogen", decode=True, show_progress=False)
    assert sorted(calls) == sorted(set(calls))  # each distinct video probed once
    assert len(calls) == 3
    assert [(b["row"], b["field"]) for b in summary["bad_rows"]] == [(1, "path_B"), (3, "video_b"), (4, "video_b")]
    assert "video does not decode" in summary["bad_rows"][1]["reason"]
    assert summary["pairs"] == 2 and summary["rows"] == 5
    by_name = {Path(v["path"]).name: v for v in summary["videos"]}
    assert set(by_name) == {"a.mp4", "c.mp4", "broken.mp4"}
    assert (by_name["a.mp4"]["num_frames"], by_name["a.mp4"]["width"], by_name["a.mp4"]["height"]) == (8, 32, 32)
    assert by_name["a.mp4"]["fps"] == pytest.approx(8.0)
    assert by_name["c.mp4"]["num_frames"] == 12
    assert "error" in by_name["broken.mp4"]
    # Row 5 states fps 25 and 99 frames for c.mp4 (8 fps, 12 frames).
    assert [(m["row"], m["field"], m["stated"], m["measured"]) for m in summary["meta_mismatches"]] == [
        (5, "fps_B", 25.0, pytest.approx(8.0)),
        (5, "num_frames_B", 99, 12),
    ]
    failing = write_csv(tmp_path / "decode_fail.csv", [rows[1], rows[2]])
    with pytest.raises(DataError, match=r"row 2: field 'video_b': video does not decode.*--on-bad-row skip"):
        check_file(failing, "videogen", decode=True, on_bad_row="fail", show_progress=False)


def test_label_counts_empty() -> None:
    assert label_counts([])["TA"] == {"A": 0, "B": 0, "tie": 0, "missing": 0}


# ------------------------------------------------------------------ real files


def test_real_videoalign_example(shared_benchmarks: Path) -> None:
    folder = shared_benchmarks / "videoalign-example"
    result = load_pairs(folder / "example.csv", "videogen")
    assert result.bad_rows == [] and len(result.pairs) == 12  # 3 pairs repeated 4 times
    videos = {v for p in result.pairs for v in (p.video_a, p.video_b)}
    assert videos == {str(folder / "videos" / f"example_{i}_{s}.mp4") for i in (1, 2, 3) for s in "AB"}
    assert len({p.prompt for p in result.pairs}) == 3
    assert label_counts(result.pairs) == {
        "TA": {"A": 8, "B": 0, "tie": 4, "missing": 0},
        "VQ": {"A": 4, "B": 4, "tie": 4, "missing": 0},
        "MQ": {"A": 0, "B": 4, "tie": 8, "missing": 0},
        "Overall": {"A": 0, "B": 0, "tie": 0, "missing": 12},  # training CSV: no Overall
    }
    first = result.pairs[0]
    assert first.labels == {"TA": "A", "VQ": "B", "MQ": "B"}
    assert first.meta == {"fps_A": 24.0, "num_frames_A": 126, "fps_B": 30.0, "num_frames_B": 152}


def test_real_genai_bench(shared_benchmarks: Path) -> None:
    path = shared_benchmarks / "genai-bench" / "test.unifiedreward-export.json"
    result = load_pairs(path, "genai-bench", check_files=False)  # metadata only: no videos here
    pairs = result.pairs
    assert result.bad_rows == [] and len(pairs) == 1889
    assert Counter(p.meta["vote_type"] for p in pairs) == {"leftvote": 619, "rightvote": 651, "tievote": 215, "bothbad_vote": 404}
    assert label_counts(pairs)["Overall"] == {"A": 619, "B": 651, "tie": 619, "missing": 0}
    assert sum(p.labels["Overall"] != "tie" for p in pairs) == 1270  # the w/o-ties subset
    assert len({p.prompt for p in pairs}) == 502
    assert len({v for p in pairs for v in (p.video_a, p.video_b)}) == 3778
    assert pairs[0].pair_id == "test.unifiedreward-export:0"


def test_real_genai_bench_with_file_check(shared_benchmarks: Path) -> None:
    path = shared_benchmarks / "genai-bench" / "test.unifiedreward-export.json"
    with pytest.raises(DataError, match="--no-check-files"):
        load_pairs(path, "genai-bench")
    result = load_pairs(path, "genai-bench", on_bad_row="skip")
    assert result.pairs == [] and len(result.bad_rows) == 1889
    assert {b.reason.split(":")[0] for b in result.bad_rows} == {"video file not found"}


def test_real_mj_bench_video(shared_benchmarks: Path) -> None:
    result = load_pairs(shared_benchmarks / "mj-bench-video" / "test.json", "mj-bench-video", check_files=False)
    pairs = result.pairs
    assert result.bad_rows == [] and len(pairs) == 1085
    assert len({p.prompt for p in pairs}) == 1077
    assert len({v for p in pairs for v in (p.video_a, p.video_b)}) == 2170
    assert Counter(p.meta["overall_preference"] for p in pairs) == {
        "Video 1 better": 66,
        "Video 1 Better": 6,
        "Video 2 better": 46,
        "Same": 959,
        "Hard to judge": 8,
    }
    assert label_counts(pairs)["Overall"] == {"A": 72, "B": 46, "tie": 959, "missing": 8}
    assert sum(p.labels.get("Overall") in ("A", "B") for p in pairs) == 118  # MJ-Video's denominator
    assert label_counts(pairs)["TA"]["missing"] == 1085  # aspects are not mapped to TA/VQ/MQ
    aspects = [p.meta["category_labels"] for p in pairs]
    assert sum(a["Alignment"] in ("A", "B") for a in aspects) == 165
    assert sum(any(v in ("A", "B") for v in a.values()) for a in aspects) == 295
    assert {a["Bias"] for a in aspects} == {"tie"}


def test_real_files_through_check_file(shared_benchmarks: Path) -> None:
    summary = check_file(shared_benchmarks / "mj-bench-video" / "test.json", "mj-bench-video", check_files=False)
    assert summary["pairs"] == 1085
    assert summary["source_labels"]["Alignment"] == {"A": 99, "B": 66, "tie": 914, "missing": 6}
    summary = check_file(shared_benchmarks / "genai-bench" / "test.unifiedreward-export.json", "genai-bench", check_files=False)
    assert summary["source_labels"]["vote_type"] == {"bothbad_vote": 404, "leftvote": 619, "rightvote": 651, "tievote": 215}


def test_package_import_is_light() -> None:
    """``import vrthinker.data`` loads neither the synthetic suite nor PyAV (lazy imports)."""
    import subprocess
    import sys

    code = (
        "import sys, vrthinker.data as d; "
        "assert 'vrthinker.data.synthetic' not in sys.modules; "
        "assert 'av' not in sys.modules and 'pyarrow' not in sys.modules; "
        "assert 'generate_suite' in d.__all__"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
