"""SFT config: errors name file, key, value and rule (all at once); shipped configs validate."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from vrthinker.train.config import ConfigError, SFTConfig, load_config, parse_override

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def traces(tmp_path: Path) -> Path:
    path = tmp_path / "traces.jsonl"
    path.write_text("")
    return path


def write(tmp_path: Path, data: dict, name: str = "sft.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


def problems(path: Path | None, overrides=(), **kw) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(path, overrides, **kw)
    return info.value.problems


def test_minimal_config_gets_documented_defaults(tmp_path, traces):
    cfg = load_config(write(tmp_path, {"data": {"traces": str(traces)}}))
    assert cfg.data.traces == (str(traces),)  # one path or a list
    assert cfg.model.freeze_vision is True and cfg.model.lora.enabled is False
    assert (cfg.optim.schedule, cfg.optim.grad_accum, cfg.train.precision) == ("cosine", 1, "fp32")
    # Every field is documented where it is defined (the only place settings are documented).
    for section in (cfg.model, cfg.model.lora, cfg.data, cfg.optim, cfg.train):
        for name, field in type(section).model_fields.items():
            assert field.description, f"{type(section).__name__}.{name} has no description"


def test_bad_value_names_file_key_value_and_rule(tmp_path, traces):
    path = write(tmp_path, {"data": {"traces": str(traces)}, "optim": {"lr": -1}})
    assert problems(path) == ["sft.yaml: optim.lr = -1: must be > 0"]


def test_unknown_key_suggests_the_close_name(tmp_path, traces):
    path = write(tmp_path, {"data": {"traces": str(traces)}, "optim": {"lrr": 1e-3}})
    assert problems(path) == ["sft.yaml: optim.lrr: unknown key (did you mean lr?)"]


def test_wrong_type_and_bad_choice(tmp_path, traces):
    path = write(tmp_path, {"data": {"traces": str(traces)}, "train": {"batch_size": "eight", "precision": "fp16"}})
    assert problems(path) == [
        "sft.yaml: train.batch_size = 'eight': must be an integer",
        "sft.yaml: train.precision = 'fp16': must be one of 'fp32' or 'bf16'",
    ]


def test_missing_data_file_is_named(tmp_path):
    path = write(tmp_path, {"data": {"traces": ["nope.jsonl"]}})
    assert problems(path) == ["sft.yaml: data.traces = ['nope.jsonl']: file not found: nope.jsonl"]
    assert load_config(path, check_paths=False).data.traces == ("nope.jsonl",)


def test_missing_config_file_and_missing_section(tmp_path):
    assert problems(tmp_path / "absent.yaml") == [f"{tmp_path / 'absent.yaml'}: config file not found"]
    assert problems(write(tmp_path, {"optim": {"lr": 1e-3}})) == ["sft.yaml: data: required key is missing"]


def test_all_problems_at_once_and_overrides_named_as_command_line(tmp_path, traces):
    path = write(tmp_path, {"data": {"traces": str(traces)}, "train": {"epochs": 0}})
    found = problems(path, ["optim.lr=-1", "optim.betas=[0.9, 1.5]", "data.traces=gone.jsonl"])
    assert found == [
        "command line: optim.lr = -1: must be > 0",
        "command line: optim.betas = [0.9, 1.5]: each beta must be in [0, 1)",
        "sft.yaml: train.epochs = 0: must be >= 1",
        "command line: data.traces = ['gone.jsonl']: file not found: gone.jsonl",
    ]


def test_cross_field_rule(tmp_path, traces):
    path = write(tmp_path, {"data": {"traces": str(traces)}, "optim": {"warmup_steps": 10}, "train": {"max_steps": 5}})
    assert problems(path) == ["sft.yaml: optim.warmup_steps = 10: must be <= train.max_steps (5)"]


def test_overrides_parse_yaml_values():
    assert parse_override("optim.lr=1e-3") == ("optim.lr", 1e-3)  # PyYAML alone would give the string "1e-3"
    assert parse_override("train.max_steps=40") == ("train.max_steps", 40)
    assert parse_override("optim.grad_clip=null") == ("optim.grad_clip", None)
    assert parse_override("data.traces=[a.jsonl, b.jsonl]") == ("data.traces", ["a.jsonl", "b.jsonl"])
    assert parse_override("model.name_or_path=tiny") == ("model.name_or_path", "tiny")
    with pytest.raises(ConfigError, match="expected key=value"):
        parse_override("optim.lr")


def test_override_wins_and_resolved_yaml_round_trips(tmp_path, traces):
    path = write(tmp_path, {"data": {"traces": str(traces)}, "optim": {"lr": 1e-4}})
    cfg = load_config(path, ["optim.lr=2e-3", "model.lora.enabled=true", "train.output_dir=x"])
    assert cfg.optim.lr == 2e-3 and cfg.model.lora.enabled and cfg.train.output_dir == "x"
    resolved = tmp_path / "resolved.yaml"
    resolved.write_text(cfg.to_yaml())
    assert load_config(resolved) == cfg


def test_frozen():
    cfg = SFTConfig.model_validate({"data": {"traces": ["t.jsonl"]}})
    with pytest.raises(Exception):
        cfg.optim.lr = 1.0  # type: ignore[misc]


SFT_SECTIONS = {"model", "data", "optim", "train"}


@pytest.mark.parametrize(
    "path",
    sorted((REPO / "configs").rglob("*.yaml")) + sorted((REPO / "configs").rglob("*.yml")),
    ids=lambda p: str(p.relative_to(REPO)),
)
def test_every_shipped_config_validates(path):
    """Every YAML under configs/, recursively, validates against the schema of its stage."""
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict), f"{path}: not a mapping"
    if "grpo" in data:
        from vrthinker.train.grpo_config import GRPOConfig

        load_config(path, check_paths=False, schema=GRPOConfig)
    elif set(data) <= SFT_SECTIONS:
        load_config(path, check_paths=False)  # traces are made by `vrthinker data teach` first
    else:
        pytest.fail(f"{path}: no schema for sections {sorted(data)}; teach this test which config it is")


def test_cli_bad_config_exits_2_with_the_message_and_no_traceback(tmp_path, traces):
    from vrthinker.cli import app
    import vrthinker.cli.train  # noqa: F401  (registers `train` on the app)

    path = write(tmp_path, {"data": {"traces": str(traces)}})
    result = CliRunner().invoke(app, ["train", "sft", "--config", str(path), "optim.lr=-1", "optim.lrr=3"])
    assert result.exit_code == 2
    assert "command line: optim.lr = -1: must be > 0" in result.output
    assert "command line: optim.lrr: unknown key (did you mean lr?)" in result.output
    assert "Traceback" not in result.output

    result = CliRunner().invoke(app, ["train", "sft", "--config", str(path), "--print-config", "optim.lr=0.01"])
    assert result.exit_code == 0 and yaml.safe_load(result.output)["optim"]["lr"] == 0.01

    result = CliRunner().invoke(app, ["train", "sft", "--help"])
    assert result.exit_code == 0 and "key=value" in result.output and "resume" in result.output


def test_docs_list_every_key():
    """docs/training.md repeats the schema; every field must appear in its section's table."""
    from vrthinker.train.config import DataConfig, LoraConfig, ModelConfig, OptimConfig, TrainConfig

    doc = (REPO / "docs" / "training.md").read_text()
    missing = []
    for section, model in [("model", ModelConfig), ("model.lora", LoraConfig), ("data", DataConfig),
                           ("optim", OptimConfig), ("train", TrainConfig)]:  # fmt: skip
        table = doc.split(f"### `{section}`\n", 1)[1].split("\n### ", 1)[0].split("\n## ", 1)[0]
        for name, field in model.model_fields.items():
            if name != "lora" and f"| `{name}` |" not in table:
                missing.append(f"{section}.{name}")
    assert not missing, f"docs/training.md lacks {missing}"


def test_yaml_choices_named_off_or_no_stay_strings(tmp_path):
    # PyYAML's YAML 1.1 rules would read `off` as False and reject the choice.
    from vrthinker.train.config import load_config
    from vrthinker.train.grpo_config import GRPOConfig

    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("")
    cfg_file = tmp_path / "g.yaml"
    cfg_file.write_text(f"data:\n  pairs: {pairs}\ngrpo:\n  replay: off\ntrain:\n  max_steps: 1\n")
    cfg = load_config(cfg_file, ["grpo.dynamic_sampling=off", "model.freeze_vision=false"], schema=GRPOConfig)
    assert cfg.grpo.replay == "off" and cfg.grpo.dynamic_sampling == "off" and cfg.model.freeze_vision is False
