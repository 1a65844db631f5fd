"""Every path the project reads or writes, built in one place from the config's `paths:`
section (conf/paths/default.yaml; dvc.yaml spells the same layout with `${paths.*}`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ampcapture.core.config import section
from ampcapture.core.errors import ConfigError

STIMULUS_NAME = "reamp_input.wav"
SWEEP_RUNS = "sweep"  # the DAG's sweep trains its trials in models/<capture>/sweep/ (conf/hparams_search/dag.yaml)
FINAL_RUN = "final"  # and the final fit in models/<capture>/final/


_NAME = re.compile(r"[A-Za-z0-9._-]+")


def checked_name(key: str, value: Any) -> str:
    """A name that becomes one folder or file name (a capture, a run, a study, a setting):
    letters, digits, '.', '_' and '-', not '.' or '..'; never a path that leads elsewhere."""
    name = str(value)
    if not _NAME.fullmatch(name) or name in (".", ".."):
        raise ConfigError(key, f"{name!r} is not a name (a folder is made of it)", "use letters, digits, '.', '_' and '-' only, e.g. my_amp-take2")
    return name


@dataclass(frozen=True)
class RunPaths:
    """Everything one training run writes, in models/<capture>/<run_name>/."""

    root: Path

    @property
    def best(self) -> Path:
        return self.root / "best.ckpt"

    @property
    def last(self) -> Path:
        return self.root / "last.ckpt"

    @property
    def config(self) -> Path:
        return self.root / "config.yaml"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.json"

    @property
    def curve(self) -> Path:
        return self.root / "esr_curve.csv"

    @property
    def mlflow_run(self) -> Path:
        return self.root / "mlflow_run_id"

    @property
    def previous(self) -> Path:
        """Where a finished run waits while a new one trains in its place (removed when that one finishes)."""
        return self.root / ".previous"


@dataclass(frozen=True)
class Layout:
    """The project's folders for one capture: `Layout.of(params)` or `Layout.of(params, capture)`."""

    paths: dict[str, str]
    capture: str

    @classmethod
    def of(cls, params: dict[str, Any], capture: str | None = None) -> "Layout":
        paths = section(params, "paths")
        name = checked_name("capture", capture if capture is not None else section(params, "capture"))
        return cls({k: str(v) for k, v in dict(paths).items()}, name)

    def _folder(self, key: str) -> Path:
        if key not in self.paths:
            section({"paths": self.paths}, f"paths.{key}")  # raises the missing-key error
        return Path(self.paths[key])

    @property
    def stimulus(self) -> Path:
        """The standardized reamp input (its sidecar is beside it, .json)."""
        return self._folder("stimulus") / STIMULUS_NAME

    def recording(self, capture: str | None = None) -> Path:
        """data/captures/<capture>/: input.wav and output.wav as recorded."""
        return self._folder("captures") / (capture or self.capture)

    @property
    def aligned(self) -> Path:
        return self._folder("aligned") / self.capture

    @property
    def splits(self) -> Path:
        return self._folder("splits") / self.capture

    @property
    def split_json(self) -> Path:
        return self.splits / "split.json"

    @property
    def reports(self) -> Path:
        return self._folder("reports") / self.capture

    def report(self, name: str) -> Path:
        """reports/<capture>/<name>.json (align, split, sweep, export, benchmark)."""
        return self.reports / f"{name}.json"

    def study_report(self, study: str) -> Path:
        return self.reports / "sweeps" / f"{study}.json"

    @property
    def plots(self) -> Path:
        return self._folder("plots") / self.capture

    @property
    def models(self) -> Path:
        return self._folder("models") / self.capture

    def run(self, run_name: str) -> RunPaths:
        """models/<capture>/<run_name>/ (a sweep's trials: <runs>/<trial>), checked to lie inside models/<capture>/."""
        for part in run_name.split("/"):
            checked_name("run_name", part)
        return RunPaths(self.models / run_name)

    @property
    def nam(self) -> Path:
        """The exported model: models/<capture>/<capture>.nam."""
        return self.models / f"{self.capture}.nam"

    @property
    def aidax(self) -> Path:
        return self.models / "aidax"


def run_name(cfg: dict[str, Any]) -> str:
    """A training run's name: the config's run_name, or its model preset's name; a sweep's trial
    is <runs>/<run_name> (the config's trial.runs: the folder of the sweep's trials)."""
    name = checked_name("run_name", cfg.get("run_name") or section(cfg, "model.name"))
    runs = (cfg.get("trial") or {}).get("runs")
    return f"{checked_name('hydra.sweeper.runs', runs)}/{name}" if runs else name
