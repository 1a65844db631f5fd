"""MLflow tracking: one experiment per capture, one run per training, holding the resolved
config (flattened params and the file), per-epoch metrics (through Lightning's MLFlowLogger),
test ESR, size/cost, the best checkpoint, a comparison plot and audio clips."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from .errors import ConfigError
from .report import audio_clips, comparison_plot

if TYPE_CHECKING:
    from pytorch_lightning.loggers import MLFlowLogger

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"


@dataclass
class LoggerSettings:
    """conf/logger/: mlflow (default) or none."""

    mlflow: bool = True
    tracking_uri: str = DEFAULT_TRACKING_URI  # MLFLOW_TRACKING_URI, when set, wins
    experiment: str | None = None             # null: the capture's name
    log_checkpoint: bool = True
    clip_seconds: float = 5.0

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


def make_logger(settings: LoggerSettings, capture: str, run_name: str, run_id_file: Path | None) -> "MLFlowLogger | None":
    """A Lightning MLFlowLogger; `run_id_file` (when resuming) names the run to continue."""
    if not settings.mlflow:
        return None
    from pytorch_lightning.loggers import MLFlowLogger

    run_id = run_id_file.read_text().strip() if run_id_file is not None and run_id_file.is_file() else None
    logger = MLFlowLogger(experiment_name=settings.experiment or capture, run_name=run_name, tracking_uri=settings.uri,
                          run_id=run_id, tags={"capture": capture}, log_model=False,
                          artifact_location=settings.artifact_location)
    logger.resuming = run_id is not None
    return logger


def log_config(logger: "MLFlowLogger", cfg: dict[str, Any], config_file: Path, model) -> None:
    client, run_id = logger.experiment, logger.run_id
    if not logger.resuming:  # MLflow refuses to change a logged param; a resumed run keeps its first ones
        logger.log_hyperparams(flatten(cfg))
        client.set_tag(run_id, "architecture", cfg["model"]["architecture"])
        client.set_tag(run_id, "model", cfg["model"]["name"])
    client.log_artifact(run_id, str(config_file), "config")
    for key, value in model.describe().items():
        client.log_metric(run_id, key, value)


def log_results(logger: "MLFlowLogger", settings: LoggerSettings, result: dict[str, Any], paths, module, capture) -> None:
    """Final figures and artifacts, from the best checkpoint's predictions on the test region."""
    client, run_id = logger.experiment, logger.run_id
    for key in ("validation_esr", "test_esr", "best_epoch"):
        client.log_metric(run_id, key, result[key])
    for path in (paths.metrics, paths.curve):
        client.log_artifact(run_id, str(path))
    if settings.log_checkpoint:
        client.log_artifact(run_id, str(paths.best), "checkpoints")
    x, target = capture.segment("test", module.pre_roll)
    with torch.no_grad():
        prediction = module.eval()(x.unsqueeze(0)).squeeze(0).numpy()
    target, dry = target.numpy(), x[module.pre_roll :].numpy()
    with tempfile.TemporaryDirectory() as tmp:
        plot = Path(tmp) / "comparison.png"
        comparison_plot(target, prediction, capture.sample_rate, plot,
                        f"{result['capture']} / {result['run_name']}: test ESR {result['test_esr']:.4g}")
        client.log_artifact(run_id, str(plot), "plots")
        if settings.clip_seconds:
            for clip in audio_clips(dry, target, prediction, capture.sample_rate, Path(tmp), settings.clip_seconds):
                client.log_artifact(run_id, str(clip), "audio")


def end(logger: "MLFlowLogger | None", status: str) -> None:
    if logger is not None:
        logger.experiment.set_terminated(logger.run_id, status)
