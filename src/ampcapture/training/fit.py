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
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback, EarlyStopping

from ampcapture import studies, tracking
from ampcapture.capture.dataset import Capture, RandomWindows, knob_ranges
from ampcapture.capture.fetch import fetch_split
from ampcapture.core.config import section, settings
from ampcapture.core.errors import AmpCaptureError, ConfigError
from ampcapture.core.files import exclusive, write_json
from ampcapture.core.paths import Layout, RunPaths, run_name
from ampcapture.formats.checkpoint import read_checkpoint
from ampcapture.training.calibration import calibrate
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


@dataclass
class _Run:
    """What one training is made of, built and checked before anything is written."""

    cfg: dict[str, Any]
    name: str
    paths: RunPaths
    capture: str
    model: dict[str, Any]  # the preset: name, architecture, config
    train: TrainSettings
    trainer: TrainerSettings
    log: tracking.LoggerSettings
    link: TrialLink
    module: AmpModule
    data: CaptureDataModule
    knobs: dict[str, list[float]] | None  # a capture set's; the model takes them as inputs


@dataclass
class _Watch:
    """The run's own callbacks that its summary reads afterwards."""

    kept: KeptCheckpoint
    history: ESRHistory
    size_bests: SizeBests | None  # a container's sizes, each kept at its own best epoch
    all: list[Callback]


def _train(cfg: dict[str, Any], name: str, paths: RunPaths, say, extra_callbacks: Sequence[Callback], replace: bool) -> dict[str, Any]:
    run = _build(cfg, name, paths, say)
    # read before the run directory is touched, so a wrong checkpoint costs nothing
    init_weights = initial_weights(Path(run.train.init_from), run.module) if run.train.init_from else None
    left_open = paths.mlflow_run.read_text().strip() if paths.mlflow_run.is_file() else None
    resume_from = prepare_run_dir(paths, cfg, run.train.resume, run.train.overwrite, replace, say)
    if init_weights is not None and resume_from is None:
        run.module.load_state_dict(init_weights)
        say(f"starting from the weights of {run.train.init_from}")
    logger = _open_mlflow_run(run, left_open, resuming=resume_from is not None)
    with _mlflow_status(logger):
        watch = _callbacks(run, say, extra_callbacks)
        trainer = _trainer(run, watch.all, logger)
        _fit(trainer, run, resume_from)
        result, best = _results(run, trainer, watch, logger)
        write_json(paths.metrics, result)
        shutil.rmtree(paths.previous, ignore_errors=True)
        if logger is not None:
            _log_results(run, logger, result, best)
    return result


def _build(cfg: dict[str, Any], name: str, paths: RunPaths, say) -> _Run:
    """Settings, capture, model and data of a run, every check that can fail done here."""
    model = section(cfg, "model")
    loss = asdict(settings(LossSettings, cfg))
    train, trainer = settings(TrainSettings, cfg), settings(TrainerSettings, cfg)
    if loss["mrstft"] and max(loss["mrstft_fft_sizes"]) > train.ny:
        raise ConfigError(
            "loss.mrstft_fft_sizes",
            f"an FFT of {max(loss['mrstft_fft_sizes'])} samples does not fit a training window of train.ny={train.ny}",
            "raise train.ny or use smaller FFT sizes",
        )
    layout = Layout.of(cfg)
    fetch_split(layout, say)  # a worker on another machine pulls the capture from the DVC remote
    captures = Capture.load_all(layout.split_json)  # fail early, before any output is written
    knobs = knob_ranges(layout.split_json)
    config = model["config"] if knobs is None else {**model["config"], "knobs": len(knobs)}
    if trainer.threads:
        torch.set_num_threads(trainer.threads)
    pl.seed_everything(train.seed, workers=True, verbose=False)
    module = AmpModule(model["architecture"], config, captures[0].sample_rate, loss, asdict(train), name=name, knobs=knobs)
    data = CaptureDataModule(layout.split_json, module.pre_roll, train)
    data.captures = captures
    RandomWindows(data.trained, "train", train.ny, module.pre_roll)  # ny too long: fails now
    check_regions(captures, module.pre_roll, layout.split_json)
    log, link = settings(tracking.LoggerSettings, cfg), settings(TrialLink, cfg)
    return _Run(cfg, name, paths, str(section(cfg, "capture")), model, train, trainer, log, link, module, data, knobs)


