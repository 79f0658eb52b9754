"""Model construction and loading: tiny random Qwen-VL models offline, real checkpoints from disk.

- :func:`build_tiny_model` / :func:`build_tiny_qwen3_vl`: a random-init Qwen2.5-VL / Qwen3-VL with
  the sizes of :class:`TinyModelConfig` (0.7-0.8 M parameters with the tiny tokenizer, ~39 M with
  the real 151k vocabulary, which then dominates). Token ids come from the tokenizer, so the tiny
  BPE and the real Qwen vocabulary both work. Same seed -> same weights.
- :func:`load_model`: one entry point for ``"tiny"``, ``"tiny-real-vocab"``, ``"tiny-qwen3"``, a
  local checkpoint directory (ours or a released one) and hub ids already in the local HF cache.
  Returns a :class:`LoadedModel` bundling model, processor and tokenizer.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from huggingface_hub import snapshot_download
from transformers import (
    AutoModelForImageTextToText,
    AutoTokenizer,
    PreTrainedModel,
    Qwen2_5_VLConfig,
    Qwen2_5_VLForConditionalGeneration,
    Qwen3VLConfig,
    Qwen3VLForConditionalGeneration,
)

from vrthinker.policy.processor import QwenVLProcessor, build_processor
from vrthinker.policy.tiny_config import Family, TinyModelConfig
from vrthinker.policy.tokenizer import (
    ENDOFTEXT,
    IM_END,
    IMAGE_PAD,
    VIDEO_PAD,
    VISION_END,
    VISION_START,
    build_qwen_tokenizer,
    build_tiny_tokenizer,
    chat_template,
)

logger = logging.getLogger(__name__)

DType = Literal["auto", "float32", "bfloat16", "float16"]
Device = Literal["cpu", "cuda", "auto"]
TINY_NAMES: dict[str, tuple[Family, Literal["tiny", "qwen"]]] = {
    # name -> (architecture, default tokenizer)
    "tiny": ("qwen2_5_vl", "tiny"),
    "tiny-real-vocab": ("qwen2_5_vl", "qwen"),
    "tiny-qwen3": ("qwen3_vl", "tiny"),
}

class ModelNotFoundError(FileNotFoundError):
    """Raised when a model name is neither a tiny preset, a local directory, nor in the HF cache."""


def _token_ids(tokenizer: Any) -> dict[str, int]:
    """Ids the model config needs, looked up in ``tokenizer`` (tiny and real vocabularies differ)."""
    names = {
        "image_token_id": IMAGE_PAD,
        "video_token_id": VIDEO_PAD,
        "vision_start_token_id": VISION_START,
        "vision_end_token_id": VISION_END,
        "eos_token_id": IM_END,
        "pad_token_id": ENDOFTEXT,
    }
    ids = {key: tokenizer.convert_tokens_to_ids(tok) for key, tok in names.items()}
    unk = getattr(tokenizer, "unk_token_id", None)
    missing = [names[k] for k, v in ids.items() if v is None or (unk is not None and v == unk)]
    if missing:
        raise ValueError(f"tokenizer lacks the Qwen-VL tokens {missing}")
    # Qwen has no BOS token; its configs use <|endoftext|> as bos_token_id.
    ids["bos_token_id"] = ids["pad_token_id"]
    return ids


def _build(config: Any, model_cls: type[PreTrainedModel], tokenizer: Any, seed: int) -> PreTrainedModel:
    ids = _token_ids(tokenizer)
    # fork_rng: seeding must not disturb the caller's global RNG stream.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = model_cls(config)
    model.eval()
    gen = model.generation_config
    gen.eos_token_id = [ids["eos_token_id"], ids["pad_token_id"]]  # as released: <|im_end|>, <|endoftext|>
    gen.pad_token_id = ids["pad_token_id"]
    gen.bos_token_id = ids["bos_token_id"]
    gen.do_sample = False
    return model


def build_tiny_model(
    tokenizer: Any, config: TinyModelConfig | None = None, seed: int = 0
) -> Qwen2_5_VLForConditionalGeneration:
    """A random-init Qwen2.5-VL sized by ``config``, built offline, fp32, in eval mode."""
    config = config or TinyModelConfig()
    ids = _token_ids(tokenizer)
    text = dict(
        vocab_size=len(tokenizer),
        hidden_size=config.hidden_size,
        intermediate_size=config.intermediate_size,
        num_hidden_layers=config.num_hidden_layers,
        num_attention_heads=config.num_attention_heads,
        num_key_value_heads=config.num_key_value_heads,
        max_position_embeddings=config.max_position_embeddings,
        rms_norm_eps=1e-6,
        bos_token_id=ids["bos_token_id"],
        eos_token_id=ids["eos_token_id"],
        pad_token_id=ids["pad_token_id"],
        rope_parameters={
            "rope_type": "default",
            "rope_theta": config.rope_theta,
            "mrope_section": config.resolved_mrope_section("qwen2_5_vl"),
        },
    )
    vision = dict(
        depth=config.vision_depth,
        hidden_size=config.vision_hidden_size,
        intermediate_size=config.vision_intermediate_size,
        num_heads=config.vision_num_heads,
        out_hidden_size=config.hidden_size,
        patch_size=14,
        spatial_merge_size=2,
        temporal_patch_size=2,
        window_size=config.window_size,
        fullatt_block_indexes=list(config.fullatt_block_indexes),
        tokens_per_second=config.tokens_per_second,
    )
    hf_config = Qwen2_5_VLConfig(
        text_config=text,
        vision_config=vision,
        image_token_id=ids["image_token_id"],
        video_token_id=ids["video_token_id"],
        vision_start_token_id=ids["vision_start_token_id"],
        vision_end_token_id=ids["vision_end_token_id"],
        tie_word_embeddings=config.tie_word_embeddings,
    )
    return _build(hf_config, Qwen2_5_VLForConditionalGeneration, tokenizer, seed)  # type: ignore[return-value]


def build_tiny_qwen3_vl(
    tokenizer: Any, config: TinyModelConfig | None = None, seed: int = 0
) -> Qwen3VLForConditionalGeneration:
    """A random-init Qwen3-VL (interleaved mrope, patch 16, deepstack) sized by ``config``."""
    config = config or TinyModelConfig()
    ids = _token_ids(tokenizer)
    text = dict(
        vocab_size=len(tokenizer),
        hidden_size=config.hidden_size,
        intermediate_size=config.intermediate_size,
        num_hidden_layers=config.num_hidden_layers,
        num_attention_heads=config.num_attention_heads,
        num_key_value_heads=config.num_key_value_heads,
        head_dim=config.head_dim,  # Qwen3 stores head_dim explicitly (default 128)
        max_position_embeddings=config.max_position_embeddings,
        pad_token_id=ids["pad_token_id"],
        rope_parameters={
            "rope_type": "default",
            "rope_theta": config.rope_theta,
            "mrope_section": config.resolved_mrope_section("qwen3_vl"),
            "mrope_interleaved": True,
        },
    )
    vision = dict(
        depth=config.vision_depth,
        hidden_size=config.vision_hidden_size,
        intermediate_size=config.vision_intermediate_size,
        num_heads=config.vision_num_heads,
        out_hidden_size=config.hidden_size,
        patch_size=16,
        spatial_merge_size=2,
        temporal_patch_size=2,
        num_position_embeddings=config.num_position_embeddings,
        deepstack_visual_indexes=list(config.deepstack_visual_indexes),
    )
    hf_config = Qwen3VLConfig(
        text_config=text,
        vision_config=vision,
        image_token_id=ids["image_token_id"],
        video_token_id=ids["video_token_id"],
        vision_start_token_id=ids["vision_start_token_id"],
        vision_end_token_id=ids["vision_end_token_id"],
        tie_word_embeddings=config.tie_word_embeddings,
    )
    return _build(hf_config, Qwen3VLForConditionalGeneration, tokenizer, seed)  # type: ignore[return-value]


@dataclass(frozen=True)
class LoadedModel:
    """A model with the processor and tokenizer that go with it."""

    model: PreTrainedModel
    processor: QwenVLProcessor
    tokenizer: Any
    name: str

    def save_pretrained(self, directory: str | Path) -> Path:
        """Write a self-contained checkpoint dir (weights, config, tokenizer, image processor)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(directory)
        self.processor.save_pretrained(directory)
        return directory


