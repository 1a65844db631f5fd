"""Training with Lightning: the module (loss, optimizer, schedule, divergence check), the data
module (random windows of the train regions, whole validation/test regions), and `train()`,
which runs a resumable, budgeted fit into one run directory and returns its figures.

Validation ESR (plain, unfiltered, on the whole validation region) is the headline metric:
the checkpoint, early stopping and a sweeper all optimize it.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import math
import shutil
import signal
import warnings
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import optuna
import pytorch_lightning as pl
import torch
import yaml
from pytorch_lightning.callbacks import Callback, EarlyStopping, ModelCheckpoint
from pytorch_lightning.plugins.io import TorchCheckpointIO
from torch.utils.data import DataLoader, Dataset

from .audio import atomic_path, exclusive, write_json
from .data import Capture, RandomWindows
from .errors import AmpCaptureError, ConfigError
from .losses import LossSettings, TrainingLoss, esr
from .models import LSTM, AmpModel, build_model
from .optim import BUDGET_SCHEDULES, EMA, BudgetSchedule

SCHEDULERS = ("exponential", "plateau", *BUDGET_SCHEDULES, "none")
PRECISIONS = ("32-true", "32", "bf16-mixed", "16-mixed", "64-true")
# Settings that may change between an interrupted run and its resumption (budgets, hardware,
# and the sweep's trial bookkeeping: a re-queued trial resumes its predecessor's run).
RESUMABLE_CHANGES = ("trainer", "logger", "dag", "sweep")


def _quiet_lightning() -> None:
    """Drop Lightning's messages that are noise here: the run directory is ours and holds
    config.yaml beside the checkpoints; its own internal deprecation; an advert."""
    warnings.filterwarnings("ignore", message="Checkpoint directory .* exists and is not empty")
    warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated")
    rank_zero = logging.getLogger("pytorch_lightning.utilities.rank_zero")
    if not any(isinstance(f, _NoAdverts) for f in rank_zero.filters):
        rank_zero.addFilter(_NoAdverts())


class _NoAdverts(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "litlogger" not in record.getMessage()


USEFUL_ESR = 2.0  # a silent output scores 1.0; a model that ends far above it learned nothing usable


class TrainingDiverged(AmpCaptureError):
    """The loss became NaN or infinite (continuing would only spread NaNs through the weights), or
    the run ended with a model far worse than silence."""


class TrainingInterrupted(AmpCaptureError):
    """Ctrl+C (or a kill) stopped the run; its last checkpoint is where a re-run resumes."""


@dataclass
class TrainSettings:
    """How the model learns (conf/config.yaml `train:`); NAM's trainer defaults."""

    seed: int = 0
    ny: int = 8192                        # output samples per training window
    batch_size: int = 16
    windows_per_epoch: int | None = None  # null: as many as the train audio holds (train samples / ny)
    lr: float = 0.008
    weight_decay: float = 0.0
    scheduler: str = "exponential"        # exponential (per epoch) | plateau | cosine | linear (to the budget's end) | none
    lr_decay: float = 0.993               # exponential: gamma; plateau: factor
    plateau_patience: int = 5
    warmup: float = 0.0                   # cosine/linear: fraction of the budget spent warming up from 0
    cooldown: float = 1.0                 # cosine/linear: the last fraction of the budget, over which lr decays
    lr_final: float = 0.0                 # cosine/linear: learning rate at the budget's end, as a fraction of lr
    ema_decay: float | None = 0.999       # moving average of the weights (validated, saved, exported); null: none
    grad_clip: float | None = None        # max gradient norm; null: no clipping
    early_stopping_patience: int | None = 20  # epochs without a better validation ESR; null: never stop early
    resume: bool = True                   # continue from the run directory's last checkpoint
    init_from: str | None = None          # a checkpoint whose weights start the run (warm start); null: random

    def __post_init__(self) -> None:
        for key in ("ny", "batch_size", "plateau_patience"):
            if getattr(self, key) < 1:
                raise ConfigError(f"train.{key}", f"must be >= 1, got {getattr(self, key)}", "use a positive integer")
        if self.windows_per_epoch is not None and self.windows_per_epoch < 1:
            raise ConfigError("train.windows_per_epoch", f"must be >= 1 or null, got {self.windows_per_epoch}", "use null for one pass")
        if not self.lr > 0:
            raise ConfigError("train.lr", f"must be > 0, got {self.lr}", "NAM's default is 0.004")
        if self.scheduler not in SCHEDULERS:
            raise ConfigError("train.scheduler", f"unknown scheduler {self.scheduler!r}", f"use one of {SCHEDULERS}")
        if not 0 < self.lr_decay <= 1:
            raise ConfigError("train.lr_decay", f"must be in (0, 1], got {self.lr_decay}", "e.g. 0.993 (NAM) or 0.5 for plateau")
        if not 0 <= self.warmup < 1:
            raise ConfigError("train.warmup", f"must be in [0, 1), got {self.warmup}", "a fraction of the budget, e.g. 0.02")
        if not 0 < self.cooldown <= 1:
            raise ConfigError("train.cooldown", f"must be in (0, 1], got {self.cooldown}", "e.g. 0.2, or 1 to decay all along")
        if not 0 <= self.lr_final <= 1:
            raise ConfigError("train.lr_final", f"must be in [0, 1], got {self.lr_final}", "a fraction of train.lr, e.g. 0.01")
        if self.ema_decay is not None and not 0 < self.ema_decay < 1:
            raise ConfigError("train.ema_decay", f"must be in (0, 1) or null, got {self.ema_decay}", "e.g. 0.999, or null for none")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ConfigError("train.grad_clip", f"must be > 0 or null, got {self.grad_clip}", "e.g. 1.0")
        if self.early_stopping_patience is not None and self.early_stopping_patience < 1:
            raise ConfigError("train.early_stopping_patience", f"must be >= 1 or null, got {self.early_stopping_patience}",
                              "e.g. 20, or null to train the whole budget")