def _open_mlflow_run(run: _Run, left_open: str | None, resuming: bool):
    """The run's MLflow logger (None without MLflow). A run killed before its first checkpoint
    (kill -9, a lost worker) left its MLflow run RUNNING: a resumed run or a sweep's trial
    continues in it (one trial, one run); any other run closes it and starts a new one."""
    reopened = left_open if resuming or run.link.active else None
    if not resuming and not run.link.active:
        tracking.close_abandoned(run.log, left_open)
    tracking.close_dead_runs(run.log, run.log.experiment or run.capture)
    logger = tracking.make_logger(run.log, run.capture, run.name, reopened, run.link.tags, run.link.parent_run)
    if logger is not None:
        run.paths.mlflow_run.write_text(logger.run_id)
        tracking.log_config(logger, run.cfg, run.paths.config, run.module.model)
    return logger


@contextmanager
def _mlflow_status(logger) -> Iterator[None]:
    """The one place a run's MLflow status is set: FINISHED, KILLED (interrupted, or pruned by
    its sweep) or FAILED."""
    try:
        yield
    except studies.TrialPruned:
        tracking.end(logger, "KILLED", pruned=True)
        raise
    except TrainingInterrupted:
        tracking.end(logger, "KILLED")
        raise
    except Exception:
        tracking.end(logger, "FAILED")
        raise
    tracking.end(logger, "FINISHED")


def _callbacks(run: _Run, say, extra: Sequence[Callback]) -> _Watch:
    """The kept and last checkpoints, the ESR history, the weight average, a container's sizes,
    a sweep trial's pruning, early stopping, then `extra`."""
    quiet_lightning()
    kept, history = KeptCheckpoint(run.paths.root, run.train.keep_within), ESRHistory(say)
    size_names = getattr(run.module.model, "size_names", None)
    size_bests = SizeBests(run.paths.root, len(size_names), run.train.keep_within) if size_names else None
    callbacks: list[Callback] = [kept, history]
    if run.train.ema_decay:
        callbacks.append(EMA(run.train.ema_decay))
    if size_bests is not None:
        callbacks.append(size_bests)
    if run.link.active:
        trial = run.link.trial()
        trial.set_user_attr(WORKER, f"{socket.gethostname()} pid {os.getpid()}")  # the sweeper knows the job started
        callbacks.append(PruneOnValidationESR(trial))
    if run.train.early_stopping_patience:
        callbacks.append(EarlyStopping("val_esr", patience=run.train.early_stopping_patience, mode="min"))
    return _Watch(kept, history, size_bests, [*callbacks, *extra])


def _trainer(run: _Run, callbacks: list[Callback], logger) -> pl.Trainer:
    t = run.trainer
    return pl.Trainer(
        accelerator=t.accelerator,
        devices=t.devices,
        precision=t.precision,
        max_epochs=t.max_epochs,
        max_time=timedelta(minutes=t.max_minutes) if t.max_minutes else None,
        gradient_clip_val=run.train.grad_clip,
        callbacks=callbacks,
        logger=logger if logger is not None else False,
        enable_progress_bar=t.progress_bar,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        default_root_dir=run.paths.root,
        deterministic=False,
        log_every_n_steps=1,
        plugins=[AtomicCheckpointIO()],
    )


def _fit(trainer: pl.Trainer, run: _Run, resume_from: Path | None) -> None:
    """trainer.fit, resumed from `resume_from`; Ctrl+C becomes TrainingInterrupted."""
    sigint = signal.getsignal(signal.SIGINT)
    try:
        trainer.fit(run.module, datamodule=run.data, ckpt_path=None if resume_from is None else str(resume_from), weights_only=True)
    except SystemExit:  # Lightning answers Ctrl+C with sys.exit(1) after its graceful shutdown
        if not trainer.interrupted:
            raise
    finally:
        if sigint is not None:  # Lightning leaves Ctrl+C ignored after an interrupt
            signal.signal(signal.SIGINT, sigint)
    if trainer.interrupted:
        raise TrainingInterrupted(run.paths.root, "training was interrupted", "run the same command again to resume from last.ckpt")


