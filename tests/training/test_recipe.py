"""The training recipe on the tiny demo capture: a learning-rate schedule that ends with the
budget (epochs or minutes, resumed runs included), the weight average that is validated,
checkpointed, exported and rendered, and warm starts from another run's weights."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from ampcapture.audio.guitar import playing
from ampcapture.capture.dataset import Capture
from ampcapture.core.config import defaults
from ampcapture.core.errors import AmpCaptureError, ConfigError
from ampcapture.export.write import ExportSettings, export_checkpoint
from ampcapture.formats.nam import to_nam
from ampcapture.models import build_model
from ampcapture.runtime.load import load_model
from ampcapture.training.callbacks import KeptCheckpoint
from ampcapture.training.fit import train
from ampcapture.training.losses import esr
from ampcapture.training.module import AmpModule
from ampcapture.training.optim import budget_factor
from devtools import presets

from conftest import TINY_CONTAINER, TINY_LSTM, esr_curve, interrupt_at_epoch, torch_render


def test_the_budget_factor_warms_up_then_decays_to_its_final_value():
    assert budget_factor(0.05, "cosine", warmup=0.1, final=0.01) == pytest.approx(0.5)
    assert budget_factor(0.1, "cosine", warmup=0.1, final=0.01) == pytest.approx(1.0)
    assert budget_factor(0.55, "cosine", warmup=0.1, final=0.0) == pytest.approx(0.5)
    assert budget_factor(0.5, "linear", warmup=0.0, final=0.2) == pytest.approx(0.6)
    for kind in ("cosine", "linear"):
        assert budget_factor(1.0, kind, warmup=0.1, final=0.01) == pytest.approx(0.01)
    # warmup-stable-decay: flat until the last fifth, then down to the final value
    assert budget_factor(0.79, "linear", warmup=0.0, final=0.0, cooldown=0.2) == pytest.approx(1.0)
    assert budget_factor(0.9, "linear", warmup=0.0, final=0.0, cooldown=0.2) == pytest.approx(0.5)
    assert budget_factor(1.0, "cosine", warmup=0.02, final=0.0, cooldown=0.2) == pytest.approx(0.0)


@pytest.fixture
def budgeted(cfg) -> dict:
    # no early stopping: on a fast machine a plateau stopped the run before its minutes ran out
    cfg["train"].update(scheduler="cosine", warmup=0.0, lr_final=0.1, lr=0.01, early_stopping_patience=None)
    return cfg


def test_the_schedule_ends_at_its_final_rate_when_the_epochs_run_out(budgeted):
    budgeted["trainer"].update(max_epochs=4, max_minutes=None)
    lrs = [row["lr"] for row in esr_curve(train(budgeted))]  # the rate after each epoch's last step
    assert lrs == sorted(lrs, reverse=True) and lrs[0] < 0.01
    assert lrs[-1] == pytest.approx(0.001)
    steps_per_epoch = 2  # 8 windows in batches of 4
    assert lrs[1] == pytest.approx(0.01 * budget_factor(2 * steps_per_epoch / 8, "cosine", 0.0, 0.1))


def test_the_schedule_ends_at_its_final_rate_when_the_minutes_run_out(budgeted):
    budgeted["trainer"].update(max_epochs=100000, max_minutes=0.05)
    curve = esr_curve(train(budgeted))
    assert len(curve) >= 3, "the 3-second budget should hold several tiny epochs"
    assert curve[0]["lr"] > 0.005
    assert curve[-1]["lr"] == pytest.approx(0.001, abs=2e-4)  # the last step lands within a step of the end


@pytest.mark.parametrize("ema", [None, 0.9], ids=["plain", "averaged"])
def test_a_resumed_run_continues_its_schedule_and_average(budgeted, monkeypatch, ema):
    budgeted["train"]["ema_decay"] = ema
    budgeted["trainer"].update(max_epochs=4, max_minutes=None)
    whole = esr_curve(train({**budgeted, "run_name": "whole"}))
    with monkeypatch.context() as patch:
        interrupt_at_epoch(patch, 2)
        with pytest.raises(AmpCaptureError, match="interrupted"):
            train({**budgeted, "run_name": "cut"})
    resumed = esr_curve(train({**budgeted, "run_name": "cut"}))
    assert [row["lr"] for row in resumed] == pytest.approx([row["lr"] for row in whole], rel=1e-9)
    assert [row["val_esr"] for row in resumed] == pytest.approx([row["val_esr"] for row in whole], rel=1e-3)


def test_a_resumed_run_ends_its_schedule_with_the_minutes(budgeted, monkeypatch):
    budgeted["trainer"].update(max_epochs=100000, max_minutes=0.1)
    with monkeypatch.context() as patch:
        interrupt_at_epoch(patch, 3)
        with pytest.raises(AmpCaptureError, match="interrupted"):
            train(budgeted)
    curve = esr_curve(train(budgeted))
    assert curve[3]["lr"] < curve[1]["lr"]  # it went on from where the time stood, not from the top
    assert curve[-1]["lr"] == pytest.approx(0.001, abs=2e-4)


def test_the_weight_average_is_what_is_validated_saved_exported_and_rendered(cfg, tmp_path):
    cfg["train"]["ema_decay"] = 0.9
    result = train(cfg)
    checkpoint = torch.load(result["checkpoint"], map_location="cpu", weights_only=False)
    averaged, raw = checkpoint["state_dict"], checkpoint["current_model_state"]
    assert any(not torch.equal(averaged[k], raw[k]) for k in averaged)

    module = AmpModule.load_from_checkpoint(result["checkpoint"], map_location="cpu").eval()
    capture = Capture.load(Path(cfg["paths"]["splits"]) / "demo" / "split.json")
    x, y = capture.segment("validation", module.pre_roll)
    validation = {}
    for name, weights in (("averaged", averaged), ("raw", raw)):
        module.load_state_dict(weights)
        with torch.no_grad():
            validation[name] = float(esr(module(x.unsqueeze(0)).squeeze(0), y))
    assert validation["averaged"] == pytest.approx(result["validation_esr"], rel=1e-4)
    assert validation["raw"] != pytest.approx(result["validation_esr"], rel=1e-3)

    audio = playing(0.5, capture.sample_rate)
    export_checkpoint(result["checkpoint"], tmp_path / "tiny.nam", defaults(ExportSettings, aidax=False, register=False), check_audio=audio)
    exported = load_model(tmp_path / "tiny.nam").engine.render(audio)
    rendered = load_model(result["checkpoint"]).engine.render(audio)  # what `ampcapture render CKPT` plays
    module.load_state_dict(averaged)
    assert np.max(np.abs(exported - torch_render(module.model.eval(), audio))) < 1e-5
    assert np.max(np.abs(rendered - exported)) < 1e-5
    module.load_state_dict(raw)
    assert np.max(np.abs(exported - torch_render(module.model.eval(), audio))) > 1e-4


def test_the_kept_epoch_is_the_latest_within_keep_within_of_the_lowest_so_far(tmp_path):
    trainer = SimpleNamespace(strategy=SimpleNamespace(reduce_boolean_decision=lambda decision: decision))
    for within, expected in ((0.0, [True, True, False, False, True]), (0.05, [True, True, True, False, True]), (1.0, [True] * 5)):
        checkpoint = KeptCheckpoint(tmp_path, within)
        decisions = [checkpoint.check_monitor_top_k(trainer, torch.tensor(v)) for v in (1.0, 0.8, 0.83, 0.9, 0.79)]
        assert decisions == expected, within
        assert not checkpoint.check_monitor_top_k(trainer, torch.tensor(float("nan")))
        restored = KeptCheckpoint(tmp_path, within)
        restored.load_state_dict(checkpoint.state_dict())  # a resumed run measures from the same lowest
        assert restored.lowest == pytest.approx(0.79)


def test_a_run_keeps_a_later_epoch_by_keep_within(cfg):
    """keep_within=1: every epoch within 2x of the lowest, so the last one, with its own validation ESR."""
    cfg["train"]["keep_within"] = 1.0
    result = train(cfg)
    last = esr_curve(result)[-1]
    assert result["best_epoch"] == int(last["epoch"]) == result["epochs"] - 1
    assert result["validation_esr"] == pytest.approx(last["val_esr"], rel=1e-6)


@pytest.mark.parametrize("model, source", [(None, "checkpoint"), (None, "nam"), (TINY_CONTAINER, "nam")], ids=["checkpoint", "nam", "a2-nam"])
def test_a_warm_start_begins_from_the_given_weights(cfg, tmp_path, model, source):
    if model is not None:
        cfg["model"] = model
    first = train({**cfg, "run_name": "first"})
    start = first["checkpoint"]
    if source == "nam":  # the file a user has: the exported model, as the plugin loads it
        start = str(tmp_path / "mine.nam")
        export_checkpoint(first["checkpoint"], start, defaults(ExportSettings, aidax=False, register=False))
    cfg["train"].update(init_from=start, lr=1e-9)
    said: list[str] = []
    warm = train({**cfg, "run_name": "warm"}, say=said.append)
    assert any("starting from the weights of" in line for line in said)
    before = torch.load(first["checkpoint"], weights_only=False)["state_dict"]
    after = torch.load(warm["checkpoint"], weights_only=False)["state_dict"]
    assert all(torch.allclose(before[k], after[k], atol=1e-5) for k in before)
    assert warm["validation_esr"] == pytest.approx(first["validation_esr"], rel=1e-3)


@pytest.mark.parametrize(
    "source, match",
    [
        ("missing", "not found"),
        ("lstm", "holds another model"),
        ("lite.nam", "holds a WaveNet of 6,553 parameters, not the configured WaveNet of 313"),
        ("lstm_small.nam", "holds a LSTM of"),
        ("44k.nam", "a model at 44100 Hz; this capture is 48000 Hz"),
        ("broken.nam", "not valid JSON|cannot be read|is not"),
    ],
)
def test_a_warm_start_from_a_wrong_checkpoint_fails_before_writing(cfg, tmp_path, source, match):
    if source == "lstm":
        path = train({**cfg, "model": TINY_LSTM, "run_name": "lstm"})["checkpoint"]
    elif source.endswith(".nam"):  # .nam files of other models: the error names the preset that trains them
        preset = presets.preset("lstm_small" if "lstm" in source else "wavenet_lite")
        nam = to_nam(build_model(preset["architecture"], preset["config"], 44100 if "44k" in source else 48000))
        path = str(tmp_path / source)
        Path(path).write_text("{not json" if source == "broken.nam" else json.dumps(nam))
    else:
        path = str(Path(cfg["paths"]["models"]) / "nosuch.ckpt")
    cfg["train"]["init_from"] = path
    with pytest.raises(ConfigError, match=match) as error:
        train({**cfg, "run_name": "warm"})
    assert "train.init_from" in str(error.value)
    if source in ("lite.nam", "lstm_small.nam"):
        assert error.value.fix == f"train its preset: model={source.removesuffix('.nam').replace('lite', 'wavenet_lite')}"
    assert not (Path(cfg["paths"]["models"]) / "demo" / "warm").exists()


def test_a_capture_sets_model_does_not_start_from_a_one_capture_nam(tmp_path):
    """A parametric model takes the knobs as inputs: no .nam of one capture holds its weights."""
    from ampcapture.training.runs import initial_weights

    from conftest import TINY_WAVENET, amp_module

    path = tmp_path / "one.nam"
    path.write_text(json.dumps(to_nam(build_model("WaveNet", TINY_WAVENET["config"], 48000))))
    module = amp_module("WaveNet", {**TINY_WAVENET["config"], "knobs": 1}, knobs={"drive": [0.0, 1.0]})
    with pytest.raises(ConfigError, match="a model of one capture; this run trains a capture set's model"):
        initial_weights(path, module)
