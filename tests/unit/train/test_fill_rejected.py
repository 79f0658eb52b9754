"""fill_rejected: the accepted samples, plus the reference traces of the sampled pairs with none accepted."""

from __future__ import annotations

import json
from collections import Counter

from vrthinker.episode.traces import iter_trace_records
from vrthinker.train.rejection import fill_rejected


def _write(path, rows):
    path.write_text("".join(json.dumps({"key": k, "meta": {"pair_id": p}}) + "\n" for k, p in rows))


def test_failed_pairs_get_their_fallback_traces_accepted_ones_do_not(tmp_path):
    accepted, teacher, out = tmp_path / "accepted.jsonl", tmp_path / "teacher.jsonl", tmp_path / "filled.jsonl"
    _write(accepted, [("s1", "p1"), ("s1b", "p1"), ("s3", "p3")])
    _write(teacher, [("t1", "p1"), ("t2", "p2"), ("t3", "p3"), ("t4", "p4"), ("t5", "p5")])
    counts = fill_rejected(accepted, teacher, ["p1", "p2", "p3", "p4", "p9"], out)
    # p2 and p4 failed and have a teacher trace; p9 failed and has none; p5 was not sampled.
    assert counts == {"accepted": 3, "filled": 2, "fallback_traces": 2, "missing": 1}
    keys = Counter(r["key"] for _, r in iter_trace_records(out))
    assert keys == {"s1": 1, "s1b": 1, "s3": 1, "t2": 1, "t4": 1}
    assert fill_rejected(accepted, teacher, ["p1", "p2", "p3", "p4", "p9"], out) == counts  # rewrites the same file


def test_nothing_accepted_yet_every_sampled_pair_is_filled(tmp_path):
    teacher, out = tmp_path / "teacher.jsonl", tmp_path / "filled.jsonl"
    _write(teacher, [("t1", "p1"), ("t2", "p2")])
    counts = fill_rejected(tmp_path / "absent.jsonl", teacher, ["p1", "p2"], out)
    assert counts == {"accepted": 0, "filled": 2, "fallback_traces": 2, "missing": 0}
    assert [r["key"] for _, r in iter_trace_records(out)] == ["t1", "t2"]
