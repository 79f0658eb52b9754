"""The image-only Qwen-VL processor: placeholder expansion, mm_token_type_ids, budgets, save/load."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from vrthinker.policy.processor import QwenVLProcessor, build_image_processor, build_processor


@pytest.fixture
def processor(tiny_tok) -> QwenVLProcessor:
    return build_processor(tiny_tok)


@pytest.mark.parametrize(("side", "tokens"), [(56, 4), (64, 4), (112, 16), (224, 64), (448, 256)])
def test_image_token_count_default_pixels(processor, frame_factory, side, tokens):
    # 56 -> 56x56 = 4x4 patches of 14 -> 2x2 merged = 4; 64 rounds to 56; 112 -> 8x8 patches -> 16.
    assert processor.image_token_count(side, side) == tokens
    out = processor(text="<|vision_start|><|image_pad|><|vision_end|>", images=[frame_factory(0, side)])
    assert int((out["input_ids"] == processor.image_token_id).sum()) == tokens
    assert out["image_grid_thw"].tolist() == [[1, 2 * round(tokens**0.5), 2 * round(tokens**0.5)]]


def test_non_square_token_count(processor):
    # 480x640: smart_resize keeps both sides multiples of 28 -> 476x644 = 17x23 merged tokens.
    assert processor.resized_size(480, 640) == (476, 644)
    assert processor.image_token_count(480, 640) == 17 * 23


def test_outputs_expand_pads_and_mark_image_tokens(processor, tiny_tok, frames, two_image_messages):
    text = tiny_tok.apply_chat_template(two_image_messages, tokenize=False, add_generation_prompt=True)
    out = processor(text=text, images=frames[:2])
    assert set(out) == {"input_ids", "attention_mask", "mm_token_type_ids", "pixel_values", "image_grid_thw"}
    ids = out["input_ids"]
    assert ids.shape[0] == 1 and out["attention_mask"].tolist() == [[1] * ids.shape[1]]
    # Each image: 4x4 patches -> grid_t*grid_h*grid_w // merge**2 = 1*4*4//4 = 4 pads.
    assert out["image_grid_thw"].tolist() == [[1, 4, 4], [1, 4, 4]]
    assert int((ids == processor.image_token_id).sum()) == 8
    # mm_token_type_ids: 1 exactly on image pads (M-RoPE needs it), 0 elsewhere.
    assert torch.equal(out["mm_token_type_ids"], (ids == processor.image_token_id).long())
    # Without the pads the text tokenizes exactly like the tokenizer alone.
    collapsed = [t for i, t in enumerate(ids[0].tolist()) if not (t == processor.image_token_id and ids[0, i - 1] == t)]
    assert collapsed == tiny_tok.encode(text)
    # pixel_values are the image processor's patches: (sum of t*h*w, C * T * P * P) = (32, 3*2*14*14).
    assert out["pixel_values"].shape == (32, 1176)
    direct = processor.image_processor(frames[:2], return_tensors="pt")["pixel_values"]
    assert torch.equal(out["pixel_values"], direct)


def test_batch_with_padding_and_per_sample_images(processor, frames):
    texts = [
        "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>a<|vision_start|><|image_pad|><|vision_end|>",
        "<|im_start|>user\nno image",
        "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>",
    ]
    out = processor(text=texts, images=[frames[:2], [], frames[2:]], padding=True)
    assert out["input_ids"].shape[0] == 3
    # Each row equals the sample processed alone, right-padded with the pad token.
    for row, (text, images) in enumerate(zip(texts, [frames[:2], [], frames[2:]])):
        alone = processor(text=text, images=images)["input_ids"][0]
        n = len(alone)
        assert out["attention_mask"][row].sum() == n
        assert torch.equal(out["input_ids"][row, :n], alone)
        assert (out["input_ids"][row, n:] == processor.tokenizer.pad_token_id).all()
    assert out["image_grid_thw"].shape == (3, 3)
    assert out["mm_token_type_ids"].sum(1).tolist() == [8, 0, 4]
    # Left padding for batched generation.
    left = processor(text=texts, images=[frames[:2], [], frames[2:]], padding=True, padding_side="left")
    assert left["attention_mask"][1, 0] == 0 and left["attention_mask"][1, -1] == 1


def test_text_only_and_mismatch(processor, frames):
    out = processor(text=["plain"], images=[])
    assert "pixel_values" not in out and out["mm_token_type_ids"].sum() == 0
    with pytest.raises(ValueError, match="image_pad"):
        processor(text="<|image_pad|><|image_pad|>", images=frames[:1])
    with pytest.raises(NotImplementedError):
        processor(text="x", videos=[frames])


def test_pixel_budget_settings(processor, frame_factory):
    assert (processor.min_pixels, processor.max_pixels) == (56 * 56, 28 * 28 * 1280)
    processor.max_pixels = 56 * 56  # cap every frame at 4 tokens
    assert processor.image_token_count(224, 224) == 4
    out = processor(text="<|image_pad|>", images=[frame_factory(1, 224)])
    assert out["image_grid_thw"].tolist() == [[1, 4, 4]]
    processor.min_pixels = 28 * 28
    assert processor.min_pixels == 784
    # Tuple assignment works whatever the old range was; an inverted range fails at use.
    processor.min_pixels, processor.max_pixels = 448 * 448, 896 * 896
    assert processor.image_token_count(56, 56) == 256
    processor.min_pixels = 10**9
    with pytest.raises(ValueError, match="min_pixels"):
        processor.image_token_count(56, 56)
    with pytest.raises(ValueError, match="min_pixels"):
        processor(text="<|image_pad|>", images=[frame_factory(1)])
    with pytest.raises(ValueError, match="positive"):
        processor.max_pixels = 0
    processor.set_pixels(min_pixels=56 * 56, max_pixels=112 * 112)
    assert processor.image_token_count(448, 448) == 16


def test_save_load_roundtrip(processor, tiny_tok, tmp_path, frames):
    processor.max_pixels = 112 * 112
    processor.save_pretrained(tmp_path)
    saved = {p.name for p in tmp_path.iterdir()}
    assert {"tokenizer.json", "tokenizer_config.json", "preprocessor_config.json"} <= saved
    loaded = QwenVLProcessor.from_pretrained(tmp_path)
    assert loaded.max_pixels == 112 * 112 and loaded.min_pixels == processor.min_pixels
    text = "<|vision_start|><|image_pad|><|vision_end|>Video 1"
    a, b = processor(text=text, images=frames[:1]), loaded(text=text, images=frames[:1])
    assert all(torch.equal(a[k], b[k]) for k in a)
    overridden = QwenVLProcessor.from_pretrained(tmp_path, max_pixels=56 * 56)
    assert overridden.max_pixels == 56 * 56


def test_loads_released_preprocessor_config(tiny_tok, tmp_path):
    # Layout of Qwen/Qwen2.5-VL-7B-Instruct's preprocessor_config.json (min/max_pixels keys, fast class name).
    tiny_tok.save_pretrained(tmp_path)
    released = {
        "min_pixels": 3136,
        "max_pixels": 12845056,
        "patch_size": 14,
        "temporal_patch_size": 2,
        "merge_size": 2,
        "image_mean": [0.48145466, 0.4578275, 0.40821073],
        "image_std": [0.26862954, 0.26130258, 0.27577711],
        "image_processor_type": "Qwen2VLImageProcessor",
        "processor_class": "Qwen2_5_VLProcessor",
    }
    (tmp_path / "preprocessor_config.json").write_text(json.dumps(released))
    loaded = QwenVLProcessor.from_pretrained(tmp_path)
    assert (loaded.min_pixels, loaded.max_pixels, loaded.patch_size) == (3136, 12845056, 14)


def test_qwen3_family_uses_patch_16(tiny_tok, frame_factory):
    processor = build_processor(tiny_tok, family="qwen3_vl")
    assert processor.patch_size == 16
    assert processor.image_token_count(56, 56) == 4  # 56 rounds to 64 = 4x4 patches of 16
    out = processor(text="<|image_pad|>", images=[frame_factory(0)])
    assert out["pixel_values"].shape == (16, 3 * 2 * 16 * 16)
    # mean/std 0.5 maps [0, 255] to [-1, 1].
    assert out["pixel_values"].min() >= -1.0 and out["pixel_values"].max() <= 1.0
    assert np.allclose(processor.image_processor.image_mean, 0.5)


def test_real_tokenizer_prompt_ids(qwen_tok, frames):
    processor = QwenVLProcessor(image_processor=build_image_processor(), tokenizer=qwen_tok)
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Which?"}]}]
    text = qwen_tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    ids = processor(text=text, images=frames[:1])["input_ids"][0].tolist()
    # system turn, "<|im_start|>user\n", then vision_start, 4 image pads, vision_end.
    assert ids[:14] == [151644, 8948, 198, 2610, 525, 264, 10950, 17847, 13, 151645, 198, 151644, 872, 198]
    assert ids[14:20] == [151652] + [151655] * 4 + [151653]
    assert ids[-3:] == [151644, 77091, 198]  # "<|im_start|>assistant\n"
