"""The episode engine: run many thinking-with-image episodes turn by turn.

Each round, every unfinished episode gets its context rebuilt through the
memory window; the whole batch goes to the policy in one call (so an HF or
vLLM backend generates for many episodes at once); each reply is parsed and
either answered (episode ends), executed as a tool call (frames or an error
text go back to the model), or ends the episode with a recorded reason.

The engine knows nothing of training: it returns ``Trajectory`` objects whose
turns are the segments trainers consume.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from vrthinker.episode.config import EpisodeConfig
from vrthinker.episode.messages import FrameRef, ImagePart, Message, Part, TextPart, context_images
from vrthinker.episode.policy import GenerationRequest, Policy
from vrthinker.episode.protocol import parse_turn
from vrthinker.episode.tasks import Task
from vrthinker.episode.tools import Tool
from vrthinker.episode.trajectory import EndReason, Trajectory, Turn
from vrthinker.episode.window import apply_memory_window, dropped_frames

log = logging.getLogger(__name__)

# Parse errors that are a botched tool call: answered with an error text, counted, and the episode goes on.
_CALL_ERRORS = {"bad_json", "unknown_tool", "text_after_call", "multiple_calls", "unclosed_call"}


@dataclass
class EpisodeJob:
    """One episode to run: a key (e.g. ``pair_id#3``), its workspace, optional labels."""

    key: str
    workspace: Any
    labels: dict[str, str] | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Running:
    trajectory: Trajectory
    history: list[Message]
    # reshow_findings: the first frame the judge reported each (video, finding) on, in order.
    findings: dict[tuple[int, str], FrameRef] = field(default_factory=dict)

    @property
    def turn(self) -> int:
        return len(self.trajectory.turns)


def _finish(run: _Running, reason: EndReason) -> None:
    run.trajectory.end_reason = reason


def run_episodes(
    jobs: Sequence[EpisodeJob],
    policy: Policy,
    task: Task,
    tools: Sequence[Tool],
    config: EpisodeConfig,
    *,
    on_round: Callable[[int, int], None] | None = None,
) -> list[Trajectory]:
    """Run ``jobs`` to completion; returns one trajectory per job, in order.

    ``on_round(round_index, active_episodes)`` is called before each batched
    generation (progress reporting).
    """
    tools_by_name = {t.name: t for t in tools}
    use_tools = config.max_tool_calls > 0 and bool(tools)
    runs: list[_Running] = []
    for job in jobs:
        schemas = [t.schema(job.workspace) for t in tools] if use_tools else []
        system = task.system_prompt(schemas, config)
        opening = task.opening_messages(job.workspace, config, system, with_tools=use_tools)
        traj = Trajectory(key=job.key, workspace=job.workspace, labels=job.labels, meta=dict(job.meta))
        runs.append(_Running(trajectory=traj, history=list(opening)))

    round_index = 0
    while True:
        active = [r for r in runs if r.trajectory.end_reason is None]
        if not active:
            break
        if on_round is not None:
            on_round(round_index, len(active))
        batch: list[tuple[_Running, GenerationRequest]] = []
        for run in active:
            context = apply_memory_window(run.history, run.turn, config.memory_window)
            refs = context_images(context)
            if len(refs) > config.max_images:
                _finish(run, "max_images")
                continue
            ws = run.trajectory.workspace
            request = GenerationRequest(
                messages=context,
                images=tuple(ws.image(r) for r in refs),
                max_new_tokens=config.max_new_tokens,
                temperature=config.temperature_for_turn(run.turn),
                top_p=config.top_p,
                top_k=config.top_k,
                episode_key=run.trajectory.key,
            )
            batch.append((run, request))
        if not batch:
            continue
        generations = policy.generate([req for _, req in batch])
        if len(generations) != len(batch):
            raise RuntimeError(f"policy returned {len(generations)} generations for {len(batch)} requests")
        for (run, request), gen in zip(batch, generations):
            _advance(run, request, gen, task, tools_by_name, policy, config)
        round_index += 1
    return [r.trajectory for r in runs]


def _advance(run, request, gen, task, tools_by_name, policy, config: EpisodeConfig) -> None:
    traj = run.trajectory
    turn_index = run.turn
    parsed = parse_turn(gen.text, list(tools_by_name), task.locate_answer)
    visual = sum(policy.visual_tokens(img) for img in request.images)
    tool_error: str | None = None
    frames_returned: tuple = ()
    frames_reshown: tuple[FrameRef, ...] = ()
    reply: Message | None = None

    if parsed.kind == "answer":
        traj.answer = task.parse_answer(parsed.answer_text)
        traj.answer_complete = task.answer_is_complete(traj.answer)
        traj.end_reason = "answered"
    elif parsed.kind == "tool_call" or parsed.error in _CALL_ERRORS:
        if traj.tool_calls >= config.max_tool_calls:
            traj.end_reason = "max_tool_calls"
        else:
            traj.tool_calls += 1
            if parsed.kind == "tool_call":
                result = tools_by_name[parsed.call.name].execute(parsed.call.arguments, traj.workspace)
                tool_error, frames_returned, parts = result.error, result.frames, list(result.parts)
            else:
                tool_error = parsed.error
                parts = [TextPart(f"Your tool call could not be run: {parsed.detail} No frames were returned.")]
            if tool_error is not None:
                traj.invalid_calls += 1
                traj.invalid_kinds[tool_error] += 1
            if config.reshow_findings > 0:
                frames_reshown = _reshow(run, parsed.think or "", frames_returned, task, config.reshow_findings, parts)
            if traj.tool_calls >= config.max_tool_calls:
                parts.append(TextPart("\nYou have used all your tool calls. Give your final answer now."))
            reply = Message(role="user", parts=tuple(parts), tool_round=turn_index)
    elif gen.finish_reason == "length":
        traj.end_reason = "turn_token_limit"
    else:
        traj.end_reason = "no_answer"

    if traj.end_reason is None and gen.prompt_tokens + gen.completion_tokens > config.max_episode_tokens:
        traj.end_reason = "episode_token_limit"

    traj.turns.append(
        Turn(
            index=turn_index,
            context=request.messages,
            text=gen.text,
            parsed=parsed,
            finish_reason=gen.finish_reason,
            prompt_tokens=gen.prompt_tokens,
            completion_tokens=gen.completion_tokens,
            visual_tokens=visual,
            assistant_prefix=request.assistant_prefix,
            completion_ids=gen.completion_ids,
            logprobs=gen.logprobs,
            tool_error=tool_error,
            frames_returned=frames_returned,
            frames_reshown=frames_reshown,
            dropped=dropped_frames(run.history, turn_index, config.memory_window),
        )
    )
    run.history.append(Message.text("assistant", request.assistant_prefix + parsed.text))
    if reply is not None and traj.end_reason is None:
        run.history.append(reply)


def _reshow(run: _Running, think: str, returned: Sequence[FrameRef], task: Task, limit: int, parts: list[Part]) -> tuple[FrameRef, ...]:
    """Evidence memory: append to the tool reply the frames of earlier findings (``reshow_findings``).

    The judge's findings so far (this turn's included) are read from its thinking by the task; one
    frame per video and finding, the first reported, is shown again as an image with its label,
    unless the call returned it anyway. The reply is a tool message, so the memory window treats
    these images like the returned frames.
    """
    findings = getattr(task, "findings", None)
    if findings is None:
        raise TypeError(f"reshow_findings > 0 needs a task with findings(); {type(task).__name__} has none")
    ws = run.trajectory.workspace
    for ref, what in findings(think, ws):
        run.findings.setdefault((ref.video, what), ref)
    reshown = [ref for ref in dict.fromkeys(run.findings.values()) if ref not in returned][:limit]
    if reshown:
        parts.append(TextPart("\nFrames you noted before:"))
        for ref in reshown:
            parts.append(TextPart(f"\n{ws.frame_label(ref)}: "))
            parts.append(ImagePart(ref))
    return tuple(reshown)
