"""What a training run keeps besides its weights: the per-epoch ESR history (the curve a
resumed run continues), a container's sizes each at its own best, checkpoints written all or
nothing, and Lightning's noise silenced."""

from __future__ import annotations

import csv
import logging
import math
import warnings
from pathlib import Path
from typing import Any

import torch
from pytorch_lightning.callbacks import Callback, ModelCheckpoint
from pytorch_lightning.plugins.io import TorchCheckpointIO

from ampcapture.core.files import atomic_path
from ampcapture.formats.checkpoint import MODEL_PREFIX, read_checkpoint
from ampcapture.training.optim import progress, time_remaining


def budget_left(trainer) -> str:
    """How far the run is: the share of its budget spent, and the minutes left of a time budget
    (what a queued or remote training shows in its log)."""
    _, remaining = time_remaining(trainer)
    left = f" ({max(remaining, 0.0) / 60:.1f} min left)" if remaining is not None else ""
    return f"{progress(trainer):.0%} of the budget{left}"


class ESRHistory(Callback):
    """Per-epoch train loss, validation ESR, gradient norm (mean and largest, before clipping)
    and learning rate; kept in checkpoints so a resumed run's curve continues where it stopped."""

    COLUMNS = ["epoch", "step", "train_loss", "val_esr", "grad_norm", "grad_norm_max", "lr"]

    def __init__(self, say=print):
        self.rows: list[dict[str, float]] = []
        self.say = say

    def on_validation_epoch_end(self, trainer, module) -> None:
        if trainer.sanity_checking or "val_esr" not in trainer.callback_metrics:
            return
        metrics = trainer.callback_metrics
        grad_norm, grad_norm_max = module.epoch_grad_norm
        row = {
            "epoch": trainer.current_epoch,
            "step": trainer.global_step,
            "train_loss": module.epoch_train_loss,
            "val_esr": float(metrics["val_esr"]),
            "grad_norm": grad_norm,
            "grad_norm_max": grad_norm_max,
            "lr": trainer.optimizers[0].param_groups[0]["lr"],
        }
        self.rows = [r for r in self.rows if r["epoch"] != row["epoch"]] + [row]
        validation = f"{row['val_esr']:.5f}"
        names = getattr(module.model, "size_names", None)  # a container: every size's, by name
        if names and all(f"val_esr_size{i}" in metrics for i in range(len(names))):
            validation = ", ".join(f"{name} {float(metrics[f'val_esr_size{i}']):.5f}" for i, name in enumerate(names))
        gradient = f"gradient norm {grad_norm:.3g} (max {grad_norm_max:.3g}), lr {row['lr']:.2e}"
        self.say(f"epoch {row['epoch']}: train loss {row['train_loss']:.5f}, validation ESR {validation}, {gradient}, {budget_left(trainer)}")

    def state_dict(self) -> dict[str, Any]:
        return {"rows": self.rows}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.rows = list(state_dict["rows"])

    def write_csv(self, path: Path) -> None:
        with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=self.COLUMNS)  # a row from before a column: blank
            writer.writeheader()
            writer.writerows(self.rows)


def kept(value: float, lowest: float, within: float) -> bool:
    """Whether an epoch of validation ESR `value` is kept over the one kept before: it is within
    `within` (a fraction) of the `lowest` validation ESR so far, itself included (0: only a new lowest)."""
    return value <= min(lowest, value) * (1 + within)


class KeptCheckpoint(ModelCheckpoint):
    """best.ckpt: the latest epoch whose validation ESR is within `train.keep_within` of the
    lowest so far (0: the lowest's epoch, as NAM's trainer keeps), and last.ckpt. Later epochs
    of a weight-averaged run have seen more steps, and a validation region of a few seconds of
    playing ranks two of them by less than its own noise: on the capture suite the lowest
    validation ESR came early and later epochs played the test region better (README, "Recipe")."""

    def __init__(self, root: Path, within: float):
        super().__init__(dirpath=root, filename="best", monitor="val_esr", mode="min", save_top_k=1, save_last=True, enable_version_counter=False)
        self.within, self.lowest = within, math.inf

    def check_monitor_top_k(self, trainer, current: torch.Tensor | None = None) -> bool:
        if current is None or not torch.isfinite(current):
            return False
        value = float(current)
        keep = kept(value, self.lowest, self.within)
        self.lowest = min(self.lowest, value)
        return trainer.strategy.reduce_boolean_decision(keep)  # every device decides alike, as Lightning's own

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "lowest": self.lowest}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        self.lowest = state_dict.get("lowest", math.inf if self.best_model_score is None else float(self.best_model_score))


class SizeBests(Callback):
    """A SlimmableContainer's smaller sizes each kept at its own best validation ESR, as
    neural-amp-modeler keeps a packed model's (its PackedBestCheckpoint), by KeptCheckpoint's rule:
    whenever size i's ESR is `within` of its lowest so far, a checkpoint `best_size<i>.ckpt` beside
    best.ckpt (the largest size's); `assemble` then gives best.ckpt each size's kept weights."""

    def __init__(self, root: Path, sizes: int, within: float = 0.0):
        self.root, self.sizes, self.within = Path(root), sizes, within
        self.best: dict[int, float] = {}  # each size's lowest validation ESR so far

    def path(self, i: int) -> Path:
        return self.root / f"best_size{i}.ckpt"

    def on_validation_end(self, trainer, module) -> None:
        if trainer.sanity_checking:
            return
        for i in range(self.sizes - 1):
            value = trainer.callback_metrics.get(f"val_esr_size{i}")
            if value is None or not math.isfinite(float(value)):
                continue
            if kept(float(value), self.best.get(i, math.inf), self.within):
                trainer.save_checkpoint(self.path(i))  # the validated (averaged) weights, as ModelCheckpoint saves them
            self.best[i] = min(float(value), self.best.get(i, math.inf))

    def state_dict(self) -> dict[str, Any]:
        return {"best": dict(self.best)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.best = {int(i): v for i, v in state_dict["best"].items()}

    def assemble(self, best: Path) -> list[int | None]:
        """Each smaller size's best weights into the checkpoint `best`; returns the epoch each
        size's weights are from (the last: best's own)."""
        saved = read_checkpoint(best)
        epochs: list[int | None] = []
        for i in range(self.sizes - 1):
            if not self.path(i).is_file():
                epochs.append(saved.epoch)
                continue
            own = read_checkpoint(self.path(i))
            prefix = f"{MODEL_PREFIX}sizes.{i}."
            saved.state_dict.update({k: v for k, v in own.state_dict.items() if k.startswith(prefix)})
            epochs.append(own.epoch)
        with atomic_path(best) as tmp:
            torch.save(saved.raw, tmp)
        return [*epochs, saved.epoch]


class AtomicCheckpointIO(TorchCheckpointIO):
    """Checkpoints written beside their target and renamed into place (ampcapture.audio.atomic_path).
    Lightning's own stages the file in the system's temp folder and copies it over, which a
    full disk truncates: a damaged last.ckpt that every later run failed to resume from."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Any | None = None) -> None:
        with atomic_path(Path(path)) as tmp:
            torch.save(checkpoint, tmp)

    def load_checkpoint(self, path, map_location: Any | None = None, weights_only: bool | None = None) -> dict[str, Any]:
        """Resuming reads the checkpoint as data too (never Lightning's default unpickler)."""
        return read_checkpoint(path).raw


def quiet_lightning() -> None:
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