@dataclass
class TrainerSettings:
    """Hardware and budget (conf/trainer/: cpu, gpu)."""

    accelerator: str = "cpu"
    devices: int = 1
    precision: str = "32-true"
    max_epochs: int = 100
    max_minutes: float | None = 20.0  # wall-clock budget; null: epochs only
    threads: int | None = None        # torch CPU threads; null: torch's default
    progress_bar: bool = True

    def __post_init__(self) -> None:
        if self.max_epochs < 1:
            raise ConfigError("trainer.max_epochs", f"must be >= 1, got {self.max_epochs}", "e.g. 100")
        if self.max_minutes is not None and not self.max_minutes > 0:
            raise ConfigError("trainer.max_minutes", f"must be > 0 or null, got {self.max_minutes}", "e.g. 20")
        if self.precision not in PRECISIONS:
            raise ConfigError("trainer.precision", f"unknown precision {self.precision!r}", f"use one of {PRECISIONS}")
        if self.accelerator in ("gpu", "cuda") and not torch.cuda.is_available():
            raise ConfigError("trainer.accelerator", "a GPU was asked for but torch sees none", "use trainer=cpu")
        if self.threads is not None and self.threads < 1:
            raise ConfigError("trainer.threads", f"must be >= 1 or null, got {self.threads}", "e.g. 2")


