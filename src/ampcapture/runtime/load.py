"""Any model file, ready to play: a `.nam` (ours or NAM's trainer's) or an ampcapture
checkpoint, as the real-time engine that renders it (and its torch model, for a checkpoint)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ampcapture.capture.knobs import knob_inputs
from ampcapture.core.errors import ModelFileError
from ampcapture.formats.checkpoint import load_checkpoint
from ampcapture.formats.nam import CONTAINER, NamModel, nam_body, read_nam, read_nam_dict, submodel, to_model
from ampcapture.models import AmpModel
from ampcapture.runtime.engine import Engine, TorchEngine
from ampcapture.runtime.lstm_engine import LSTMEngine
from ampcapture.runtime.wavenet_engine import WaveNetEngine

# The compiled engines, by architecture; any other plays through its torch model.
ENGINES = {"WaveNet": WaveNetEngine, "LSTM": LSTMEngine}


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


def engine_for(nam: NamModel) -> Engine:
    """The real-time engine of a read `.nam` (of a container, its largest size)."""
    nam, _ = submodel(nam)
    if nam.architecture in ENGINES:
        return ENGINES[nam.architecture](nam.spec, nam.weights, nam.sample_rate)
    return TorchEngine(to_model(nam))


def engine_for_model(model: AmpModel) -> Engine:
    """The real-time engine of one of our models (of a container, its largest size), also of
    one that .nam cannot hold (GuitarML's skip LSTM), from its spec and weights as a file holds them."""
    played = model.parts[-1]
    if played.architecture in ENGINES:
        weights = np.asarray(played.nam_weights().detach().cpu().numpy(), np.float32)
        return ENGINES[played.architecture](played.spec, weights, float(played.sample_rate))
    return TorchEngine(played)


def load_model(path: str | Path, size: float | None = None, knobs: dict[str, tuple[float, float]] | None = None) -> LoadedModel:
    """Any `.nam` (ours or NAM's trainer's) or ampcapture checkpoint; of a SlimmableContainer
    (A2) the submodel the plugin plays at `size` (default: the largest); of a parametric
    checkpoint, the model its knobs make at the setting `knobs` ({name: (value, value)})."""
    path = Path(path)
    if path.suffix == ".nam":
        knob_inputs(None, knobs or {})  # refuses knobs
        return _loaded_nam(path, read_nam(path), size)
    if path.suffix == ".ckpt":
        parametric, ranges = load_checkpoint(path)
        values = knob_inputs(ranges, knobs or {})
        model = parametric if values is None else parametric.at_knobs(torch.from_numpy(values))
        loaded = _loaded(path, "checkpoint", model, size)
        return loaded if ranges is None else replace(loaded, knob_ranges=ranges, parametric=parametric)
    raise ModelFileError(path, f"unsupported model file type {path.suffix!r}", "give a .nam file or a .ckpt checkpoint")


def _loaded_nam(path: Path, nam: NamModel, size: float | None, kind: str = "nam") -> LoadedModel:
    """The size `size` plays of a read `.nam`."""
    played, index = submodel(nam, size)
    sizes = None if index is None else [v for v, _ in nam.parts]
    metadata = {**nam.metadata, **played.metadata}
    return LoadedModel(path, kind, engine_for(played), None, played.architecture, int(round(played.sample_rate)), metadata, sizes, index)


def _loaded(path: Path, kind: str, model: AmpModel, size: float | None) -> LoadedModel:
    """The size `size` plays of one of our models (a checkpoint's), as its `.nam` would play."""
    if not model.has_nam_layout:  # GuitarML's skip LSTM: its engine from its spec
        if size is not None:
            raise ModelFileError("--size", f"this {model.architecture} model has one size", f"--size picks a submodel of a {CONTAINER} (e.g. an A2 model)")
        return LoadedModel(path, kind, engine_for_model(model), model, model.architecture, model.sample_rate, {})
    loaded = _loaded_nam(path, read_nam_dict(nam_body(model), path), size, kind)
    return replace(loaded, model=model.parts[loaded.submodel or 0])
