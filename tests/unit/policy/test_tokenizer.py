"""Tokenizers: real Qwen ids and BPE, the chat template (images, tools), the tiny BPE, the cache."""

from __future__ import annotations

import hashlib
import json
import shutil
import threading
import unicodedata

import pytest
import tiktoken
from transformers import AutoTokenizer

from vrthinker.policy.tokenizer import (
    QWEN2_5_VL_ADDED_TOKENS,
    QWEN2_PRETOKENIZE_REGEX,
    _cache_is_valid,
    _write_cache,
    build_tiny_tokenizer,
    default_cache_dir,
    load_tiktoken_ranks,
    qwen_tiktoken_path,
)

SYSTEM_PREFIX = "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
VISION_IMAGE = "<|vision_start|><|image_pad|><|vision_end|>"
VISION_VIDEO = "<|vision_start|><|video_pad|><|vision_end|>"
SELECT_FRAMES_TOOL = {
    "type": "function",
    "function": {
        "name": "select_frames",
        "description": "Select frames from a video.",
        "parameters": {
            "type": "object",
            "properties": {"target_frames": {"type": "array", "items": {"type": "integer"}}},
            "required": ["target_frames"],
        },
    },
}
TOOLS_BLOCK = (
    "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
    "You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n"
    + json.dumps(SELECT_FRAMES_TOOL, ensure_ascii=False)
    + "\n</tools>\n\nFor each function call, return a json object with function name and arguments within "
    '<tool_call></tool_call> XML tags:\n<tool_call>\n{"name": <function-name>, "arguments": <args-json-object>}\n'
    "</tool_call><|im_end|>\n"
)


def render(tok, messages, **kwargs) -> str:
    return tok.apply_chat_template(messages, tokenize=False, **kwargs)


# -- real Qwen tokenizer ----------------------------------------------------------------------------


def test_real_added_tokens_land_on_released_ids(qwen_tok):
    ids = qwen_tok.convert_tokens_to_ids([t for t, _ in QWEN2_5_VL_ADDED_TOKENS])
    assert ids == list(range(151643, 151665))
    assert len(qwen_tok) == 151665
    assert qwen_tok.convert_tokens_to_ids("<|im_start|>") == 151644
    assert qwen_tok.convert_tokens_to_ids("<|vision_start|>") == 151652
    assert qwen_tok.convert_tokens_to_ids("<|image_pad|>") == 151655
    assert qwen_tok.convert_tokens_to_ids("<|video_pad|>") == 151656
    assert qwen_tok.convert_tokens_to_ids("<tool_call>") == 151657
    assert qwen_tok.convert_tokens_to_ids("</tool_call>") == 151658
    assert (qwen_tok.eos_token, qwen_tok.eos_token_id) == ("<|im_end|>", 151645)
    assert (qwen_tok.pad_token, qwen_tok.pad_token_id) == ("<|endoftext|>", 151643)
    assert qwen_tok.bos_token is None and qwen_tok.unk_token is None


@pytest.mark.parametrize(
    "text",
    [
        "Hello, world! The quick brown fox jumps over the lazy dog 1234567890.",
        "视频一的画面更加清晰，运动也更流畅。日本語のテキストも。",
        "def f(x: int) -> int:\n    return x ** 2  # square\n\n\tif x != 0: print(f'{x=}')",
        "Emoji 🎉🚀👍🏽 and combining e\u0301 and   multiple   spaces\r\n\n",
        '{"name": "select_frames", "arguments": {"target_frames": [12, 16, 20, 24]}}',
    ],
)
def test_real_encodes_like_tiktoken(qwen_tok, text):
    enc = tiktoken.Encoding(
        "qwen2",
        pat_str=QWEN2_PRETOKENIZE_REGEX,
        mergeable_ranks=load_tiktoken_ranks(qwen_tiktoken_path()),
        special_tokens={},
    )
    # Both sides NFC-normalise (Qwen's own tiktoken wrapper does too).
    assert qwen_tok.encode(text) == enc.encode(unicodedata.normalize("NFC", text))
    assert qwen_tok.decode(qwen_tok.encode(text)) == unicodedata.normalize("NFC", text)


def test_real_golden_ids_of_default_system_turn(qwen_tok):
    # Token ids every Qwen2.5-VL-Instruct prompt starts with (from the released tokenizer).
    ids = qwen_tok.encode(SYSTEM_PREFIX + "<|im_start|>user\n")
    assert ids == [151644, 8948, 198, 2610, 525, 264, 10950, 17847, 13, 151645, 198, 151644, 872, 198]
    assert qwen_tok.encode("assistant") == [77091]


def test_special_flags_match_release(qwen_tok):
    ids = qwen_tok.encode('<|im_start|>assistant\n<tool_call>\n{"a": 1}\n</tool_call><|im_end|>')
    # <|im_start|>/<|im_end|> are special and get skipped; <tool_call> is not, so parsers still see it.
    assert qwen_tok.decode(ids, skip_special_tokens=True) == 'assistant\n<tool_call>\n{"a": 1}\n</tool_call>'
    assert set(qwen_tok.all_special_ids) == set(range(151643, 151657))


