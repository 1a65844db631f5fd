"""How a model learns (`train:`) and on what hardware and budget (`trainer:`): schemas of
those config sections, with the range checks that make a wrong value an error naming its key."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from ampcapture.core.errors import ConfigError
from ampcapture.training.optim import BUDGET_SCHEDULES

SCHEDULERS = ("exponential", "plateau", *BUDGET_SCHEDULES, "none")
PRECISIONS = ("32-true", "32", "bf16-mixed", "16-mixed", "64-true")


@dataclass
class TrainSettings:
    """How the model learns (conf/config.yaml `train:`); NAM's trainer defaults."""

    SECTION: ClassVar[str] = "train"

    seed: int
    ny: int
    batch_size: int
    windows_per_epoch: int | None
    lr: float
    adam_beta2: float
    weight_decay: float
    scheduler: str
    lr_decay: float
    plateau_patience: int
    warmup: float
    cooldown: float
    lr_final: float
    ema_decay: float | None
    grad_clip: float | None
    early_stopping_patience: int | None
    keep_within: float
    calibrate_offset: bool
    resume: bool
    overwrite: bool
    init_from: str | None

    def __post_init__(self) -> None:
        for key in ("ny", "batch_size", "plateau_patience"):
            if getattr(self, key) < 1:
                raise ConfigError(f"train.{key}", f"must be >= 1, got {getattr(self, key)}", "use a positive integer")
        if self.windows_per_epoch is not None and self.windows_per_epoch < 1:
            raise ConfigError("train.windows_per_epoch", f"must be >= 1 or null, got {self.windows_per_epoch}", "use null for one pass")
        if not self.lr > 0:
            raise ConfigError("train.lr", f"must be > 0, got {self.lr}", "NAM's default is 0.004")
        if not 0 < self.adam_beta2 < 1:
            raise ConfigError("train.adam_beta2", f"must be in (0, 1), got {self.adam_beta2}", "e.g. 0.999 (Adam's default) or 0.99")
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
        if not 0 <= self.keep_within <= 1:
            raise ConfigError(
                "train.keep_within",
                f"must be in [0, 1], got {self.keep_within}",
                "e.g. 0.05 (of the lowest validation ESR); 0 keeps the lowest's epoch",
            )
        if self.early_stopping_patience is not None and self.early_stopping_patience < 1:
            raise ConfigError(
                "train.early_stopping_patience", f"must be >= 1 or null, got {self.early_stopping_patience}", "e.g. 20, or null to train the whole budget"
            )


@dataclass
class TrainerSettings:
    """Hardware and budget (conf/trainer/: cpu, gpu)."""

    SECTION: ClassVar[str] = "trainer"

    accelerator: str
    devices: int
    precision: str
    max_epochs: int
    max_minutes: float | None
    threads: int | None
    progress_bar: bool

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
