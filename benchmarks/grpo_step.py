"""Seconds per GRPO step: vrthinker's ``train_grpo`` vs TRL 1.16 ``GRPOTrainer`` with a tool.

One process, the tiny random Qwen2.5-VL (``load_model("tiny")``, same seed, fp32, CPU), the
same workload for both: ``--pairs`` pairs of a synthetic suite, ``--group-size`` rollouts per
pair, 2-turn tool rollouts (turn 1 calls ``select_frames``, turn 2 answers) with at most
``--max-new-tokens`` sampled tokens per turn, then one optimizer step over all rollouts in
micro-batches of ``--micro-batch`` rollouts.

A random model never writes a tool call, so turn 1 is forced the same way in both frameworks:
``Qwen2_5_VLForConditionalGeneration.generate`` is patched (in this process only) so that a
first-turn prompt gets a fixed ``select_frames`` call, teacher-forced in one no-grad forward
pass (its logits give the turn's log-probs). Later turns are sampled normally, with the image
and video placeholders suppressed in both.

What differs, by design of each framework (recorded under "notes" in the JSON):

* vrthinker trains each turn as its own segment with the context the turn was sampled from
  (memory window p=1: initial view + the latest call's frames); TRL trains one sequence per
  rollout (prompt + turn 1 + tool result + turn 2) and keeps every image in context.
  With 2 turns both contexts hold the same images; the window only drops frames from turn 3.
* vrthinker computes behaviour log-probs in one extra no-grad pass before the update; TRL
  skips it when ``num_iterations == 1`` (it reuses the detached current log-probs).
* The TRL tool is a per-rollout environment (``environment_factory``) whose ``select_frames``
  method runs vrthinker's ``SelectFrames`` on the pair's frames and returns text + image blocks.
  TRL renders prompts with vrthinker's chat template (tool-capable and prefix-preserving) plus
  TRL's Qwen3 response parser set by hand (``add_response_schema`` does not recognise it).

Timing: the frameworks take turns, one step each (vrthinker in a thread that hands over after
each step), so a busy shared machine slows both alike. ``--warmup`` steps, then the median of
``--steps`` steps each. vrthinker's step time is
the ``time/step_s`` that ``train_grpo`` writes to ``metrics.jsonl`` (rollouts to optimizer step;
no model loading, metric writing or checkpointing); TRL's is ``on_step_begin`` to
``on_step_end`` of a ``TrainerCallback`` (generation, tool call, rewards, loss, optimizer step).

    .venv/bin/pip install -c requirements/cpu-constraints.txt -r benchmarks/requirements.txt
    .venv/bin/python benchmarks/grpo_step.py --out benchmarks/results/grpo_step.json
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import functools
import json
import logging
import os
import platform
import statistics
import subprocess
import tempfile
import threading
import time
import warnings
from collections import defaultdict
from pathlib import Path
from typing import Any

import torch
import transformers
from transformers import Qwen2_5_VLForConditionalGeneration, Qwen2_5_VLModel
from transformers.generation.utils import GenerateDecoderOnlyOutput

import vrthinker
from vrthinker.data import load_pairs
from vrthinker.data.synthetic import generate_suite
from vrthinker.episode import EpisodeConfig, SelectFrames, VideoPreferenceTask
from vrthinker.episode.messages import ImagePart, TextPart, to_chat_dicts
from vrthinker.episode.protocol import format_tool_call
from vrthinker.policy.judge import Judge
from vrthinker.policy.models import load_model
from vrthinker.policy.processor import QwenVLProcessor
from vrthinker.video import FrameCache

log = logging.getLogger("grpo_step")


# --------------------------------------------------------------------------- shared workload


def forced_call_text(frames: list[int]) -> str:
    """The first turn both frameworks are forced to write (vrthinker's turn format, Qwen's tool call)."""
    body = format_tool_call("select_frames", {"target_frames": frames})
    return f"<think>Check the frames between the initial views.</think><recommend answer>0</recommend answer>{body}"


class ForcedFirstTurn(contextlib.AbstractContextManager):
    """Patch Qwen2.5-VL ``generate`` so a first-turn prompt gets ``text`` (teacher-forced, no sampling).

    A prompt is a first-turn prompt when it holds at most 3 ``<|im_start|>`` (system, user,
    assistant header); a second-turn prompt has 5 in both frameworks. The forced ids end with
    ``<|im_end|>`` like a finished sampled turn. The forward pass over them stands in for the
    decoding a real model would do and gives real logits (HFPolicy records their log-probs).
    Sampled (later) turns get the image and video placeholders suppressed, in both frameworks.
    """

    def __init__(self, tokenizer: Any, text: str):
        self.ids = tokenizer(text, add_special_tokens=False)["input_ids"] + [tokenizer.convert_tokens_to_ids("<|im_end|>")]
        self.im_start = tokenizer.convert_tokens_to_ids("<|im_start|>")
        self.calls: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))  # thread -> kind -> n
        self._orig = Qwen2_5_VLForConditionalGeneration.generate

    def __enter__(self) -> "ForcedFirstTurn":
        orig, forced = self._orig, self

        @functools.wraps(orig)
        def generate(model, *args, **kwargs):
            input_ids = kwargs.get("input_ids")
            if args or input_ids is None or int((input_ids[0] == forced.im_start).sum()) > 3:
                forced.calls[threading.current_thread().name]["sampled"] += 1
                # Never sample a vision placeholder: its count would no longer match the image features in the
                # loss forward (vrthinker: ValueError; TRL suppresses only <|image_pad|>, and a sampled
                # <|video_pad|> crashes its loss forward once tool images are present).
                pads = [model.config.image_token_id, model.config.video_token_id]
                if kwargs.get("generation_config") is not None:  # TRL passes one; vrthinker passes kwargs
                    kwargs["generation_config"] = copy.deepcopy(kwargs["generation_config"])
                    kwargs["generation_config"].suppress_tokens = pads
                else:
                    kwargs["suppress_tokens"] = pads
                return orig(model, *args, **kwargs)
            forced.calls[threading.current_thread().name]["forced"] += 1
            return forced._teacher_force(model, kwargs)

        Qwen2_5_VLForConditionalGeneration.generate = generate  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc) -> None:
        Qwen2_5_VLForConditionalGeneration.generate = self._orig  # type: ignore[method-assign]

    @torch.no_grad()
    def _teacher_force(self, model, kwargs: dict[str, Any]):
        input_ids = kwargs["input_ids"]  # (B, P), left-padded
        b, p = input_ids.shape
        forced = torch.tensor(self.ids, device=input_ids.device).expand(b, -1)  # (B, F)
        seq = torch.cat([input_ids, forced], dim=1)  # (B, P + F)
        inputs: dict[str, Any] = {"input_ids": seq}
        for key in ("attention_mask", "mm_token_type_ids", "token_type_ids"):
            if kwargs.get(key) is not None:
                pad = torch.ones_like(forced) if key == "attention_mask" else torch.zeros_like(forced)
                inputs[key] = torch.cat([kwargs[key], pad.to(kwargs[key].dtype)], dim=1)
        for key in ("pixel_values", "image_grid_thw"):
            if kwargs.get(key) is not None:
                inputs[key] = kwargs[key]
        logits = model(**inputs).logits[:, p - 1 : -1]  # (B, F, V): the logits that predict the forced ids
        if kwargs.get("return_dict_in_generate"):
            return GenerateDecoderOnlyOutput(sequences=seq, logits=tuple(logits.unbind(1)))
        return seq


class TrainForwardStats(contextlib.AbstractContextManager):
    """Count what the gradient-enabled forward passes (the loss) of Qwen2.5-VL see.

    Hooks the backbone (``Qwen2_5_VLModel``): TRL's fused log-prob forward calls it directly.
    Counts are kept per thread (each framework runs in its own thread).
    """

    def __init__(self):
        self.stats: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        self._orig = Qwen2_5_VLModel.forward

    def __enter__(self) -> "TrainForwardStats":
        orig, all_stats = self._orig, self.stats

        @functools.wraps(orig)
        def forward(model, *args, **kwargs):
            if torch.is_grad_enabled() and kwargs.get("input_ids") is not None:
                stats = all_stats[threading.current_thread().name]
                ids, mask = kwargs["input_ids"], kwargs.get("attention_mask")
                stats["forwards"] += 1
                stats["sequences"] += ids.shape[0]
                stats["padded_tokens"] += ids.numel()
                stats["tokens"] += int(mask.sum()) if mask is not None else ids.numel()
                grid = kwargs.get("image_grid_thw")
                stats["images"] += 0 if grid is None else grid.shape[0]
            return orig(model, *args, **kwargs)

        Qwen2_5_VLModel.forward = forward  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc) -> None:
        Qwen2_5_VLModel.forward = self._orig  # type: ignore[method-assign]

    def per_step(self, thread: str, steps: int) -> dict[str, float]:
        return {k: round(v / steps, 2) for k, v in self.stats[thread].items()}


class PhaseTimes:
    """Wall time of each call of a wrapped function, by phase name (a per-step breakdown)."""

    def __init__(self):
        self.times: dict[str, list[float]] = defaultdict(list)

    @contextlib.contextmanager
    def wrap(self, owner: Any, attr: str, phase: str):
        orig = getattr(owner, attr)

        @functools.wraps(orig)
        def timed(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return orig(*args, **kwargs)
            finally:
                self.times[phase].append(time.perf_counter() - t0)

        setattr(owner, attr, timed)
        try:
            yield
        finally:
            setattr(owner, attr, orig)

    def medians(self, skip: int) -> dict[str, float]:
        return {k: round(statistics.median(v[skip:]), 4) for k, v in self.times.items() if v[skip:]}


class TakeTurns:
    """One GRPO step each, in turn, never at the same time (a shared machine's load then hits both alike)."""

    def __init__(self):
        self.turn = ""
        self.error: BaseException | None = None
        self.cond = threading.Condition()

    def wait_for(self, who: str) -> None:
        with self.cond:
            self.cond.wait_for(lambda: self.turn == who or self.error is not None)
            if self.error is not None and self.turn != who:
                raise RuntimeError("the other framework failed") from self.error

    def pass_to(self, who: str) -> None:
        with self.cond:
            self.turn = who
            self.cond.notify_all()

    def fail(self, error: BaseException) -> None:
        with self.cond:
            self.error = error
            self.cond.notify_all()


def episode_config(args: argparse.Namespace) -> EpisodeConfig:
    # One tool call then an answer: a second call (a random model may sample <tool_call>) ends the episode.
    return EpisodeConfig(
        frames_per_video=args.frames_per_video,
        initial_per_video=args.initial_per_video,
        max_frames_per_call=max(8, len(args.call_frames)),
        memory_window=1,
        max_tool_calls=1,
        max_new_tokens=args.max_new_tokens,
        temperature=1.0,
        later_temperature=1.0,
        top_p=1.0,
    )


# --------------------------------------------------------------------------- vrthinker


class VrthinkerRun(threading.Thread):
    """``train_grpo`` in a thread that hands over to TRL after each step.

    The hand-over happens in ``MetricsWriter.log``, which ``train_grpo`` calls after it has
    measured ``time/step_s``, so the wait is never timed. ``train_grpo`` builds its own
    ``MetricsWriter``; the benchmark swaps in a subclass on the module (``src/`` is unchanged).
    """

    def __init__(self, args: argparse.Namespace, suite: Path, work: Path, turns: TakeTurns):
        super().__init__(name="vrthinker", daemon=True)
        self.args, self.suite, self.work, self.turns = args, suite, work, turns
        self.error: BaseException | None = None
        self.phases = PhaseTimes()

    def config(self):
        from vrthinker.train.grpo_config import GRPOConfig

        a = self.args
        return GRPOConfig.model_validate({
            "model": {"name_or_path": "tiny", "freeze_vision": False},
            "data": {"pairs": str(self.suite / "pairs.jsonl"), "root": str(self.suite)},
            "episode": episode_config(a).model_dump(),
            "grpo": {
                "group_size": a.group_size,
                "pairs_per_step": a.pairs,
                "rollout_batch_size": a.pairs * a.group_size,  # one generate call per turn, like TRL
                "micro_batch_size": 2 * a.micro_batch,  # 2 segments (turns) per rollout
                "dynamic_sampling": "off",  # a random model's groups are all-equal; keep them so the update runs
                "num_iterations": 1,
                "kl_coef": 0.0,
            },
            "optim": {"lr": 1e-6, "schedule": "constant"},
            "train": {"output_dir": str(self.work / "vrthinker"), "max_steps": a.warmup + a.steps,
                      "save_every": 10_000, "seed": 0},
        })  # fmt: skip

    def run(self) -> None:
        from vrthinker.train import grpo

        turns = self.turns

        class TurnTakingWriter(grpo.MetricsWriter):  # type: ignore[name-defined]
            def log(self, step, record):
                super().log(step, record)
                turns.pass_to("trl")
                turns.wait_for("vrthinker")

        original = grpo.MetricsWriter
        grpo.MetricsWriter = TurnTakingWriter
        try:
            turns.wait_for("vrthinker")
            with (
                self.phases.wrap(grpo.Judge, "judge_pairs", "rollout_s"),
                self.phases.wrap(grpo, "attach_old_logprobs", "old_logprobs_s"),
            ):
                grpo.train_grpo(self.config(), resume=False)
        except BaseException as err:  # noqa: BLE001 - reported by the main thread
            self.error = err
            turns.fail(err)
        finally:
            grpo.MetricsWriter = original

    def results(self) -> tuple[list[float], dict[str, Any]]:
        records = [json.loads(line) for line in (self.work / "vrthinker" / "metrics.jsonl").read_text().splitlines()]
        records = [r for r in records if "time/step_s" in r]
        last = records[-1]
        return [r["time/step_s"] for r in records], {
            "phases_median_s": self.phases.medians(self.args.warmup),
            "tool_calls_per_episode": last.get("rollout/tool_calls_per_episode"),
            "tokens_per_trajectory": last.get("rollout/tokens_per_trajectory"),
            "completion_tokens_per_step": last.get("train/completion_tokens"),
            "end_reasons": {k.split("/")[-1]: v for k, v in last.items() if k.startswith("rollout/end/")},
        }


# --------------------------------------------------------------------------- TRL


class _ListProcessor(QwenVLProcessor):
    """vrthinker's processor returning Python lists by default, as TRL expects of a processor."""

    def __call__(self, text=None, images=None, videos=None, *, return_tensors=None, **kwargs):  # type: ignore[override]
        return super().__call__(text=text, images=images, videos=videos, return_tensors=return_tensors, **kwargs)


def build_trl(args: argparse.Namespace, suite: Path, work: Path, turns: TakeTurns):
    """A ``GRPOTrainer`` on the same pairs, with a ``select_frames`` tool; returns it and its step times."""
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import GRPOConfig, GRPOTrainer
    from trl.chat_template_utils import qwen3_template

    cfg = episode_config(args)
    loaded = load_model("tiny", seed=0)
    model = loaded.model.train()
    processor = _ListProcessor(image_processor=loaded.processor.image_processor, tokenizer=loaded.tokenizer)
    processor.set_pixels(min_pixels=cfg.min_pixels, max_pixels=cfg.max_pixels)
    # TRL's parser for Qwen's <tool_call> JSON format; our template renders that format.
    processor.tokenizer.response_template = qwen3_template

    pairs = load_pairs(suite / "pairs.jsonl", "native", root=suite).pairs[: args.pairs]
    judge = Judge(policy=None, config=cfg, cache=FrameCache(max_entries=64))  # type: ignore[arg-type]
    workspaces = {p.pair_id: judge.workspace(p.prompt, p.video_a, p.video_b) for p in pairs}
    task = VideoPreferenceTask()
    tool = SelectFrames(max_frames_per_call=cfg.max_frames_per_call)
    rows = []
    for p in pairs:
        ws = workspaces[p.pair_id]
        # The tools section is rendered by the template from `tools=`, so the system text is the task's alone.
        messages = task.opening_messages(ws, cfg, task.system_text(), with_tools=True)
        images = [ws.image(part.ref) for m in messages for part in m.parts if isinstance(part, ImagePart)]
        prompt = [
            {"role": m["role"], "content": [{"type": "text", "text": m["content"]}]} if isinstance(m["content"], str) else m
            for m in to_chat_dicts(messages)
        ]  # every content a block list: Arrow needs one type per column
        rows.append({"prompt": prompt, "images": images, "pair_id": p.pair_id, "labels": dict(p.labels)})

    class FramesEnv:
        """One rollout's pair: ``select_frames`` returns the frames as image blocks (TRL keeps them all)."""

        def reset(self, **row: Any) -> None:
            self.workspace = workspaces[row["pair_id"]]

        def select_frames(self, target_frames: list[int]) -> list:
            """Select frames from the videos to inspect them in detail.

            Args:
                target_frames: Frame numbers, 1..N = Video 1 and N+1..2N = Video 2 (at most 8).
            """
            result = tool.execute({"target_frames": target_frames}, self.workspace)
            return [
                {"type": "text", "text": part.text} if isinstance(part, TextPart)
                else {"type": "image", "image": self.workspace.image(part.ref)}
                for part in result.parts
            ]

    def answer_reward(completions, labels, **_) -> list[float]:
        # The same parser as vrthinker's task: 1 if the final turn's Overall matches the label.
        out = []
        for messages, label in zip(completions, labels):
            text = (messages[-1].get("content") or "") if messages else ""
            block = task.locate_answer(text if isinstance(text, str) else "")
            judgment = task.parse_answer(block)["judgment"] if block else {}
            out.append(float(judgment.get("Overall") is not None and judgment.get("Overall") == label.get("Overall")))
        return out

    n = args.pairs * args.group_size
    steps = args.warmup + args.steps
    trl_args = GRPOConfig(
        output_dir=str(work / "trl"),
        use_cpu=True,
        bf16=False,
        report_to="none",
        save_strategy="no",
        logging_steps=1,
        disable_tqdm=True,
        seed=0,
        max_steps=steps,
        learning_rate=1e-6,
        lr_scheduler_type="constant",
        gradient_checkpointing=False,  # TRL's default is True; vrthinker does not checkpoint
        per_device_train_batch_size=args.micro_batch,
        gradient_accumulation_steps=n // args.micro_batch,
        steps_per_generation=n // args.micro_batch,  # generate all pairs x G rollouts once per optimizer step
        num_generations=args.group_size,
        num_iterations=1,
        beta=0.0,
        epsilon=0.2,
        epsilon_high=0.28,
        loss_type="dapo",  # token mean over the step's completion tokens, like vrthinker's token_mean
        temperature=1.0,
        top_p=1.0,
        max_completion_length=args.max_completion_length,  # the whole 2-turn completion incl. tool result
        generation_kwargs={"max_new_tokens": args.max_new_tokens},  # per turn, like vrthinker
        max_tool_calling_iterations=1,
        remove_unused_columns=False,
        dataloader_num_workers=0,
    )
    step_times: list[float] = []

    class StepTimer(TrainerCallback):
        # on_step_begin runs after the trainer fetched the step's batch and logged the previous step.
        def on_step_begin(self, *a, **k):
            turns.pass_to("vrthinker")
            turns.wait_for("trl")
            self.t0 = time.perf_counter()

        def on_step_end(self, *a, **k):
            step_times.append(time.perf_counter() - self.t0)

        def on_train_end(self, *a, **k):
            turns.pass_to("vrthinker")  # let train_grpo finish (it checkpoints after its last step)

    trainer = GRPOTrainer(
        model=model,
        reward_funcs=answer_reward,
        args=trl_args,
        train_dataset=Dataset.from_list(rows),
        processing_class=processor,
        environment_factory=FramesEnv,
        callbacks=[StepTimer()],
    )
    return trainer, step_times


def trl_results(trainer, phases: PhaseTimes, warmup: int) -> dict[str, Any]:
    logs = [h for h in trainer.state.log_history if "tools/call_frequency" in h]
    last = logs[-1] if logs else {}
    return {
        # rollout_s: TRL's _generate_and_score_completions (tokenize, generate, tools, rewards, advantages)
        "phases_median_s": phases.medians(warmup),
        "chat_template": "vrthinker's (tools + images in tool responses); trl's qwen3 response parser",
        "tool_calls_per_episode": last.get("tools/call_frequency"),
        "tool_failure_frequency": last.get("tools/failure_frequency"),
        "completion_mean_length": last.get("completions/mean_length"),
    }


# --------------------------------------------------------------------------- main


def versions() -> dict[str, str]:
    import trl

    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             cwd=Path(__file__).parent).stdout.strip()  # fmt: skip
    except OSError:
        rev = ""
    return {"vrthinker": f"{vrthinker.__version__} (git HEAD {rev}; worktree may differ)" if rev else vrthinker.__version__,
            "trl": trl.__version__, "transformers": transformers.__version__, "torch": torch.__version__,
            "python": platform.python_version()}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", type=int, default=2, help="pairs per step (the suite has this many)")
    ap.add_argument("--group-size", type=int, default=4, help="G: rollouts per pair")
    ap.add_argument("--max-new-tokens", type=int, default=32, help="most sampled tokens per turn")
    ap.add_argument("--micro-batch", type=int, default=4, help="rollouts per loss forward/backward")
    ap.add_argument("--frames-per-video", type=int, default=48)
    ap.add_argument("--initial-per-video", type=int, default=4)
    ap.add_argument("--call-frames", type=int, nargs="+", default=[9, 25, 57, 73],
                    help="frames the forced select_frames call asks for (pooled numbering)")
    ap.add_argument("--max-completion-length", type=int, default=1024,
                    help="TRL: cap on turn 1 + tool result + turn 2 (large enough that nothing is cut)")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--steps", type=int, default=3, help="timed steps per framework (median reported)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/grpo_step.json"))
    args = ap.parse_args()
    if (args.pairs * args.group_size) % args.micro_batch:
        ap.error("--micro-batch must divide pairs x group-size")
    if args.threads:
        torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    warnings.filterwarnings("ignore")

    with tempfile.TemporaryDirectory(prefix="grpo_step_") as tmp:
        work = Path(tmp)
        t0 = time.perf_counter()
        suite = generate_suite(work / "suite", num_pairs=args.pairs, seed=0, show_progress=False).parent
        suite_s = time.perf_counter() - t0
        tokenizer = load_model("tiny").tokenizer
        forced = ForcedFirstTurn(tokenizer, forced_call_text(args.call_frames))
        load = {"start": os.getloadavg()[0]}
        steps = args.warmup + args.steps
        turns = TakeTurns()
        with forced, TrainForwardStats() as fwd:
            trainer, trl_times = build_trl(args, suite, work, turns)
            vr = VrthinkerRun(args, suite, work, turns)
            vr.start()
            trl_phases = PhaseTimes()
            try:
                with trl_phases.wrap(trainer, "_generate_and_score_completions", "rollout_s"):
                    trainer.train()  # its first step hands over to vrthinker, which goes first
            except BaseException as err:
                turns.fail(err)
                raise
            vr.join()
            if vr.error is not None:
                raise RuntimeError("vrthinker's train_grpo failed") from vr.error
        load["end"] = os.getloadavg()[0]
        vr_times, vr_info = vr.results()
        trl_info = trl_results(trainer, trl_phases, args.warmup)
    for info, thread in ((vr_info, "vrthinker"), (trl_info, "MainThread")):
        info["train_forward_per_step"] = fwd.per_step(thread, steps)
        info["generate_calls"] = dict(forced.calls[thread])

    timed = slice(args.warmup, args.warmup + args.steps)
    vr_s, trl_s = statistics.median(vr_times[timed]), statistics.median(trl_times[timed])
    result = {
        "vrthinker_s": round(vr_s, 4),
        "trl_s": round(trl_s, 4),
        "ratio": round(trl_s / vr_s, 3),
        "step_times_s": {"vrthinker": [round(t, 4) for t in vr_times], "trl": [round(t, 4) for t in trl_times]},
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
        | {"rollouts_per_step": args.pairs * args.group_size, "torch_threads": torch.get_num_threads(),
           "forced_turn_1": forced_call_text(args.call_frames), "forced_turn_1_tokens": len(forced.ids),
           "suite_render_s": round(suite_s, 2)},  # fmt: skip
        "load_average_1min": {k: round(v, 2) for k, v in load.items()},  # > torch threads: other processes competed
        "versions": versions(),
        "details": {"vrthinker": vr_info, "trl": trl_info},
        "notes": [
            "Same process, model (tiny random Qwen2.5-VL, seed 0, fp32), CPU, pairs, G, per-turn token cap and "
            "micro-batch; warm-up steps excluded; median of the timed steps. The frameworks take turns, one step "
            "each (vrthinker first), so a busy shared machine slows both alike.",
            "Turn 1 is forced in both (patched generate: one teacher-forced no-grad forward, no sampling); turn 2 is "
            "sampled at temperature 1 and usually runs to the token cap (a random model rarely samples <|im_end|>).",
            "Frames: vrthinker feeds frames as images through the memory window (p=1: initial view + the latest "
            "call's frames), one training segment per turn; TRL's tool loop keeps every image (prompt + all tool "
            "results) in one sequence per rollout. With 2 turns both hold the same images at turn 2; the window "
            "only starts dropping frames at turn 3, so this benchmark does not show its context savings "
            "(see context_tokens.json).",
            "vrthinker trains 2 segments per rollout (the initial view is encoded in both) and runs an extra "
            "no-grad pass for behaviour log-probs; TRL trains 1 sequence per rollout and reuses the detached "
            "log-probs when num_iterations=1.",
            "vrthinker step time is train_grpo's time/step_s; TRL's is on_step_begin..on_step_end of a "
            "TrainerCallback. Both include rollouts, tool execution, rewards, loss, backward and the optimizer step.",
            "Sampled turns suppress <|image_pad|> and <|video_pad|> in both (TRL by default suppresses only the "
            "first; a sampled placeholder breaks either framework's loss forward).",
            "TRL's select_frames is a method of a per-rollout environment (environment_factory) that runs "
            "vrthinker's SelectFrames on the rollout's pair and returns text + image blocks; prompts are the same "
            "opening messages rendered with vrthinker's chat template, parsed with TRL's qwen3 response template.",
            "phases_median_s: vrthinker rollout_s = Judge.judge_pairs, old_logprobs_s = attach_old_logprobs; TRL "
            "rollout_s = _generate_and_score_completions. The rest of a step is the update.",
            f"TRL GRPO patches the lm_head with its chunked log-prob op; with the {len(tokenizer)}-token tiny "
            "vocabulary that costs little (with the real 151k vocabulary it dominates, see shared environment notes).",
        ],
    }
    print(f"{'framework':>10} | {'median s/step':>13} | steps (first {args.warmup} = warm-up)")
    print(f"{'vrthinker':>10} | {vr_s:>13.3f} | {[round(t, 3) for t in vr_times]}")
    print(f"{'trl':>10} | {trl_s:>13.3f} | {[round(t, 3) for t in trl_times]}")
    print(f"ratio trl/vrthinker = {trl_s / vr_s:.2f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
