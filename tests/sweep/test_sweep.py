"""Optuna sweeps through the project's Hydra sweeper, on a tiny capture: a study runs end to
end with its MLflow parent/child runs, resumes without redoing finished trials, prunes a
clearly worse trial, and reports a bad search-space expression clearly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import mlflow
import optuna
import pytest
import torch

from ampcapture.core.errors import ConfigError
from ampcapture.core.files import exclusive
from ampcapture.sweep.study import RUN_NAME, distribution, search_space, study_key

ROOT = Path(__file__).resolve().parents[2]

# A tiny WaveNet trained for a few seconds per trial; the search space is the learning rate.
TINY_SEARCH = """\
# @package _global_
defaults:
  - override /hydra/sweeper: optuna
  - override /model: wavenet_custom
model: {channels: 4, head_channels: 2, dilations: [1, 2, 4, 8]}
train: {ny: 1024, batch_size: 4, windows_per_epoch: 8, early_stopping_patience: null}
trainer: {max_epochs: 3, max_minutes: null, progress_bar: false}
logger: {clip_seconds: 0.2}
hydra:
  sweeper:
    study_name: tiny
    n_trials: 2
    sampler: {_target_: optuna.samplers.RandomSampler, seed: 0}
    pruner: {_target_: optuna.pruners.MedianPruner, n_startup_trials: 1, n_warmup_steps: 0}
    params:
      train.lr: choice(0.01, 0.02)
