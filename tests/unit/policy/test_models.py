"""Tiny Qwen2.5-VL / Qwen3-VL: construction, vision path, 3-D rope, training, generation, save/load."""

from __future__ import annotations

import json

import pytest
import torch
from pydantic import ValidationError

from vrthinker.policy.models import (
    LoadedModel,
    ModelNotFoundError,
    TinyModelConfig,
    build_tiny_model,
    build_tiny_qwen3_vl,
    load_model,
)
from vrthinker.policy.processor import build_processor


@pytest.fixture
def tiny() -> LoadedModel:
    return load_model("tiny")


def encode(loaded: LoadedModel, messages, images, **kwargs):
    text = loaded.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return loaded.processor(text=text, images=images, **kwargs)


# -- config -----------------------------------------------------------------------------------------


def test_tiny_config_defaults_and_mrope():
    cfg = TinyModelConfig()
    assert cfg.head_dim == 32
    assert cfg.resolved_mrope_section("qwen2_5_vl") == [4, 6, 6]  # sums to head_dim/2 = 16
    assert cfg.resolved_mrope_section("qwen3_vl") == [6, 5, 5]
    assert TinyModelConfig(hidden_size=256).resolved_mrope_section("qwen2_5_vl") == [8, 12, 12]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mrope_section": (4, 4, 4)}, "must sum to head_dim/2 = 16"),
        ({"num_attention_heads": 3}, "not divisible by num_attention_heads"),
        ({"num_key_value_heads": 3}, "not divisible by num_key_value_heads"),
        ({"fullatt_block_indexes": (5,)}, "out of range"),
        ({"num_position_embeddings": 200}, "square"),
        ({"hidden_dim": 1}, "Extra inputs"),
    ],
)
def test_tiny_config_rejects_bad_values(kwargs, message):
    with pytest.raises(ValidationError, match=message):
        TinyModelConfig(**kwargs)


# -- build ------------------------------------------------------------------------------------------


def test_build_takes_token_ids_from_tokenizer(tiny_tok):
    model = build_tiny_model(tiny_tok)
    cfg = model.config
    assert cfg.image_token_id == tiny_tok.convert_tokens_to_ids("<|image_pad|>")
    assert cfg.video_token_id == tiny_tok.convert_tokens_to_ids("<|video_pad|>")
    assert cfg.vision_start_token_id == tiny_tok.convert_tokens_to_ids("<|vision_start|>")
    assert cfg.vision_end_token_id == tiny_tok.convert_tokens_to_ids("<|vision_end|>")
    assert cfg.text_config.vocab_size == len(tiny_tok) == 807  # 785 BPE tokens + 22 added
    assert cfg.text_config.eos_token_id == tiny_tok.eos_token_id
    assert model.generation_config.eos_token_id == [tiny_tok.eos_token_id, tiny_tok.pad_token_id]
    assert model.generation_config.pad_token_id == tiny_tok.pad_token_id
    n_params = sum(p.numel() for p in model.parameters())
    n_vision = sum(p.numel() for p in model.model.visual.parameters())
    # text: 2 x V x 128 embeddings/head + 2 layers; vision: depth 2, hidden 64, merger to 128.
    # With V = 642 there were 717,760 parameters; each extra token adds 2 x 128.
    assert n_params == 717_760 + 2 * 128 * (807 - 642) and n_vision == 257_344


def test_same_seed_same_weights_and_rng_untouched(tiny_tok):
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    a = build_tiny_model(tiny_tok, seed=0)
    assert torch.equal(torch.rand(1), expected_next)  # building did not consume the global RNG
    b = build_tiny_model(tiny_tok, seed=0)
    c = build_tiny_model(tiny_tok, seed=1)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not torch.equal(sa["lm_head.weight"], sc["lm_head.weight"])


# -- forward through the vision tower and 3-D rope -----------------------------------------------------


def test_forward_two_images_uses_vision_tower(tiny, frames, two_image_messages):
    inputs = encode(tiny, two_image_messages, frames[:2])
    with torch.no_grad():
        logits = tiny.model(**inputs).logits
    seq = inputs["input_ids"].shape[1]
    assert logits.shape == (1, seq, len(tiny.tokenizer))
    assert torch.isfinite(logits).all()

    # Swap the second image: positions before its first pad cannot change (causal attention),
    # everything from that pad on must.
    changed = encode(tiny, two_image_messages, [frames[0], frames[2]])
    assert torch.equal(changed["input_ids"], inputs["input_ids"])
    with torch.no_grad():
        logits2 = tiny.model(**changed).logits
    pad_positions = (inputs["input_ids"][0] == tiny.model.config.image_token_id).nonzero().flatten()
    second_image_start = int(pad_positions[4])  # 4 pads per 56x56 image
    assert torch.allclose(logits[0, :second_image_start], logits2[0, :second_image_start])
    assert (logits[0, second_image_start:] - logits2[0, second_image_start:]).abs().amax(-1).min() > 1e-6


