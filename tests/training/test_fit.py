"""Training on a tiny demo capture: the loss goes down, runs resume, MLflow holds what it
should (queried from the real sqlite store), divergence and bad configs fail clearly."""

from __future__ import annotations

import copy
import errno
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest
import torch
import yaml

from ampcapture.core.errors import AmpCaptureError, ConfigError
from ampcapture.core.files import exclusive
from ampcapture.models import WaveNet
from ampcapture.training.fit import esr_summary, train
from ampcapture.training.module import AmpModule, TrainingDiverged

from conftest import TINY_CONTAINER, TINY_LSTM, TINY_WAVENET, as_plain_user, esr_curve, interrupt_at_epoch, read_only_folder, training_cfg

ROOT = Path(__file__).resolve().parents[2]


def _client() -> mlflow.MlflowClient:
    return mlflow.MlflowClient(os.environ["MLFLOW_TRACKING_URI"])


@pytest.mark.parametrize("model", [TINY_WAVENET, TINY_LSTM, TINY_CONTAINER], ids=["wavenet", "lstm", "container"])
def test_tiny_training_lowers_the_loss_and_writes_its_run(cfg, model):
    cfg["model"] = copy.deepcopy(model)
    cfg["trainer"]["max_epochs"] = 4
    said: list[str] = []
    result = train(cfg, say=said.append)

    curve = esr_curve(result)
    assert [int(r["epoch"]) for r in curve] == [0, 1, 2, 3]
    epochs = [line for line in said if line.startswith("epoch ")]  # the log shows how far the budget is spent
    assert "25% of the budget (" in epochs[0] and "min left)" in epochs[0] and "100% of the budget" in epochs[-1]
    assert float(curve[-1]["train_loss"]) < float(curve[0]["train_loss"])
    assert all(0 < r["grad_norm"] <= r["grad_norm_max"] for r in curve) and "gradient norm " in epochs[0]
    assert result["validation_esr"] == pytest.approx(min(float(r["val_esr"]) for r in curve), rel=1e-5)
    assert result["validation_esr"] < 1.0 and 0 < result["test_esr"] < 2.0
    run_dir = Path(cfg["paths"]["models"]) / "demo" / model["name"]
    assert {p.name for p in run_dir.iterdir()} >= {"best.ckpt", "last.ckpt", "config.yaml", "metrics.json", "esr_curve.csv"}
    assert json.loads((run_dir / "metrics.json").read_text())["validation_esr"] == result["validation_esr"]
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["model"] == model
    # The checkpoint alone rebuilds the model, which reproduces the reported validation ESR.
    module = AmpModule.load_from_checkpoint(run_dir / "best.ckpt", map_location="cpu").eval()
    from ampcapture.capture.dataset import Capture
    from ampcapture.training.losses import esr

    capture = Capture.load(Path(cfg["paths"]["splits"]) / "demo" / "split.json")
    x, y = capture.segment("validation", module.pre_roll)
    with torch.no_grad():
        assert float(esr(module(x.unsqueeze(0)).squeeze(0), y)) == pytest.approx(result["validation_esr"], rel=1e-4)
        if "sizes" in result:  # every size learned in the one run; the headline figures are the largest's
            assert [s["parameters"] for s in result["sizes"]] == [m.num_parameters() for m in module.model.sizes]
            # each size at its own best epoch, as neural-amp-modeler keeps a packed model's sizes
            history = _client().get_metric_history(result["mlflow_run_id"], "epochs/val_esr_size0")
            assert result["sizes"][0]["validation_esr"] == pytest.approx(min(m.value for m in history), rel=1e-4)
            assert result["sizes"][-1]["best_epoch"] == result["best_epoch"]
            # every size by name, never their sum: on the console, in MLflow, in metrics.json
            assert [s["name"] for s in result["sizes"]] == ["channels_2", "channels_4"]
            assert any(line.startswith("epoch 3:") and "validation ESR channels_2 0." in line and ", channels_4 0." in line for line in said)
            assert esr_summary(result).startswith(f"validation ESR channels_2 {result['sizes'][0]['validation_esr']:.5f}, channels_4 ")
            run = _client().get_run(result["mlflow_run_id"])
            assert run.data.tags["size0"] == "channels_2" and run.data.metrics["test_esr_channels_4"] == pytest.approx(result["test_esr"])
            assert run.data.metrics["validation_esr_channels_2"] == pytest.approx(result["sizes"][0]["validation_esr"])
            sizes_best = torch.load(run_dir / "best_size0.ckpt", map_location="cpu", weights_only=False)["state_dict"]
            assert all(torch.equal(module.state_dict()[k], v) for k, v in sizes_best.items() if k.startswith("model.sizes.0."))
            assert result["sizes"][-1]["test_esr"] == pytest.approx(result["test_esr"], rel=1e-5)
            for size, model in zip(result["sizes"], module.model.sizes):
                assert size["validation_esr"] < 1.0
                own_pre_roll = x[module.pre_roll - model.pre_roll :].unsqueeze(0)
                assert float(esr(model.evaluate(own_pre_roll).squeeze(0), y)) == pytest.approx(size["validation_esr"], rel=1e-4)


