"""Training checkpoints (`best.ckpt`, `last.ckpt`): their one reader. A checkpoint is read as
data, never as code: torch's weights-only unpickler builds tensors and plain values and refuses
any other object, so a crafted file (from an MLflow artifact, another sweep worker, a download)
cannot run anything. It keeps, beside the weights, the hyper-parameters that rebuild its model:
the arguments the training's LightningModule was made with (`HYPER_PARAMETERS`)."""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ampcapture.core.errors import ModelFileError
from ampcapture.formats import nam_limits as limits
from ampcapture.models import ARCHITECTURES, AmpModel

NOT_DATA = "holds objects other than tensors and plain values (a pickled program?): it was not loaded"
FIX = "use a .ckpt written by `pipelines/train.py` (models/<capture>/<run>/best.ckpt)"
# What a checkpoint's hyper_parameters hold (training.module.AmpModule's arguments): the model's
# architecture, config and sample rate, the loss and train settings, the run's name, and a
# capture set's knobs ({name: [low, high]}, None for one capture).
HYPER_PARAMETERS = ("architecture", "config", "sample_rate", "loss", "train", "name", "knobs")
MODEL_PREFIX = "model."  # the model's weights within the LightningModule's state dict


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint as Lightning wrote it (`raw`, which resuming reads back whole), with the parts
    the project reads named."""

    path: Path
    raw: dict[str, Any]

    @property
    def hyper_parameters(self) -> dict[str, Any]:
        return self.raw["hyper_parameters"]

    @property
    def state_dict(self) -> dict[str, torch.Tensor]:
        """The LightningModule's weights (the model's under `MODEL_PREFIX`; averaged, when the run kept an average)."""
        return self.raw["state_dict"]

    @property
    def epoch(self) -> int:
        return int(self.raw["epoch"])

    @property
    def knobs(self) -> dict[str, list[float]] | None:
        """A parametric model's knobs, {name: [low, high]} in its inputs' order; None for others."""
        return self.hyper_parameters.get("knobs")

    def model(self) -> AmpModel:
        """The model, its sizes bounded before it is allocated (a checkpoint is data from anywhere too)."""
        try:
            hp = self.hyper_parameters
            architecture = ARCHITECTURES[hp["architecture"]]
            spec = architecture.bounded_spec(hp["config"], self.path)  # bounded before the model is allocated
            model = architecture(spec, int(limits.checked_sample_rate(hp["sample_rate"], self.path)))
            model.load_state_dict({k[len(MODEL_PREFIX) :]: v for k, v in self.state_dict.items() if k.startswith(MODEL_PREFIX)})
        except ModelFileError:
            raise
        except Exception as exc:  # a foreign checkpoint: other keys, another model's weights
            problem = f"is not an ampcapture checkpoint ({type(exc).__name__}: {str(exc)[:200]})"
            raise ModelFileError(self.path, problem, f"{FIX} or a .nam file") from exc
        return model.eval()


def read_checkpoint(path: str | Path, fix: str = FIX) -> Checkpoint:
    """The checkpoint; a ModelFileError naming the file if it is missing, damaged, foreign, or
    holds anything but data."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(path, "file not found", fix)
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch.load raises many types for a truncated or foreign file
        if isinstance(exc, pickle.UnpicklingError) and "GLOBAL" in str(exc):  # a class or function it does not allow
            raise ModelFileError(path, NOT_DATA, fix) from None
        raise ModelFileError(path, f"is not an ampcapture checkpoint ({type(exc).__name__}: {str(exc)[:200]})", fix) from exc
    if not isinstance(raw, dict) or "state_dict" not in raw:
        raise ModelFileError(path, "is not an ampcapture checkpoint (no state_dict)", fix)
    return Checkpoint(path, raw)


def load_checkpoint(path: str | Path) -> tuple[AmpModel, dict[str, list[float]] | None]:
    """The model of a training checkpoint and, of a parametric one, its knobs, from one read of the file."""
    checkpoint = read_checkpoint(path, f"{FIX} or a .nam file")
    return checkpoint.model(), checkpoint.knobs  # model() first: it names a file without hyper-parameters
