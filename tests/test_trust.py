"""What a careless or hostile user can do with names, checkpoints and studies: no name reaches
outside the models folder or empties a folder ampcapture did not make, no checkpoint or study
runs code, and a training killed before it ended its MLflow run is marked KILLED. Each test
checks for the side effect itself: the canary file that must survive, the file that must not appear."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import optuna
import psutil
import pytest
import soundfile as sf
import torch

from ampcapture.cli import main as cli
from ampcapture.core.errors import AmpCaptureError, ConfigError, ModelFileError
from ampcapture.formats.checkpoint import load_checkpoint
from ampcapture.studies import PRUNER, build_pruner, pruner_record
from ampcapture.training.fit import train
from ampcapture.training.trial import TrialLink

ROOT = Path(__file__).resolve().parents[1]


class Payload:
    """What a crafted checkpoint pickles: unpickled, it creates the file `canary`."""

    def __init__(self, canary: Path):
        self.canary = canary

    def __reduce__(self):
        return (Path.touch, (self.canary,))


def _crafted(path: Path, canary: Path, base: dict | None = None) -> Path:
    torch.save({**(base or {"state_dict": {}}), "hyper_parameters": Payload(canary)}, path)
    return path


@pytest.mark.parametrize("name", [".", "..", "/tmp/elsewhere", "../../x", "a/b", "name with space"])
def test_a_run_name_is_a_name_and_never_touches_a_folder(cfg, tmp_path, name):
    models = Path(cfg["paths"]["models"]) / "demo"
    models.mkdir(parents=True)
    (models / "canary.nam").write_text("the user's exported model")
    with pytest.raises(ConfigError, match="run_name") as error:
        train({**cfg, "run_name": name})
    assert "letters, digits" in error.value.fix
    assert (models / "canary.nam").read_text() == "the user's exported model" and [p.name for p in models.iterdir()] == ["canary.nam"]


def test_a_capture_name_is_a_name(cfg):
    with pytest.raises(ConfigError, match="capture"):
        train({**cfg, "capture": "../demo"})


def test_the_command_line_refuses_run_name_dot_and_deletes_nothing(tiny_params, tmp_path):
    models = tmp_path / "models"
    (models / "demo" / "final").mkdir(parents=True)
    (models / "demo" / "demo.nam").write_text("exported")
    overrides = [f"paths.{k}={v}" for k, v in tiny_params["paths"].items() if k != "models"] + [f"paths.models={models}"]
    run = subprocess.run(
        [sys.executable, str(ROOT / "pipelines" / "train.py"), *overrides, "logger=none", "trainer.max_epochs=1", "run_name=.", f"hydra.run.dir={tmp_path}/h"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode != 0 and "run_name" in run.stderr and "Traceback" not in run.stderr, run.stderr
    assert (models / "demo" / "demo.nam").read_text() == "exported" and (models / "demo" / "final").is_dir()


def test_a_folder_ampcapture_did_not_make_is_never_emptied(cfg):
    mine = Path(cfg["paths"]["models"]) / "demo" / "mine"
    mine.mkdir(parents=True)
    (mine / "notes.txt").write_text("keep me")
    with pytest.raises(AmpCaptureError, match="not made by ampcapture"):
        train({**cfg, "run_name": "mine"})
    assert (mine / "notes.txt").read_text() == "keep me" and [p.name for p in mine.iterdir()] == ["notes.txt"]


def test_a_crafted_checkpoint_is_refused_and_never_runs(cfg, tmp_path, capsys):
    canary = tmp_path / "ran"
    evil = _crafted(tmp_path / "evil.ckpt", canary)
    with pytest.raises(ModelFileError, match="other than tensors and plain values"):
        load_checkpoint(evil)
    sf.write(tmp_path / "clip.wav", np.zeros(4800, np.float32), 48000)
    assert cli(["render", str(evil), str(tmp_path / "clip.wav"), str(tmp_path / "out.wav")]) == 1
    assert "other than tensors" in " ".join(capsys.readouterr().err.split())
    with pytest.raises(ConfigError, match="train.init_from"):  # a warm start from it
        train({**cfg, "run_name": "warm", "train": {**cfg["train"], "init_from": str(evil)}})
    assert not canary.exists() and not (tmp_path / "out.wav").exists()


def test_a_crafted_last_checkpoint_is_not_resumed_and_never_runs(cfg, tmp_path):
    result = train({**cfg, "run_name": "victim"})
    run_dir = Path(result["checkpoint"]).parent
    canary = tmp_path / "ran"
    (run_dir / "metrics.json").unlink()  # an interrupted run, whose last.ckpt someone replaced
    _crafted(run_dir / "last.ckpt", canary, torch.load(run_dir / "last.ckpt", weights_only=True))
    _crafted(run_dir / "best.ckpt", canary, torch.load(run_dir / "best.ckpt", weights_only=True))
    said: list[str] = []
    train({**cfg, "run_name": "victim"}, say=said.append)
    assert any("damaged" in line and "starting over" in line for line in said) and not canary.exists()


def test_a_study_cannot_choose_what_a_worker_builds(tmp_path):
    canary = tmp_path / "made-by-the-study"
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    study = optuna.create_study(study_name="s", storage=storage)
    trial = study.ask()
    study.set_user_attr(PRUNER, {"_target_": "builtins.open", "file": str(canary), "mode": "w"})
    link = TrialLink(storage=storage, study="s", trial_id=trial._trial_id, number=0, parent_run=None, workdir=None, runs=None)
    with pytest.raises(ConfigError, match="names a pruner ampcapture does not build"):
        link.trial()
    study.set_user_attr(PRUNER, {"name": "MedianPruner", "kwargs": {"n_startup_trials": {"_target_": "os.getcwd"}}})
    with pytest.raises(ConfigError, match="not plain"):
        link.trial()
    assert not canary.exists()

    record = pruner_record({"_target_": "optuna.pruners.PatientPruner", "patience": 2, "wrapped_pruner": {"_target_": "optuna.pruners.MedianPruner"}})
    study.set_user_attr(PRUNER, record)
    assert isinstance(link.trial().study.pruner, optuna.pruners.PatientPruner)
    with pytest.raises(ConfigError, match="hydra.sweeper.pruner"):
        pruner_record({"_target_": "builtins.exec", "source": "1"})
    with pytest.raises(ConfigError, match="refused by Optuna"):
        build_pruner({"name": "MedianPruner", "kwargs": {"no_such_option": 1}}, "here")


def test_a_new_training_marks_this_hosts_dead_runs_killed(cfg):
    client = mlflow.MlflowClient(os.environ["MLFLOW_TRACKING_URI"])
    experiment = client.create_experiment("demo", artifact_location=(Path(cfg["paths"]["models"]).parent / "mlartifacts").as_uri())
    host = socket.gethostname()
    dead = client.create_run(experiment, tags={"ampcapture.host": host, "ampcapture.process": "4194301@1.00"}).info.run_id
    elsewhere = client.create_run(experiment, tags={"ampcapture.host": "another-host", "ampcapture.process": "4194301@1.00"}).info.run_id
    alive = client.create_run(experiment, tags={"ampcapture.host": host, "ampcapture.process": f"{os.getpid()}@{psutil.Process().create_time():.2f}"})
    train(cfg)
    assert client.get_run(dead).info.status == "KILLED"
    assert client.get_run(elsewhere).info.status == "RUNNING" and client.get_run(alive.info.run_id).info.status == "RUNNING"