def test_mlflow_run_holds_params_metrics_and_artifacts(cfg):
    result = train(cfg)
    client = _client()
    experiment = client.get_experiment_by_name("demo")
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"  # the UI opens at the runs
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.run_id == result["mlflow_run_id"] and run.info.status == "FINISHED"
    assert run.info.run_name == "wavenet_tiny"
    params = run.data.params
    assert params["model.name"] == "wavenet_tiny" and params["train.lr"] == "0.01"
    assert params["model.config.layers.0.dilations"] == "[1, 2, 4, 8]" and params["loss.esr"] == "1.0"
    metrics = run.data.metrics
    assert metrics["test_esr"] == pytest.approx(result["test_esr"], rel=1e-5)
    assert metrics["validation_esr"] == pytest.approx(result["validation_esr"])
    assert metrics["parameters"] == result["parameters"] and metrics["macs_per_sample"] == result["macs_per_sample"]
    assert len(client.get_metric_history(run.info.run_id, "epochs/val_esr")) == 3
    assert len(client.get_metric_history(run.info.run_id, "epochs/train_loss")) == 3
    norms = client.get_metric_history(run.info.run_id, "epochs/grad_norm")
    assert [m.value for m in norms] == pytest.approx([r["grad_norm"] for r in esr_curve(result)], rel=1e-5)

    def artifacts(path=None):
        for item in client.list_artifacts(run.info.run_id, path):
            yield from artifacts(item.path) if item.is_dir else [item.path]

    db_dir = Path(os.environ["MLFLOW_TRACKING_URI"].removeprefix("sqlite:///")).parent
    assert run.info.artifact_uri.startswith((db_dir / "mlartifacts").as_uri())  # beside the store, not ./mlruns
    assert set(artifacts()) >= {
        "config/config.yaml",
        "checkpoints/best.ckpt",
        "plots/comparison.png",
        "metrics.json",
        "esr_curve.csv",
        "audio/input.wav",
        "audio/target.wav",
        "audio/prediction.wav",
    }


def _interrupted(cfg: dict, monkeypatch, epoch: int) -> Path:
    """Train until Ctrl+C as `epoch` starts; the run's directory."""
    with monkeypatch.context() as patch:
        interrupt_at_epoch(patch, epoch)
        with pytest.raises(AmpCaptureError, match="interrupted"):
            train(cfg)
    return Path(cfg["paths"]["models"]) / "demo" / str(cfg.get("run_name") or cfg["model"]["name"])


def test_rerun_resumes_from_the_last_checkpoint(cfg, monkeypatch):
    run_dir = _interrupted(cfg, monkeypatch, 2)
    first = torch.load(run_dir / "last.ckpt", weights_only=False)
    assert first["epoch"] == 1

    said: list[str] = []
    cfg["trainer"]["max_epochs"] = 4  # a bigger budget is not a new configuration
    result = train(cfg, say=said.append)
    assert any("resuming" in line for line in said)
    assert [int(r["epoch"]) for r in esr_curve(result)] == [0, 1, 2, 3]  # epochs 0-1 kept, not re-run
    assert not any(line.startswith(("epoch 0:", "epoch 1:")) for line in said)
    (run,) = _client().search_runs([_client().get_experiment_by_name("demo").experiment_id])
    assert run.info.run_id == result["mlflow_run_id"]  # the same MLflow run continues
    assert len(_client().get_metric_history(run.info.run_id, "epochs/val_esr")) == 4

    said.clear()
    cfg["train"]["lr"] = 0.005  # an interrupted run of another configuration starts over
    (run_dir / "metrics.json").unlink()
    train(cfg, say=said.append)
    assert any("another configuration: starting over" in line for line in said)


