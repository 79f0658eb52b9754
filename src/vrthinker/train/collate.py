"""Segments → padded tensors for SFT and RL, with assistant-only labels.

Each segment's prompt is built by ``policy.render.encode_prompt``, the very
function the HF backend prompts the model with, so a segment is trained on
the context it was generated from. The completion is the exact sampled ids
when the backend recorded them (RL), else the tokenized text plus
``<|im_end|>`` (SFT on teacher traces). Position ids are not built here:
Qwen-VL computes its 3-D M-RoPE positions from ``image_grid_thw`` and
``mm_token_type_ids``, which are passed through.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch

from vrthinker.episode.messages import ImagePart, Message, TextPart
from vrthinker.episode.trajectory import Segment
from vrthinker.policy.render import encode_prompt, render_prompt

IGNORE_INDEX = -100


@dataclass
class EncodedSegment:
    prompt: dict[str, Any]  # processor outputs for the prompt (batch of 1)
    completion_ids: list[int]
    # Prompt positions [start, end) that are trained too: the policy-written part of an
    # assistant prefix (forced rethinking keeps the cut response, masks the trigger).
    prompt_trainable: tuple[int, int] = (0, 0)
    old_logprobs: list[float] | None = None
    weight: float = 1.0


@dataclass
class Batch:
    input_ids: torch.Tensor  # (B, T)
    attention_mask: torch.Tensor  # (B, T)
    labels: torch.Tensor  # (B, T), IGNORE_INDEX outside completions
    mm_token_type_ids: torch.Tensor  # (B, T)
    pixel_values: torch.Tensor | None  # (sum of patches, D)
    image_grid_thw: torch.Tensor | None  # (num_images, 3)
    weights: torch.Tensor  # (B,) per-segment weight (advantage in RL)
    old_logprobs: torch.Tensor | None  # (B, T), aligned with labels; 0 where unknown
    num_completion_tokens: int

    def model_inputs(self) -> dict[str, Any]:
        """Keyword arguments of the model's forward pass.

        No ``attention_mask``: the batch is right-padded and the decoder causal, so no real
        token attends to a pad and the real tokens' logits (and M-RoPE positions) are the same
        without it (tests/integration/test_token_equality.py, both model families). Without a
        mask, SDPA runs its causal kernel instead of materialising a (B, 1, T, T) mask: 1.38x
        faster SFT steps (benchmarks/sft_step.py). Logits at pad positions are then
        meaningless; labels ignore them.
        """
        out: dict[str, Any] = {"input_ids": self.input_ids, "mm_token_type_ids": self.mm_token_type_ids}
        if self.pixel_values is not None:
            out["pixel_values"] = self.pixel_values
            out["image_grid_thw"] = self.image_grid_thw
        return out

    def to(self, device: torch.device | str) -> "Batch":
        def move(x):
            return x.to(device) if isinstance(x, torch.Tensor) else x

        return Batch(**{k: move(v) for k, v in self.__dict__.items()})


# Rough tokens per character of English text (Qwen2 BPE) and per image (merged patches of a
# small frame plus its vision start/end tokens); only relative sizes matter.
_CHARS_PER_TOKEN = 4
_TOKENS_PER_IMAGE = 6


def approx_length(messages: Sequence[Message], completion: str) -> int:
    """A cheap estimate of a segment's token count, for grouping segments of similar length.

    Needs no tokenizer and no frames (the trainers sort thousands of segments by it): padding a
    batch to its longest segment costs the attention quadratically, so batches of similar
    lengths train faster.
    """
    chars = len(completion) + sum(len(p.text) for m in messages for p in m.parts if isinstance(p, TextPart))
    images = sum(isinstance(p, ImagePart) for m in messages for p in m.parts)
    return chars // _CHARS_PER_TOKEN + _TOKENS_PER_IMAGE * images


def completion_token_ids(segment: Segment, tokenizer: Any) -> list[int]:
    if segment.completion_ids is not None:
        return list(segment.completion_ids)
    ids = tokenizer(segment.completion, add_special_tokens=False)["input_ids"]
    return list(ids) + [tokenizer.convert_tokens_to_ids("<|im_end|>")]


def _trainable_prefix_span(segment: Segment, processor: Any, prompt_ids: list[int]) -> tuple[int, int]:
    """Token span of the policy-written part of the assistant prefix inside ``prompt_ids``.

    The span is found by tokenizing the prompt without the prefix and with only its trainable
    part; both must be token prefixes of the full prompt (true when the untrained part starts
    at a pre-tokenizer boundary such as "\n\nWait"), otherwise nothing of the prefix is trained.
    """
    k = segment.prefix_trainable_chars
    if not segment.assistant_prefix or k <= 0:
        return (0, 0)
    tok = processor.tokenizer
    base = render_prompt(segment.messages, tok)
    start = len(tok(base, add_special_tokens=False)["input_ids"])
    end_ids = tok(base + segment.assistant_prefix[:k], add_special_tokens=False)["input_ids"]
    plain = tok(render_prompt(segment.messages, tok, segment.assistant_prefix), add_special_tokens=False)["input_ids"]
    if plain[: len(end_ids)] != end_ids:
        return (0, 0)
    # Image pads are expanded in prompt_ids but not in the plain tokenization: shift by the difference.
    shift = len(prompt_ids) - len(plain)
    return (start + shift, len(end_ids) + shift)


def encode_segment(segment: Segment, processor: Any) -> EncodedSegment:
    prompt = encode_prompt(segment.messages, segment.images, processor, segment.assistant_prefix)
    return EncodedSegment(
        prompt=prompt,
        completion_ids=completion_token_ids(segment, processor.tokenizer),
        prompt_trainable=_trainable_prefix_span(segment, processor, prompt["input_ids"][0].tolist()),
        old_logprobs=list(segment.logprobs) if segment.logprobs is not None else None,
        weight=segment.weight,
    )


def collate_segments(segments: Sequence[Segment], processor: Any, pad_token_id: int | None = None) -> Batch:
    """Right-padded batch of ``segments`` (loss only on completion tokens)."""
    encoded = [encode_segment(s, processor) for s in segments]
    return collate_encoded(encoded, pad_token_id if pad_token_id is not None else processor.tokenizer.pad_token_id)


def collate_encoded(encoded: Sequence[EncodedSegment], pad_token_id: int) -> Batch:
    lengths = [e.prompt["input_ids"].shape[1] + len(e.completion_ids) for e in encoded]
    B, T = len(encoded), max(lengths)
    input_ids = torch.full((B, T), pad_token_id, dtype=torch.long)
    attention = torch.zeros((B, T), dtype=torch.long)
    labels = torch.full((B, T), IGNORE_INDEX, dtype=torch.long)
    mm_types = torch.zeros((B, T), dtype=torch.long)
    old_lp = torch.zeros((B, T), dtype=torch.float32)
    have_old = all(e.old_logprobs is not None for e in encoded)
    pixel_values, grids = [], []
    for b, e in enumerate(encoded):
        p_ids = e.prompt["input_ids"][0]
        n_p, n_c = p_ids.shape[0], len(e.completion_ids)
        input_ids[b, :n_p] = p_ids
        input_ids[b, n_p : n_p + n_c] = torch.tensor(e.completion_ids)
        attention[b, : n_p + n_c] = 1
        labels[b, n_p : n_p + n_c] = torch.tensor(e.completion_ids)
        lo, hi = e.prompt_trainable
        if hi > lo:
            labels[b, lo:hi] = p_ids[lo:hi]
        if "mm_token_type_ids" in e.prompt:
            mm_types[b, :n_p] = e.prompt["mm_token_type_ids"][0]
        if have_old:
            old_lp[b, n_p : n_p + n_c] = torch.tensor(e.old_logprobs[:n_c])
        if "pixel_values" in e.prompt and e.prompt["pixel_values"] is not None:
            pixel_values.append(e.prompt["pixel_values"])
            grids.append(e.prompt["image_grid_thw"])
    return Batch(
        input_ids=input_ids,
        attention_mask=attention,
        labels=labels,
        mm_token_type_ids=mm_types,
        pixel_values=torch.cat(pixel_values) if pixel_values else None,
        image_grid_thw=torch.cat(grids) if grids else None,
        weights=torch.tensor([e.weight for e in encoded], dtype=torch.float32),
        old_logprobs=old_lp if have_old else None,
        num_completion_tokens=int((labels != IGNORE_INDEX).sum()),
    )
