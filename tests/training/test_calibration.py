"""The kept model's output offset (its mean error on the training audio) removed through the
output's own bias: exactly, per size, in the model and in its checkpoint."""

from __future__ import annotations

import copy

import torch

from ampcapture.capture.dataset import Capture
from ampcapture.core.paths import Layout
from ampcapture.formats.checkpoint import read_checkpoint
from ampcapture.training.calibration import calibrate, output_offsets
from ampcapture.training.data import CaptureDataModule
from ampcapture.training.fit import train
from ampcapture.training.module import AmpModule

from conftest import TINY_CONTAINER, TINY_LSTM, TINY_WAVENET, amp_module, training_cfg


def _checkpoint(module, path):
    torch.save({"state_dict": module.state_dict(), "hyper_parameters": dict(module.hparams), "epoch": 3}, path)
    return read_checkpoint(path)


def test_a_models_output_offset_is_measured_on_the_training_audio_and_removed(tiny_params, tmp_path):
    captures = Capture.load_all(Layout.of(tiny_params).split_json)
    for preset in (TINY_WAVENET, TINY_LSTM, TINY_CONTAINER):
        torch.manual_seed(0)
        module = amp_module(preset["architecture"], copy.deepcopy(preset["config"]))
        before = output_offsets(module, captures)
        for part in module.model.parts:
            assert part.shift_output(0.01)  # every size's output moves by exactly that
        assert all(abs(after - b - 0.01) < 1e-6 for after, b in zip(output_offsets(module, captures), before)), preset["name"]
        removed = calibrate(module, captures, _checkpoint(module, tmp_path / "best.ckpt"))
        assert len(removed) == len(module.model.parts) and all(abs(r - b - 0.01) < 1e-6 for r, b in zip(removed, before))
        assert all(abs(o) < 1e-6 for o in output_offsets(module, captures)), preset["name"]
        saved = read_checkpoint(tmp_path / "best.ckpt").state_dict  # what the export reads
        assert all(torch.equal(saved[k], v) for k, v in module.state_dict().items())


def test_a_model_whose_output_has_no_bias_is_left_as_it_is(tiny_params, tmp_path):
    captures = Capture.load_all(Layout.of(tiny_params).split_json)
    config = copy.deepcopy(TINY_WAVENET["config"])
    config["layers"][0]["head_bias"] = False
    module = amp_module("WaveNet", config)
    state = {k: v.clone() for k, v in module.state_dict().items()}
    assert calibrate(module, captures, _checkpoint(module, tmp_path / "best.ckpt")) == [0.0]
    assert all(torch.equal(state[k], v) for k, v in module.state_dict().items())


def test_a_training_run_keeps_its_model_with_the_offset_removed(tiny_params, tmp_path, monkeypatch):
    cfg = training_cfg(tiny_params, tmp_path, monkeypatch, model=TINY_CONTAINER, epochs=2)
    cfg["train"]["calibrate_offset"] = True
    cfg["logger"]["mlflow"] = False
    result = train(cfg)
    assert result["output_offset"] == result["sizes"][-1]["output_offset"] and all(isinstance(s["output_offset"], float) for s in result["sizes"])
    kept = AmpModule.from_checkpoint(read_checkpoint(result["checkpoint"]))  # what the export reads
    data = CaptureDataModule(Layout.of(cfg).split_json, kept.pre_roll, kept.settings)
    data.setup()
    assert all(abs(offset) < 1e-6 for offset in output_offsets(kept, data.trained))
    with torch.no_grad():  # the figures reported are the calibrated model's
        validation = [float(v) for v in kept.eval().size_esrs(next(iter(data.val_dataloader())))]
    assert validation[-1] == result["validation_esr"] and [s["validation_esr"] for s in result["sizes"]] == validation
