"""conf/ and params.yaml agree; nonsense config and bad captures stop the stages cleanly."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ampcapture.align import AlignSettings
from ampcapture.config import compose, load_params, settings
from ampcapture.errors import ConfigError
from ampcapture.signal import SignalSpec
from ampcapture.split import SplitSettings
from ampcapture.virtual_amp import AmpSettings

ROOT = Path(__file__).resolve().parents[1]


def test_params_yaml_is_the_composition_of_conf(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    composed = tmp_path / "params.yaml"
    compose(ROOT / "conf", composed)
    assert yaml.safe_load(composed.read_text()) == yaml.safe_load((ROOT / "params.yaml").read_text()), \
        "params.yaml is stale: run `make params` after editing conf/"


def test_committed_params_build_every_stage_setting():
    params = load_params(ROOT / "params.yaml")
    assert settings(SignalSpec, params, "signal") == SignalSpec()
    assert settings(AmpSettings, params, "demo") == AmpSettings()
    assert settings(AlignSettings, params, "data.align") == AlignSettings()
    assert settings(SplitSettings, params, "data.split") == SplitSettings()


@pytest.mark.parametrize("section,values,key", [
    ("data.align", {"max_latency_smaples": 10}, "data.align.max_latency_smaples"),
    ("data.align", {"max_latency_samples": "lots"}, "data.align.max_latency_samples"),
    ("data.align", {"min_latency_samples": 5}, "data.align.min/max_latency_samples"),
    ("demo", {"output_level_db": 6}, "demo.output_level_db"),
])
def test_nonsense_config_names_the_key(section, values, key):
    cls = {"data.align": AlignSettings, "demo": AmpSettings}[section]
    params: dict = {}
    node = params
    *parents, last = section.split(".")
    for p in parents:
        node = node.setdefault(p, {})
    node[last] = values
    with pytest.raises(ConfigError) as err:
        settings(cls, params, section)
    assert err.value.where == key


def _stage(tmp_path, name, params):
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    return subprocess.run([sys.executable, str(ROOT / "pipelines" / name)], cwd=tmp_path, capture_output=True, text=True)


def test_stage_with_a_missing_capture_fails_cleanly(tmp_path):
    params = load_params(ROOT / "params.yaml")
    params["capture"] = "nosuchgear"
    run = _stage(tmp_path, "align.py", params)
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert "data/captures/nosuchgear/input.wav" in run.stderr and "not found" in run.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["params.yaml"]


def test_stage_with_nonsense_config_fails_cleanly(tmp_path):
    params = load_params(ROOT / "params.yaml")
    params["signal"]["sample_rate"] = 12345
    run = _stage(tmp_path, "reamp_signal.py", params)
    assert run.returncode == 1 and "signal.sample_rate" in run.stderr and "Traceback" not in run.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["params.yaml"]

