"""conf/ holds every value once and params.yaml is its composition; every section fits its schema; nonsense\nconfig and bad captures stop the stages cleanly."""

from contextlib import nullcontext
from dataclasses import MISSING, fields
from pathlib import Path

import pytest
import torch
import yaml

from ampcapture.audio.stimulus import StimulusSpec
from ampcapture.audio.virtual_amp import AmpSettings, KnobGrid
from ampcapture.capture.align import AlignSettings
from ampcapture.capture.split import SplitSettings
from ampcapture.core.config import compose, defaults, load_params, settings
from ampcapture.core.errors import ConfigError
from ampcapture.export.write import ExportSettings
from ampcapture.runtime.bench import BenchSettings
from ampcapture.tracking import LoggerSettings
from ampcapture.training.losses import LossSettings
from ampcapture.training.settings import TrainerSettings, TrainSettings
from ampcapture.training.trial import TrialLink

ROOT = Path(__file__).resolve().parents[2]


def test_params_yaml_is_the_composition_of_conf(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    composed = tmp_path / "params.yaml"
    compose(ROOT / "conf", composed)
    assert yaml.safe_load(composed.read_text()) == yaml.safe_load((ROOT / "params.yaml").read_text()), (
        "params.yaml is stale: run `make params` after editing conf/"
    )


# Every config section the code reads, by its schema (the dataclass declares types and checks).
SCHEMAS = [
    StimulusSpec,
    AmpSettings,
    KnobGrid,
    AlignSettings,
    SplitSettings,
    LossSettings,
    TrainSettings,
    TrainerSettings,
    LoggerSettings,
    ExportSettings,
    BenchSettings,
    TrialLink,
]


@pytest.mark.parametrize("schema", SCHEMAS, ids=lambda c: c.SECTION)
def test_every_config_section_fits_its_schema_and_values_live_only_in_conf(schema):
    assert all(f.default is MISSING and f.default_factory is MISSING for f in fields(schema)), f"{schema.__name__} writes a default that belongs in conf/"
    params = load_params(ROOT / "params.yaml")
    assert settings(schema, params) == defaults(schema)  # every key present, every value of the right type


@pytest.mark.parametrize("group,option", [("loss", "guitarml"), ("loss", "esr_mrstft"), ("logger", "none"), ("trainer", "gpu")])
def test_every_config_group_option_fits_its_schema(tmp_path, monkeypatch, group, option):
    monkeypatch.chdir(ROOT)
    composed = tmp_path / "params.yaml"
    compose(ROOT / "conf", composed, [f"{group}={option}"])
    schema = {"loss": LossSettings, "logger": LoggerSettings, "trainer": TrainerSettings}[group]
    if option == "gpu":  # without CUDA the schema's check refuses it: exactly that error, nothing about the keys
        with pytest.raises(ConfigError, match="trainer.accelerator") if not torch.cuda.is_available() else nullcontext():
            settings(schema, load_params(composed))
    else:
        settings(schema, load_params(composed))


@pytest.mark.parametrize(
    "section,values,key",
    [
        ("data.align", {"max_latency_smaples": 10}, "data.align.max_latency_smaples"),
        ("data.align", {"max_latency_samples": "lots"}, "data.align.max_latency_samples"),
        ("data.align", {"min_latency_samples": 5}, "data.align.min/max_latency_samples"),
        ("demo", {"output_level_db": 6}, "demo.output_level_db"),
        ("train", {"lr": None}, "train.lr"),
        ("bench", {"buffer_sizes": ["x"]}, "bench.buffer_sizes[0]"),
    ],
)
def test_nonsense_config_names_the_key(section, values, key):
    cls = {"data.align": AlignSettings, "demo": AmpSettings, "train": TrainSettings, "bench": BenchSettings}[section]
    params = load_params(ROOT / "params.yaml")
    node = params
    for part in section.split("."):
        node = node[part]
    node.update(values)
    with pytest.raises(ConfigError) as err:
        settings(cls, params)
    assert err.value.where == key


def test_a_missing_setting_is_named():
    params = load_params(ROOT / "params.yaml")
    del params["train"]["lr"]
    with pytest.raises(ConfigError, match="train.lr: is missing"):
        settings(TrainSettings, params)
