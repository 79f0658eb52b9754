"""balance_sides: the accepted traces of the less frequent winning side repeated until both sides are even."""

from __future__ import annotations

import json
from collections import Counter

from vrthinker.episode.traces import iter_trace_records
from vrthinker.train.rejection import balance_sides


def _write(path, labels):
    path.write_text("".join(json.dumps({"key": f"p{i}", "labels": {"Overall": lab}}) + "\n" for i, lab in enumerate(labels)))


def _keys(path):
    return Counter(r["key"] for _, r in iter_trace_records(path))


def test_minority_side_repeated_in_order_ties_kept_once(tmp_path):
    src, out = tmp_path / "accepted.jsonl", tmp_path / "balanced.jsonl"
    _write(src, ["B", "A", "B", "B", "tie", "B", "A", "B"])  # 5 B : 2 A : 1 tie
    counts = balance_sides(src, out)
    assert counts == {"A": 2, "B": 5, "other": 1, "added": 3}
    keys = _keys(out)
    labels = Counter(r["labels"]["Overall"] for _, r in iter_trace_records(out))
    assert labels == {"A": 5, "B": 5, "tie": 1}
    # Whole copies first, then the first records again: p1 three times, p6 twice.
    assert keys["p1"] == 3 and keys["p6"] == 2
    assert all(keys[k] == 1 for k in ("p0", "p2", "p3", "p4", "p5", "p7"))
    assert balance_sides(src, out) == counts  # idempotent: rewrites the same file


def test_even_or_one_sided_input_is_copied_unchanged(tmp_path, caplog):
    src, out = tmp_path / "accepted.jsonl", tmp_path / "balanced.jsonl"
    _write(src, ["A", "B", "tie"])
    assert balance_sides(src, out)["added"] == 0 and _keys(out) == _keys(src)
    _write(src, ["B", "B", "tie"])
    assert balance_sides(src, out) == {"A": 0, "B": 2, "other": 1, "added": 0}
    assert _keys(out) == _keys(src) and "nothing to balance" in caplog.text