class AtomicCheckpointIO(TorchCheckpointIO):
    """Checkpoints written beside their target and renamed into place (ampcapture.audio.atomic_path).
    Lightning's own stages the file in the system's temp folder and copies it over, which a
    full disk truncates: a damaged last.ckpt that every later run failed to resume from."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Any | None = None) -> None:
        with atomic_path(Path(path)) as tmp:
            torch.save(checkpoint, tmp)


EVAL_CHUNK = 1 << 17  # outputs per step when a whole region is evaluated


def pre_roll(model: AmpModel) -> int:
    """Input samples before the first scored output: the WaveNet's history or the LSTM's warm-up."""
    return model.warmup if isinstance(model, LSTM) else model.receptive_field - 1


class AmpModule(pl.LightningModule):
    """An amp model with its loss and optimizer; the hyper-parameters saved in every checkpoint
    are enough to rebuild the model (`AmpModule.load_from_checkpoint(path).model`)."""

    def __init__(self, architecture: str, config: dict[str, Any], sample_rate: int, loss: dict[str, Any],
                 train: dict[str, Any], name: str = "model"):
        super().__init__()
        self.save_hyperparameters()
        self.model = build_model(architecture, config, sample_rate)
        self.loss = TrainingLoss(LossSettings(**loss))
        self.settings = TrainSettings(**train)
        self.pre_roll = pre_roll(self.model)
        self._loss_sum, self._loss_count = 0.0, 0

    @property
    def epoch_train_loss(self) -> float:
        """Mean training loss of the epoch so far; Lightning reduces its own only after validation."""
        return self._loss_sum / self._loss_count if self._loss_count else math.nan

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, pre_roll + n) -> (batch, n). An LSTM warms up without gradient (truncated
        back-propagation through time); a WaveNet's pre-roll is its receptive field."""
        if isinstance(self.model, LSTM):
            state = None
            if self.pre_roll:
                with torch.no_grad():
                    _, state = self.model.step(x[:, : self.pre_roll])
            return self.model.step(x[:, self.pre_roll :], state)[0]
        return self.model(x)

    def evaluate(self, x: torch.Tensor) -> torch.Tensor:
        """forward() over a whole region, EVAL_CHUNK outputs at a time, so that evaluating an
        hour of audio holds one chunk's activations: the same numbers (a WaveNet re-reads its
        pre-roll for each chunk, an LSTM carries its state from chunk to chunk)."""
        if isinstance(self.model, LSTM):
            state = None
            if self.pre_roll:
                _, state = self.model.step(x[:, : self.pre_roll])
            outputs = []
            for start in range(self.pre_roll, x.shape[1], EVAL_CHUNK):
                y, state = self.model.step(x[:, start : start + EVAL_CHUNK], state)
                outputs.append(y)
            return torch.cat(outputs, dim=1)
        n = x.shape[1] - self.pre_roll
        return torch.cat([self(x[:, start : start + self.pre_roll + EVAL_CHUNK]) for start in range(0, n, EVAL_CHUNK)], dim=1)

    def _check_finite(self, value: torch.Tensor, what: str) -> None:
        if not torch.isfinite(value):
            raise TrainingDiverged(f"epoch {self.current_epoch}, step {self.global_step}", f"the {what} became {value.item()}",
                                   "lower train.lr, set train.grad_clip (e.g. 1.0), or use trainer.precision=32-true")

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss, terms = self.loss(self(x).float(), y.float())
        self._check_finite(loss, "training loss")
        self._loss_sum, self._loss_count = self._loss_sum + loss.item() * x.shape[0], self._loss_count + x.shape[0]
        self.log("train_loss", loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=x.shape[0])
        if len(terms) > 1:
            for key, value in terms.items():
                self.log(f"train_{key}", value, on_step=False, on_epoch=True, batch_size=x.shape[0])
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        value = esr(self.evaluate(x).float(), y.float())
        self._check_finite(value, "validation ESR")
        self.log("val_esr", value, prog_bar=True, batch_size=1)

    def test_step(self, batch, batch_idx):
        x, y = batch
        self.log("test_esr", esr(self.evaluate(x).float(), y.float()), batch_size=1)

    def on_train_epoch_start(self) -> None:
        self._loss_sum, self._loss_count = 0.0, 0
        dataset = self.trainer.train_dataloader.dataset
        if hasattr(dataset, "set_epoch"):
            dataset.set_epoch(self.current_epoch)

    def configure_optimizers(self):
        s = self.settings
        optimizer = torch.optim.Adam(self.parameters(), lr=s.lr, weight_decay=s.weight_decay)
        if s.scheduler == "none":
            return optimizer
        if s.scheduler == "plateau":
            scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=s.lr_decay, patience=s.plateau_patience)
            return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "monitor": "val_esr"}}
        if s.scheduler in BUDGET_SCHEDULES:
            budget = BudgetSchedule(optimizer, self, s.scheduler, s.warmup, s.lr_final, s.cooldown)
            return {"optimizer": optimizer, "lr_scheduler": {"scheduler": budget, "interval": "step"}}
        return {"optimizer": optimizer, "lr_scheduler": torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=s.lr_decay)}


