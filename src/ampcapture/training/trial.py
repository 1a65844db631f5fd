"""A training run that is one trial of a sweep: its link to the Optuna study (the config's
`trial:` section, filled in by the sweeper) and the callback that reports each epoch's
validation ESR to the trial and stops the run when the study's pruner says it is hopeless."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import optuna
from pytorch_lightning.callbacks import Callback

PRUNER = "pruner"  # the study attribute that holds the sweep's pruner (Optuna stores none)
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

    @property
    def active(self) -> bool:
        return self.trial_id is not None

    @property
    def tags(self) -> dict[str, str] | None:
        """The MLflow tags that name the trial's study and number."""
        return {"optuna.study": str(self.study), "optuna.trial": str(self.number)} if self.parent_run else None

    def trial(self) -> optuna.Trial:
        """The running trial, judged by the sweep's pruner (kept in the study: Optuna stores no pruner)."""
        from hydra.utils import instantiate

        study = optuna.load_study(study_name=self.study, storage=open_storage(self.storage))
        pruner = study.user_attrs.get(PRUNER)
        study.pruner = instantiate(pruner) if pruner else optuna.pruners.NopPruner()
        return optuna.Trial(study, self.trial_id)


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