def test_a_finished_run_is_never_lost(cfg, monkeypatch):
    run_dir = Path(train(cfg)["checkpoint"]).parent
    best, metrics = (run_dir / "best.ckpt").read_bytes(), json.loads((run_dir / "metrics.json").read_text())
    with pytest.raises(AmpCaptureError, match="holds a finished run") as error:  # the same command again: refused
        train(cfg)
    assert f"{metrics['validation_esr']:.5g}" in error.value.problem and "run_name" in error.value.fix and "train.overwrite=true" in error.value.fix
    assert (run_dir / "best.ckpt").read_bytes() == best

    said: list[str] = []
    train({**cfg, "train": {**cfg["train"], "overwrite": True}}, say=said.append)  # trained anew, the old one kept beside it
    (kept,) = [p for p in run_dir.parent.iterdir() if p.name.startswith(f"{run_dir.name}.")]
    assert (kept / "best.ckpt").read_bytes() == best and json.loads((kept / "metrics.json").read_text()) == metrics
    assert (run_dir / "metrics.json").is_file() and any(str(kept) in line for line in said)

    best = (run_dir / "best.ckpt").read_bytes()  # a DAG stage replaces its run (DVC keeps the old outputs)...
    with monkeypatch.context() as patch:
        interrupt_at_epoch(patch, 1)
        with pytest.raises(AmpCaptureError, match="interrupted"):
            train(cfg, replace=True)
    assert (run_dir / ".previous" / "best.ckpt").read_bytes() == best  # ...killed meanwhile, the finished one is kept
    train(cfg, replace=True)  # resumed and finished: the run it replaces goes
    assert not (run_dir / ".previous").exists() and (run_dir / "metrics.json").is_file()

    for item in run_dir.iterdir():  # a fresh clone: only the figures git tracks for DVC
        if item.name not in ("metrics.json", ".ampcapture-run"):
            shutil.rmtree(item) if item.is_dir() else item.unlink()
    said.clear()
    train(cfg, replace=True, say=said.append)
    assert any("an earlier run's figures only" in line for line in said) and not any("holds a finished run" in line for line in said)