class _Segments(Dataset):
    """One whole region (validation or test) as a single example."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor):
        self.x, self.y = x, y

    def __len__(self) -> int:
        return 1

    def __getitem__(self, index: int):
        return self.x, self.y


class CaptureDataModule(pl.LightningDataModule):
    """Loads a split capture once; random windows for training, whole regions to evaluate."""

    def __init__(self, split_json: str | Path, pre_roll: int, settings: TrainSettings):
        super().__init__()
        self.split_json, self.pre_roll, self.settings = Path(split_json), pre_roll, settings
        self.capture: Capture | None = None

    def setup(self, stage: str | None = None) -> None:
        if self.capture is None:
            self.capture = Capture.load(self.split_json)

    def train_dataloader(self) -> DataLoader:
        s = self.settings
        windows = RandomWindows(self.capture, self.capture.regions["train"], s.ny, self.pre_roll, s.seed,
                                length=s.windows_per_epoch)
        return DataLoader(windows, batch_size=s.batch_size, shuffle=False, drop_last=len(windows) >= s.batch_size)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(_Segments(*self.capture.segment("validation", self.pre_roll)), batch_size=1)

    def test_dataloader(self) -> DataLoader:
        return DataLoader(_Segments(*self.capture.segment("test", self.pre_roll)), batch_size=1)


class ESRHistory(Callback):
    """Per-epoch train loss, validation ESR and learning rate; kept in checkpoints so a
    resumed run's curve continues where it stopped."""

    def __init__(self, say=print):
        self.rows: list[dict[str, float]] = []
        self.say = say

    def on_validation_epoch_end(self, trainer, module) -> None:
        if trainer.sanity_checking or "val_esr" not in trainer.callback_metrics:
            return
        metrics = trainer.callback_metrics
        row = {"epoch": trainer.current_epoch, "step": trainer.global_step,
               "train_loss": module.epoch_train_loss,
               "val_esr": float(metrics["val_esr"]), "lr": trainer.optimizers[0].param_groups[0]["lr"]}
        self.rows = [r for r in self.rows if r["epoch"] != row["epoch"]] + [row]
        self.say(f"epoch {row['epoch']}: train loss {row['train_loss']:.5f}, validation ESR {row['val_esr']:.5f}, "
                 f"lr {row['lr']:.2e}")

    def state_dict(self) -> dict[str, Any]:
        return {"rows": self.rows}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.rows = list(state_dict["rows"])

    def write_csv(self, path: Path) -> None:
        with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=["epoch", "step", "train_loss", "val_esr", "lr"])
            writer.writeheader()
            writer.writerows(self.rows)


@dataclass
class RunPaths:
    """Everything one training run writes, in models/<capture>/<run_name>/."""

    root: Path

    @classmethod
    def of(cls, models: str | Path, capture: str, run_name: str) -> "RunPaths":
        return cls(Path(models) / capture / run_name)

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


def config_fingerprint(cfg: dict[str, Any]) -> str:
    """What must be unchanged for a run to be resumed rather than restarted."""
    kept = {k: v for k, v in cfg.items() if k not in RESUMABLE_CHANGES}
    return hashlib.sha256(json.dumps(kept, sort_keys=True, default=str).encode()).hexdigest()[:16]


def prepare_run_dir(paths: RunPaths, cfg: dict[str, Any], resume: bool, say=print) -> bool:
    """Make the run directory; return True when its last checkpoint should be resumed: an
    unfinished run of the same configuration. A finished run, or one of another configuration,
    is started over (the old run stays in MLflow; set run_name to keep both on disk). A finished
    run is moved aside, not deleted, until the new one finishes: killing it loses nothing."""
    finished = paths.metrics.is_file()
    if finished:
        say(f"{paths.root} holds a finished run: training a new one (the finished one waits in {paths.previous} "
            "until the new one finishes)")
    elif paths.last.is_file() and resume and paths.config.is_file():
        saved = yaml.safe_load(paths.config.read_text())
        if config_fingerprint(saved) != config_fingerprint(cfg):
            say(f"{paths.root} holds a run with another configuration: starting over")
        elif not _readable_checkpoint(paths.last):
            say(f"{paths.last} is damaged (a full disk or a crash while writing it?): starting over")
        else:
            say(f"resuming from {paths.last}")
            return True
    if paths.root.exists():
        if finished:
            shutil.rmtree(paths.previous, ignore_errors=True)
            paths.previous.mkdir()
        for item in paths.root.iterdir():
            if item.name in (".gitignore", paths.previous.name):  # .gitignore: DVC's, when the DAG owns this run
                continue
            if finished:
                item.rename(paths.previous / item.name)
            else:
                shutil.rmtree(item) if item.is_dir() else item.unlink()
    paths.root.mkdir(parents=True, exist_ok=True)
    with atomic_path(paths.config) as tmp:
        Path(tmp).write_text(yaml.safe_dump(cfg, sort_keys=False))
    return False


