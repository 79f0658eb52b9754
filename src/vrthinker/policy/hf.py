"""Policy backend on Hugging Face transformers ``generate`` (CPU or GPU).

Requests are grouped by sampling settings and generated in batches (left
padding), so the turn-by-turn engine advances many episodes per call. The
exact sampled token ids are always returned; their log-probabilities (under the
unmodified model distribution, temperature 1) only with ``logprobs=True``, since
they cost a softmax over the vocabulary per generated token and the trainers
recompute them in their own forward pass anyway.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any, Sequence

import torch
from PIL import Image

from vrthinker.episode.policy import Generation, GenerationRequest
from vrthinker.policy.render import render_prompt

log = logging.getLogger(__name__)


class HFPolicy:
    """Generate with a transformers model and our image processor."""

    def __init__(
        self, model: Any, processor: Any, *, batch_size: int = 8, device: str | None = None, logprobs: bool = False
    ):
        self.model = model
        self.processor = processor
        self.tokenizer = processor.tokenizer
        self.batch_size = batch_size
        self.return_logprobs = logprobs
        self.device = torch.device(device) if device else next(model.parameters()).device
        tok = self.tokenizer
        self.stop_ids = [i for i in {tok.convert_tokens_to_ids("<|im_end|>"), tok.convert_tokens_to_ids("<|endoftext|>")} if i is not None]
        self.pad_id = tok.pad_token_id if tok.pad_token_id is not None else self.stop_ids[0]
        # Vision placeholders must never be sampled: the processor expands them into image
        # features, so a sampled one makes the training forward fail (images vs pads mismatch).
        vision = ("<|image_pad|>", "<|video_pad|>", "<|vision_start|>", "<|vision_end|>")
        self.suppress_ids = [i for i in (tok.convert_tokens_to_ids(t) for t in vision) if i is not None and i >= 0]

    def visual_tokens(self, image: Image.Image) -> int:
        return self.processor.image_token_count(image.height, image.width)

    @torch.no_grad()
    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        results: list[Generation | None] = [None] * len(requests)
        groups: dict[tuple, list[int]] = defaultdict(list)
        for i, r in enumerate(requests):
            groups[(r.temperature, r.top_p, r.top_k, r.max_new_tokens)].append(i)
        for (temperature, top_p, top_k, max_new), idxs in groups.items():
            for start in range(0, len(idxs), self.batch_size):
                chunk = idxs[start : start + self.batch_size]
                outs = self._generate_batch([requests[i] for i in chunk], temperature, top_p, top_k, max_new)
                for i, g in zip(chunk, outs):
                    results[i] = g
        return results  # type: ignore[return-value]

    def _generate_batch(self, reqs, temperature, top_p, top_k, max_new) -> list[Generation]:
        texts = [render_prompt(r.messages, self.tokenizer, r.assistant_prefix) for r in reqs]
        images = [img for r in reqs for img in r.images]
        inputs = self.processor(text=texts, images=images or None, padding=True, padding_side="left", return_tensors="pt")
        inputs = {k: v.to(self.device) if hasattr(v, "to") else v for k, v in inputs.items()}
        sampling: dict[str, Any] = {"do_sample": temperature > 0}
        if temperature > 0:
            sampling.update(temperature=temperature, top_p=top_p, top_k=top_k if top_k > 0 else None)
        else:
            sampling.update(temperature=None, top_p=None, top_k=None)
        out = self.model.generate(
            **inputs,
            max_new_tokens=max_new,
            eos_token_id=self.stop_ids,
            pad_token_id=self.pad_id,
            return_dict_in_generate=True,
            output_logits=self.return_logprobs,
            suppress_tokens=self.suppress_ids,
            **sampling,
        )
        prompt_len = inputs["input_ids"].shape[1]
        new_ids = out.sequences[:, prompt_len:]  # (B, T_new)
        logprobs = None
        if self.return_logprobs:
            # One step at a time: never materialise (B, T_new, V) float logits.
            logprobs = torch.stack(
                [torch.log_softmax(step.float(), dim=-1).gather(-1, new_ids[:, t : t + 1]).squeeze(-1)
                 for t, step in enumerate(out.logits)],
                dim=1,
            )  # (B, T_new)
        gens: list[Generation] = []
        for b in range(len(reqs)):
            ids = new_ids[b].tolist()
            finish = "length"
            for t, tok in enumerate(ids):
                if tok in self.stop_ids:
                    ids, finish = ids[: t + 1], "stop"  # keep the sampled stop token: it is trained on
                    break
            text_ids = ids[:-1] if finish == "stop" else ids
            mask = inputs["attention_mask"][b].bool()
            prompt_ids = inputs["input_ids"][b][mask].tolist()
            gens.append(
                Generation(
                    text=self.tokenizer.decode(text_ids, skip_special_tokens=False),
                    finish_reason=finish,  # type: ignore[arg-type]
                    prompt_tokens=len(prompt_ids),
                    completion_tokens=len(ids),
                    completion_ids=tuple(ids),
                    logprobs=tuple(logprobs[b, : len(ids)].tolist()) if logprobs is not None else None,
                    prompt_ids=tuple(prompt_ids),
                )
            )
        return gens
