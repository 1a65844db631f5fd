"""How the weights move beyond Adam's step: a learning-rate schedule that ends with the run's
budget, and an exponential moving average of the weights (the model that is validated,
checkpointed and exported).

A run is budgeted in wall-clock minutes as often as in epochs, so "how far along" is the larger
of the two fractions: the time spent (Lightning's Timer, which a resumed run restores) over
`trainer.max_minutes`, and the steps taken over the steps `trainer.max_epochs` allow. The
schedule then warms up, and decays to its final learning rate exactly when the budget ends.
"""

from __future__ import annotations

import math

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Timer, WeightAveraging

BUDGET_SCHEDULES = ("cosine", "linear")


def time_remaining(trainer: pl.Trainer) -> tuple[Timer | None, float | None]:
    """(Lightning's Timer, the seconds left of the run's time budget); (None, None) without one."""
    timer = next((c for c in trainer.callbacks if isinstance(c, Timer)), None)  # Lightning's, for max_time
    return timer, timer.time_remaining("train") if timer is not None else None


def progress(trainer: pl.Trainer | None) -> float:
    """Fraction of the run's budget spent, in [0, 1]: time or steps, whichever is further."""
    if trainer is None:
        return 0.0
    done = 0.0
    timer, remaining = time_remaining(trainer)
    if remaining is not None:
        elapsed = timer.time_elapsed("train")
        done = elapsed / max(elapsed + remaining, 1e-9)
    total_steps = trainer.estimated_stepping_batches  # max_epochs x batches per epoch (inf when unbounded)
    if math.isfinite(total_steps) and total_steps > 0:
        done = max(done, trainer.global_step / total_steps)
    return min(max(done, 0.0), 1.0)


def budget_factor(done: float, kind: str, warmup: float, final: float, cooldown: float = 1.0) -> float:
    """Learning-rate multiplier at `done` of the budget: a linear warm-up over the first
    `warmup` of it, 1 until the last `cooldown` of it, then a cosine or linear decay to `final`
    at the end (cooldown 1: decaying from the warm-up on; small: warmup-stable-decay)."""
    if warmup > 0 and done < warmup:
        return max(done / warmup, 1e-3)
    start = max(warmup, 1 - cooldown)
    t = min(max((done - start) / (1 - start), 0.0), 1.0) if start < 1 else 1.0
    shape = 0.5 * (1 + math.cos(math.pi * t)) if kind == "cosine" else 1 - t
    return final + (1 - final) * shape


class BudgetSchedule(torch.optim.lr_scheduler.LambdaLR):
    """`budget_factor` of the module's trainer's progress, applied after every optimizer step.
    It keeps no state of its own (the module stays out of the checkpoint): a resumed run gets its
    place back from the restored Timer and step count."""

    def __init__(self, optimizer: torch.optim.Optimizer, module: pl.LightningModule, kind: str, warmup: float, final: float, cooldown: float):
        # module._trainer: None until fit attaches it
        super().__init__(optimizer, lambda _: budget_factor(progress(module._trainer), kind, warmup, final, cooldown))


class EMA(WeightAveraging):
    """Exponential moving average of the weights after every optimizer step (Lightning swaps
    it in for validation and saves it as the checkpoint's weights). The decay ramps up as
    (1 + n) / (10 + n) to `decay`, so the first steps' random weights fade out fast."""

    def __init__(self, decay: float):
        self.decay = decay
        super().__init__(avg_fn=self._average)

    def _average(self, averaged: torch.Tensor, current: torch.Tensor, num_averaged: torch.Tensor) -> torch.Tensor:
        # Tensor arithmetic, not float(num_averaged): on a GPU that would wait for the device
        # once per weight tensor and step (a 1-minute trial took 8x longer).
        decay = ((1 + num_averaged) / (10 + num_averaged)).clamp(max=self.decay)
        return averaged + (current - averaged) * (1 - decay)
