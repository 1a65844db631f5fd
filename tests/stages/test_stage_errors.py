"""A stage run on nonsense config or a missing capture stops with a message naming the key or
the file (no traceback), exit status 1, and writes nothing."""

import subprocess
import sys
from pathlib import Path

import yaml

from ampcapture.core.config import load_params

ROOT = Path(__file__).resolve().parents[2]


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
    params["stimulus"]["sample_rate"] = 12345
    run = _stage(tmp_path, "stimulus.py", params)
    assert run.returncode == 1 and "stimulus.sample_rate" in run.stderr and "Traceback" not in run.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["params.yaml"]
