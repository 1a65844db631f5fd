"""The LightningModule: an amp model with its loss, optimizer and schedule. Validation ESR
(plain, unfiltered, on the whole validation region) is the headline metric: the checkpoint,
early stopping and a sweeper all optimize it."""

from __future__ import annotations

import math
from typing import Any

import pytorch_lightning as pl
import torch

from ampcapture.core.errors import AmpCaptureError
from ampcapture.formats.checkpoint import Checkpoint
from ampcapture.models import build_model
from ampcapture.training.losses import EPS, LossSettings, TrainingLoss
from ampcapture.training.optim import BUDGET_SCHEDULES, BudgetSchedule
from ampcapture.training.settings import TrainSettings


class TrainingDiverged(AmpCaptureError):
    """The loss became NaN or infinite (continuing would only spread NaNs through the weights), or
    the run ended with a model far worse than silence."""


class AmpModule(pl.LightningModule):
    """An amp model with its loss and optimizer. Its arguments are what every checkpoint saves as
    its hyper-parameters (formats.checkpoint.HYPER_PARAMETERS), enough to rebuild it (`from_checkpoint`)."""

    def __init__(
        self,
        architecture: str,
        config: dict[str, Any],
        sample_rate: int,
        loss: dict[str, Any],
        train: dict[str, Any],
        name: str = "model",
        knobs: dict[str, list[float]] | None = None,
    ):
        """`knobs`: a capture set's, {name: [low, high]} (the model's `knobs` inputs, in order)."""
        super().__init__()
        self.save_hyperparameters()
        self.model = build_model(architecture, config, sample_rate)
        self.loss = TrainingLoss(LossSettings(**loss))
        # a checkpoint from before these settings: the lowest's epoch kept, no offset removed, Adam's default beta2
        self.settings = TrainSettings(**{"keep_within": 0.0, "calibrate_offset": False, "adam_beta2": 0.999, **train})
        self.pre_roll = self.model.pre_roll
        self._loss_sum, self._loss_count = 0.0, 0
        self._grad_norms: list[float] = []

    @classmethod
    def from_checkpoint(cls, checkpoint: Checkpoint) -> "AmpModule":
        """The module a checkpoint was saved from, with its weights (`formats.checkpoint`)."""
        module = cls(**checkpoint.hyper_parameters)
        module.load_state_dict(checkpoint.state_dict)
        return module

    @property
    def epoch_train_loss(self) -> float:
        """Mean training loss of the epoch so far; Lightning reduces its own only after validation."""
        return self._loss_sum / self._loss_count if self._loss_count else math.nan

    @property
    def epoch_grad_norm(self) -> tuple[float, float]:
        """Mean and largest gradient norm of the epoch's steps so far (before train.grad_clip)."""
        norms = self._grad_norms
        return (sum(norms) / len(norms), max(norms)) if norms else (math.nan, math.nan)

    def forward(self, x: torch.Tensor, knobs: torch.Tensor | None = None) -> torch.Tensor:
        """(batch, pre_roll + n) -> (batch, n) (AmpModel.predict)."""
        return self.model.predict(x, knobs)

    def evaluate(self, x: torch.Tensor, knobs: torch.Tensor | None = None) -> torch.Tensor:
        """A whole region, chunk by chunk (AmpModel.evaluate)."""
        return self.model.evaluate(x, knobs)

    def _check_finite(self, value: torch.Tensor, what: str) -> None:
        if not torch.isfinite(value):
            raise TrainingDiverged(
                f"epoch {self.current_epoch}, step {self.global_step}",
                f"the {what} became {value.item()}",
                "lower train.lr, set train.grad_clip (e.g. 1.0), or use trainer.precision=32-true",
            )

    def training_step(self, batch, batch_idx):
        """The loss of every size the model holds, summed (one but for a SlimmableContainer, whose
        sizes train together as neural-amp-modeler trains A2's)."""
        x, knobs, y = unpack(batch)
        scored = [self.loss(out.float(), y.float()) for out in self.model.outputs(x, knobs)]
        loss, terms = sum(s[0] for s in scored), scored[-1][1]
        self._check_finite(loss, "training loss")
        self._loss_sum, self._loss_count = self._loss_sum + loss.item() * x.shape[0], self._loss_count + x.shape[0]
        self.log("train_loss", loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=x.shape[0])
        if len(terms) > 1:
            for key, value in terms.items():
                self.log(f"train_{key}", value, on_step=False, on_epoch=True, batch_size=x.shape[0])
        return loss

    def on_before_optimizer_step(self, optimizer) -> None:
        """The gradient's norm, which Lightning clips only after this hook: its epoch mean and
        largest show how spiky training is and where a train.grad_clip threshold would bite (a
        spike in validation ESR starts as a burst of norms several times the usual)."""
        norm = torch.nn.utils.get_total_norm([p.grad for p in self.parameters() if p.grad is not None])
        if not torch.isfinite(norm):  # a mixed-precision step the gradient scaler skips
            return
        self._grad_norms.append(norm.item())
        self.log("grad_norm", norm, on_step=False, on_epoch=True, batch_size=1)
        self.log("grad_norm_max", norm, on_step=False, on_epoch=True, reduce_fx="max", batch_size=1)

    def size_esrs(self, spans) -> list[torch.Tensor]:
        """The ESR of every size the model holds on a whole region (the list of its spans, one
        batch each), smallest first (the last plays by default): error energy over target energy
        summed over the spans, as if they were one recording."""
        error, energy, samples = 0.0, 0.0, 0
        for batch in spans:
            x, knobs, y = unpack(batch)
            outputs = torch.stack([out.float() for out in self.model.evaluate_sizes(x, knobs)])
            error = error + ((y.float() - outputs) ** 2).flatten(1).sum(1)
            energy, samples = energy + (y.float() ** 2).sum(), samples + y.numel()
        return list(error / (energy + EPS * samples))  # = losses.esr when there is one span

    def _log_esrs(self, name: str, values: list[torch.Tensor]) -> None:
        """`name`: the largest size's ESR; `name`_size<i> per size when there are several."""
        self.log(name, values[-1], prog_bar=name == "val_esr", batch_size=1)
        for i, value in enumerate(values if len(values) > 1 else []):
            self.log(f"{name}_size{i}", value, batch_size=1)

    def validation_step(self, batch, batch_idx):
        """Of a capture set, one batch per trained setting: val_esr is their mean, and each
        setting's own is val_esr_<setting>."""
        values = self.size_esrs(batch)
        self._check_finite(values[-1], "validation ESR")
        self._log_esrs("val_esr", values)
        if self.model.knobs:
            self.log(f"val_esr_{self.trainer.datamodule.trained[batch_idx].name}", values[-1], batch_size=1)

    def test_step(self, batch, batch_idx):
        """Of a capture set: test_esr over the trained settings, heldout_esr over the held-out
        ones (interpolation: settings never trained on), test_esr_<setting> for each."""
        values = self.size_esrs(batch)
        capture = self.trainer.datamodule.test_captures[batch_idx] if self.model.knobs else None
        self._log_esrs("heldout_esr" if capture is not None and capture.held_out else "test_esr", values)
        if capture is not None:
            self.log(f"test_esr_{capture.name}", values[-1], batch_size=1)

    def on_train_epoch_start(self) -> None:
        self._loss_sum, self._loss_count, self._grad_norms = 0.0, 0, []
        dataset = self.trainer.train_dataloader.dataset
        if hasattr(dataset, "set_epoch"):
            dataset.set_epoch(self.current_epoch)

    def configure_optimizers(self):
        s = self.settings
        optimizer = torch.optim.Adam(self.parameters(), lr=s.lr, betas=(0.9, s.adam_beta2), weight_decay=s.weight_decay)
        if s.scheduler == "none":
            return optimizer
        if s.scheduler == "plateau":
            scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=s.lr_decay, patience=s.plateau_patience)
            return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "monitor": "val_esr"}}
        if s.scheduler in BUDGET_SCHEDULES:
            budget = BudgetSchedule(optimizer, self, s.scheduler, s.warmup, s.lr_final, s.cooldown)
            return {"optimizer": optimizer, "lr_scheduler": {"scheduler": budget, "interval": "step"}}
        return {"optimizer": optimizer, "lr_scheduler": torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=s.lr_decay)}


def unpack(batch) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
    """(x, y) or (x, knobs, y) -> x, knobs (None without), y."""
    return (batch[0], None, batch[1]) if len(batch) == 2 else tuple(batch)
