"""MLflow tracking, the only module that imports mlflow: one experiment per capture (created as a
model-training experiment), one run per training, holding the resolved config (flattened params
and the file), per-epoch metrics (through Lightning's MLFlowLogger), test ESR, size/cost, the
best checkpoint and the files the run made (plot, clips). A sweep's study is a parent run
(search space, best trial, plots) over its trials' runs; an export is a version of the capture's
registered model; a benchmark adds its real-time factors to the exported model's run. It
logs what it is given and computes nothing."""

from __future__ import annotations

import functools
import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from ampcapture.core.errors import ConfigError
from ampcapture.core.paths import RunPaths

if TYPE_CHECKING:
    from pytorch_lightning.loggers import MLFlowLogger


@dataclass
class LoggerSettings:
    """conf/logger/: mlflow (default) or none."""

    SECTION: ClassVar[str] = "logger"

    mlflow: bool
    tracking_uri: str
    experiment: str | None
    log_checkpoint: bool
    clip_seconds: float

    def __post_init__(self) -> None:
        if self.clip_seconds < 0:
            raise ConfigError("logger.clip_seconds", f"must be >= 0, got {self.clip_seconds}", "e.g. 5")

    @property
    def uri(self) -> str:
        return os.environ.get("MLFLOW_TRACKING_URI") or self.tracking_uri

    @property
    def artifact_location(self) -> str | None:
        """Artifacts of a new experiment go beside its SQLite store (mlartifacts/), not into
        ./mlruns of whatever directory the run started in; a server chooses its own."""
        if not self.uri.startswith("sqlite:///"):
            return None
        return (Path(self.uri.removeprefix("sqlite:///")).resolve().parent / "mlartifacts").as_uri()


