"""End-to-end smoke run of the real DAG: `dvc repro` in a scratch copy of the project (a git
repository, as a user's is), on a tiny configuration (a few seconds of reamp signal, one short
epoch of the nano WaveNet); then many captures in one go, through DVC's experiment queue."""

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pytest
import yaml

from ampcapture.audio.virtual_amp import AmpSettings
from ampcapture.core.config import defaults
from ampcapture.runtime.load import load_model

from conftest import TINY

ROOT = Path(__file__).resolve().parents[2]


TINY_CONF = {  # conf/config.yaml's keys for a DAG of seconds: `dvc exp run` composes params.yaml from conf/
    "stimulus": TINY,
    "train": {"ny": 1024, "batch_size": 4, "windows_per_epoch": 4},
    "trainer": {"max_epochs": 1},
    "dag": {"sweep": {"n_trials": 2, "params": {"train": {"lr": "choice(0.004, 0.008)"}}}},
    "export": {"check_seconds": 0.5},
    "bench": {"offline_seconds": 0.5, "stream_seconds": 0.3, "buffer_sizes": [64, 512], "runs": 2, "warmup_seconds": 0.1},
}
GIT_USER = {f"GIT_{who}_{what}": value for who in ("AUTHOR", "COMMITTER") for what, value in (("NAME", "test"), ("EMAIL", "test@example.com"))}


def _command(project: Path, *command: str) -> subprocess.CompletedProcess:
    env = {**os.environ, **GIT_USER, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1"}
    run = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True)
    assert run.returncode == 0, f"{command}\n{run.stdout}{run.stderr}"
    return run


def _dvc(project: Path, *args: str) -> subprocess.CompletedProcess:
    return _command(project, sys.executable, "-m", "dvc", *args)


def _merge(into: dict, changes: dict) -> None:
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