def test_real_chat_template_image_tokens(qwen_tok):
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Describe this image."}]}]
    text = render(qwen_tok, messages, add_generation_prompt=True)
    assert text == (
        SYSTEM_PREFIX + "<|im_start|>user\n" + VISION_IMAGE + "Describe this image.<|im_end|>\n<|im_start|>assistant\n"
    )
    ids = qwen_tok.encode(text)
    start = ids.index(151652)
    assert ids[start : start + 3] == [151652, 151655, 151653]


# -- chat template: release rendering -----------------------------------------------------------


@pytest.mark.parametrize(
    ("messages", "kwargs", "expected"),
    [
        (
            [{"role": "user", "content": "Hi"}],
            {},
            SYSTEM_PREFIX + "<|im_start|>user\nHi<|im_end|>\n",
        ),
        (
            [{"role": "system", "content": "Judge."}, {"role": "user", "content": "Hi"}],
            {"add_generation_prompt": True},
            "<|im_start|>system\nJudge.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
        ),
        (
            [
                {"role": "user", "content": [{"type": "video"}, {"type": "image", "image": "a.png"}, {"text": "x"}]},
                {"role": "assistant", "content": [{"type": "text", "text": "1"}]},
            ],
            {"add_vision_id": True},
            SYSTEM_PREFIX
            + "<|im_start|>user\nVideo 1: "
            + VISION_VIDEO
            + "Picture 1: "
            + VISION_IMAGE
            + "x<|im_end|>\n<|im_start|>assistant\n1<|im_end|>\n",
        ),
        (
            [{"role": "user", "content": [{"image_url": {"url": "u"}}, {"video": "v.mp4"}]}],
            {},
            SYSTEM_PREFIX + "<|im_start|>user\n" + VISION_IMAGE + VISION_VIDEO + "<|im_end|>\n",
        ),
    ],
)
def test_template_renders_like_qwen2_5_vl(tiny_tok, messages, kwargs, expected):
    assert render(tiny_tok, messages, **kwargs) == expected


# -- chat template: tools ---------------------------------------------------------------------------


def test_tools_block_in_system_turn(tiny_tok):
    messages = [{"role": "system", "content": "Judge the videos."}, {"role": "user", "content": "Go"}]
    text = render(tiny_tok, messages, tools=[SELECT_FRAMES_TOOL], add_generation_prompt=True)
    assert text == (
        "<|im_start|>system\nJudge the videos.\n\n"
        + TOOLS_BLOCK
        + "<|im_start|>user\nGo<|im_end|>\n<|im_start|>assistant\n"
    )
    # Without a system message the default system prompt precedes the tools block.
    text = render(tiny_tok, messages[1:], tools=[SELECT_FRAMES_TOOL])
    assert text.startswith("<|im_start|>system\nYou are a helpful assistant.\n\n# Tools\n")
    assert text.count("<|im_start|>system") == 1


def test_python_function_tool_becomes_schema(tiny_tok):
    def select_frames(target_frames: list[int]) -> str:
        """Select frames from a video.

        Args:
            target_frames: Frame numbers (1-based).
        """
        return ""

    text = render(tiny_tok, [{"role": "user", "content": "Go"}], tools=[select_frames])
    assert '{"type": "function", "function": {"name": "select_frames", "description": "Select frames' in text


def test_tool_calls_and_grouped_tool_responses(tiny_tok):
    messages = [
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Which?"}]},
        {
            "role": "assistant",
            "content": "<think>look closer</think>",
            "tool_calls": [
                {"type": "function", "function": {"name": "select_frames", "arguments": {"target_frames": [12, 60]}}},
                {"name": "select_frames", "arguments": '{"target_frames": [3]}'},  # flat form, string args
            ],
        },
        {"role": "tool", "content": [{"type": "text", "text": "Here are the selected frames"}, {"type": "image"}]},
        {"role": "tool", "content": "out of range"},
        {"role": "assistant", "content": "<answer>1</answer>"},
    ]
    text = render(tiny_tok, messages, tools=[SELECT_FRAMES_TOOL], add_vision_id=True)
    assert text.endswith(
        "<|im_start|>user\nPicture 1: " + VISION_IMAGE + "Which?<|im_end|>\n"
        "<|im_start|>assistant\n<think>look closer</think>\n"
        '<tool_call>\n{"name": "select_frames", "arguments": {"target_frames": [12, 60]}}\n</tool_call>\n'
        '<tool_call>\n{"name": "select_frames", "arguments": {"target_frames": [3]}}\n</tool_call><|im_end|>\n'
        "<|im_start|>user\n<tool_response>\nHere are the selected framesPicture 2: "
        + VISION_IMAGE
        + "\n</tool_response>\n"
        "<tool_response>\nout of range\n</tool_response><|im_end|>\n"
        "<|im_start|>assistant\n<answer>1</answer><|im_end|>\n"
    )
    # A call-only turn (no content) starts directly with <tool_call>.
    only_call = [
        {"role": "user", "content": "Go"},
        {"role": "assistant", "content": None, "tool_calls": [{"name": "f", "arguments": {}}]},
    ]
    assert '<|im_start|>assistant\n<tool_call>\n{"name": "f", "arguments": {}}\n</tool_call><|im_end|>\n' in render(
        tiny_tok, only_call
    )