def test_rope_positions_are_3d_with_mm_token_type_ids(tiny, frames, two_image_messages):
    inputs = encode(tiny, two_image_messages, frames[:2])
    ids = inputs["input_ids"]
    position_ids, deltas = tiny.model.model.get_rope_index(
        ids,
        mm_token_type_ids=inputs["mm_token_type_ids"],
        image_grid_thw=inputs["image_grid_thw"],
        attention_mask=inputs["attention_mask"],
    )
    seq = ids.shape[1]
    assert position_ids.shape == (3, 1, seq)
    plain = torch.arange(seq).expand(3, 1, seq)
    assert not torch.equal(position_ids, plain)
    # First image: 2x2 merged grid starting at text position p -> t=p, h in {p, p+1}, w in {p, p+1}.
    first = int((ids[0] == tiny.model.config.image_token_id).nonzero()[0])
    block = position_ids[:, 0, first : first + 4]
    p = first
    assert block.tolist() == [[p, p, p, p], [p, p, p + 1, p + 1], [p, p + 1, p, p + 1]]
    # The text after the image resumes at p + max(h, w) = p + 2, so the sequence is shorter by 2 per image.
    assert position_ids[0, 0, first + 4].item() == p + 2
    assert deltas.item() == -4

    # The gotcha: without mm_token_type_ids transformers silently uses 1-D positions.
    without = {k: v for k, v in inputs.items() if k != "mm_token_type_ids"}
    with torch.no_grad():
        a = tiny.model(**inputs).logits
        tiny.model.model.rope_deltas = None
        b = tiny.model(**without).logits
    last = seq - 1
    assert not torch.allclose(a[0, last], b[0, last])


# -- training and generation ------------------------------------------------------------------------


def test_training_step_reduces_loss(tiny, frames, two_image_messages):
    model = tiny.model
    model.train()
    messages = [*two_image_messages, {"role": "assistant", "content": "<answer>Overall: 1</answer>"}]
    text = tiny.tokenizer.apply_chat_template(messages, tokenize=False)
    inputs = tiny.processor(text=text, images=frames[:2])
    labels = inputs["input_ids"].clone()
    labels[inputs["mm_token_type_ids"] == 1] = -100
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)

    losses = []
    for step in range(4):
        out = model(**inputs, labels=labels)
        optimizer.zero_grad()
        out.loss.backward()
        if step == 0:
            # Gradients reach the vision tower through the image features.
            patch_grad = model.model.visual.patch_embed.proj.weight.grad
            assert patch_grad is not None and patch_grad.abs().sum() > 0
        optimizer.step()
        losses.append(out.loss.item())
    # Random init: loss starts near ln(vocab) = ln(807) = 6.69 and falls as the batch is memorised.
    assert abs(losses[0] - 6.69) < 0.5
    assert losses[-1] < losses[0] - 0.5


def test_greedy_generate(tiny, frames, two_image_messages):
    inputs = encode(tiny, two_image_messages, frames[:2])
    prompt_len = inputs["input_ids"].shape[1]
    with torch.no_grad():
        out1 = tiny.model.generate(**inputs, max_new_tokens=6, min_new_tokens=6, do_sample=False)
        out2 = tiny.model.generate(**inputs, max_new_tokens=6, min_new_tokens=6, do_sample=False)
    assert out1.shape == (1, prompt_len + 6)
    assert torch.equal(out1, out2)
    assert torch.equal(out1[:, :prompt_len], inputs["input_ids"])
    # The first generated token is the argmax of the prompt's last logits.
    with torch.no_grad():
        tiny.model.model.rope_deltas = None
        first = tiny.model(**inputs).logits[0, -1].argmax().item()
    assert out1[0, prompt_len].item() == first


