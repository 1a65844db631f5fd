"""Training checkpoints (`best.ckpt`, `last.ckpt`) read as models, without Lightning: a
checkpoint keeps the hyper-parameters that rebuild its model beside the weights."""

from __future__ import annotations

from pathlib import Path

from ampcapture.core.checkpoints import read_checkpoint
from ampcapture.core.errors import ModelFileError
from ampcapture.formats import nam_limits as limits
from ampcapture.models import AmpModel, build_model


def load_checkpoint(path: str | Path) -> tuple[AmpModel, dict[str, list[float]] | None]:
    """The model of a training checkpoint (the averaged weights, when the run kept an average)
    and, of a parametric one, its knobs ({name: [low, high]} in its inputs' order; None for
    others), from one read of the file."""
    path = Path(path)
    fix = "use a .ckpt written by `pipelines/train.py` (models/<capture>/<run>/best.ckpt) or a .nam file"
    checkpoint = read_checkpoint(path, fix)
    try:
        hp = checkpoint["hyper_parameters"]
        _check_sizes(hp["architecture"], hp["config"], path)  # bounded before the model is allocated
        model = build_model(hp["architecture"], hp["config"], int(limits.checked_sample_rate(hp["sample_rate"], path)))
        prefix = "model."
        model.load_state_dict({k[len(prefix) :]: v for k, v in checkpoint["state_dict"].items() if k.startswith(prefix)})
    except ModelFileError:
        raise
    except Exception as exc:  # a foreign checkpoint: other keys, another model's weights
        raise ModelFileError(path, f"is not an ampcapture checkpoint ({type(exc).__name__}: {str(exc)[:200]})", fix) from exc
    return model.eval(), hp.get("knobs")


def _check_sizes(architecture: str, config: dict, where: Path) -> None:
    """A checkpoint is data from anywhere too: its model's sizes within the .nam limits."""
    if architecture == "SlimmableContainer":
        for size in config["submodels"]:
            _check_sizes(size["architecture"], size["config"], where)
    elif architecture == "WaveNet":
        limits.check_wavenet(config, where)
    elif architecture == "LSTM":
        limits.check_lstm(config, where)