def _results(run: _Run, trainer: pl.Trainer, watch: _Watch, logger) -> tuple[dict[str, Any], AmpModule]:
    """The kept model and its figures: validation ESR, test ESR on playing it never trained on,
    and of a container or a capture set, each size's and each setting's."""
    best_esr = float(watch.kept.best_model_score) if watch.kept.best_model_score is not None else math.nan
    if not best_esr <= USEFUL_ESR:
        raise TrainingDiverged(
            run.paths.root,
            f"its best validation ESR is {best_esr:.3g}: more than {USEFUL_ESR:g}x the error of a silent output",
            "lower train.lr (e.g. 0.004) or set train.grad_clip (e.g. 1.0)",
        )
    epochs = watch.size_bests.assemble(run.paths.best) if watch.size_bests is not None else []
    saved = read_checkpoint(run.paths.best)
    best = AmpModule.from_checkpoint(saved)
    offsets = calibrate(best, run.data.trained, saved) if run.train.calibrate_offset else None
    test = trainer.test(best, datamodule=run.data, verbose=False)[0]
    watch.history.write_csv(run.paths.curve)
    described = best.model.describe()
    with torch.no_grad():  # of the model kept (and calibrated); of a capture set, the mean over its trained settings, as val_esr
        per_setting = [best.eval().size_esrs(batch) for batch in run.data.val_dataloader()]
    validation = [sum(float(v[i]) for v in per_setting) / len(per_setting) for i in range(len(per_setting[0]))]
    if "sizes" in described:  # a SlimmableContainer: each size's figures (the headline ones are the largest's)
        for i, size in enumerate(described["sizes"]):
            size.update(validation_esr=validation[i], test_esr=float(test[f"test_esr_size{i}"]), best_epoch=epochs[i])
            size["output_offset"] = None if offsets is None else offsets[i]
    if run.knobs is not None:  # each setting's test ESR; heldout_esr: the settings never trained on
        settings_esr = {c.name: {"held_out": c.held_out, "test_esr": float(test[f"test_esr_{c.name}"])} for c in run.data.test_captures}
        described.update(knobs=run.knobs, settings=settings_esr, heldout_esr=float(test["heldout_esr"]) if "heldout_esr" in test else None)
    result = {
        "capture": run.capture,
        "run_name": run.name,
        "model": run.model["name"],
        "architecture": run.model["architecture"],
        "validation_esr": validation[-1],
        "test_esr": float(test["test_esr"]),
        "best_epoch": saved.epoch,
        "output_offset": None if offsets is None else offsets[-1],
        "epochs": trainer.current_epoch,
        "stopped_early": any(isinstance(c, EarlyStopping) and c.stopped_epoch for c in watch.all),
        "sample_rate": run.data.captures[0].sample_rate,
        **described,
        "checkpoint": str(run.paths.best),
        "mlflow_run_id": logger.run_id if logger is not None else None,
    }
    return result, best


def _log_results(run: _Run, logger, result: dict[str, Any], best: AmpModule) -> None:
    """The figures, the test region's plots and clips (of a capture set, per setting) to MLflow."""
    with tempfile.TemporaryDirectory() as tmp:
        title = f"{run.capture} / {run.name}: test ESR {result['test_esr']:.4g}"
        shown = run.data.test_captures[-1]  # of a capture set, a held-out setting when there is one
        artifacts = test_artifacts(best.model, shown, title, Path(tmp), run.log.clip_seconds)
        if run.knobs is not None:
            points = [(c.values, result["settings"][c.name]["test_esr"], c.held_out) for c in run.data.test_captures]
            knob_plot(points, Path(tmp) / "esr_by_knob.png", f"{run.capture} / {run.name}: test ESR per setting")
            artifacts["plots"].append(Path(tmp) / "esr_by_knob.png")
        tracking.log_results(logger, run.log, result, run.paths, artifacts)