"""


@pytest.fixture
def project(tiny_params, tmp_path) -> Path:
    (tmp_path / "conf_extra" / "hparams_search").mkdir(parents=True)
    (tmp_path / "conf_extra" / "hparams_search" / "tiny.yaml").write_text(TINY_SEARCH)
    return tmp_path


def _sweep_command(project: Path, tiny_params: dict, *overrides: str) -> list[str]:
    """`pipelines/train.py -m` on the tiny search in `project`."""
    paths = [f"paths.splits={tiny_params['paths']['splits']}", f"paths.models={project / 'models'}", f"paths.reports={project / 'reports'}"]
    train = [sys.executable, str(ROOT / "pipelines" / "train.py"), "-m", "--config-dir", str(project / "conf_extra"), "hparams_search=tiny", "capture=demo"]
    return [*train, *paths, f"hydra.sweep.dir={project / 'multirun'}", *overrides]


def _sweep_env(env: dict | None = None) -> dict:
    """The environment without MLFLOW_TRACKING_URI; `env` adds to it (or, with None values, removes from it)."""
    return {k: v for k, v in {**os.environ, "MLFLOW_TRACKING_URI": None, **(env or {})}.items() if v is not None}


def _sweep(project: Path, tiny_params: dict, *overrides: str, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    run = subprocess.run(_sweep_command(project, tiny_params, *overrides), cwd=project, capture_output=True, text=True, timeout=600, env=_sweep_env(env))
    if check:
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return run


def _study(project: Path) -> optuna.Study:
    return optuna.load_study(study_name="tiny", storage=f"sqlite:///{project / 'optuna.db'}")


def _runs(project: Path) -> list:
    client = mlflow.MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("demo")
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    return client.search_runs([experiment.experiment_id])


@pytest.mark.integration
@pytest.mark.slow
def test_a_two_trial_study_runs_end_to_end(project, tiny_params):
    stale = project / "models/demo/tiny/trial_000"  # left by an older study of the same name
    stale.mkdir(parents=True)
    (stale / "last.ckpt").write_text("not a checkpoint")
    _sweep(project, tiny_params)  # a new trial starts clean instead of resuming that
    report = json.loads((project / "reports/demo/sweeps/tiny.json").read_text())
    assert report["n_trials"] == 2 and report["n_complete"] + report["n_pruned"] == 2
    best = report["best"]
    assert report["validation_esr"] == best["values"][0] == min(t["values"][0] for t in report["trials"] if t["values"])
    best_dir = project / "models/demo/tiny/best"
    assert {p.name for p in best_dir.iterdir()} == {"best.ckpt", "config.yaml", "metrics.json", ".ampcapture-run"}  # with the marker
    assert json.loads((best_dir / "metrics.json").read_text())["validation_esr"] == pytest.approx(best["values"][0])
    assert torch.load(best_dir / "best.ckpt", weights_only=False)["hyper_parameters"]["train"]["lr"] == best["params"]["train.lr"]

    runs = _runs(project)
    (parent,) = [r for r in runs if r.data.tags.get("sweep") == "study"]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(children) == 2 and parent.info.status == "FINISHED"
    assert sorted(c.data.tags["optuna.trial"] for c in children) == ["0", "1"]
    assert {c.data.params["train.lr"] for c in children} <= {"0.01", "0.02"}
    assert parent.data.metrics["best_validation_esr"] == pytest.approx(best["values"][0])
    assert parent.data.tags["space.train.lr"].startswith("CategoricalDistribution")
    client = mlflow.MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    plots = {a.path for a in client.list_artifacts(parent.info.run_id, "plots")}
    assert "plots/optimization_history.png" in plots


@pytest.mark.integration
@pytest.mark.slow
def test_a_failing_trial_is_recorded_and_the_study_goes_on(project, tiny_params):
    _sweep(project, tiny_params, "hydra.sweeper.n_trials=3", "hydra.sweeper.pruner=null", "train.lr=choice(-1.0, 0.01)")
    trials = {t.params["train.lr"]: t for t in _study(project).trials}  # the seeded sampler draws both
    assert trials[-1.0].state.name == "FAIL" and "train.lr" in trials[-1.0].user_attrs["error"]
    assert trials[0.01].state.name == "COMPLETE"
    report = json.loads((project / "reports/demo/sweeps/tiny.json").read_text())
    assert report["n_trials"] == 3 and report["n_failed"] >= 1 and report["best"]["params"]["train.lr"] == 0.01


@pytest.mark.integration
@pytest.mark.slow
def test_a_killed_sweep_resumes_without_redoing_finished_trials(project, tiny_params):
    no_pruning = "hydra.sweeper.pruner=null"  # the re-queued trial must run to the end here
    _sweep(project, tiny_params, "hydra.sweeper.n_trials=1", no_pruning)
    study = _study(project)
    first = study.trials[0]
    # What a sweep killed in the middle of trial 1 leaves: the trial RUNNING in the storage,
    # its run directory holding a last checkpoint.
    cut_off = study.ask({"train.lr": optuna.distributions.CategoricalDistribution([0.01, 0.02])})
    cut_off.set_user_attr(RUN_NAME, "tiny/trial_001")

    run = _sweep(project, tiny_params, "hydra.sweeper.n_trials=2", no_pruning)
    assert "trial 1 was interrupted" in run.stdout + run.stderr
    assert (run.stdout + run.stderr).count("Launching 1 jobs") == 1  # trial 0 is not run again
    trials = _study(project).trials
    assert trials[0].datetime_complete == first.datetime_complete
    assert [t.state.name for t in trials] == ["COMPLETE", "FAIL", "COMPLETE"]
    assert trials[2].params == cut_off.params and trials[2].user_attrs[RUN_NAME] == "tiny/trial_001"
    assert json.loads((project / "reports/demo/sweeps/tiny.json").read_text())["n_trials"] == 2

    again = _sweep(project, tiny_params, "hydra.sweeper.n_trials=2", no_pruning)  # nothing left to do
    assert "Launching" not in again.stdout + again.stderr


@pytest.mark.integration
@pytest.mark.slow
def test_a_resumed_study_does_not_propose_its_finished_trials_again(project, tiny_params):
    search = "train.lr=interval(0.005,0.02)"  # continuous: a repeat can only come from a restarted sampler
    _sweep(project, tiny_params, search, "hydra.sweeper.n_trials=1")
    _sweep(project, tiny_params, search, "hydra.sweeper.n_trials=2")
    first, second = _study(project).trials
    assert first.params["train.lr"] != second.params["train.lr"]


@pytest.mark.integration
@pytest.mark.slow
def test_a_second_sweep_of_a_running_study_is_refused(project, tiny_params):
    with exclusive(study_key(f"sqlite:///{(project / 'optuna.db').resolve()}", "tiny"), "a sweep", "wait"):
        run = _sweep(project, tiny_params, check=False)
    assert run.returncode == 1 and "study tiny" in run.stderr + run.stdout and "in use by another process" in run.stderr + run.stdout
    assert not (project / "models").exists()


@pytest.mark.integration
@pytest.mark.slow
def test_a_search_space_the_model_preset_cannot_take_fails_clearly_and_leaves_no_trial_running(project, tiny_params):
    run = _sweep(project, tiny_params, "model=wavenet_nano", "model.kernel_size=choice(2,3)", check=False)
    said = " ".join((run.stdout + run.stderr).split())
    assert run.returncode == 1 and "hparams_search/tiny.yaml" in said and "model=wavenet_nano" in said, said[-2000:]
    assert "Traceback" not in said
    assert {t.state for t in _study(project).trials} == {optuna.trial.TrialState.FAIL}


@pytest.mark.integration
@pytest.mark.slow
def test_a_clearly_worse_trial_is_pruned(project, tiny_params):
    _sweep(project, tiny_params, "hydra.sweeper.n_trials=1", "train.lr=0.02")
    run = _sweep(project, tiny_params, "hydra.sweeper.n_trials=2", "train.lr=1e-7")  # learns nothing
    assert "pruned at epoch 0" in run.stdout + run.stderr
    assert [t.state.name for t in _study(project).trials] == ["COMPLETE", "PRUNED"]
    (pruned,) = [r for r in _runs(project) if r.data.tags.get("optuna.state") == "PRUNED"]
    assert pruned.info.status == "KILLED" and pruned.data.tags["optuna.trial"] == "1"


@pytest.mark.integration
@pytest.mark.slow
def test_a_bad_search_space_expression_fails_clearly(project, tiny_params):
    run = _sweep(project, tiny_params, "hydra.sweeper.params={train.lr: 'interval(0.01, 0.001)'}", check=False)
    assert run.returncode != 0
    assert "hydra.sweeper.params.train.lr: interval(0.01, 0.001) is empty" in run.stdout + run.stderr
    assert "Traceback" not in run.stdout + run.stderr
    assert not (project / "models").exists()


@pytest.mark.parametrize(
    "expression, expected",
    [
        ("choice(8, 16)", optuna.distributions.CategoricalDistribution([8, 16])),
        ("range(1, 5)", optuna.distributions.IntDistribution(1, 4)),
        ("range(0.1, 0.5, 0.1)", optuna.distributions.FloatDistribution(0.1, 0.4, step=0.1)),
        ("interval(0.1, 0.9)", optuna.distributions.FloatDistribution(0.1, 0.9)),
        ("tag(log, interval(0.001, 0.01))", optuna.distributions.FloatDistribution(0.001, 0.01, log=True)),
        ("Tanh", "Tanh"),
    ],
)
def test_search_space_expressions_read_as_hydra_optuna_sweeper_reads_them(expression, expected):
    got = distribution("key", expression)
    if isinstance(expected, optuna.distributions.FloatDistribution) and expected.step:
        assert got.low == expected.low and got.high == pytest.approx(expected.high) and got.step == expected.step
    else:
        assert got == expected


@pytest.mark.parametrize("expression", ["choice(1,", "tag(log, interval(0, 1))", "choice(null, 1)"])
def test_bad_search_space_expressions_name_the_key(expression):
    with pytest.raises(ConfigError, match="hydra.sweeper.params.train.lr"):
        distribution("train.lr", expression)


@pytest.mark.integration
@pytest.mark.slow
def test_a_two_objective_study_returns_the_pareto_front(project, tiny_params):
    pareto = TINY_SEARCH.replace("train.lr: choice(0.01, 0.02)", "model.channels: choice(2, 4)").replace(
        "n_trials: 2", "n_trials: 3\n    direction: [minimize, minimize]\n    objectives: [validation_esr, macs_per_sample]"
    )
    (project / "conf_extra/hparams_search/tiny.yaml").write_text(pareto)
    _sweep(project, tiny_params, "hydra.sweeper.pruner=null", "train.lr=0.01")
    report = json.loads((project / "reports/demo/sweeps/tiny.json").read_text())
    assert report["directions"] == ["minimize", "minimize"] and report["pareto_front"]
    for trial in report["trials"]:
        metrics = json.loads((project / "models/demo" / trial["run_name"] / "metrics.json").read_text())
        assert trial["values"] == [pytest.approx(metrics["validation_esr"]), metrics["macs_per_sample"]]
    front = {t["number"] for t in report["pareto_front"]}
    dominated = [t for t in report["trials"] if t["number"] not in front]
    for trial in dominated:  # everything off the front is beaten on both objectives by a trial on it
        assert any(all(f <= v for f, v in zip(p["values"], trial["values"])) for p in report["pareto_front"])


def test_the_command_line_searches_or_fixes_a_key():
    params = {"train.lr": "choice(0.01, 0.02)", "loss": {"mrstft": "choice(0.0, 0.0002)"}}  # dotted or nested keys
    space, fixed = search_space(params, ["train.lr=tag(log, interval(1e-4, 1e-2))", "model.channels=choice(4, 8)", "loss.mrstft=0.0", "capture=demo"])
    assert space == {
        "train.lr": optuna.distributions.FloatDistribution(1e-4, 1e-2, log=True),
        "model.channels": optuna.distributions.CategoricalDistribution([4, 8]),
    }
    assert fixed == {"loss.mrstft": "0.0", "capture": "demo"}
