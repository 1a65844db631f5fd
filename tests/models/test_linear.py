"""NAM's `Linear` (an FIR filter), the architecture added by a module under models/ and a line
in models.ARCHITECTURES alone: read from a file NAM writes, rendered, trained, exported, and
played by NAM's own loader as we play it."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from ampcapture.core.config import defaults
from ampcapture.core.errors import ConfigError
from ampcapture.export.write import ExportSettings, export_checkpoint
from ampcapture.models import build_model
from ampcapture.runtime.load import load_model
from ampcapture.training.fit import train
from devtools.nam_reference import run_nam

from conftest import esr_curve, torch_render, training_cfg

LINEAR = {"name": "linear_fir", "architecture": "Linear", "config": {"receptive_field": 64, "bias": True}}
NAM_LINEAR = """
import json, sys, numpy as np, torch
from pathlib import Path
from nam.models.linear import Linear
from nam.models._from_nam import init_from_nam
torch.manual_seed(0)
folder = Path(sys.argv[1])
x = torch.from_numpy(np.load(folder / "x.npy"))[None]
theirs = Linear(32, bias=True, sample_rate=48000)
with torch.no_grad():
    for p in theirs.parameters():
        p.normal_(0.0, 0.2)
    theirs.export(folder, basename="theirs")
    np.save(folder / "theirs.npy", theirs.eval()(x, pad_start=True)[0].numpy())
    ours = init_from_nam(json.load(open(folder / "ours.nam"))).eval()
    np.save(folder / "ours.npy", ours(x, pad_start=True)[0].numpy())
"""


def test_a_linear_model_is_an_fir_filter_and_its_config_is_checked():
    model = build_model("Linear", {"receptive_field": 4, "bias": True}).eval()
    with torch.no_grad():
        model.conv.weight.copy_(torch.tensor([[[0.5, 0.0, 0.0, 1.0]]]))
        model.conv.bias.fill_(0.25)
    x = torch.arange(1.0, 9.0)
    assert torch.allclose(model.render(x), x + 0.5 * torch.cat([torch.zeros(3), x[:-3]]) + 0.25)
    assert model.receptive_field == 4 and model.num_parameters() == 5 and model.macs_per_sample() == 4
    for config, where in (({"receptive_field": 0}, "model.config.receptive_field"), ({"receptive_field": 8, "knobs": 1}, "model.config.knobs")):
        with pytest.raises(ConfigError) as err:
            build_model("Linear", config)
        assert err.value.where == where


@pytest.mark.integration
@pytest.mark.slow
def test_a_linear_model_trains_exports_and_plays_as_neural_amp_modeler_plays_it(tiny_params, tmp_path, monkeypatch):
    cfg = training_cfg(tiny_params, tmp_path, monkeypatch, model=LINEAR, epochs=2)
    cfg["logger"]["mlflow"] = False
    result = train(cfg)
    losses = [row["train_loss"] for row in esr_curve(result)]
    assert result["architecture"] == "Linear" and losses[-1] < losses[0]  # it learns (an FIR filter cannot play a distorting amp well)
    report = export_checkpoint(result["checkpoint"], tmp_path / "ours.nam", defaults(ExportSettings, register=False))
    assert report["nam_max_abs_difference"] <= 1e-5 and json.loads((tmp_path / "ours.nam").read_text())["architecture"] == "Linear"
    x = (0.3 * np.random.default_rng(0).standard_normal(4000)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    run_nam(NAM_LINEAR, tmp_path)
    ours = load_model(tmp_path / "ours.nam")
    assert np.max(np.abs(np.load(tmp_path / "ours.npy") - ours.engine.render(x))) <= 1e-5  # NAM's loader plays our export
    theirs = load_model(tmp_path / "theirs.nam")  # the file NAM wrote, read and played by ours
    assert theirs.architecture == "Linear" and theirs.engine.cost.parameters == 33
    assert np.max(np.abs(theirs.engine.render(x) - np.load(tmp_path / "theirs.npy"))) <= 1e-5
    ours.engine.reset()
    streamed = np.concatenate([ours.engine.process(x[i : i + 64]) for i in range(0, x.size, 64)])
    assert np.max(np.abs(streamed - torch_render(load_model(result["checkpoint"]).model, x))) <= 1e-5  # 64-sample buffers, as the checkpoint plays
