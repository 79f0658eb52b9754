"""SFT settings: pydantic models loaded from YAML plus dotted ``key=value`` overrides.

Every setting and its default live here, documented by ``Field(description=...)``
(``docs/training.md`` lists them). ``load_config`` reports every problem at once,
each naming the file (or the command line), the dotted key, the value and the rule::

    sft.yaml: optim.lr = -1: must be > 0
    sft.yaml: optim.lrr: unknown key (did you mean lr?)
    command line: data.traces = ['missing.jsonl']: file not found: missing.jsonl
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any, Literal, Sequence, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from vrthinker.policy.tiny_config import TinyModelConfig

# Qwen2/2.5 decoder projection names; the vision tower reuses the MLP names, so
# `freeze_vision` also keeps LoRA out of it (see ModelConfig.freeze_vision).
DEFAULT_LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


class _Loader(yaml.SafeLoader):
    """YAML with YAML 1.2 booleans: only true/false. PyYAML's 1.1 rules read ``off``, ``on``,
    ``yes`` and ``no`` as booleans, which turns choices like ``replay: off`` into ``False``."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def _load_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass


class ConfigError(ValueError):
    """A config file or override is invalid. ``problems`` holds one line per problem."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LoraConfig(_Section):
    """Low-rank adapters (peft) instead of full fine-tuning."""

    enabled: bool = Field(False, description="Train LoRA adapters (peft) instead of all weights.")
    r: int = Field(16, ge=1, description="Adapter rank.")
    alpha: int = Field(32, ge=1, description="LoRA scaling numerator (the update is scaled by alpha / r).")
    dropout: float = Field(0.05, ge=0.0, lt=1.0, description="Dropout on the adapter input.")
    target_modules: tuple[str, ...] = Field(
        DEFAULT_LORA_TARGETS,
        min_length=1,
        description="Module names (suffixes) that get adapters: the Qwen decoder's attention and MLP projections.",
    )


class ModelConfig(_Section):
    """Which policy model to fine-tune and which parts of it train."""

    name_or_path: str = Field(
        "tiny",
        description="'tiny' (offline random-init Qwen2.5-VL), 'tiny-real-vocab', 'tiny-qwen3', a checkpoint "
        "directory, or a hub id already in the local HF cache (see policy.models.load_model).",
    )
    tokenizer: str = Field("auto", description="'auto' (the model's own), 'tiny', 'qwen' or a tokenizer directory.")
    dtype: Literal["auto", "float32", "bfloat16"] = Field(
        "auto",
        description="Weight dtype at load. 'auto' = float32 for tiny models, the checkpoint's dtype otherwise. "
        "Keep float32 weights with train.precision=bf16 for fp32 master weights under bf16 autocast.",
    )
    freeze_vision: bool = Field(
        True,
        description="Freeze the vision tower (model.model.visual, ViT and merger), as in the paper's SFT of a "
        "pretrained model. Set false for the random-init tiny model: a frozen random tower cannot learn "
        "(docs/feasibility.md). With LoRA it also keeps adapters out of the tower.",
    )
    tiny: TinyModelConfig | None = Field(
        None,
        description="Sizes of a tiny preset (name_or_path 'tiny', 'tiny-real-vocab', 'tiny-qwen3'), e.g. "
        "{num_hidden_layers: 4}; null = the preset's defaults. Ignored for checkpoints and hub ids "
        "(policy.tiny_config.TinyModelConfig lists the keys).",
    )
    lora: LoraConfig = Field(default_factory=LoraConfig, description="LoRA adapters (off by default).")


class DataConfig(_Section):
    """Where the SFT traces come from."""

    traces: tuple[str, ...] = Field(
        ..., min_length=1, description="Trace JSONL file(s) (episode.traces format); every turn is one segment."
    )
    frame_cache_size: int = Field(
        64, ge=1, description="Videos kept decoded in the FrameCache while reading segments (LRU)."
    )

    @field_validator("traces", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        # `traces: runs/x.jsonl` and `traces: [a.jsonl, b.jsonl]` both read naturally in YAML.
        return [value] if isinstance(value, (str, Path)) else value


class OptimConfig(_Section):
    """AdamW with warm-up and a decay schedule."""

    lr: float = Field(1e-5, gt=0.0, description="Peak learning rate (the tiny model wants ~1e-3).")
    weight_decay: float = Field(0.0, ge=0.0, description="AdamW decoupled weight decay.")
    betas: tuple[float, float] = Field((0.9, 0.999), description="AdamW (beta1, beta2), each in [0, 1).")
    eps: float = Field(1e-8, gt=0.0, description="AdamW epsilon.")
    warmup_steps: int = Field(0, ge=0, description="Linear warm-up: step i < warmup_steps (0-based) uses lr*(i+1)/warmup_steps.")
    schedule: Literal["cosine", "linear", "constant"] = Field(
        "cosine", description="Decay after warm-up: cosine or linear to min_lr_ratio*lr at the last step, or constant."
    )
    min_lr_ratio: float = Field(0.0, ge=0.0, le=1.0, description="Final lr as a fraction of lr (cosine/linear).")
    grad_clip: float | None = Field(1.0, gt=0.0, description="Clip the global gradient norm to this; null = no clip.")
    grad_accum: int = Field(1, ge=1, description="Micro-batches per optimizer step (per process).")

    @field_validator("betas")
    @classmethod
    def _betas_in_range(cls, value: tuple[float, float]) -> tuple[float, float]:
        if not all(0.0 <= b < 1.0 for b in value):
            raise ValueError("each beta must be in [0, 1)")
        return value


class TrainConfig(_Section):
    """Loop length, batch shape, precision and outputs."""

    batch_size: int = Field(
        1, ge=1, description="Segments per micro-batch per process. Global batch = batch_size * grad_accum * processes."
    )
    max_steps: int | None = Field(
        None, ge=1, description="Optimizer steps to run; null = `epochs` passes over the segments."
    )
    epochs: int = Field(1, ge=1, description="Passes over the segments when max_steps is null.")
    seed: int = Field(0, description="Seeds the data order (a function of seed and epoch), RNGs and tiny-model init.")
    group_by_length: bool = Field(
        False,
        description="Batch segments of similar length: each window of 16 global batches of the shuffled data is "
        "sorted by length before it is cut into steps (transformers' group_by_length). Multi-turn segments range "
        "from one turn's context to four; grouped, the demo's SFT step was 1.6x faster (benchmarks/sft_step.py), but "
        "changing which segments share a step cost the tiny model's SFT accuracy in 2 of 3 seeds (docs/demo.md). "
        "Without it, each step's segments are still sorted by length into its micro-batches (same gradient).",
    )
    precision: Literal["fp32", "bf16"] = Field("fp32", description="fp32, or bf16 autocast (accelerate mixed precision).")
    save_every: int = Field(500, ge=1, description="Write a checkpoint every this many optimizer steps (and at the end).")
    log_every: int = Field(10, ge=1, description="Log to console and metrics.jsonl every this many steps.")
    output_dir: str = Field("runs/sft", description="Checkpoints, metrics.jsonl and the resolved config go here.")
    stop_after: int | None = Field(
        None,
        ge=1,
        description="Stop (after saving a checkpoint) once this step is done, without changing the schedule; "
        "for time-sliced jobs and resume tests. null = run to the end.",
    )


class SFTConfig(_Section):
    """Cold-start SFT on multi-turn visual chain-of-thought traces (SPEC §3, stage 1)."""

    model: ModelConfig = Field(default_factory=ModelConfig, description="The policy model.")
    data: DataConfig = Field(..., description="The training traces.")
    optim: OptimConfig = Field(default_factory=OptimConfig, description="Optimizer and LR schedule.")
    train: TrainConfig = Field(default_factory=TrainConfig, description="Loop, batch, precision, outputs.")

    @model_validator(mode="after")
    def _check(self) -> "SFTConfig":
        if self.train.max_steps is not None and self.optim.warmup_steps > self.train.max_steps:
            raise ValueError(
                f"optim.warmup_steps = {self.optim.warmup_steps}: must be <= train.max_steps ({self.train.max_steps})"
            )
        return self

    def to_yaml(self) -> str:
        """The resolved config as YAML (saved with every run and checkpoint)."""
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


# --------------------------------------------------------------------------- loading

C = TypeVar("C", bound=BaseModel)


def parse_override(item: str) -> tuple[str, Any]:
    """``"optim.lr=1e-3"`` -> ``("optim.lr", 0.001)``; the value is parsed as YAML (lists, null, bools)."""
    key, sep, raw = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError([f"command line: {item!r}: expected key=value, e.g. optim.lr=1e-3"])
    value = _load_yaml(raw) if raw.strip() else ""
    if isinstance(value, str):
        # PyYAML reads "1e-3" as a string (YAML 1.1 wants "1.0e-3"); numbers are what people mean.
        try:
            value = float(value) if any(c in value for c in ".eE") else int(value)
        except ValueError:
            pass
    return key.strip(), value


def _set_dotted(data: dict[str, Any], key: str, value: Any) -> str | None:
    """Set ``data[a][b][c] = value`` for ``key = "a.b.c"``; returns a problem text or None."""
    parts = key.split(".")
    node = data
    for i, part in enumerate(parts[:-1]):
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            return f"command line: {key}: {'.'.join(parts[: i + 1])} is not a section"
        node = child
    node[parts[-1]] = value
    return None


def _field_names(model: type[BaseModel], loc: Sequence[str | int]) -> list[str]:
    """Field names of the section at ``loc`` (for 'did you mean')."""
    for part in loc:
        field = model.model_fields.get(str(part))
        annotation = getattr(field, "annotation", None) if field else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return list(model.model_fields)


_RULES = {
    "greater_than": "must be > {gt}",
    "greater_than_equal": "must be >= {ge}",
    "less_than": "must be < {lt}",
    "less_than_equal": "must be <= {le}",
    "literal_error": "must be one of {expected}",
    "int_parsing": "must be an integer",
    "int_from_float": "must be an integer",
    "float_parsing": "must be a number",
    "bool_parsing": "must be true or false",
    "string_type": "must be a string",
    "missing": "required key is missing",
    "too_short": "must have at least {min_length} item(s)",
    "tuple_type": "must be a list",
    "model_type": "must be a section (a mapping of keys)",
}


def _describe(err: dict[str, Any]) -> str:
    template = _RULES.get(err["type"])
    if template is None:
        # value_error from our validators carries "Value error, <text>"
        return err["msg"].removeprefix("Value error, ")
    # 0.0 -> 0 so messages read "must be > 0"
    ctx = {k: int(v) if isinstance(v, float) and v.is_integer() else v for k, v in err.get("ctx", {}).items()}
    return template.format(**ctx)


def _same_path(a: str, b: str) -> bool:
    """``a`` and ``b`` name the same setting or one contains the other (``optim`` / ``optim.lr``)."""
    return a == b or a.startswith(b + ".") or b.startswith(a + ".")


def _format_errors(
    error: ValidationError, source: str, overridden: set[str], schema: type[BaseModel] = SFTConfig
) -> list[str]:
    problems = []
    for err in error.errors():
        loc = [str(p) for p in err["loc"]]
        # Drop tuple/list indices from the key ("optim.betas.0" -> report "optim.betas").
        key_parts = [p for p in loc if not p.isdigit()]
        key = ".".join(key_parts)
        where = "command line" if any(_same_path(key, o) for o in overridden) else source
        if err["type"] == "extra_forbidden":
            names = _field_names(schema, key_parts[:-1])
            close = difflib.get_close_matches(key_parts[-1], names, n=1)
            hint = f" (did you mean {close[0]}?)" if close else f" (known: {', '.join(names)})" if names else ""
            problems.append(f"{where}: {key}: unknown key{hint}")
        elif err["type"] == "missing":
            problems.append(f"{where}: {key}: required key is missing")
        elif not key:  # a cross-field check on the whole config
            problems.append(f"{where}: {_describe(err)}")
        else:
            problems.append(f"{where}: {key} = {err['input']!r}: {_describe(err)}")
    return problems


def load_config(
    path: str | Path | None,
    overrides: Sequence[str] = (),
    *,
    check_paths: bool = True,
    schema: type[C] = SFTConfig,  # type: ignore[assignment]
) -> C:
    """Read ``path`` (YAML), apply ``key=value`` overrides, validate; raise :class:`ConfigError` listing all problems.

    ``check_paths`` also requires every SFT ``data.traces`` file to exist (off to validate
    shipped configs whose data is generated later). ``schema`` lets other stages (GRPO)
    reuse the same loading and error reporting with their own model.
    """
    source = Path(path).name if path is not None else "config"
    data: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError([f"{path}: config file not found"])
        try:
            loaded = _load_yaml(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as err:
            raise ConfigError([f"{source}: not valid YAML ({err})"]) from err
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError([f"{source}: must be a mapping of sections (model, data, optim, train)"])
        data = loaded or {}
    problems: list[str] = []
    overridden: set[str] = set()
    for item in overrides:
        try:
            key, value = parse_override(item)
        except ConfigError as err:
            problems.extend(err.problems)
            continue
        overridden.add(key)
        if (problem := _set_dotted(data, key, value)) is not None:
            problems.append(problem)
    config: C | None = None
    try:
        config = schema.model_validate(data)
    except ValidationError as err:
        problems.extend(_format_errors(err, source, overridden, schema))
    if check_paths and schema is SFTConfig:
        # Checked even when other sections failed, so one run reports every problem.
        try:
            traces = config.data.traces if config else DataConfig.model_validate(data.get("data") or {}).traces  # type: ignore[attr-defined]
        except (ValidationError, AttributeError):
            traces = ()  # already reported above
        where = "command line" if any(_same_path("data.traces", o) for o in overridden) else source
        for trace in traces:
            if not Path(trace).is_file():
                problems.append(f"{where}: data.traces = {list(traces)!r}: file not found: {trace}")
    elif check_paths and config is not None and hasattr(config, "input_paths"):
        # Other stages name their input files themselves: {dotted key: path}.
        for key, value in config.input_paths().items():
            if value is not None and not Path(value).is_file():
                where = "command line" if any(_same_path(key, o) for o in overridden) else source
                problems.append(f"{where}: {key} = {value!r}: file not found")
    if problems:
        raise ConfigError(problems)
    assert config is not None
    return config


__all__ = [
    "ConfigError",
    "DataConfig",
    "LoraConfig",
    "ModelConfig",
    "OptimConfig",
    "SFTConfig",
    "TrainConfig",
    "load_config",
    "parse_override",
]
