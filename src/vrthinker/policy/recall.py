"""In-context recall turns: the text skill a pretrained language model brings, for a model from scratch.

A judge that scans carries what earlier turns found: its tally names the video of a defect an
earlier turn saw (``Defects: Video2 has VQ.``), and the digit has to be copied from text hundreds of
tokens back. A pretrained LM does this with induction heads: attend to the token that followed an
earlier occurrence of the current token, and copy it (Olsson et al., 2022, "In-context Learning and
Induction Heads"). The demo's tiny model starts from random weights; its perception warm-up stands
in for pretraining but teaches it only to see, and the judges it trained placed the carried digit
by where things sit in the turn instead of looking it up (docs/demo.md, ninth to eleventh sessions).

Recall turns teach the copy on its own. Each turn shows a text made of sentences drawn at random
from a corpus of the judge's own traces (so the vocabulary is the judge's: frame sentences,
tallies) and the target is the same text again. Random order leaves nothing to predict from
position: only looking the next token up in the context works, which is what the induction head
learns. The sentences come from any trace file, so a second task's traces serve the same way.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from vrthinker.episode.messages import Message
from vrthinker.episode.protocol import parse_turn
from vrthinker.episode.traces import iter_trace_records

RECALL_PROMPT = "Copy this text exactly:\n"

_SENTENCE_END = re.compile(r"(?<=\.)\s+")


def trace_sentences(traces: str | Path, match: str | None = None) -> tuple[list[str], dict[str, Any] | None]:
    """The distinct sentences of the thinking in ``traces`` (first-seen order), and one record's workspace spec.

    ``match``: keep only the sentences this regular expression matches (``re.search``), e.g. ``"^Defects:"``
    for a judge's tallies.
    """
    keep = re.compile(match) if match is not None else None
    sentences: dict[str, None] = {}
    workspace = None
    for _, record in iter_trace_records(traces):
        workspace = workspace or record.get("workspace")
        for turn in record.get("turn_records", []):
            # The episode protocol's reader of a turn; only its thinking is used (no tool or answer is parsed).
            think = parse_turn(turn.get("text", ""), (), lambda text: None).think or ""
            sentences.update((s.strip(), None) for s in _SENTENCE_END.split(think) if s.strip())
    return [s for s in sentences if keep is None or keep.search(s)], workspace


def generate_recall_traces(
    source: str | Path,
    out_path: str | Path,
    *,
    turns: int,
    sentences_per_turn: tuple[int, int] = (4, 12),
    turns_per_record: int = 50,
    seed: int = 0,
    match: str | None = None,
) -> dict[str, Any]:
    """Write ``turns`` recall turns built from the thinking sentences of the traces in ``source``.

    Each turn's context is one user message, :data:`RECALL_PROMPT` and a text of
    ``sentences_per_turn`` (inclusive range) sentences drawn with replacement; its target is that
    text. ``match`` keeps only the sentences it matches (:func:`trace_sentences`). Records hold
    ``turns_per_record`` turns each and borrow the workspace of a source record (it holds no image,
    so no frame is decoded for it). Rewrites ``out_path``; deterministic in ``seed``.
    """
    low, high = sentences_per_turn
    if turns < 1 or not 1 <= low <= high or turns_per_record < 1:
        raise ValueError(f"recall turns need turns >= 1, sentences_per_turn = (shortest, longest) with "
                         f"1 <= shortest <= longest, and turns_per_record >= 1; got turns={turns}, "
                         f"sentences_per_turn={sentences_per_turn}, turns_per_record={turns_per_record}")
    sentences, workspace = trace_sentences(source, match)
    if not sentences or workspace is None:
        which = "" if match is None else f" matching {match!r}"
        raise ValueError(f"{source}: no <think> sentences{which} to build recall turns from (is it a trace file?)")
    rng = np.random.default_rng(seed)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_suffix(out_path.suffix + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for first in range(0, turns, turns_per_record):
            records = []
            for index in range(min(turns_per_record, turns - first)):
                text = " ".join(sentences[i] for i in rng.integers(len(sentences), size=int(rng.integers(low, high + 1))))
                context = [Message.text("user", RECALL_PROMPT + text).to_json()]
                records.append({"index": index, "context": context, "text": text})
            f.write(json.dumps({"key": f"recall-{first // turns_per_record}", "labels": {}, "workspace": workspace,
                                "turn_records": records}) + "\n")  # fmt: skip
    os.replace(tmp, out_path)
    return {"out": str(out_path), "turns": turns, "distinct_sentences": len(sentences)}
