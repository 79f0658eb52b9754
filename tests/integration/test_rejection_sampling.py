"""Rejection sampling keeps only fully correct traces and resumes without duplicates or losses."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from vrthinker.data import read_pairs
from vrthinker.data.synthetic import generate_suite
from vrthinker.episode import EpisodeConfig
from vrthinker.episode.traces import iter_trace_records
from vrthinker.policy.judge import Judge
from vrthinker.policy.scripted import ReplayPolicy
from vrthinker.train.rejection import rejection_sample

CFG = EpisodeConfig(frames_per_video=8, initial_per_video=1, max_tool_calls=0)
NUM = {"A": 1, "B": 2, "tie": 0}


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    return read_pairs(generate_suite(tmp_path_factory.mktemp("rs"), num_pairs=6, seed=4, show_progress=False))


def oracle(pairs):
    """Sample k of a pair is right on every dimension when k is even; odd samples get Overall wrong."""
    by_id = {p.pair_id: p for p in pairs}

    def script(req, _n):
        pair_id, k = req.episode_key.split("#")
        labels = by_id[pair_id].labels
        lines = {d: NUM[labels[d]] for d in ("TA", "VQ", "MQ", "Overall")}
        if int(k) % 2:
            lines["Overall"] = (lines["Overall"] + 1) % 3
        body = "\n".join(f"{d}: {v}" for d, v in lines.items())
        return f"<think>look</think><answer>\n{body}\n</answer>"

    return script


class Crash(RuntimeError):
    pass


class CrashingPolicy(ReplayPolicy):
    def __init__(self, script, crash_after: int):
        super().__init__(script)
        self.calls, self.crash_after = 0, crash_after

    def generate(self, requests):
        self.calls += 1
        if self.calls > self.crash_after:
            raise Crash("killed")
        return super().generate(requests)


def _keys(path):
    return sorted(r["key"] for _, r in iter_trace_records(path))


def test_accepts_only_fully_correct(pairs, tmp_path):
    out = tmp_path / "rft.jsonl"
    stats = rejection_sample(pairs, Judge(ReplayPolicy(oracle(pairs)), CFG), out, k=4, batch_pairs=2)
    assert stats["samples"] == 24 and stats["accepted"] == 12
    assert stats["acceptance_rate"] == 0.5
    assert stats["accuracy_per_dim"]["TA"] == 1.0 and stats["accuracy_per_dim"]["Overall"] == 0.5
    assert all(k.endswith(("#0", "#2")) for k in _keys(out))


def test_killed_run_resumes_without_duplicates_or_losses(pairs, tmp_path):
    reference = tmp_path / "ref.jsonl"
    rejection_sample(pairs, Judge(ReplayPolicy(oracle(pairs)), CFG), reference, k=4, batch_pairs=2)

    out = tmp_path / "rft.jsonl"
    with pytest.raises(Crash):
        rejection_sample(pairs, Judge(CrashingPolicy(oracle(pairs), crash_after=2), CFG), out, k=4, batch_pairs=2)
    assert 0 < len(_keys(out)) < len(_keys(reference))
    # A crash between the trace append and the progress line: a stray trace of an unfinished pair.
    stray = next(r for _, r in iter_trace_records(reference) if r["meta"]["pair_id"] == pairs[-1].pair_id)
    with out.open("a") as f:
        f.write(json.dumps(stray) + "\n")
    stats = rejection_sample(pairs, Judge(ReplayPolicy(oracle(pairs)), CFG), out, k=4, batch_pairs=2)
    assert _keys(out) == _keys(reference)
    assert stats["pairs"] == 6 and stats["samples"] == 24 and stats["accepted"] == 12
    # A finished run is a no-op.
    rejection_sample(pairs, Judge(CrashingPolicy(oracle(pairs), crash_after=0), CFG), out, k=4)
    assert _keys(out) == _keys(reference)


def test_process_check_rejects_right_answers_reached_by_wrong_reasoning(pairs, tmp_path):
    """With ``check``, a trace whose answer is right but whose thinking is not the teacher's is counted, not kept."""
    from vrthinker.policy.teacher import ScriptedTeacher

    cfg = EpisodeConfig(frames_per_video=8, initial_per_video=2, max_tool_calls=1, prompt_style="compact")
    teacher = ScriptedTeacher(pairs, cfg, 0, strategy="scan", describe="per_frame", tally="per_video")

    def script(req, _n):
        text = teacher.turn_text(req)
        if req.episode_key.endswith("#1"):  # same answer, one wrong word in the thinking
            text = text.replace("Video 2 has ", "Video 2 has VQ, ", 1)
        return text

    out = tmp_path / "checked.jsonl"
    stats = rejection_sample(pairs, Judge(ReplayPolicy(script), cfg), out, k=2, check=teacher.reasoning_agrees)
    # Both samples of a pair answer alike (the teacher's answer: right unless a defect stayed unseen);
    # only the one that also thinks like the teacher is kept.
    right = stats["answers_right"]
    assert right >= 2 and stats["accepted"] == right // 2 and right % 2 == 0
    assert all(k.endswith("#0") for k in _keys(out)) and len(_keys(out)) == right // 2
    progress = [json.loads(x) for x in (tmp_path / "checked.jsonl.progress.jsonl").read_text().splitlines()]
    assert sum(r["answers_right"] for r in progress) == right and sum(r["accepted"] for r in progress) == right // 2
    # Resuming counts both from the progress file.
    again = rejection_sample(pairs, Judge(ReplayPolicy(script), cfg), out, k=2, check=teacher.reasoning_agrees)
    assert (again["answers_right"], again["accepted"]) == (right, right // 2)


def torch_drawn(pairs):
    """Each sample draws from torch's default generator, as a sampling model does: right or wrong by the draw."""
    import torch

    right = oracle(pairs)  # even sample index: right; odd: Overall wrong

    def script(req, n):
        pair_id, _ = req.episode_key.split("#")
        draw = int(torch.randint(0, 2, ()).item())
        return right(SimpleNamespace(episode_key=f"{pair_id}#{draw}"), n)

    return script


def test_seeded_run_resumed_in_another_process_draws_what_one_straight_through_does(pairs, tmp_path):
    import torch

    reference = tmp_path / "ref.jsonl"
    torch.manual_seed(11)  # whatever the process's generator holds: the seed decides
    rejection_sample(pairs, Judge(ReplayPolicy(torch_drawn(pairs)), CFG), reference, k=4, batch_pairs=2, seed=3)

    out = tmp_path / "rft.jsonl"
    with pytest.raises(Crash):
        rejection_sample(pairs, Judge(CrashingPolicy(torch_drawn(pairs), crash_after=1), CFG), out, k=4,
                         batch_pairs=2, seed=3)  # fmt: skip
    torch.manual_seed(12345)  # a new process: its generator starts elsewhere
    rejection_sample(pairs, Judge(ReplayPolicy(torch_drawn(pairs)), CFG), out, k=4, batch_pairs=2, seed=3)
    assert _keys(out) == _keys(reference) and 0 < len(_keys(reference)) < 24
    # Another seed draws other samples (so the check above is not vacuous).
    other = tmp_path / "other.jsonl"
    rejection_sample(pairs, Judge(ReplayPolicy(torch_drawn(pairs)), CFG), other, k=4, batch_pairs=2, seed=4)
    assert _keys(other) != _keys(reference)
