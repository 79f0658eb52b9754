"""The turn format: what a judge writes each round, and how it is parsed.

Each assistant turn is ``<think>…</think>`` followed by either

* a tool call: ``<recommend answer>…</recommend answer><tool_call>{"name": …,
  "arguments": {…}}</tool_call>`` (nothing after it), or
* a final answer, which the *task* parses (see ``tasks.py``).

The system prompt carries the tool schemas in Qwen's chat-template style
(``<tools>…</tools>``), written here as text so every backend (HF, vLLM, an
OpenAI-compatible server) sees the same characters.

Parsing never raises: a malformed turn is classified (``TurnError``) so that
it can be answered with an error text and counted.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal, Sequence

TurnError = Literal[
    "no_answer",  # neither a tool call nor a parseable final answer
    "bad_json",  # the tool call body is not a JSON object with "name" and "arguments"
    "unknown_tool",
    "text_after_call",  # anything but whitespace after </tool_call>
    "multiple_calls",
    "unclosed_call",  # <tool_call> without </tool_call>
]

# Token strings a backend may leave at the end of a decoded turn.
_END_MARKERS = ("<|im_end|>", "<|endoftext|>")

_THINK = re.compile(r"<think>(.*?)</think>", re.S)
_RECOMMEND = re.compile(r"<recommend answer>(.*?)</recommend answer>", re.S)


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: Any


@dataclass(frozen=True)
class ParsedTurn:
    """A turn split into its parts. Exactly one of ``call``/``answer_text``/``error`` is set."""

    text: str
    think: str | None = None
    recommend: str | None = None
    call: ToolCall | None = None
    answer_text: str | None = None
    error: TurnError | None = None
    detail: str = ""

    @property
    def kind(self) -> Literal["tool_call", "answer", "invalid"]:
        if self.call is not None:
            return "tool_call"
        if self.answer_text is not None:
            return "answer"
        return "invalid"

    @property
    def has_think(self) -> bool:
        return self.think is not None


def strip_end_markers(text: str) -> str:
    text = text.rstrip()
    changed = True
    while changed:
        changed = False
        for marker in _END_MARKERS:
            if text.endswith(marker):
                text = text[: -len(marker)].rstrip()
                changed = True
    return text


def parse_turn(
    text: str, tool_names: Sequence[str], answer_locator: "AnswerLocator"
) -> ParsedTurn:
    """Split one assistant turn; classify it when malformed.

    ``answer_locator(text)`` returns the final-answer block of the task, or
    ``None`` when the turn holds none (the task owns its answer format).
    """
    text = strip_end_markers(text)
    think_m = _THINK.search(text)
    rec_m = _RECOMMEND.search(text)
    common = dict(
        text=text,
        think=think_m.group(1).strip() if think_m else None,
        recommend=rec_m.group(1).strip() if rec_m else None,
    )
    n_open = text.count("<tool_call>")
    if n_open:
        if n_open > 1:
            return ParsedTurn(**common, error="multiple_calls", detail=f"{n_open} <tool_call> blocks; make one call per turn.")
        start = text.index("<tool_call>") + len("<tool_call>")
        end = text.find("</tool_call>", start)
        if end < 0:
            return ParsedTurn(**common, error="unclosed_call", detail="<tool_call> is never closed with </tool_call>.")
        trailing = text[end + len("</tool_call>") :].strip()
        if trailing:
            return ParsedTurn(
                **common,
                error="text_after_call",
                detail=f"the turn continues after </tool_call> ({trailing[:40]!r}); end the turn with the call.",
            )
        body = text[start:end].strip()
        try:
            obj = json.loads(body)
        except json.JSONDecodeError as err:
            return ParsedTurn(**common, error="bad_json", detail=f"the call is not valid JSON ({err.msg} at char {err.pos}).")
        if not isinstance(obj, dict) or "name" not in obj or "arguments" not in obj:
            return ParsedTurn(
                **common, error="bad_json", detail='the call must be a JSON object {"name": ..., "arguments": {...}}.'
            )
        name = obj["name"]
        if name not in tool_names:
            return ParsedTurn(
                **common,
                error="unknown_tool",
                detail=f"there is no tool {name!r}; available: {', '.join(tool_names) or 'none'}.",
            )
        return ParsedTurn(**common, call=ToolCall(name=name, arguments=obj["arguments"]))

    answer = answer_locator(text)
    if answer is not None:
        return ParsedTurn(**common, answer_text=answer)
    return ParsedTurn(**common, error="no_answer", detail="the turn has neither a tool call nor a final answer.")


class AnswerLocator:  # pragma: no cover - typing helper only
    def __call__(self, text: str) -> str | None: ...


def tools_system_prompt(base: str, schemas: Sequence[dict[str, Any]]) -> str:
    """``base`` followed by the tool section Qwen2.5's chat template writes for ``tools=``.

    Written out here (instead of passing ``tools=`` to the template) so an
    OpenAI-compatible server sees the same text; the characters are the
    template's own.
    """
    if not schemas:
        return base
    lines = "\n".join(json.dumps(s, ensure_ascii=False) for s in schemas)
    return (
        f"{base}\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
        "You are provided with function signatures within <tools></tools> XML tags:\n"
        f"<tools>\n{lines}\n</tools>\n\n"
        "For each function call, return a json object with function name and arguments within "
        "<tool_call></tool_call> XML tags:\n<tool_call>\n"
        '{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call>'
    )


def format_tool_call(name: str, arguments: Any) -> str:
    """How a well-formed call is written (used by scripted teachers and docs)."""
    return "<tool_call>" + json.dumps({"name": name, "arguments": arguments}) + "</tool_call>"
