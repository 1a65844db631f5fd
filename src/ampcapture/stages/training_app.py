"""The Hydra training app's body (`pipelines/train.py`): one training run, or one trial of a
sweep (the DAG's `sweep` stage runs it with `-m`)."""

from __future__ import annotations

import os

from omegaconf import OmegaConf

from ampcapture.core.errors import AmpCaptureError, ConfigError, user_error
from ampcapture.stages import console
from ampcapture.training.fit import TrainingInterrupted, esr_summary, train


def train_from_hydra(cfg) -> dict:
    """Train, print the figures, return them (metrics.json: the sweeper reads its objectives there)."""
    workdir = cfg.get("trial", {}).get("workdir")
    if workdir and os.path.realpath(workdir) != os.path.realpath(os.getcwd()):  # a worker started elsewhere (Ray, SLURM)
        if not os.path.isdir(workdir):  # the trial fails, recorded by the sweeper
            raise ConfigError("trial.workdir", f"the sweep's project folder {workdir} is not on this worker", "put the project at that path on every worker")
        os.chdir(workdir)
    try:
        try:
            result = train(OmegaConf.to_container(cfg, resolve=True), say=console.print)
        except OSError as exc:
            raise user_error(exc) from exc
    except TrainingInterrupted as exc:  # stops a sweep too; its re-run resumes this trial
        console.print(f"[yellow]stopped:[/] {exc}", highlight=False)
        raise SystemExit(130) from exc
    except AmpCaptureError as exc:
        console.print(f"[red]error:[/] {exc}", highlight=False)
        if cfg.get("trial") and cfg.trial.get("trial_id") is not None:
            raise  # a sweep's trial: the sweeper records it as failed and goes on
        raise SystemExit(1) from exc
    console.print(f"{result['capture']}/{result['run_name']}: {esr_summary(result)} after {result['epochs']} epochs -> {result['checkpoint']}")
    return result
