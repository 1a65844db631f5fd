"""Any model file, ready to play: a `.nam` (ours or NAM's trainer's) or an ampcapture
checkpoint, as the real-time engine that renders it (and its torch model, for a checkpoint)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from ampcapture.capture.knobs import knob_inputs
from ampcapture.core.errors import ModelFileError
from ampcapture.formats.checkpoint import load_checkpoint
from ampcapture.formats.nam import CONTAINER, nam_body, read_nam, read_nam_dict, submodel
from ampcapture.models import LSTM, AmpModel
from ampcapture.runtime.engine import Engine, LSTMEngine, WaveNetEngine


@dataclass
class LoadedModel:
    """A model file, ready to render: its engine, its torch model (when it has one) and what it is."""

    path: Path
    kind: str  # "nam" | "checkpoint"
    engine: Engine
    model: AmpModel | None
    architecture: str
    sample_rate: int
    metadata: dict[str, Any]
    sizes: list[float] | None = None  # a container's submodel max_values
    submodel: int | None = None  # the one playing
    knob_ranges: dict[str, list[float]] | None = None  # a parametric checkpoint's knobs
    parametric: AmpModel | None = None  # its torch model with the knobs as inputs (all sizes)

    def describe(self) -> dict[str, Any]:
        size = {} if self.sizes is None else {"container": CONTAINER, "sizes": self.sizes, "submodel": self.submodel}
        return {
            "model": str(self.path),
            "kind": self.kind,
            "architecture": self.architecture,
            "sample_rate": self.sample_rate,
            "parameters": self.engine.cost.parameters,
            "macs_per_sample": self.engine.cost.macs_per_sample,
            **size,
        }


def engine_for(nam: dict[str, Any]) -> Engine:
    """The real-time engine of a read `.nam` dict (of a container, its largest size)."""
    nam, _ = submodel(nam)
    if nam["architecture"] == "WaveNet":
        return WaveNetEngine(nam["config"], nam["weights"], nam["sample_rate"])
    return LSTMEngine(nam["config"], nam["weights"], nam["sample_rate"])


def engine_for_model(model: AmpModel) -> Engine:
    """The real-time engine of one of our models (also GuitarML's skip LSTM, which .nam lacks)."""
    if isinstance(model, LSTM) and model.skip:
        config = {"hidden_size": model.hidden_size, "num_layers": model.num_layers}
        return LSTMEngine(config, model.nam_weights().numpy(), model.sample_rate, skip=True)
    return engine_for(read_nam_dict(nam_body(model), "model"))


def load_model(path: str | Path, size: float | None = None, knobs: dict[str, tuple[float, float]] | None = None) -> LoadedModel:
    """Any `.nam` (ours or NAM's trainer's) or ampcapture checkpoint; of a SlimmableContainer
    (A2) the submodel the plugin plays at `size` (default: the largest); of a parametric
    checkpoint, the model its knobs make at the setting `knobs` ({name: (value, value)})."""
    path = Path(path)
    if path.suffix == ".nam":
        knob_inputs(None, knobs or {})  # refuses knobs
        return _loaded(path, "nam", read_nam(path), None, size)
    if path.suffix == ".ckpt":
        parametric, ranges = load_checkpoint(path)
        values = knob_inputs(ranges, knobs or {})
        model = parametric if values is None else parametric.at_knobs(torch.from_numpy(values))
        nam = None if isinstance(model, LSTM) and model.skip else read_nam_dict(nam_body(model), path)  # skip LSTM: no .nam layout
        loaded = _loaded(path, "checkpoint", nam, model, size)
        return loaded if ranges is None else replace(loaded, knob_ranges=ranges, parametric=parametric)
    raise ModelFileError(path, f"unsupported model file type {path.suffix!r}", "give a .nam file or a .ckpt checkpoint")


def _loaded(path: Path, kind: str, nam: dict[str, Any] | None, model: AmpModel | None, size: float | None) -> LoadedModel:
    """The size `size` plays of a read `.nam` dict (and of its torch model, for a checkpoint)."""
    if nam is None:
        submodel({"architecture": type(model).__name__}, size)  # refuses a size
        return LoadedModel(path, kind, engine_for_model(model), model, type(model).__name__, model.sample_rate, {})
    played, index = submodel(nam, size)
    sizes = None if index is None else [s["max_value"] for s in nam["config"]["submodels"]]
    if index is not None and model is not None:
        model = model.sizes[index]
    metadata = {**nam["metadata"], **played["metadata"]}
    return LoadedModel(path, kind, engine_for(played), model, played["architecture"], int(round(played["sample_rate"])), metadata, sizes, index)
