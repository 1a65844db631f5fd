"""`train()`: one resumable, budgeted fit of the configured model on the configured capture
into its run folder (models/<capture>/<run_name>/), tracked in MLflow and, in a sweep, reporting
to its Optuna trial; returns the run's figures (also its metrics.json)."""

from __future__ import annotations

import math
import os
import shutil
import signal
import socket
import tempfile
from collections.abc import Sequence
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path
from typing import Any

import optuna
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback, EarlyStopping

from ampcapture import tracking
from ampcapture.capture.dataset import Capture, RandomWindows, knob_ranges
from ampcapture.capture.fetch import fetch_split
from ampcapture.core.checkpoints import read_checkpoint
from ampcapture.core.config import section, settings
from ampcapture.core.errors import AmpCaptureError, ConfigError
from ampcapture.core.files import exclusive, write_json
from ampcapture.core.paths import Layout, RunPaths, run_name
from ampcapture.models import SlimmableContainer
from ampcapture.training.callbacks import AtomicCheckpointIO, ESRHistory, KeptCheckpoint, SizeBests, quiet_lightning
from ampcapture.training.data import CaptureDataModule, check_regions
from ampcapture.training.losses import LossSettings
from ampcapture.training.module import AmpModule, TrainingDiverged
from ampcapture.training.optim import EMA
from ampcapture.training.report import knob_plot, test_artifacts
from ampcapture.training.runs import initial_weights, prepare_run_dir
from ampcapture.training.settings import TrainerSettings, TrainSettings
from ampcapture.training.trial import WORKER, PruneOnValidationESR, TrialLink

USEFUL_ESR = 2.0  # a silent output scores 1.0; a model that ends far above it learned nothing usable


class TrainingInterrupted(AmpCaptureError):
    """Ctrl+C (or a kill) stopped the run; its last checkpoint is where a re-run resumes."""


def train(cfg: dict[str, Any], say=print, callbacks: Sequence[Callback] = (), replace: bool = False) -> dict[str, Any]:
    """Fit the configured model on the configured capture; returns the run's figures.

    `cfg` is the resolved configuration (conf/ composed, overrides applied). Re-running with the
    same configuration after an interruption resumes from the last checkpoint. One process at a
    time trains a run: a second one fails at once instead of overwriting its files. `callbacks`:
    more Lightning callbacks (a benchmark's diagnostics), called after the run's own. A finished
    run is not trained again unless train.overwrite (it is kept under a dated name) or `replace`
    (a DAG stage, whose old outputs DVC keeps).
    """
    name = run_name(cfg)
    paths = Layout.of(cfg).run(name)
    with exclusive(str(paths.root.resolve()), paths.root, "wait for the other training to finish, or give this one another run_name"):
        return _train(cfg, name, paths, say, callbacks, replace)


def esr_summary(result: dict[str, Any]) -> str:
    """'validation ESR v, test ESR t' of a finished run; of a container every size's by name
    (the plugin plays one size at a time: a sum or a mean of the sizes is no model's figure)."""
    sizes = result.get("sizes")
    if not sizes:
        return f"validation ESR {result['validation_esr']:.5f}, test ESR {result['test_esr']:.5f}"
    return "; ".join(f"{key.replace('_esr', '')} ESR " + ", ".join(f"{s['name']} {s[key]:.5f}" for s in sizes) for key in ("validation_esr", "test_esr"))