def test_a_full_disk_leaves_the_last_checkpoint_whole_and_a_damaged_one_resumes_from_the_best(cfg, monkeypatch):
    run_dir = _interrupted(cfg, monkeypatch, 2)
    good = (run_dir / "last.ckpt").read_bytes()

    def full_disk(obj, f, *args, **kwargs):
        Path(f).write_bytes(b"the first bytes of a checkpoint")
        raise OSError(errno.ENOSPC, "No space left on device", str(f))

    with monkeypatch.context() as patch:
        patch.setattr(torch, "save", full_disk)
        with pytest.raises(OSError, match="No space"):
            train(cfg)
    assert (run_dir / "last.ckpt").read_bytes() == good
    assert not [p.name for p in run_dir.iterdir() if p.name.endswith(".tmp")]

    (run_dir / "last.ckpt").write_bytes(good[: len(good) // 2])  # damaged some other way: a crash, a copy cut short
    said: list[str] = []
    result = train(cfg, say=said.append)
    assert [int(r["epoch"]) for r in esr_curve(result)] == [0, 1, 2]
    assert any("damaged" in line and "resuming from" in line and line.endswith("best.ckpt, its best epoch") for line in said), said  # kept, not discarded


def test_two_trainings_of_one_run_never_write_at_once(cfg):
    run_dir = Path(cfg["paths"]["models"]) / "demo" / "wavenet_tiny"
    with exclusive(str(run_dir.resolve()), "a training", "wait"):  # what a running training holds
        with pytest.raises(AmpCaptureError, match="in use by another process") as error:
            train(cfg)
    assert "run_name" in error.value.fix and not run_dir.exists()
    cfg["run_name"] = "other"
    with exclusive(str(run_dir.resolve()), "a training", "wait"):  # another run_name trains beside it
        assert train(cfg)["run_name"] == "other"


def test_a_run_killed_before_its_first_checkpoint_is_closed_by_the_next(cfg):
    client = _client()
    store = Path(os.environ["MLFLOW_TRACKING_URI"].removeprefix("sqlite:///")).parent
    experiment = client.create_experiment("demo", artifact_location=(store / "mlartifacts").as_uri())
    abandoned = client.create_run(experiment).info.run_id  # what kill -9 leaves: a run RUNNING forever
    run_dir = Path(cfg["paths"]["models"]) / "demo" / "wavenet_tiny"
    run_dir.mkdir(parents=True)
    (run_dir / "mlflow_run_id").write_text(abandoned)
    result = train(cfg)
    assert client.get_run(abandoned).info.status == "KILLED"
    assert client.get_run(result["mlflow_run_id"]).info.status == "FINISHED"


def test_the_gradient_norm_is_measured_before_train_grad_clip_cuts_it(cfg):
    cfg["train"]["grad_clip"] = 1e-6
    cfg["trainer"]["max_epochs"] = 1
    (row,) = esr_curve(train(cfg))
    assert row["grad_norm_max"] >= row["grad_norm"] > 1e-4  # after clipping, every norm would read 1e-6


def test_a_diverged_run_stops_with_a_clear_message(cfg, monkeypatch):
    monkeypatch.setattr(WaveNet, "predict", lambda self, x, knobs=None: x[:, self.pre_roll :] * float("nan"))
    with pytest.raises(TrainingDiverged, match="training loss became nan") as error:
        train(cfg)
    assert "train.lr" in error.value.fix
    (run,) = _client().search_runs([_client().get_experiment_by_name("demo").experiment_id])
    assert run.info.status == "FAILED"


def test_a_run_that_ends_worse_than_silence_fails(cfg, monkeypatch):
    predict = WaveNet.predict  # finite but 100x too loud: no NaN to catch, only a useless model
    monkeypatch.setattr(WaveNet, "predict", lambda self, x, knobs=None: predict(self, x) + 100 * x[:, self.pre_roll :])
    with pytest.raises(TrainingDiverged, match="worse|silent output") as error:
        train(cfg)
    assert "train.lr" in error.value.fix
    (run,) = _client().search_runs([_client().get_experiment_by_name("demo").experiment_id])
    assert run.info.status == "FAILED"
    assert not (Path(cfg["paths"]["models"]) / "demo" / cfg["model"]["name"] / "metrics.json").exists()


@pytest.mark.parametrize(
    "key, value, match",
    [
        ("trainer.max_minutes", -1, "trainer.max_minutes"),
        ("trainer.max_epochs", 0, "trainer.max_epochs"),
        ("train.scheduler", "sometimes", "train.scheduler"),
        ("train.lr", "fast", "train.lr"),
        ("train.adam_beta2", 1.0, "train.adam_beta2"),
        ("capture", "nosuch", "split not found"),
        ("train.ny", 10**8, "train.ny: no training region is longer"),
    ],
)
def test_bad_configs_fail_before_writing_anything(cfg, key, value, match):
    section, _, name = key.rpartition(".")
    (cfg[section] if section else cfg)[name] = value
    with pytest.raises(AmpCaptureError, match=match):
        train(cfg)
    assert not Path(cfg["paths"]["models"]).exists()


def test_validation_and_test_regions_shorter_than_ten_receptive_fields_are_refused(cfg):
    cfg["model"] = copy.deepcopy(cfg["model"])
    cfg["model"]["config"]["layers"][0].update(kernel_size=2, dilations=[8192, 8192])  # a 16385-sample field: 3.4 s for ten
    with pytest.raises(AmpCaptureError, match="validation region is 3.00 s, shorter than 10 receptive fields"):
        train(cfg)
    assert not Path(cfg["paths"]["models"]).exists()


def _hydra_app(*overrides: str, cwd: Path, prefix: list[str] = ()) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*prefix, sys.executable, str(ROOT / "pipelines" / "train.py"), *overrides, f"hydra.run.dir={cwd}/hydra"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["model=wavenet_huge"], "Could not find 'model/wavenet_huge'"),
        (["trainer.max_minutes=-5"], "trainer.max_minutes: must be > 0"),
        (["capture=nosuch"], "split not found"),
    ],
)
def test_the_hydra_app_reports_bad_configs(tmp_path, overrides, message):
    run = _hydra_app(*overrides, cwd=tmp_path)
    assert run.returncode != 0
    assert message in run.stdout + run.stderr
    assert "Traceback" not in run.stdout + run.stderr
    assert not (tmp_path / "models").exists()


def test_training_into_a_read_only_models_folder_says_so(cfg, tmp_path):
    locked = read_only_folder(tmp_path / "locked")
    run = _hydra_app(
        f"paths.splits={cfg['paths']['splits']}",
        f"paths.models={locked}",
        "capture=demo",
        "model=wavenet_nano",
        "logger.mlflow=false",
        "trainer.max_epochs=1",
        cwd=tmp_path,
        prefix=as_plain_user(),
    )
    said = " ".join((run.stdout + run.stderr).split())
    assert run.returncode != 0 and "Permission denied" in said and str(locked) in said, said
    assert "Traceback" not in said and list(locked.iterdir()) == []


def test_settings_reject_a_gpu_that_is_not_there(cfg):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    cfg["trainer"]["accelerator"] = "gpu"
    with pytest.raises(ConfigError, match="trainer=cpu"):
        train(cfg)