def test_batched_left_padded_generate_matches_single(tiny, frames, two_image_messages):
    text = tiny.tokenizer.apply_chat_template(two_image_messages, tokenize=False, add_generation_prompt=True)
    short = tiny.tokenizer.apply_chat_template(
        [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Hi"}]}],
        tokenize=False,
        add_generation_prompt=True,
    )
    batch = tiny.processor(text=[text, short], images=[frames[:2], frames[2:]], padding=True, padding_side="left")
    single = tiny.processor(text=short, images=frames[2:])
    with torch.no_grad():
        out_b = tiny.model.generate(**batch, max_new_tokens=4, min_new_tokens=4, do_sample=False)
        out_s = tiny.model.generate(**single, max_new_tokens=4, min_new_tokens=4, do_sample=False)
    assert torch.equal(out_b[1, -4:], out_s[0, -4:])


# -- save / load ------------------------------------------------------------------------------------


def test_save_and_load_model_dir_gives_identical_logits(tiny, tmp_path, frames, two_image_messages):
    tiny.save_pretrained(tmp_path)
    loaded = load_model(tmp_path)
    assert loaded.name == str(tmp_path)
    assert loaded.tokenizer.get_vocab() == tiny.tokenizer.get_vocab()
    assert loaded.tokenizer.chat_template == tiny.tokenizer.chat_template
    assert loaded.processor.max_pixels == tiny.processor.max_pixels
    assert loaded.model.dtype == torch.float32
    a_in, b_in = encode(tiny, two_image_messages, frames[:2]), encode(loaded, two_image_messages, frames[:2])
    assert all(torch.equal(a_in[k], b_in[k]) for k in a_in)
    with torch.no_grad():
        assert torch.equal(tiny.model(**a_in).logits, loaded.model(**b_in).logits)
    assert loaded.model.generation_config.eos_token_id == tiny.model.generation_config.eos_token_id


def test_load_dir_without_preprocessor_config_falls_back(tiny, tmp_path):
    tiny.model.save_pretrained(tmp_path)
    tiny.tokenizer.save_pretrained(tmp_path)
    loaded = load_model(tmp_path, tokenizer="auto")
    assert loaded.processor.patch_size == 14 and loaded.processor.min_pixels == 56 * 56


def test_released_qwen2_5_vl_template_is_upgraded_for_tools(tiny, tmp_path):
    # A released Qwen2.5-VL folder ships a template without tool support; load_model swaps in ours.
    tiny.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "tokenizer_config.json").read_text())
    (tmp_path / "chat_template.jinja").unlink()
    released = "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n{% endfor %}"
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({**config, "chat_template": released}))
    loaded = load_model(tmp_path)
    assert loaded.tokenizer.chat_template == tiny.tokenizer.chat_template
    assert loaded.processor.chat_template == tiny.tokenizer.chat_template


def test_load_model_dtype(tiny_tok):
    assert load_model("tiny", dtype="bfloat16").model.dtype == torch.bfloat16


def test_unknown_model_has_actionable_error(tmp_path):
    for name in ("no-such-org/no-such-model", str(tmp_path / "missing"), "not a model"):
        with pytest.raises(ModelNotFoundError, match="offline") as info:
            load_model(name)
        assert "local" in str(info.value)


def test_dir_missing_weights_is_not_found(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "qwen2_5_vl"}))
    with pytest.raises(ModelNotFoundError):
        load_model(tmp_path)


# -- Qwen3-VL and the real vocabulary ---------------------------------------------------------------


def test_tiny_qwen3_builds_and_forwards(tiny_tok, frames, two_image_messages):
    loaded = load_model("tiny-qwen3")
    assert type(loaded.model).__name__ == "Qwen3VLForConditionalGeneration"
    assert loaded.model.config.text_config.head_dim == 32
    assert loaded.model.config.text_config.rope_parameters["mrope_interleaved"] is True
    inputs = encode(loaded, two_image_messages, frames[:2])
    assert inputs["pixel_values"].shape == (32, 3 * 2 * 16 * 16)
    with torch.no_grad():
        logits = loaded.model(**inputs).logits
    assert logits.shape == (1, inputs["input_ids"].shape[1], len(tiny_tok))
    assert torch.isfinite(logits).all()
    # Qwen3-VL refuses multimodal input without mm_token_type_ids instead of silently using 1-D rope.
    without = {k: v for k, v in inputs.items() if k != "mm_token_type_ids"}
    with pytest.raises(ValueError, match="mm_token_type_ids"):
        loaded.model(**without)
    qwen3 = build_tiny_qwen3_vl(tiny_tok, seed=0)
    assert all(torch.equal(v, qwen3.state_dict()[k]) for k, v in loaded.model.state_dict().items())


def test_tiny_with_real_vocab(qwen_tok, frames):
    model = build_tiny_model(qwen_tok, TinyModelConfig(tie_word_embeddings=True))
    assert model.config.image_token_id == 151655 and model.config.text_config.vocab_size == 151665
    processor = build_processor(qwen_tok)
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Which?"}]}]
    text = qwen_tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    inputs = processor(text=text, images=frames[:1])
    with torch.no_grad():
        logits = model(**inputs).logits
    assert logits.shape == (1, inputs["input_ids"].shape[1], 151665)


def test_tiny_sizes_reach_the_model_from_a_training_config():
    from vrthinker.train.config import SFTConfig
    from vrthinker.train.sft import build_model

    config = SFTConfig.model_validate(
        {"data": {"traces": ["unused.jsonl"]}, "model": {"tiny": {"num_hidden_layers": 3, "intermediate_size": 64}}}
    )
    model = build_model(config, None, "cpu").model
    assert model.config.text_config.num_hidden_layers == 3 and model.config.text_config.intermediate_size == 64
    assert load_model("tiny").model.config.text_config.num_hidden_layers == TinyModelConfig().num_hidden_layers
    with pytest.raises(ValidationError, match="num_hidden_layerz"):
        SFTConfig.model_validate({"data": {"traces": ["x"]}, "model": {"tiny": {"num_hidden_layerz": 3}}})
