"""Capture sets: the manifest, aligning every recording (one latency for all), one split for all
settings with the held-out one marked, and the knob inputs models take."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml

from ampcapture.capture.align import AlignSettings, align_capture_set
from ampcapture.capture.knobs import MANIFEST, CaptureSet, knob_inputs
from ampcapture.core.config import settings
from ampcapture.core.errors import CaptureError
from ampcapture.core.paths import Layout

GOOD = {"knobs": {"gain": [0, 10], "tone": [0, 10]}, "recordings": [{"file": "a.wav", "gain": 0, "tone": 5}, {"file": "b.wav", "gain": 10, "tone": 5}]}


def test_the_demo_set_is_aligned_and_split_with_the_middle_setting_held_out(tiny_knob_params):
    layout = Layout.of(tiny_knob_params)
    manifest = yaml.safe_load((layout.recording() / MANIFEST).read_text())
    assert manifest["knobs"] == {"drive_db": [6.0, 30.0]}
    assert [r.get("held_out", False) for r in manifest["recordings"]] == [False, True, False]
    aligned = json.loads((layout.aligned / "captures.json").read_text())
    assert [s["name"] for s in aligned["settings"]] == ["drive_db6", "drive_db18", "drive_db30"]
    report = json.loads(layout.report("align").read_text())
    assert set(report["recordings"]) == {"drive_db6", "drive_db18", "drive_db30"}
    assert len({r["latency_samples"] for r in report["recordings"].values()}) == 1
    split = json.loads(layout.split_json.read_text())
    assert split["knobs"] == {"drive_db": [6.0, 30.0]} and split["method"] == "sidecar"
    assert [s["held_out"] for s in split["settings"]] == [False, True, False]
    for s in split["settings"]:  # each its own aligned recording of the same input
        x, _ = sf.read(Path(s["audio"]) / "input.wav")
        y, _ = sf.read(Path(s["audio"]) / "output.wav")
        assert x.size >= split["num_samples"] and y.size >= split["num_samples"]
    outputs = [sf.read(Path(s["audio"]) / "output.wav")[0][: split["num_samples"]] for s in split["settings"]]
    assert np.mean((outputs[0] - outputs[2]) ** 2) > 1e-4 * np.mean(outputs[2] ** 2)  # the settings differ


def _copy_set(params, tmp_path) -> Path:
    folder = tmp_path / "set"
    shutil.copytree(Layout.of(params).recording(), folder)
    return folder


def test_a_recording_whose_latency_differs_is_named_and_nothing_is_written(tiny_knob_params, tmp_path):
    folder = _copy_set(tiny_knob_params, tmp_path)
    y, sr = sf.read(folder / "drive_db30.wav", dtype="float64")
    sf.write(folder / "drive_db30.wav", np.concatenate([np.zeros(40), y[:-40]]), sr, subtype="PCM_24")
    align = settings(AlignSettings, tiny_knob_params)
    with pytest.raises(CaptureError, match=r"drive_db30\.wav: latency \d+ samples where the others' is \d+") as error:
        align_capture_set(folder, tmp_path / "aligned", tmp_path / "align.json", align, "set", Layout.of(tiny_knob_params).stimulus)
    assert "same gear and interface" in str(error.value)
    assert not (tmp_path / "aligned").exists() and not (tmp_path / "align.json").exists()


def test_a_missing_recording_is_named(tiny_knob_params, tmp_path):
    folder = _copy_set(tiny_knob_params, tmp_path)
    (folder / "drive_db6.wav").unlink()
    with pytest.raises(CaptureError, match=r"drive_db6\.wav: not found"):
        align_capture_set(folder, tmp_path / "aligned", tmp_path / "align.json", settings(AlignSettings, tiny_knob_params), "set")
    assert not (tmp_path / "aligned").exists()


@pytest.mark.parametrize(
    "change, message",
    [
        ({"knobs": {"gain": [10, 0]}}, "range"),
        ({"knobs": {}}, "names no knob"),
        ({"recordings": [{"file": "a.wav", "gain": 0}, {"file": "b.wav", "gain": 10, "tone": 5}]}, "lacks knob"),
        ({"recordings": [{"file": "a.wav", "gain": 0, "tone": 5, "drive": 1}, {"file": "b.wav", "gain": 10, "tone": 5}]}, "unknown key"),
        ({"recordings": [{"file": "a.wav", "gain": 11, "tone": 5}, {"file": "b.wav", "gain": 10, "tone": 5}]}, "outside its range"),
        ({"recordings": [{"file": "a.wav", "gain": 0, "tone": 5}, {"file": "b.wav", "gain": 0, "tone": 5}]}, "same knob values"),
        ({"recordings": [{"file": "a.wav", "gain": 0, "tone": 5}, {"file": "b.wav", "gain": 10, "tone": 5, "held_out": True}]}, "fewer than two"),
        ({"recordings": "a.wav"}, "needs a `knobs` mapping"),
    ],
)
def test_a_wrong_manifest_is_refused_with_the_reason(tmp_path, change, message):
    (tmp_path / MANIFEST).write_text(yaml.safe_dump({**GOOD, **change}))
    with pytest.raises(CaptureError, match=message) as error:
        CaptureSet.load(tmp_path)
    assert error.value.where == str(tmp_path / MANIFEST)


def test_a_manifest_that_is_not_yaml_is_named(tmp_path):
    (tmp_path / MANIFEST).write_text("knobs: [unclosed\n")
    with pytest.raises(CaptureError, match="not valid YAML"):
        CaptureSet.load(tmp_path)
    assert CaptureSet.load(tmp_path / "elsewhere") is None  # no manifest: a single capture


def test_knob_inputs_are_normalized_held_or_ramped_and_wrong_settings_are_named():
    ranges = {"gain": [0.0, 10.0], "tone": [-5.0, 5.0]}
    assert knob_inputs(ranges, {"gain": (2.5, 2.5), "tone": (0.0, 0.0)}).tolist() == [0.25, 0.5]
    ramp = knob_inputs(ranges, {"gain": (0.0, 10.0), "tone": (5.0, 5.0)}, frames=5)
    assert ramp.shape == (2, 5) and ramp[0].tolist() == [0, 0.25, 0.5, 0.75, 1] and ramp[1].tolist() == [1] * 5
    assert knob_inputs(None, {}) is None
    for given, message in (
        ({"gain": (1.0, 1.0)}, "tone not given"),
        ({"gain": (1.0, 1.0), "tone": (0.0, 0.0), "bass": (1.0, 1.0)}, "no knob 'bass'"),
        ({"gain": (11.0, 11.0), "tone": (0.0, 0.0)}, r"outside \[0, 10\]"),
        ({"gain": (0.0, 10.0), "tone": (0.0, 0.0)}, "ramp"),
    ):
        with pytest.raises(CaptureError, match=message):
            knob_inputs(ranges, given)
    with pytest.raises(CaptureError, match="has no knobs"):
        knob_inputs(None, {"gain": (1.0, 1.0)})


def test_check_reports_every_recording_of_a_set_and_names_the_one_that_fails(tiny_knob_params, tmp_path, capsys):
    from ampcapture.cli import main as cli

    folder = _copy_set(tiny_knob_params, tmp_path)
    reference = str(Layout.of(tiny_knob_params).stimulus)
    assert cli(["check", str(folder), "--reference", reference]) == 0
    assert "usable: 3 recordings" in capsys.readouterr().out
    y, sr = sf.read(folder / "drive_db18.wav", dtype="float64")
    sf.write(folder / "drive_db18.wav", np.concatenate([np.zeros(40), y[:-40]]), sr, subtype="PCM_24")
    assert cli(["check", str(folder), "--reference", reference]) == 1
    out = "".join(capsys.readouterr().out.split())  # rich wraps long paths
    assert "drive_db18.wav:latency985sampleswheretheothers'is945" in out and "cannotbeused" in out
    assert cli(["check", str(folder / "input.wav")]) == 1
    assert "nooutputrecordinggiven" in "".join(capsys.readouterr().err.split())