def _readable_checkpoint(path: Path) -> bool:
    try:
        torch.load(path, map_location="cpu", weights_only=False)
        return True
    except Exception:  # torch.load raises many types for a truncated file
        return False


def _checkpoint_weights(path: Path, module: AmpModule) -> dict[str, torch.Tensor]:
    """The (averaged, when the run kept an average) weights of a checkpoint, checked to fit `module`."""
    if not path.is_file():
        raise ConfigError("train.init_from", f"{path} not found", "give a checkpoint such as models/<capture>/<run>/best.ckpt, or null")
    try:
        weights = torch.load(path, map_location="cpu", weights_only=False)["state_dict"]
    except Exception as exc:  # torch.load raises many types for a damaged or foreign file
        raise ConfigError("train.init_from", f"{path} is not an ampcapture checkpoint ({type(exc).__name__})",
                          "give a .ckpt written by pipelines/train.py") from exc
    mine = module.state_dict()
    if set(weights) != set(mine) or any(weights[k].shape != mine[k].shape for k in mine):
        raise ConfigError("train.init_from", f"{path} holds another model than the configured {type(module.model).__name__}",
                          "warm-start from a checkpoint of the same model preset")
    return weights


def train(cfg: dict[str, Any], say=print) -> dict[str, Any]:
    """Fit the configured model on the configured capture; returns the run's figures.

    `cfg` is the resolved configuration (conf/ composed, overrides applied). Re-running with the
    same configuration after an interruption resumes from the last checkpoint. One process at a
    time trains a run: a second one fails at once instead of overwriting its files.
    """
    from .config import section

    run_name = str(cfg.get("run_name") or section(cfg, "model.name"))
    paths = RunPaths.of(section(cfg, "paths.models"), str(section(cfg, "capture")), run_name)
    with exclusive(str(paths.root.resolve()), paths.root, "wait for the other training to finish, or give this one another run_name"):
        return _train(cfg, run_name, paths, say)