def _resolve_device(device: Device) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device='cuda' requested but torch.cuda.is_available() is False")
    return device


def _resolve_tokenizer(spec: str, default: Literal["tiny", "qwen"]) -> Any:
    spec = default if spec == "auto" else spec
    if spec == "tiny":
        return build_tiny_tokenizer()
    if spec == "qwen":
        return build_qwen_tokenizer()
    return AutoTokenizer.from_pretrained(spec, local_files_only=True)


def _not_found(name: str, cause: Exception | None = None) -> ModelNotFoundError:
    return ModelNotFoundError(
        f"model {name!r} not found: it is not a tiny preset ({', '.join(TINY_NAMES)}), not a local directory, "
        "and not in the local Hugging Face cache. Hub downloads are not possible on an offline machine: download "
        "the checkpoint elsewhere (e.g. `huggingface-cli download Qwen/Qwen2.5-VL-7B-Instruct --local-dir DIR`), "
        f"copy it here and pass the directory path, e.g. load_model('/path/to/DIR')."
        + (f" (underlying error: {cause})" if cause else "")
    )


def load_model(
    name_or_path: str | Path,
    *,
    dtype: DType = "auto",
    device: Device = "cpu",
    tokenizer: str = "auto",
    seed: int = 0,
    allow_download: bool = False,
    tiny: TinyModelConfig | None = None,
) -> LoadedModel:
    """Build or load a Qwen-VL policy model with its processor and tokenizer.

    Args:
        name_or_path: ``"tiny"`` (Qwen2.5-VL, tiny BPE), ``"tiny-real-vocab"`` (same model, real
            Qwen tokenizer), ``"tiny-qwen3"`` (Qwen3-VL, tiny BPE); a checkpoint directory (saved
            by :meth:`LoadedModel.save_pretrained` or a released Qwen2.5-VL / Qwen3-VL folder); or a
            hub id such as ``"Qwen/Qwen2.5-VL-7B-Instruct"`` that is already in the HF cache.
        dtype: ``"auto"`` = float32 for tiny models, the checkpoint's dtype otherwise.
        device: ``"auto"`` picks CUDA when available.
        tokenizer: ``"auto"`` (the model's own), ``"tiny"``, ``"qwen"`` or a tokenizer directory.
        seed: weight-init seed for tiny presets (same seed -> same weights).
        allow_download: let ``from_pretrained`` fetch from the hub when the id is not cached
            (off by default: this environment has no hub access and would only wait for timeouts).
        tiny: sizes of a tiny preset (default :class:`TinyModelConfig`); ignored for other names.

    Raises:
        ModelNotFoundError: the name is none of the above.
    """
    name = str(name_or_path)
    target = _resolve_device(device)
    if name in TINY_NAMES:
        family, default_tok = TINY_NAMES[name]
        tok = _resolve_tokenizer(tokenizer, default_tok)
        builder = build_tiny_model if family == "qwen2_5_vl" else build_tiny_qwen3_vl
        model = builder(tok, tiny, seed=seed)
        model = model.to(device=target, dtype=torch.float32 if dtype == "auto" else getattr(torch, dtype))
        return LoadedModel(model=model, processor=build_processor(tok, family=family), tokenizer=tok, name=name)

    path = Path(name).expanduser()
    is_local = path.is_dir()
    if not is_local and (path.is_absolute() or name.startswith((".", "~")) or name.count("/") != 1):
        raise _not_found(name)  # looks like a path (or is no hub id) and does not exist
    if is_local:
        source = str(path)
    elif allow_download:
        source = name
    else:
        # Resolve the id in the HF cache ourselves: from_pretrained(local_files_only=True) still
        # probes the hub for adapter_config.json and spends ~23 s in retries when offline.
        try:
            source = snapshot_download(name, local_files_only=True)
        except (OSError, ValueError) as err:  # LocalEntryNotFoundError is an OSError
            raise _not_found(name, err) from err
    local_only = not allow_download
    load_kwargs: dict[str, Any] = {"dtype": "auto" if dtype == "auto" else getattr(torch, dtype)}
    if target == "cuda":
        load_kwargs["device_map"] = "cuda"  # stream weights to the GPU instead of materializing on CPU
    try:
        model = AutoModelForImageTextToText.from_pretrained(source, local_files_only=local_only, **load_kwargs)
    except OSError as err:  # missing files, not cached, no network
        raise _not_found(name, err) from err
    if target != "cuda":
        model = model.to(target)
    model.eval()

    if tokenizer == "auto":
        tok = AutoTokenizer.from_pretrained(source, local_files_only=local_only)
        if model.config.model_type == "qwen2_5_vl" and "tools" not in (tok.chat_template or ""):
            # The released Qwen2.5-VL template cannot render tools or tool turns. Ours renders
            # everything else byte-identically and adds Qwen's tool format, so swap it in.
            logger.info("%s: replacing the tool-less Qwen2.5-VL chat template with vrthinker's", name)
            tok.chat_template = chat_template()
    else:
        tok = _resolve_tokenizer(tokenizer, "tiny")
    try:
        processor = QwenVLProcessor.from_pretrained(source, tokenizer=tok, local_files_only=local_only)
    except OSError:
        family: Family = "qwen3_vl" if model.config.model_type.startswith("qwen3") else "qwen2_5_vl"
        logger.warning("%s has no preprocessor_config.json; using default %s image settings", name, family)
        processor = build_processor(tok, family=family)
    logger.info("loaded %s (%s, %s) on %s", name, type(model).__name__, model.dtype, target)
    return LoadedModel(model=model, processor=processor, tokenizer=tok, name=name)


__all__ = [
    "LoadedModel",
    "ModelNotFoundError",
    "TinyModelConfig",
    "build_tiny_model",
    "build_tiny_qwen3_vl",
    "load_model",
]