def test_template_is_prefix_preserving(tiny_tok):
    conversation = [
        {"role": "system", "content": "Judge."},
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Which?"}]},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"name": "select_frames", "arguments": {"target_frames": [1]}}],
        },
        {"role": "tool", "content": [{"type": "image"}]},
        {"role": "assistant", "content": "<answer>2</answer>"},
    ]
    for tools in (None, [SELECT_FRAMES_TOOL]):
        full = render(tiny_tok, conversation, tools=tools)
        for k in range(1, len(conversation)):
            assert full.startswith(render(tiny_tok, conversation[:k], tools=tools))
        # Generation prompt + generated text + <|im_end|> == the rendered assistant turn.
        prompt = render(tiny_tok, conversation[:-1], tools=tools, add_generation_prompt=True)
        assert prompt + "<answer>2</answer><|im_end|>\n" == full


# -- tiny tokenizer ---------------------------------------------------------------------------------


def test_tiny_tokenizer_layout(tiny_tok):
    base = len(tiny_tok) - len(QWEN2_5_VL_ADDED_TOKENS)
    assert 400 <= base <= 1000
    ids = tiny_tok.convert_tokens_to_ids([t for t, _ in QWEN2_5_VL_ADDED_TOKENS])
    assert ids == list(range(base, base + 22))
    assert tiny_tok.eos_token == "<|im_end|>" and tiny_tok.pad_token == "<|endoftext|>"
    # Protocol words are single tokens; anything else still round-trips through bytes.
    for word in ("Video", " frame", " red", " square", " noisy", "answer", "select"):
        assert len(tiny_tok.encode(word)) == 1, word
    samples = ("Video 2, frame 31: the square is blurred.", "未知の文字 ✓ 🎉", '<tool_call>\n{"a": [1]}\n</tool_call>')
    for text in samples:
        assert tiny_tok.decode(tiny_tok.encode(text)) == text


def test_tiny_tokenizer_is_deterministic(tiny_tok):
    again = build_tiny_tokenizer()
    assert again.get_vocab() == tiny_tok.get_vocab()
    assert again.backend_tokenizer.to_str() == tiny_tok.backend_tokenizer.to_str()
    # vocab_size caps the BPE part (the built-in corpus saturates around 785 merges+bytes).
    assert len(build_tiny_tokenizer(vocab_size=400)) == 400 + 22
    extra = build_tiny_tokenizer(vocab_size=2000, extra_corpus=["zebra giraffe hippopotamus"] * 3)
    assert len(extra.encode(" hippopotamus")) == 1


def test_tiny_tokenizer_save_load_roundtrip(tiny_tok, tmp_path):
    tiny_tok.save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path, local_files_only=True)
    text = render(tiny_tok, [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "TA: 1"}]}])
    assert loaded.encode(text) == tiny_tok.encode(text)
    assert loaded.chat_template == tiny_tok.chat_template
    assert loaded.eos_token_id == tiny_tok.eos_token_id and loaded.pad_token_id == tiny_tok.pad_token_id


# -- cache ------------------------------------------------------------------------------------------


def test_cache_is_valid_after_build_and_detects_staleness(qwen_tok, tmp_path):
    sha = hashlib.sha256(qwen_tiktoken_path().read_bytes()).hexdigest()
    cache = default_cache_dir()
    assert _cache_is_valid(cache, sha)
    assert not _cache_is_valid(cache, "0" * 64)  # different source file
    stale = tmp_path / "stale"
    shutil.copytree(cache, stale)
    meta = json.loads((stale / "vrthinker_cache.json").read_text())
    (stale / "vrthinker_cache.json").write_text(json.dumps({**meta, "format_version": -1}))
    assert not _cache_is_valid(stale, sha)
    assert not _cache_is_valid(tmp_path / "missing", sha)


def test_default_cache_dir_honours_env(monkeypatch, tmp_path):
    monkeypatch.setenv("VRTHINKER_CACHE", str(tmp_path))
    assert default_cache_dir() == tmp_path / "tokenizers" / "qwen2.5-vl"


def test_concurrent_cache_writes_leave_one_valid_copy(tiny_tok, tmp_path):
    target = tmp_path / "tok"
    errors: list[BaseException] = []

    def write() -> None:
        try:
            _write_cache(tiny_tok, target, "abc")
        except BaseException as err:  # noqa: BLE001 - surfaced by the assert below
            errors.append(err)

    threads = [threading.Thread(target=write) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert _cache_is_valid(target, "abc")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tok"]  # no temp dirs left behind
    loaded = AutoTokenizer.from_pretrained(target, local_files_only=True)
    assert loaded.get_vocab() == tiny_tok.get_vocab()