def _train(cfg: dict[str, Any], run_name: str, paths: RunPaths, say) -> dict[str, Any]:
    from . import sweep, tracking
    from .config import section, settings

    capture = str(section(cfg, "capture"))
    model_cfg = section(cfg, "model")
    loss = asdict(settings(LossSettings, cfg, "loss"))
    train_settings = settings(TrainSettings, cfg, "train")
    trainer_settings = settings(TrainerSettings, cfg, "trainer")
    log_settings = settings(tracking.LoggerSettings, cfg, "logger")
    if loss["mrstft"] and max(loss["mrstft_fft_sizes"]) > train_settings.ny:
        raise ConfigError("loss.mrstft_fft_sizes", f"an FFT of {max(loss['mrstft_fft_sizes'])} samples does not fit a "
                          f"training window of train.ny={train_settings.ny}", "raise train.ny or use smaller FFT sizes")
    split_json = Path(section(cfg, "paths.splits")) / capture / "split.json"

    data_capture = Capture.load(split_json)  # fail early, before any output is written
    if trainer_settings.threads:
        torch.set_num_threads(trainer_settings.threads)
    pl.seed_everything(train_settings.seed, workers=True, verbose=False)
    module = AmpModule(model_cfg["architecture"], model_cfg["config"], data_capture.sample_rate, loss,
                       asdict(train_settings), name=run_name)
    data = CaptureDataModule(split_json, module.pre_roll, train_settings)
    data.capture = data_capture
    RandomWindows(data_capture, data_capture.regions["train"], train_settings.ny, module.pre_roll)  # ny too long: fails now

    link = sweep.TrialLink(**(cfg.get("sweep") or {}))
    # read before the run directory is touched, so a wrong checkpoint costs nothing
    init_weights = _checkpoint_weights(Path(train_settings.init_from), module) if train_settings.init_from else None
    left_open = paths.mlflow_run.read_text().strip() if paths.mlflow_run.is_file() else None
    resuming = prepare_run_dir(paths, cfg, train_settings.resume, say)
    if not resuming:  # a run killed before its first checkpoint (kill -9) left its MLflow run RUNNING
        tracking.close_abandoned(log_settings, left_open)
    if init_weights is not None and not resuming:
        module.load_state_dict(init_weights)
        say(f"starting from the weights of {train_settings.init_from}")
    tags = {"optuna.study": link.study, "optuna.trial": str(link.number)} if link.parent_run else None
    logger = tracking.make_logger(log_settings, capture, run_name, paths.mlflow_run if resuming else None, tags, link.parent_run)
    if logger is not None:
        paths.mlflow_run.write_text(logger.run_id)
        tracking.log_config(logger, cfg, paths.config, module.model)

    history = ESRHistory(say)
    _quiet_lightning()
    checkpoint = ModelCheckpoint(dirpath=paths.root, filename="best", monitor="val_esr", mode="min", save_top_k=1,
                                 save_last=True, enable_version_counter=False)
    callbacks: list[Callback] = [checkpoint, history]
    if train_settings.ema_decay:
        callbacks.append(EMA(train_settings.ema_decay))
    if link.active:
        callbacks.append(sweep.PruneOnValidationESR(link.trial()))
    if train_settings.early_stopping_patience:
        callbacks.append(EarlyStopping("val_esr", patience=train_settings.early_stopping_patience, mode="min"))
    trainer = pl.Trainer(
        accelerator=trainer_settings.accelerator, devices=trainer_settings.devices, precision=trainer_settings.precision,
        max_epochs=trainer_settings.max_epochs,
        max_time=timedelta(minutes=trainer_settings.max_minutes) if trainer_settings.max_minutes else None,
        gradient_clip_val=train_settings.grad_clip, callbacks=callbacks, logger=logger if logger is not None else False,
        enable_progress_bar=trainer_settings.progress_bar, enable_model_summary=False, num_sanity_val_steps=0,
        default_root_dir=paths.root, deterministic=False, log_every_n_steps=1, plugins=[AtomicCheckpointIO()])
    sigint = signal.getsignal(signal.SIGINT)
    try:
        trainer.fit(module, datamodule=data, ckpt_path=str(paths.last) if resuming else None)
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
        raise TrainingDiverged(paths.root, f"its best validation ESR is {best_esr:.3g}: more than {USEFUL_ESR:g}x the "
                               "error of a silent output", "lower train.lr (e.g. 0.004) or set train.grad_clip (e.g. 1.0)")
    best = AmpModule.load_from_checkpoint(paths.best, map_location="cpu")
    test = trainer.test(best, datamodule=data, verbose=False)[0]
    history.write_csv(paths.curve)
    result = {
        "capture": capture, "run_name": run_name, "model": model_cfg["name"], "architecture": model_cfg["architecture"],
        "validation_esr": best_esr, "test_esr": float(test["test_esr"]),
        "best_epoch": int(torch.load(paths.best, map_location="cpu", weights_only=False)["epoch"]),
        "epochs": trainer.current_epoch, "stopped_early": any(isinstance(c, EarlyStopping) and c.stopped_epoch for c in callbacks),
        "sample_rate": data_capture.sample_rate, **best.model.describe(),
        "checkpoint": str(paths.best), "mlflow_run_id": logger.run_id if logger is not None else None,
    }
    write_json(paths.metrics, result)
    shutil.rmtree(paths.previous, ignore_errors=True)
    if logger is not None:
        tracking.log_results(logger, log_settings, result, paths, best, data_capture)
        tracking.end(logger, "FINISHED")
    return result
