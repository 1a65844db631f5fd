"""A training run that is one trial of a sweep: its link to the Optuna study (the config's
`trial:` section, filled in by the sweeper) and the callback that reports each epoch's
validation ESR to the trial and stops the run when the study's pruner says it is hopeless."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import optuna
from pytorch_lightning.callbacks import Callback

from ampcapture.core.errors import ConfigError

PRUNER = "pruner"  # the study attribute that holds the sweep's pruner (Optuna stores none): {"name", "kwargs"}
# The pruners a study may name: a study's storage (a shared database) holds data, never what to build.
PRUNERS = ("MedianPruner", "PercentilePruner", "SuccessiveHalvingPruner", "HyperbandPruner", "ThresholdPruner", "PatientPruner", "WilcoxonPruner", "NopPruner")
PLAIN = (bool, int, float, str, type(None))
WORKER = "worker"  # the trial attribute naming the machine and process that trains it


def absolute(storage: Any) -> str:
    """The storage URL with a relative SQLite or journal file made absolute, so every worker
    (another process, another working directory) opens the same study."""
    storage = str(storage)
    for scheme in ("sqlite:///", "journal:///"):
        if storage.startswith(scheme) and not storage.startswith(scheme + "/"):
            return scheme + str(Path(storage.removeprefix(scheme)).resolve())
    return storage


def open_storage(storage: Any) -> str | optuna.storages.BaseStorage:
    """What Optuna opens for `hydra.sweeper.storage`: an RDB URL as it is (sqlite:///optuna.db for
    one process; postgresql://user@host/db for workers on several machines), or
    journal:///optuna.log, Optuna's journal file, for several processes of one machine (SQLite
    serves one writer at a time; a journal file takes appends from all of them)."""
    storage = str(storage)
    if storage.startswith("journal:///"):
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        return JournalStorage(JournalFileBackend(absolute(storage).removeprefix("journal:///")))
    return storage


@dataclass
class TrialLink:
    """What a training job needs to know about its trial (the config's `trial:` section)."""

    SECTION: ClassVar[str] = "trial"

    storage: str | None
    study: str | None
    trial_id: int | None
    number: int | None
    parent_run: str | None
    workdir: str | None
    runs: str | None

    @property
    def active(self) -> bool:
        return self.trial_id is not None

    @property
    def tags(self) -> dict[str, str] | None:
        """The MLflow tags that name the trial's study and number."""
        return {"optuna.study": str(self.study), "optuna.trial": str(self.number)} if self.parent_run else None

    def trial(self) -> optuna.Trial:
        """The running trial, judged by the sweep's pruner (kept in the study: Optuna stores no pruner)."""
        study = optuna.load_study(study_name=self.study, storage=open_storage(self.storage))
        pruner = study.user_attrs.get(PRUNER)
        study.pruner = build_pruner(pruner, f"study {self.study} ({self.storage})") if pruner else optuna.pruners.NopPruner()
        return optuna.Trial(study, self.trial_id)


def pruner_record(config: Any, where: str = "hydra.sweeper.pruner") -> dict[str, Any]:
    """What the study stores of the sweep's pruner config ({_target_: optuna.pruners.X, ...}):
    its name and plain keyword values (a PatientPruner's wrapped_pruner: a record of its own)."""
    if not isinstance(config, dict) or not isinstance(config.get("_target_"), str):
        raise ConfigError(where, f"must be {{_target_: optuna.pruners.<name>, ...}}, got {config!r}", f"use one of {', '.join(PRUNERS)}")
    name = config["_target_"].removeprefix("optuna.pruners.")
    kwargs = {k: v for k, v in config.items() if k != "_target_"}
    if isinstance(kwargs.get("wrapped_pruner"), dict):
        kwargs["wrapped_pruner"] = pruner_record(kwargs["wrapped_pruner"], f"{where}.wrapped_pruner")
    record = {"name": name, "kwargs": kwargs}
    build_pruner(record, where)  # refused here, before any trial runs
    return record


def build_pruner(record: Any, where: str) -> optuna.pruners.BasePruner:
    """The pruner a study's record names, built from the allowlist with plain keyword values
    only: nothing a database holds chooses what a worker runs."""
    fix = f"a pruner is one of {', '.join(PRUNERS)} with plain values; start a new study (hydra.sweeper.study_name)"
    if not isinstance(record, dict) or set(record) != {"name", "kwargs"} or record["name"] not in PRUNERS or not isinstance(record["kwargs"], dict):
        raise ConfigError(where, f"names a pruner ampcapture does not build: {str(record)[:200]}", fix)
    kwargs = dict(record["kwargs"])
    if kwargs.get("wrapped_pruner") is not None:
        kwargs["wrapped_pruner"] = build_pruner(kwargs["wrapped_pruner"], f"{where}.wrapped_pruner")
    if any(not isinstance(v, PLAIN) for k, v in kwargs.items() if k != "wrapped_pruner"):
        raise ConfigError(where, f"gives {record['name']} values that are not plain numbers, strings or booleans: {str(kwargs)[:200]}", fix)
    try:
        return getattr(optuna.pruners, record["name"])(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(where, f"{record['name']}({kwargs}) is refused by Optuna ({exc})", fix) from None


class PruneOnValidationESR(Callback):
    """Reports each epoch's validation ESR to the trial; stops the run when the pruner says
    it is hopeless (Optuna cannot prune multi-objective studies: there it only reports)."""

    def __init__(self, trial: optuna.Trial):
        self.trial = trial
        self.can_prune = len(trial.study.directions) == 1

    def on_validation_end(self, trainer, module) -> None:
        if trainer.sanity_checking or "val_esr" not in trainer.callback_metrics or not self.can_prune:
            return
        value, epoch = float(trainer.callback_metrics["val_esr"]), trainer.current_epoch
        self.trial.report(value, epoch)
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"trial {self.trial.number} pruned at epoch {epoch} (validation ESR {value:.5f})")