def flatten(config: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts and lists of dicts as dotted keys (model.config.layers.0.channels)."""
    if isinstance(config, dict):
        items = config.items()
    elif isinstance(config, list) and any(isinstance(v, (dict, list)) for v in config):
        items = ((str(i), v) for i, v in enumerate(config))
    else:
        return {prefix: config}
    flat: dict[str, Any] = {}
    for key, value in items:
        flat.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def make_logger(
    settings: LoggerSettings, capture: str, run_name: str, run_id: str | None, tags: dict[str, str] | None = None, parent_run: str | None = None
) -> "MLFlowLogger | None":
    """A Lightning MLFlowLogger; `run_id` (when resuming) names the run to continue;
    `parent_run` nests the run under a sweep's study run."""
    if not settings.mlflow:
        return None
    _experiment_id(_client(settings), settings, settings.experiment or capture)  # so the logger finds it marked
    logger = _logger_class()(
        experiment_name=settings.experiment or capture,
        run_name=run_name,
        tracking_uri=settings.uri,
        run_id=run_id,
        log_model=False,
        tags={"capture": capture, **(tags or {}), **_process_tags(), **({"mlflow.parentRunId": parent_run} if parent_run else {})},
        artifact_location=settings.artifact_location,
    )
    logger.resuming = run_id is not None
    if logger.resuming:  # a re-queued trial continues its run under its new trial number, in this process
        for key, value in {**(tags or {}), **_process_tags()}.items():
            logger.experiment.set_tag(logger.run_id, key, value)
    return logger


# MLflow's chart view makes a section of each metric-name prefix ("epochs/val_esr": "epochs"),
# the named sections first, sorted by name, then "Model metrics" (no prefix) and "System metrics".
# So the curves of training lead, the exported model's figures and its real-time factors come
# next, and the one-point figures of a run (test ESR, size, cost) last.
CURVES, EXPORT, REALTIME = "epochs/", "export/", "realtime/"


@functools.cache
def _logger_class() -> type:
    """Made on first use: `logger=none` and the export and benchmark stages never import Lightning's logger."""
    from pytorch_lightning.loggers import MLFlowLogger

    class SectionedLogger(MLFlowLogger):
        """Lightning's MLFlowLogger with the per-epoch metrics (train loss, validation ESR) under
        `epochs/`; what `trainer.test` logs (test_*, heldout_esr) keeps its name, beside the run's other figures."""

        def log_metrics(self, metrics, step=None) -> None:
            named = {k if k.startswith(("test_", "heldout_")) else f"{CURVES}{k}": v for k, v in metrics.items() if k != "epoch"}  # the step is the x-axis
            super().log_metrics(named, step)

    return SectionedLogger


def log_config(logger: "MLFlowLogger", cfg: dict[str, Any], config_file: Path, model) -> None:
    client, run_id = logger.experiment, logger.run_id
    if not logger.resuming:  # MLflow refuses to change a logged param; a resumed run keeps its first ones
        logger.log_hyperparams(flatten(cfg))
        client.set_tag(run_id, "architecture", cfg["model"]["architecture"])
        client.set_tag(run_id, "model", cfg["model"]["name"])
    client.log_artifact(run_id, str(config_file), "config")
    described = model.describe()
    for i, size in enumerate(described.pop("sizes", [])):  # a SlimmableContainer's sizes: size<i> is the tag's name
        client.set_tag(run_id, f"size{i}", size["name"])
        for key, value in size.items():
            if key != "name":
                client.log_metric(run_id, f"size{i}_{key}", value)
    for key, value in described.items():
        client.log_metric(run_id, key, value)


def log_results(logger: "MLFlowLogger", settings: LoggerSettings, result: dict[str, Any], paths: RunPaths, artifacts: dict[str, list[Path]]) -> None:
    """A finished run's figures, files and `artifacts` (files by artifact folder: plots, audio)."""
    client, run_id = logger.experiment, logger.run_id
    for key in ("validation_esr", "test_esr", "best_epoch"):
        client.log_metric(run_id, key, result[key])
    for size in result.get("sizes", []):  # each size's own figures by its name (the headline ones are the largest's, never a sum)
        for key in ("validation_esr", "test_esr", "best_epoch"):
            client.log_metric(run_id, f"{key}_{size['name']}", size[key])
    for path in (paths.metrics, paths.curve):
        client.log_artifact(run_id, str(path))
    if settings.log_checkpoint:
        client.log_artifact(run_id, str(paths.best), "checkpoints")
    for folder, files in artifacts.items():
        for path in files:
            client.log_artifact(run_id, str(path), folder)


def end(logger: "MLFlowLogger | None", status: str, pruned: bool = False) -> None:
    if logger is not None:
        if pruned:
            logger.experiment.set_tag(logger.run_id, "optuna.state", "PRUNED")
        logger.experiment.set_terminated(logger.run_id, status)


def _client(settings: LoggerSettings):
    import mlflow

    return mlflow.MlflowClient(settings.uri)


# MLflow 3's UI opens an experiment of this kind at its runs table (ESR columns) in its "Model
# training" workspace; its "GenAI" workspace (the browser's default, kept in its local storage,
# which no tag overrides) opens every experiment on the GenAI overview. The README's link picks
# the workspace: /#/experiments/<id>/runs?workflowType=machine_learning (benchmarks/dashboard.py).
EXPERIMENT_KIND = {"mlflow.experimentKind": "custom_model_development"}


def _experiment_id(client, settings: LoggerSettings, name: str) -> str:
    """The experiment's id, created (or an older one marked) as a model-training experiment."""
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        return client.create_experiment(name, artifact_location=settings.artifact_location, tags=EXPERIMENT_KIND)
    for key, value in EXPERIMENT_KIND.items():
        if experiment.tags.get(key) != value:
            client.set_experiment_tag(experiment.experiment_id, key, value)
    return experiment.experiment_id


def sweep_parent_run(settings: LoggerSettings, experiment: str, study, space: dict) -> str | None:
    """The study's MLflow parent run, created once and reopened when the sweep resumes; its id
    is kept in the study. Trials become its children."""
    if not settings.mlflow:
        return None
    client = _client(settings)
    run_id = study.user_attrs.get("mlflow_parent_run_id")
    if run_id is not None:
        client.update_run(run_id, status="RUNNING")
        return run_id
    run = client.create_run(_experiment_id(client, settings, experiment), run_name=study.study_name, tags={"optuna.study": study.study_name, "sweep": "study"})
    study.set_user_attr("mlflow_parent_run_id", run.info.run_id)
    for key, value in space.items():
        client.set_tag(run.info.run_id, f"space.{key}", str(value)[:5000])
    return run.info.run_id


def close_abandoned(settings: LoggerSettings, run_id: str | None) -> None:
    """Mark KILLED a run whose process died without ending it (it would show RUNNING forever)."""
    if not settings.mlflow or run_id is None:
        return
    client = _client(settings)
    try:
        run = client.get_run(run_id)
    except Exception:  # deleted, or logged to another tracking store
        return
    if run.info.status == "RUNNING":
        client.set_terminated(run_id, "KILLED")


HOST, PROCESS = "ampcapture.host", "ampcapture.process"  # the tags naming the process that trains a run


def _process_tags() -> dict[str, str]:
    import psutil

    return {HOST: socket.gethostname(), PROCESS: f"{os.getpid()}@{psutil.Process().create_time():.2f}"}


def close_dead_runs(settings: LoggerSettings, experiment: str) -> None:
    """Mark KILLED every RUNNING run of `experiment` trained on this host by a process that is
    gone (killed before it could end its run: it would show RUNNING forever)."""
    if not settings.mlflow:
        return
    import psutil

    client = _client(settings)
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return
    host = socket.gethostname().replace("'", "")
    for run in client.search_runs([found.experiment_id], f"attributes.status = 'RUNNING' and tags.`{HOST}` = '{host}'"):
        pid, _, started = run.data.tags.get(PROCESS, "").partition("@")
        try:
            alive = f"{psutil.Process(int(pid)).create_time():.2f}" == started
        except (ValueError, psutil.Error):
            alive = False
        if not alive:
            client.set_terminated(run.info.run_id, "KILLED")


def end_parent_run(settings: LoggerSettings, run_id: str | None, status: str) -> None:
    if run_id is not None:
        _client(settings).set_terminated(run_id, status)


def download_run_files(settings: LoggerSettings, run_id: str, files: dict[str, str], folder: Path) -> None:
    """Fetch artifacts of a run into `folder`: `files` maps each file name there to its artifact path."""
    import tempfile

    client = _client(settings)
    with tempfile.TemporaryDirectory() as tmp:
        for name, artifact in files.items():
            Path(client.download_artifacts(run_id, artifact, tmp)).replace(folder / name)


def publish_study(settings: LoggerSettings, run_id: str | None, study, best, objectives: list[str], report: Path, plots: list[Path]) -> None:
    """The best value(s) and params, trial counts, sweep.json and the study's plots on the parent run."""
    if run_id is None:
        return
    client = _client(settings)
    for name, value in zip(objectives, best.values):
        client.log_metric(run_id, f"best_{name}", value)
    client.log_metric(run_id, "best_trial", best.number)
    for key, value in best.params.items():
        client.set_tag(run_id, f"best.{key}", str(value))
    for state in ("COMPLETE", "PRUNED", "FAIL"):
        client.log_metric(run_id, f"trials_{state.lower()}", sum(t.state.name == state for t in study.trials))
    client.log_artifact(run_id, str(report))
    for path in plots:
        client.log_artifact(run_id, str(path), "plots")
    client.set_terminated(run_id, "FINISHED")


def log_benchmark(settings: LoggerSettings, run_id: str | None, report: dict[str, Any], files: list[Path]) -> None:
    """The exported model's real-time factors as metrics of its run, with the report and plot."""
    if not settings.mlflow or run_id is None:
        return
    client = _client(settings)
    client.log_metric(run_id, f"{REALTIME}offline_rtf", report["offline"]["rtf"])
    for s in report["streaming"]:
        client.log_metric(run_id, f"{REALTIME}rtf_buffer_{s['buffer']}", s["rtf"])
        client.log_metric(run_id, f"{REALTIME}missed_deadlines_buffer_{s['buffer']}", s["missed_deadlines"])
    for path in files:
        client.log_artifact(run_id, str(path), "benchmark")


def register_export(
    tracking: LoggerSettings | None, capture: str, run_id: str | None, nam: Path | None, aidax: Path | None, report: dict[str, Any]
) -> dict | None:
    """Log an export's files to the training's MLflow run and add a version of the capture's
    registered model (created on first export) carrying the figures and the selection as tags."""
    if tracking is None or not tracking.mlflow:
        return None
    import mlflow
    from mlflow.exceptions import MlflowException

    client = mlflow.MlflowClient(tracking.uri, registry_uri=tracking.uri)
    try:
        client.get_run(run_id) if run_id else None
    except MlflowException:
        run_id = None
    if run_id is None:  # the training's run is not in this store: record the export in a run of its own
        run_id = client.create_run(_experiment_id(client, tracking, capture), run_name=f"export-{capture}").info.run_id
        client.set_terminated(run_id)
    for path in (p for p in (nam, aidax) if p is not None):
        client.log_artifact(run_id, str(path), "export")
    figures = {k: report[k] for k in ("validation_esr", "test_esr", "loudness", "gain", "parameters", "macs_per_sample") if report.get(k) is not None}
    for key, value in figures.items():
        client.log_metric(run_id, f"{EXPORT}{key}", float(value))
    try:
        client.create_registered_model(capture, description=f"Exports of the capture '{capture}' (ampcapture)")
    except MlflowException:
        pass  # already registered
    tags = {**figures, "architecture": report["architecture"], "preset": report.get("preset"), "nam_version": report.get("nam_version")}
    description = f"{report.get('preset')} from {report['checkpoint']}"
    if report.get("selection"):
        selection = report["selection"]
        tags.update(
            {
                "selection.chosen": selection["chosen"],
                "selection.rule": selection["rule"],
                "selection.reason": selection["reason"],
                "selection.candidates": json.dumps([{k: c[k] for k in ("run", "validation_esr", "test_esr")} for c in selection["candidates"]]),
            }
        )
        description += f"; chosen: {selection['reason']}"
    version = client.create_model_version(
        capture, f"{client.get_run(run_id).info.artifact_uri}/export", run_id=run_id, tags={k: str(v) for k, v in tags.items()}, description=description
    )
    return {"name": capture, "version": int(version.version), "run_id": run_id}