@pytest.mark.integration
@pytest.mark.slow
def test_dvc_repro_runs_the_dag_on_a_tiny_config(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    for item in ("dvc.yaml", "conf", "pipelines", "src", ".gitignore"):
        src = ROOT / item
        (shutil.copytree if src.is_dir() else shutil.copy)(src, project / item)
    config = yaml.safe_load((project / "conf/config.yaml").read_text())
    _merge(config, TINY_CONF)
    config["defaults"] = [{"model": "wavenet_nano"} if isinstance(entry, dict) and "model" in entry else entry for entry in config["defaults"]]
    (project / "conf/config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    _command(project, "git", "init", "-q")
    _dvc(project, "init", "-q")
    shutil.copy(ROOT / ".dvc/config", project / ".dvc/config")  # DVC's hydra integration: `dvc exp run -S` composes conf/
    _command(project, sys.executable, "-m", "ampcapture.core.config", "compose")
    params = yaml.safe_load((project / "params.yaml").read_text())

    _dvc(project, "repro")

    align = json.loads((project / "reports/demo/align.json").read_text())
    assert align["ok"] and align["latency_method"] == "blips"
    assert align["latency_samples"] == defaults(AmpSettings, **params["demo"]).latency_samples()
    split = json.loads((project / "data/splits/demo/split.json").read_text())
    assert split["method"] == "sidecar" and split["train"] and split["validation"] and split["test"]
    for wav in ("data/stimulus/reamp_input.wav", "data/captures/demo/output.wav", "data/aligned/demo/output.wav"):
        assert (project / wav).is_file(), wav
    sweep = json.loads((project / "reports/demo/sweep.json").read_text())
    assert sweep["n_trials"] == 2 and sweep["best"]["params"]["train.lr"] in (0.004, 0.008)
    assert {p.name for p in (project / "models/demo/sweep").iterdir()} >= {"trial_000", "trial_001", "best"}
    final = json.loads((project / "models/demo/final/metrics.json").read_text())  # the final fit of the best trial
    assert final["epochs"] == 1 and 0 < final["validation_esr"] < 2 and (project / "mlflow.db").is_file()
    final_config = yaml.safe_load((project / "models/demo/final/config.yaml").read_text())
    assert final_config["train"]["lr"] == sweep["best"]["params"]["train.lr"]
    assert final_config["train"]["init_from"] == "models/demo/sweep/best/best.ckpt"  # dag.warm_start
    exported = json.loads((project / "reports/demo/export.json").read_text())
    assert exported["nam_max_abs_difference"] <= 1e-5 and exported["registered"]["version"] == 1
    candidates = exported["selection"]["candidates"]
    assert [c["run"] for c in candidates][0] == "final" and len(candidates) == 1 + sweep["n_complete"]
    chosen = min(candidates, key=lambda c: c["validation_esr"])
    assert exported["selection"]["chosen"] == chosen["run"] and exported["checkpoint"] == chosen["checkpoint"]
    assert load_model(project / "models/demo/demo.nam").architecture == "WaveNet"
    assert (project / "models/demo/aidax/README.txt").is_file()  # a WaveNet has no AIDA-X file
    bench = json.loads((project / "reports/demo/benchmark.json").read_text())
    assert bench["offline"]["rtf"] > 0 and [s["buffer"] for s in bench["streaming"]] == [64, 512]
    assert (project / "plots/demo/benchmark.png").is_file()
    # MLflow's chart view: the curves in the leading section, the real-time figures in their own (README, "Train a model")
    client = mlflow.MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    logged = client.get_run(exported["registered"]["run_id"]).data.metrics
    assert {"epochs/train_loss", "epochs/val_esr", "realtime/offline_rtf", "export/validation_esr", "test_esr", "validation_esr"} <= set(logged)
    assert not any(key.startswith("bench") or key in ("val_esr", "train_loss") for key in logged)
    metrics = _dvc(project, "metrics", "show").stdout
    assert "latency_samples" in metrics and "validation_esr" in metrics and "n_complete" in metrics and "loudness" in metrics
    assert "val_esr" in _dvc(project, "plots", "show", "--json").stdout

    # Data for a worker on another machine (README, "Scaling out"): the outputs pushed to a DVC
    # remote; a copy of the project without data/ pulls the capture's split when a training starts.
    _dvc(project, "remote", "add", "-d", "store", str(tmp_path / "remote"))
    assert "files pushed" in _dvc(project, "push").stdout
    worker = tmp_path / "worker"
    outputs = {"data", "models", "reports", "plots", "outputs", "mlflow.db", "optuna.db", "mlartifacts"}
    shutil.copytree(project, worker, ignore=lambda folder, names: (outputs if folder == str(project) else {"cache", "tmp"}) & set(names))
    train = [sys.executable, "pipelines/train.py", "--config-dir", ".", "--config-name", "params", "run_name=worker", "logger.mlflow=false"]
    run = subprocess.run(train, cwd=worker, capture_output=True, text=True)
    assert run.returncode == 0 and "from the DVC remote 'store'" in run.stderr, run.stdout[-2000:] + run.stderr[-2000:]
    assert (worker / "data/splits/demo/split.json").is_file() and (worker / "models/demo/worker/metrics.json").is_file()

    # Nothing changed, so nothing re-runs; a changed final-fit budget re-runs train, export and
    # benchmark, not the sweep; a changed split parameter makes `split` stale, not align.
    assert "up to date" in _dvc(project, "status").stdout
    params["dag"]["train_minutes"] = 3.0
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    rerun = _dvc(project, "repro").stdout
    assert set(re.findall(r"Running stage '([^']+)'", rerun)) == {"train", "export", "benchmark"}, rerun
    params["data"]["split"]["train_fraction"] = 0.7
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    status = _dvc(project, "status").stdout
    assert "split:" in status and "align:" not in status and "stimulus:" not in status

    # Many captures in one go (README, "Many captures at once"): the demo capture set (the
    # parametric DAG, one model with a knob input per grid setting, exported per setting) and a
    # second piece of gear, committed, queued with their own -S overrides, run by two workers.
    _command(project, sys.executable, "-m", "ampcapture.core.config", "compose")  # params.yaml from conf/ again
    _command(project, "ampcapture", "demo", "data/stimulus/reamp_input.wav", "data/captures/pedal", "--drive-db", "6", "--seed", "5")
    _dvc(project, "add", "-q", "data/captures/pedal")
    _command(project, "git", "add", "-A")
    _command(project, "git", "commit", "-q", "-m", "a capture of a pedal")
    for capture in ("demo_knobs", "pedal"):
        _dvc(project, "exp", "run", "--queue", "-S", f"capture={capture}", "-S", "dag.sweep.n_trials=1", "-n", capture)
    _dvc(project, "queue", "start", "-j", "2")
    deadline = time.monotonic() + 600
    while re.search(r"\b(Running|Queued)\b", status := _dvc(project, "queue", "status").stdout) and time.monotonic() < deadline:
        time.sleep(2)
    assert re.search(r"demo_knobs\s.*Success", status) and re.search(r"pedal\s.*Success", status), status
    log = _dvc(project, "queue", "logs", "pedal").stdout  # what `dvc queue logs -f pedal` shows while it runs: a line an epoch
    norm = r"gradient norm [\d.e+-]+ \(max [\d.e+-]+\)"
    line = rf"\nepoch 0: train loss [\d.]+, validation ESR [\d.]+, {norm}, lr [\d.e-]+, \d+% of the budget \([\d.]+ min left\)\n"
    assert re.search(line, log), log[-3000:]
    assert "Running stage 'demo_knobs'" not in _dvc(project, "queue", "logs", "demo_knobs").stdout  # rendered by the first repro
    shown = json.loads(_dvc(project, "exp", "show", "--json").stdout)  # side by side (README: dvc exp show --keep ...)
    experiments = {rev["name"]: rev["data"] for commit in shown for exp in commit.get("experiments") or [] for rev in exp["revs"]}
    assert set(experiments) == {"demo_knobs", "pedal"}
    for capture, data in experiments.items():
        assert data["params"]["params.yaml"]["data"]["capture"] == capture
        assert 0 < data["metrics"][f"models/{capture}/final/metrics.json"]["data"]["validation_esr"] < 2

    _dvc(project, "exp", "apply", "pedal")
    exported = json.loads((project / "reports/pedal/export.json").read_text())
    assert exported["nam_max_abs_difference"] <= 1e-5 and json.loads((project / "reports/pedal/sweep.json").read_text())["n_trials"] == 1
    assert load_model(project / "models/pedal/pedal.nam").architecture == "WaveNet"
    _dvc(project, "exp", "apply", "demo_knobs")
    align = json.loads((project / "reports/demo_knobs/align.json").read_text())
    assert len(align["recordings"]) == 9 and align["knobs"] == {"drive_db": [6.0, 30.0], "treble_db": [-4.0, 8.0]}
    final = json.loads((project / "models/demo_knobs/final/metrics.json").read_text())
    assert final["knobs"] == align["knobs"] and final["heldout_esr"] == final["settings"]["drive_db18_treble_db2"]["test_esr"]
    exported = json.loads((project / "reports/demo_knobs/export.json").read_text())
    assert exported["knobs"] == {"drive_db": 18.0, "treble_db": 2.0} and len(exported["knob_settings"]) == 9
    for path in exported["knob_settings"]:
        assert load_model(project / path).architecture == "WaveNet"
    assert json.loads((project / "reports/demo_knobs/benchmark.json").read_text())["offline"]["rtf"] > 0
