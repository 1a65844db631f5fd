"""Sweeps beyond one process (README, "Scaling out"), on the tiny capture: trials side by side in
local processes (joblib), on a Ray cluster joined by its address, through submitit; a shared
study (Optuna's journal file, PostgreSQL) that prunes across workers; an MLflow tracking server
that receives every run and artifact; a worker killed mid-trial losing no trial. The servers
are real, started on 127.0.0.1 by devtools/servers.py and stopped after."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import mlflow
import optuna
import pytest
import sqlalchemy
import test_sweep
from test_sweep import _sweep, _sweep_command, _sweep_env

from ampcapture.studies import open_storage
from ampcapture.sweep.study import INTERRUPTED, RUN_NAME
from devtools.servers import joblib_workers, mlflow_server, postgres, postgres_installed, ray_head

project = test_sweep.project  # the fixture: a folder with the tiny search (conf_extra/hparams_search/tiny.yaml)
TWO_WORKERS = ("hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "hydra.sweeper.n_jobs=2", "trainer.threads=1")


def _journal(project: Path) -> str:
    return f"journal:///{project / 'optuna.log'}"


def _trials(storage: str) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name="tiny", storage=open_storage(storage)).trials


def _side_by_side(a: optuna.trial.FrozenTrial, b: optuna.trial.FrozenTrial) -> bool:
    return a.datetime_start < b.datetime_complete and b.datetime_start < a.datetime_complete


def _children(client: mlflow.MlflowClient) -> tuple[mlflow.entities.Run, list[mlflow.entities.Run]]:
    runs = client.search_runs([client.get_experiment_by_name("demo").experiment_id])
    (parent,) = [r for r in runs if r.data.tags.get("sweep") == "study"]
    return parent, [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]


@pytest.mark.integration
@pytest.mark.slow
def test_two_local_workers_run_trials_side_by_side_on_a_journal_store(project, tiny_params):
    _sweep(project, tiny_params, *TWO_WORKERS, "hydra.sweeper.n_trials=4", f"hydra.sweeper.storage={_journal(project)}", "hydra.sweeper.pruner=null")
    trials = _trials(_journal(project))
    assert [t.state.name for t in trials] == ["COMPLETE"] * 4
    assert _side_by_side(trials[0], trials[1]) and _side_by_side(trials[2], trials[3])
    report = json.loads((project / "reports/demo/sweeps/tiny.json").read_text())
    assert report["n_complete"] == 4 and (project / "models/demo/tiny/best/best.ckpt").is_file()
    parent, children = _children(mlflow.MlflowClient(f"sqlite:///{project / 'mlflow.db'}"))  # two writers, one MLflow store
    assert parent.info.status == "FINISHED" and sorted(c.data.tags["optuna.trial"] for c in children) == ["0", "1", "2", "3"]
    assert {c.info.status for c in children} == {"FINISHED"}


@pytest.mark.integration
@pytest.mark.slow
def test_a_sweep_runs_its_trials_on_a_ray_cluster_joined_by_address(project, tiny_params):
    with ray_head(num_cpus=2) as (address, auth):  # started in another folder: the trials move to the sweep's
        stranger = subprocess.run(  # a client without the cluster's token is refused
            [sys.executable, "-c", f"import ray; ray.init(address='{address}')"],
            env=_sweep_env({"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": "0" * 64}),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert stranger.returncode != 0 and "token" in (stranger.stdout + stranger.stderr).lower(), stranger.stderr[-2000:]
        run = _sweep(
            project,
            tiny_params,
            "hydra/launcher=ray_cluster",
            f"hydra.launcher.ray.init.address={address}",
            "hydra.sweeper.n_jobs=2",
            "hydra.sweeper.n_trials=2",
            "trainer.threads=1",
            f"hydra.sweeper.storage={_journal(project)}",
            env=auth,
        )
    assert "(_run_job pid=" in run.stdout + run.stderr  # the trials' output, relayed by Ray's workers
    trials = _trials(_journal(project))
    assert [t.state.name for t in trials] == ["COMPLETE", "COMPLETE"] and _side_by_side(*trials)
    _, children = _children(mlflow.MlflowClient(f"sqlite:///{project / 'mlflow.db'}"))
    assert len(children) == 2 and all((project / "models/demo/tiny" / f"trial_00{i}" / "metrics.json").is_file() for i in (0, 1))


@pytest.mark.integration
@pytest.mark.slow
def test_submitit_launches_the_trials_as_jobs(project, tiny_params):
    run = _sweep(
        project,
        tiny_params,
        "hydra/launcher=submitit_local",
        "hydra.launcher.timeout_min=10",
        "hydra.sweeper.n_jobs=2",
        "hydra.sweeper.n_trials=2",
        "trainer.threads=1",
        f"hydra.sweeper.storage={_journal(project)}",
    )
    assert [t.state.name for t in _trials(_journal(project))] == ["COMPLETE", "COMPLETE"]
    logs = list((project / "multirun" / ".submitit").rglob("*_log.err"))  # each job's own output (ours goes to stderr)
    assert len(logs) == 2 and all("validation ESR" in log.read_text() for log in logs), run.stdout[-2000:]


@pytest.mark.integration
@pytest.mark.slow
def test_a_postgresql_study_prunes_across_workers_and_an_mlflow_server_gets_every_run(project, tiny_params, tmp_path, monkeypatch):
    if not postgres_installed() and not os.environ.get("AMPCAPTURE_REQUIRE_POSTGRES"):  # .ci/run installs it and requires it
        pytest.skip("PostgreSQL is not installed here: apt-get install postgresql")
    with postgres("optuna", "mlflow") as (server, db_login), mlflow_server(f"{server}/mlflow", tmp_path / "artifacts", db_login) as (tracking, login):
        # secured as the README's recipes: without the credentials, both servers refuse
        with pytest.raises(sqlalchemy.exc.OperationalError, match="password"):
            monkeypatch.delenv("PGPASSWORD", raising=False)
            sqlalchemy.create_engine(f"{server}/optuna").connect()
        with pytest.raises(urllib.error.HTTPError, match="401"):
            urllib.request.urlopen(f"{tracking}/api/2.0/mlflow/experiments/search?max_results=1")
        wrong = urllib.request.Request(f"{tracking}/api/2.0/mlflow/experiments/search?max_results=1", headers={"Authorization": "Basic YW1wY2FwdHVyZTp4"})
        with pytest.raises(urllib.error.HTTPError, match="401"):
            urllib.request.urlopen(wrong)  # ampcapture:x
        for key, value in {**db_login, **login}.items():  # this process's client (MlflowClient, optuna) logs in too
            monkeypatch.setenv(key, value)
        storage, env = f"{server}/optuna", {"MLFLOW_TRACKING_URI": tracking, **db_login, **login}
        _sweep(project, tiny_params, *TWO_WORKERS, "hydra.sweeper.n_trials=2", f"hydra.sweeper.storage={storage}", "train.lr=0.02", env=env)
        # two hopeless trials side by side: each is pruned against the finished ones in PostgreSQL
        run = _sweep(project, tiny_params, *TWO_WORKERS, "hydra.sweeper.n_trials=4", f"hydra.sweeper.storage={storage}", "train.lr=1e-7", env=env)
        assert (run.stdout + run.stderr).count("pruned at epoch 0") == 2
        trials = _trials(storage)
        assert [t.state.name for t in trials] == ["COMPLETE", "COMPLETE", "PRUNED", "PRUNED"] and _side_by_side(trials[2], trials[3])

        client = mlflow.MlflowClient(tracking)
        parent, children = _children(client)
        assert parent.info.status == "FINISHED" and len(children) == 4
        assert parent.data.metrics["trials_complete"] == 2 and parent.data.metrics["trials_pruned"] == 2
        finished = [c for c in children if c.info.status == "FINISHED"]
        assert len(finished) == 2 and {c.info.status for c in children} == {"FINISHED", "KILLED"}
        for child in finished:  # artifacts went through the server into its artifact root
            assert "checkpoints/best.ckpt" in {a.path for a in client.list_artifacts(child.info.run_id, "checkpoints")}
        assert any(p.name == "best.ckpt" for p in (tmp_path / "artifacts").rglob("*.ckpt"))
        assert not (project / "mlflow.db").exists()  # nothing went to the default local store

        # The trials' folders gone (workers that share no disk with the sweeper): the best model
        # is published from its MLflow run.
        shutil.rmtree(project / "models")
        run = _sweep(project, tiny_params, *TWO_WORKERS, "hydra.sweeper.n_trials=4", f"hydra.sweeper.storage={storage}", env=env)
        assert "the best model comes from its MLflow run" in run.stdout + run.stderr
        best = project / "models/demo/tiny/best"
        assert json.loads((best / "metrics.json").read_text())["validation_esr"] == min(t.value for t in trials if t.state.name == "COMPLETE")
        assert (best / "best.ckpt").stat().st_size > 0 and (best / "config.yaml").is_file()


@pytest.mark.integration
@pytest.mark.slow
def test_a_worker_killed_mid_trial_loses_no_trial(project, tiny_params):
    storage = _journal(project)
    overrides = (*TWO_WORKERS, "hydra.sweeper.n_trials=4", f"hydra.sweeper.storage={storage}", "hydra.sweeper.pruner=null", "trainer.max_epochs=8")
    with open(project / "sweep.log", "w") as log:
        sweep = subprocess.Popen(_sweep_command(project, tiny_params, *overrides), cwd=project, stdout=log, stderr=subprocess.STDOUT, env=_sweep_env())
    deadline = time.monotonic() + 300
    while not list((project / "models/demo/tiny").glob("trial_00*/last.ckpt")):  # a trial has a checkpoint to resume from
        assert sweep.poll() is None and time.monotonic() < deadline, (project / "sweep.log").read_text()[-3000:]
        time.sleep(0.05)
    joblib_workers(sweep)[0].send_signal(signal.SIGKILL)
    assert sweep.wait(600) == 0, (project / "sweep.log").read_text()[-3000:]

    said = (project / "sweep.log").read_text()
    assert "lost its worker: queued again" in said
    trials = _trials(storage)
    lost = [t for t in trials if t.user_attrs.get(INTERRUPTED)]
    counted = [t for t in trials if not t.user_attrs.get(INTERRUPTED)]
    assert lost and len(counted) == 4 and {t.state.name for t in counted} == {"COMPLETE"}
    assert {t.user_attrs[RUN_NAME] for t in lost} <= {t.user_attrs[RUN_NAME] for t in counted}  # each resumed under its run
    report = json.loads((project / "reports/demo/sweeps/tiny.json").read_text())
    assert report["n_trials"] == report["n_complete"] == 4
    _, children = _children(mlflow.MlflowClient(f"sqlite:///{project / 'mlflow.db'}"))
    assert len(children) == 4 and {c.info.status for c in children} == {"FINISHED"}  # one run per trial, none left RUNNING
    assert sorted(c.data.tags["optuna.trial"] for c in children) == sorted(str(t.number) for t in counted)
