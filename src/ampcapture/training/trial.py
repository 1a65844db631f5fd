"""A training run that is one trial of a sweep: its link to the Optuna study (the config's
`trial:` section, filled in by the sweeper) and the callback that reports each epoch's
validation ESR to the trial and stops the run when the study's pruner says it is hopeless."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from pytorch_lightning.callbacks import Callback

from ampcapture import studies

WORKER = "worker"  # the trial attribute naming the machine and process that trains it


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

    def trial(self) -> studies.Trial:
        """The running trial, judged by the sweep's pruner."""
        return studies.running_trial(self.study, self.storage, self.trial_id)


class PruneOnValidationESR(Callback):
    """Reports each epoch's validation ESR to the trial; stops the run when the pruner says
    it is hopeless (Optuna cannot prune multi-objective studies: there it only reports)."""

    def __init__(self, trial: studies.Trial):
        self.trial = trial
        self.can_prune = len(trial.study.directions) == 1

    def on_validation_end(self, trainer, module) -> None:
        if trainer.sanity_checking or "val_esr" not in trainer.callback_metrics or not self.can_prune:
            return
        value, epoch = float(trainer.callback_metrics["val_esr"]), trainer.current_epoch
        self.trial.report(value, epoch)
        if self.trial.should_prune():
            raise studies.TrialPruned(f"trial {self.trial.number} pruned at epoch {epoch} (validation ESR {value:.5f})")