def test_a_containers_sizes_are_assembled_each_from_its_own_best_epoch(tmp_path):
    from ampcapture.training.callbacks import SizeBests

    def checkpoint(epoch: int, value: float) -> dict:
        return {"epoch": epoch, "state_dict": {f"model.sizes.{i}.w": torch.full((2,), value + i) for i in range(3)}}

    sizes = SizeBests(tmp_path, 3)
    torch.save(checkpoint(7, 0.0), tmp_path / "best.ckpt")  # the largest size's best
    torch.save(checkpoint(3, 10.0), sizes.path(0))  # size 0 was best at epoch 3; size 1 never saved
    assert sizes.assemble(tmp_path / "best.ckpt") == [3, 7, 7]
    weights = torch.load(tmp_path / "best.ckpt", weights_only=False)["state_dict"]
    assert [float(weights[f"model.sizes.{i}.w"][0]) for i in range(3)] == [10.0, 1.0, 2.0]


def test_a_benchmarks_callback_sees_each_epoch_with_the_weights_validation_sees(cfg, tmp_path):
    """`train(cfg, callbacks=...)` as benchmarks/vs_nam.py --test-curve uses it: its callback
    runs after the run's own, so the weight average is already in when it measures."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("vs_nam", ROOT / "benchmarks" / "vs_nam.py")
    vs_nam = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(vs_nam)
    cfg["model"] = copy.deepcopy(TINY_CONTAINER)
    cfg["trainer"]["max_epochs"] = 3
    assert cfg["train"]["ema_decay"]
    result = train(cfg, callbacks=[vs_nam.EpochCurve(tmp_path / "curve.csv")])
    rows = (tmp_path / "curve.csv").read_text().splitlines()
    header = rows[0].split(",")
    values = [dict(zip(header, map(float, r.split(",")))) for r in rows[1:]]
    assert header == ["epoch", "step", "validation_esr_size0", "validation_esr_size1", "test_esr_size0", "test_esr_size1", "seconds"]
    assert [int(v["epoch"]) for v in values] == [0, 1, 2] and 0 < values[0]["seconds"] < values[1]["seconds"] < values[2]["seconds"]
    for logged, measured in zip(esr_curve(result), values):
        assert measured["validation_esr_size1"] == pytest.approx(float(logged["val_esr"]), rel=1e-5)
    best = min(values, key=lambda v: v["validation_esr_size1"])
    assert best["test_esr_size1"] == pytest.approx(result["test_esr"], rel=1e-4)


@pytest.mark.parametrize("model", [TINY_WAVENET, TINY_LSTM, TINY_CONTAINER], ids=["wavenet", "lstm", "container"])
def test_a_capture_set_trains_one_model_with_knob_inputs(tiny_knob_params, tmp_path, monkeypatch, model):
    """Validation: the mean over the trained settings; the held-out one only in the test."""
    from ampcapture.capture.dataset import Capture
    from ampcapture.training.losses import esr

    cfg = training_cfg(tiny_knob_params, tmp_path, monkeypatch, model, epochs=4)
    result = train(cfg)

    assert result["knobs"] == {"drive_db": [6.0, 30.0]}
    assert {name: s["held_out"] for name, s in result["settings"].items()} == {"drive_db6": False, "drive_db30": False, "drive_db18": True}
    assert result["heldout_esr"] == pytest.approx(result["settings"]["drive_db18"]["test_esr"])
    trained = [s["test_esr"] for s in result["settings"].values() if not s["held_out"]]
    assert result["test_esr"] == pytest.approx(sum(trained) / 2, rel=1e-5)
    module = AmpModule.load_from_checkpoint(result["checkpoint"], map_location="cpu").eval()
    assert module.hparams["knobs"] == {"drive_db": [6.0, 30.0]} and module.model.knobs == 1
    captures = {c.name: c for c in Capture.load_all(Path(cfg["paths"]["splits"]) / "knobs" / "split.json")}
    with torch.no_grad():
        per_setting = []
        for name in ("drive_db6", "drive_db30"):
            x, y = captures[name].segment("validation", module.pre_roll)
            per_setting.append(float(esr(module.model.evaluate(x[None], captures[name].knob_tensor[None])[0], y)))
    assert result["validation_esr"] == pytest.approx(sum(per_setting) / 2, rel=1e-4)
    (run,) = _client().search_runs([_client().get_experiment_by_name("knobs").experiment_id])
    assert {"epochs/val_esr_drive_db6", "epochs/val_esr_drive_db30", "test_esr_drive_db18", "heldout_esr"} <= set(run.data.metrics)
    logged = {Path(a.path).name for folder in ("plots", "audio") for a in _client().list_artifacts(run.info.run_id, folder)}
    assert {"esr_by_knob.png", "comparison.png", "target.wav"} <= logged
