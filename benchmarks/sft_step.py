"""SFT forward+backward time on multi-turn traces: padded batches with an attention mask vs vrthinker's batching.

Four ways to run the same steps (forward and backward; the optimizer step is the same for all) of the tiny Qwen2.5-VL on the
scripted teacher's traces of a synthetic suite (the demo's trace format: 32 frames per clip,
4 initial frames per video, 3 calls of 8 frames, window p = 1):

- ``baseline``: random batches of 8 segments, right-padded, attention mask passed (what
  vrthinker did before 2026-11-30, and what a HF ``Trainer`` with a padding collator does);
- ``mask_free``: the same batches without the mask (``Batch.model_inputs``: right padding
  under a causal decoder needs none; the logits of real tokens are identical);
- ``sorted_micro``: the same steps, mask-free, each cut into 2 micro-batches of 4 sorted by length
  (``micro_batch_indices(..., lengths=...)``: the step's gradient is unchanged, what the demo does);
- ``grouped``: mask-free, and batches drawn by ``epoch_order(..., lengths=...)``
  (``train.group_by_length``: similar lengths share a step, which changes the steps).

The four take turns step by step (baseline first), on the same fixed weights, so a busy machine
slows them alike; the median seconds per step and the tokens (padding included) per step are
reported.

    .venv/bin/python benchmarks/sft_step.py --out benchmarks/results/sft_step.json
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import transformers

from vrthinker.data import read_pairs
from vrthinker.episode import EpisodeConfig
from vrthinker.policy.models import load_model
from vrthinker.policy.teacher import generate_teacher_traces
from vrthinker.train.collate import collate_segments
from vrthinker.train.sft import TraceSegments, completion_loss_sum, epoch_order, micro_batch_indices

from _results import write_results  # benchmarks/_results.py (the script's folder is on sys.path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=64, help="Synthetic pairs (one teacher trace each).")
    parser.add_argument("--steps", type=int, default=12, help="Timed steps per method (after 2 warm-up steps).")
    parser.add_argument("--batch-size", type=int, default=8, help="Segments per step.")
    parser.add_argument("--out", type=Path, default=None, help="Write the JSON results here.")
    args = parser.parse_args()

    from vrthinker.data.synthetic import generate_suite

    torch.manual_seed(0)
    loaded = load_model("tiny")
    model, processor = loaded.model, loaded.processor
    episode = EpisodeConfig(frames_per_video=32, initial_per_video=4, memory_window=1, max_tool_calls=3,
                            max_new_tokens=200, prompt_style="compact")  # fmt: skip
    processor.min_pixels, processor.max_pixels = episode.min_pixels, episode.max_pixels

    with tempfile.TemporaryDirectory() as tmp:
        generate_suite(tmp, num_pairs=args.pairs, seed=0, num_frames=32, kinds=("noise",), local_run_frames=(2, 3),
                       initial_view_frames=4, backgrounds=("grey",), show_progress=False)  # fmt: skip
        traces = Path(tmp) / "traces.jsonl"
        generate_teacher_traces(read_pairs(Path(tmp) / "pairs.jsonl"), traces, episode, strategy="scan",
                                describe="per_frame")  # fmt: skip
        segments = TraceSegments([traces], cache_size=4096)
        b = args.batch_size
        n_steps = args.steps + 2
        plain = epoch_order(len(segments), seed=0, epoch=0)
        grouped = epoch_order(len(segments), seed=0, epoch=0, lengths=segments.lengths, global_batch=b)
        if b % 2:
            parser.error(f"--batch-size {b}: must be even (sorted_micro cuts each step in two)")
        if len(segments) < n_steps * b:
            parser.error(f"--pairs {args.pairs} gives {len(segments)} segments, fewer than {n_steps} steps of {b}")
        # name: (epoch order, attention mask passed, micro-batches the step is cut into)
        methods = {
            "baseline": (plain, True, 1),
            "mask_free": (plain, False, 1),
            "sorted_micro": (plain, False, 2),
            "grouped": (grouped, False, 1),
        }
        times: dict[str, list[float]] = {m: [] for m in methods}
        tokens: dict[str, list[int]] = {m: [] for m in methods}
        for step in range(n_steps):
            for name, (order, with_mask, micro) in methods.items():
                lengths = segments.lengths if micro > 1 else None
                parts = micro_batch_indices(order, step, batch_size=b // micro, grad_accum=micro, world_size=1, rank=0,
                                            lengths=lengths)  # fmt: skip
                batches = [collate_segments([segments[i] for i in idx], processor) for idx in parts]
                n_completion = sum(batch.num_completion_tokens for batch in batches)
                start = time.perf_counter()
                for batch in batches:
                    inputs = batch.model_inputs() | ({"attention_mask": batch.attention_mask} if with_mask else {})
                    loss = completion_loss_sum(model(**inputs).logits, batch) / max(n_completion, 1)
                    loss.backward()
                model.zero_grad(set_to_none=True)  # no optimizer step: every method times the same weights
                if step >= 2:
                    times[name].append(time.perf_counter() - start)
                    tokens[name].append(sum(int(batch.input_ids.numel()) for batch in batches))
        num_segments = len(segments)

    base = statistics.median(times["baseline"])
    results = {
        name: {
            "seconds_per_step": statistics.median(times[name]),
            "tokens_per_step_padded": float(np.mean(tokens[name])),
            "speedup_vs_baseline": base / statistics.median(times[name]),
        }
        for name in methods
    }
    print(f"{num_segments} segments, batches of {args.batch_size}, {args.steps} timed steps")
    print(f"{'method':<12} {'s/step':>8} {'tokens/step':>12} {'speedup':>8}")
    for name, r in results.items():
        print(f"{name:<12} {r['seconds_per_step']:>8.3f} {r['tokens_per_step_padded']:>12.0f} "
              f"{r['speedup_vs_baseline']:>7.2f}x")
    if args.out:
        write_results(args.out, {
            "results": results,
            "segments": num_segments,
            "settings": vars(args) | {"out": str(args.out)},
            "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
            "torch_threads": torch.get_num_threads(),
        })  # fmt: skip

if __name__ == "__main__":
    main()