def _train(cfg: dict[str, Any], name: str, paths: RunPaths, say, extra_callbacks: Sequence[Callback], replace: bool) -> dict[str, Any]:
    capture = str(section(cfg, "capture"))
    model_cfg = section(cfg, "model")
    loss = asdict(settings(LossSettings, cfg))
    train_settings = settings(TrainSettings, cfg)
    trainer_settings = settings(TrainerSettings, cfg)
    log_settings = settings(tracking.LoggerSettings, cfg)
    if loss["mrstft"] and max(loss["mrstft_fft_sizes"]) > train_settings.ny:
        raise ConfigError(
            "loss.mrstft_fft_sizes",
            f"an FFT of {max(loss['mrstft_fft_sizes'])} samples does not fit a training window of train.ny={train_settings.ny}",
            "raise train.ny or use smaller FFT sizes",
        )
    layout = Layout.of(cfg)
    split_json = layout.split_json
    fetch_split(layout, say)  # a worker on another machine pulls the capture from the DVC remote
    captures = Capture.load_all(split_json)  # fail early, before any output is written
    knobs = knob_ranges(split_json)  # a capture set's: the model takes them as inputs
    model_config = model_cfg["config"] if knobs is None else {**model_cfg["config"], "knobs": len(knobs)}
    if trainer_settings.threads:
        torch.set_num_threads(trainer_settings.threads)
    pl.seed_everything(train_settings.seed, workers=True, verbose=False)
    module = AmpModule(model_cfg["architecture"], model_config, captures[0].sample_rate, loss, asdict(train_settings), name=name, knobs=knobs)
    data = CaptureDataModule(split_json, module.pre_roll, train_settings)
    data.captures = captures
    RandomWindows(data.trained, "train", train_settings.ny, module.pre_roll)  # ny too long: fails now
    check_regions(captures, module.pre_roll, split_json)

    link = settings(TrialLink, cfg)
    # read before the run directory is touched, so a wrong checkpoint costs nothing
    init_weights = initial_weights(Path(train_settings.init_from), module) if train_settings.init_from else None
    left_open = paths.mlflow_run.read_text().strip() if paths.mlflow_run.is_file() else None
    resume_from = prepare_run_dir(paths, cfg, train_settings.resume, train_settings.overwrite, replace, say)
    resuming = resume_from is not None
    # A run killed before its first checkpoint (kill -9, a lost worker) left its MLflow run RUNNING:
    # a sweep's trial starts over in it (one trial, one run); any other run closes it.
    reopened = left_open if resuming or link.active else None
    if not resuming and not link.active:
        tracking.close_abandoned(log_settings, left_open)
    tracking.close_dead_runs(log_settings, log_settings.experiment or capture)
    if init_weights is not None and not resuming:
        module.load_state_dict(init_weights)
        say(f"starting from the weights of {train_settings.init_from}")
    logger = tracking.make_logger(log_settings, capture, name, reopened, link.tags, link.parent_run)
    if logger is not None:
        paths.mlflow_run.write_text(logger.run_id)
        tracking.log_config(logger, cfg, paths.config, module.model)

    history = ESRHistory(say)
    quiet_lightning()
    checkpoint = KeptCheckpoint(paths.root, train_settings.keep_within)
    callbacks: list[Callback] = [checkpoint, history]
    if train_settings.ema_decay:
        callbacks.append(EMA(train_settings.ema_decay))
    size_bests = SizeBests(paths.root, len(module.model.sizes), train_settings.keep_within) if isinstance(module.model, SlimmableContainer) else None
    if size_bests is not None:
        callbacks.append(size_bests)
    if link.active:
        trial = link.trial()
        trial.set_user_attr(WORKER, f"{socket.gethostname()} pid {os.getpid()}")  # the sweeper knows the job started
        callbacks.append(PruneOnValidationESR(trial))
    if train_settings.early_stopping_patience:
        callbacks.append(EarlyStopping("val_esr", patience=train_settings.early_stopping_patience, mode="min"))
    callbacks.extend(extra_callbacks)
    trainer = pl.Trainer(
        accelerator=trainer_settings.accelerator,
        devices=trainer_settings.devices,
        precision=trainer_settings.precision,
        max_epochs=trainer_settings.max_epochs,
        max_time=timedelta(minutes=trainer_settings.max_minutes) if trainer_settings.max_minutes else None,
        gradient_clip_val=train_settings.grad_clip,
        callbacks=callbacks,
        logger=logger if logger is not None else False,
        enable_progress_bar=trainer_settings.progress_bar,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        default_root_dir=paths.root,
        deterministic=False,
        log_every_n_steps=1,
        plugins=[AtomicCheckpointIO()],
    )
    sigint = signal.getsignal(signal.SIGINT)
    try:
        trainer.fit(module, datamodule=data, ckpt_path=str(resume_from) if resuming else None, weights_only=True)
    except TrainingDiverged:
        tracking.end(logger, "FAILED")
        raise
    except optuna.TrialPruned:
        tracking.end(logger, "KILLED", pruned=True)
        raise
    except SystemExit:  # Lightning answers Ctrl+C with sys.exit(1) after its graceful shutdown
        if not trainer.interrupted:
            raise
    finally:
        if sigint is not None:  # Lightning leaves Ctrl+C ignored after an interrupt
            signal.signal(signal.SIGINT, sigint)
    if trainer.interrupted:
        tracking.end(logger, "KILLED")
        raise TrainingInterrupted(paths.root, "training was interrupted", "run the same command again to resume from last.ckpt")

    best_esr = float(checkpoint.best_model_score) if checkpoint.best_model_score is not None else math.nan
    if not best_esr <= USEFUL_ESR:
        tracking.end(logger, "FAILED")
        raise TrainingDiverged(
            paths.root,
            f"its best validation ESR is {best_esr:.3g}: more than {USEFUL_ESR:g}x the error of a silent output",
            "lower train.lr (e.g. 0.004) or set train.grad_clip (e.g. 1.0)",
        )
    epochs = size_bests.assemble(paths.best) if size_bests is not None else []
    saved = read_checkpoint(paths.best)
    best = AmpModule(**saved["hyper_parameters"])
    best.load_state_dict(saved["state_dict"])
    test = trainer.test(best, datamodule=data, verbose=False)[0]
    history.write_csv(paths.curve)
    described = best.model.describe()
    if "sizes" in described:  # a SlimmableContainer: each size's figures (the headline ones are the largest's)
        with torch.no_grad():  # of a capture set, the mean over its trained settings, as val_esr
            per_setting = [best.eval().size_esrs(batch) for batch in data.val_dataloader()]
        validation = [sum(float(v[i]) for v in per_setting) / len(per_setting) for i in range(len(described["sizes"]))]
        for i, size in enumerate(described["sizes"]):
            size.update(validation_esr=validation[i], test_esr=float(test[f"test_esr_size{i}"]), best_epoch=epochs[i])
    if knobs is not None:  # each setting's test ESR; heldout_esr: the settings never trained on
        settings_esr = {c.name: {"held_out": c.held_out, "test_esr": float(test[f"test_esr_{c.name}"])} for c in data.test_captures}
        described.update(knobs=knobs, settings=settings_esr, heldout_esr=float(test["heldout_esr"]) if "heldout_esr" in test else None)
    result = {
        "capture": capture,
        "run_name": name,
        "model": model_cfg["name"],
        "architecture": model_cfg["architecture"],
        "validation_esr": best_esr,
        "test_esr": float(test["test_esr"]),
        "best_epoch": int(saved["epoch"]),
        "epochs": trainer.current_epoch,
        "stopped_early": any(isinstance(c, EarlyStopping) and c.stopped_epoch for c in callbacks),
        "sample_rate": captures[0].sample_rate,
        **described,
        "checkpoint": str(paths.best),
        "mlflow_run_id": logger.run_id if logger is not None else None,
    }
    write_json(paths.metrics, result)
    shutil.rmtree(paths.previous, ignore_errors=True)
    if logger is not None:
        with tempfile.TemporaryDirectory() as tmp:
            title = f"{capture} / {name}: test ESR {result['test_esr']:.4g}"
            shown = data.test_captures[-1]  # of a capture set, a held-out setting when there is one
            artifacts = test_artifacts(best.model, shown, title, Path(tmp), log_settings.clip_seconds)
            if knobs is not None:
                points = [(c.values, result["settings"][c.name]["test_esr"], c.held_out) for c in data.test_captures]
                knob_plot(points, Path(tmp) / "esr_by_knob.png", f"{capture} / {name}: test ESR per setting")
                artifacts["plots"].append(Path(tmp) / "esr_by_knob.png")
            tracking.log_results(logger, log_settings, result, paths, artifacts)
        tracking.end(logger, "FINISHED")
    return result
