"""Several sizes of one capture in one model, as NAM's A2 ships them (a `SlimmableContainer`):
the player picks a size with its size control, each size is a whole model that plays alone.

They train together, as neural-amp-modeler 0.13 trains its `PackedWaveNet`: one run, the same
batches, the loss the sum of the sizes' losses. NAM packs the sizes into one wide network
whose weights are masked block-diagonal after every step, which makes the sizes independent;
here they are simply separate modules, which is the same arithmetic (Adam's and weight decay's
updates are per weight; only a global gradient-norm clip couples them, in both). As a model
(forward, evaluate, render, stream) the container is its largest size, the one the plugin plays
by default; `outputs` and `evaluate_sizes` give every size, for the loss and the per-size ESRs.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from torch import nn

from ampcapture.core.errors import ConfigError, ModelFileError
from ampcapture.models.base import AmpModel, NamReading, knob_slice
from ampcapture.models.lstm import LSTM
from ampcapture.models.wavenet import WaveNet

SIZE_ARCHITECTURES: dict[str, type[AmpModel]] = {"WaveNet": WaveNet, "LSTM": LSTM}


@dataclass(frozen=True)
class ContainerSpec:
    """Several sizes of one capture, smallest first: (architecture, spec) each; `max_values`:
    where each size's range of the player's size control ends (NAM's "uniform" by default: i / n,
    the last 1.0); `knobs`: every size's (a parametric capture's)."""

    sizes: tuple[tuple[str, Any], ...]
    max_values: tuple[float, ...]
    knobs: int = 0

    @classmethod
    def from_config(cls, config: dict[str, Any], where: str = "model.config") -> ContainerSpec:
        """Of {submodels: [{architecture, config}, ...], max_values, knobs}."""
        unknown = set(config) - {"submodels", "max_values", "knobs"}
        if unknown:
            raise ConfigError(where, f"does not fit SlimmableContainer (unexpected key {sorted(unknown)[0]!r})", "see conf/model/a2.yaml")
        submodels, knobs = config.get("submodels") or [], int(config.get("knobs", 0))
        if not submodels:
            raise ConfigError(f"{where}.submodels", "is empty", "list the sizes, smallest first (see conf/model/a2.yaml)")
        sizes = []
        for i, s in enumerate(submodels):
            architecture = s.get("architecture")
            if architecture not in SIZE_ARCHITECTURES:
                raise ConfigError(f"{where}.submodels[{i}].architecture", f"is {architecture!r}", f"use one of {sorted(SIZE_ARCHITECTURES)}")
            sizes.append((architecture, SIZE_ARCHITECTURES[architecture].Spec.from_config({**s["config"], "knobs": knobs}, f"{where}.submodels[{i}].config")))
        n, given = len(sizes), config.get("max_values")
        max_values = tuple(float(v) for v in given) if given is not None else tuple((i + 1) / n for i in range(n))
        if len(max_values) != n or any(b <= a for a, b in zip(max_values, max_values[1:])) or max_values[-1] != 1.0:
            raise ConfigError(f"{where}.max_values", f"{list(max_values)} must rise, one per size, up to 1.0", "leave it out for NAM's uniform steps")
        return cls(tuple(sizes), max_values, knobs)


class SlimmableContainer(AmpModel):
    Spec, architecture = ContainerSpec, "SlimmableContainer"

    def __init__(self, spec: ContainerSpec, sample_rate: int = 48000):
        super().__init__(sample_rate)
        self.spec, self.max_values, self.knobs = spec, list(spec.max_values), spec.knobs
        self.sizes = nn.ModuleList(SIZE_ARCHITECTURES[architecture](size, sample_rate) for architecture, size in spec.sizes)

    @property
    def size_names(self) -> list[str]:
        """Each size by what it is, as NAM names A2's: `channels_3`, `channels_8` (a WaveNet's first
        layer array's channels), `hidden_16` (an LSTM's); `size<i>` where two would read alike."""
        names = [f"channels_{s.arrays[0].channels}" if a == "WaveNet" else f"hidden_{s.hidden_size}" for a, s in self.spec.sizes]
        return names if len(set(names)) == len(names) else [f"size{i}" for i in range(len(names))]

    @property
    def size_controls(self) -> list[float]:
        """Per size, the lowest value of the player's size control that plays it."""
        return [0.0, *self.max_values[:-1]]

    @property
    def parts(self) -> list[AmpModel]:
        return list(self.sizes)

    @classmethod
    def bounded_spec(cls, config: dict[str, Any], where: Any) -> ContainerSpec:
        for size in config["submodels"]:
            SIZE_ARCHITECTURES[size["architecture"]].bounded_spec(size["config"], where)
        return ContainerSpec.from_config(config)

    def nam_config(self, version: str, body) -> dict[str, Any]:
        """NAM's: each size a whole `.nam` with the size control's value up to which it plays."""
        return {"submodels": [{"max_value": v, "model": body(size)} for v, size in zip(self.max_values, self.sizes)]}

    def nam_file_weights(self) -> torch.Tensor:
        return torch.zeros(0)  # each size's are in its own .nam

    def beyond_legacy(self) -> list[str]:
        return list(dict.fromkeys(["several sizes (a SlimmableContainer)"] + [what for size in self.sizes for what in size.beyond_legacy()]))

    def plugin_differences(self) -> list[str]:
        return list(dict.fromkeys(what for size in self.sizes for what in size.plugin_differences()))

    @classmethod
    def read_nam(cls, data, where, outputs, weights, read_part) -> NamReading:
        """Its submodels read one by one, checked as NAM's core checks them."""
        entries = (data.get("config") or {}).get("submodels") if isinstance(data.get("config"), dict) else None
        valid = (
            isinstance(entries, list)
            and entries
            and all(isinstance(e, dict) and isinstance(e.get("max_value"), (int, float)) and "model" in e for e in entries)
        )
        if not valid:
            raise ModelFileError(where, f"is a {cls.architecture} without a list of submodels ({{max_value, model}} each)", "export the model again")
        parts = []
        for i, entry in enumerate(entries):
            model = entry["model"]
            if isinstance(model, dict) and model.get("architecture") == cls.architecture:
                raise ModelFileError(f"{where} (submodels[{i}])", f"nests a {cls.architecture} in a {cls.architecture}", "give each size one WaveNet or LSTM")
            if isinstance(model, dict) and "sample_rate" not in model and data.get("sample_rate"):
                model = {**model, "sample_rate": data["sample_rate"]}
            parts.append((float(entry["max_value"]), read_part(model, f"{where} (submodels[{i}])", 1)))
        steps = [v for v, _ in parts]
        if any(b <= a for a, b in zip(steps, steps[1:])) or steps[-1] < 1.0:
            raise ModelFileError(where, f"has submodel max_values {steps}: they must rise and the last reach 1.0", "export the model again")
        rates = {part.sample_rate for _, part in parts}
        if len(rates) > 1:
            raise ModelFileError(where, f"has submodels at different sample rates {sorted(rates)}", "export the sizes of one capture together")
        sizes = tuple((part.architecture, part.spec) for _, part in parts)
        spec = ContainerSpec(sizes, (*steps[:-1], 1.0))  # the last size plays to the control's end
        return spec, np.zeros(0, np.float32), parts

    @property
    def largest(self) -> AmpModel:
        return self.sizes[-1]

    @property
    def receptive_field(self) -> int:
        return max(m.receptive_field for m in self.sizes)

    def _trimmed(self, model: AmpModel, x: torch.Tensor) -> torch.Tensor:
        """The input as `model` needs it: its own pre-roll, not the widest size's."""
        return x[:, self.pre_roll - model.pre_roll :]

    def _trimmed_knobs(self, model: AmpModel, knobs: torch.Tensor | None) -> torch.Tensor | None:
        return knob_slice(knobs, self.pre_roll - model.pre_roll, None)

    def forward(self, x: torch.Tensor, knobs: torch.Tensor | None = None) -> torch.Tensor:
        return self.largest(self._trimmed(self.largest, x), self._trimmed_knobs(self.largest, knobs))

    def outputs(self, x: torch.Tensor, knobs: torch.Tensor | None = None) -> list[torch.Tensor]:
        """Every size's predict() of the same windows, smallest first: what training scores."""
        return [m.predict(self._trimmed(m, x), self._trimmed_knobs(m, knobs)) for m in self.sizes]

    def evaluate_sizes(self, x: torch.Tensor, knobs: torch.Tensor | None = None) -> list[torch.Tensor]:
        return [m.evaluate(self._trimmed(m, x), self._trimmed_knobs(m, knobs)) for m in self.sizes]

    def predict(self, x: torch.Tensor, knobs: torch.Tensor | None = None) -> torch.Tensor:
        return self.largest.predict(self._trimmed(self.largest, x), self._trimmed_knobs(self.largest, knobs))

    def evaluate(self, x: torch.Tensor, knobs: torch.Tensor | None = None) -> torch.Tensor:
        return self.largest.evaluate(self._trimmed(self.largest, x), self._trimmed_knobs(self.largest, knobs))

    def render(self, x: torch.Tensor, knobs: torch.Tensor | None = None) -> torch.Tensor:
        return self.largest.render(x, knobs)

    @torch.no_grad()
    def at_knobs(self, values: torch.Tensor) -> "SlimmableContainer":
        """Every size folded at `values` (`AmpModel.at_knobs`)."""
        if not self.knobs:
            return super().at_knobs(values)
        plain = SlimmableContainer(replace(self.spec, knobs=0, sizes=tuple((a, replace(s, knobs=0)) for a, s in self.spec.sizes)), self.sample_rate)
        plain.sizes = nn.ModuleList(m.at_knobs(values) for m in self.sizes)
        return plain

    def nam_weights(self) -> torch.Tensor:
        """Every size's weights, smallest first (a .nam container keeps them per size)."""
        return torch.cat([m.nam_weights() for m in self.sizes])

    @torch.no_grad()
    def load_nam_weights(self, weights: torch.Tensor) -> None:
        i = 0
        for m in self.sizes:
            count = m.nam_weights().numel()
            m.load_nam_weights(weights[i : i + count])
            i += count
        if i != weights.numel():
            raise ValueError(f"this container has {i} weights, not {weights.numel()}")

    def macs_per_sample(self) -> int:
        """Of the size that plays by default (the largest)."""
        return self.largest.macs_per_sample()

    def reset(self) -> None:
        self.largest.reset()

    def process(self, buffer: torch.Tensor) -> torch.Tensor:
        return self.largest.process(buffer)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "sizes": [{"name": name, **m.describe()} for name, m in zip(self.size_names, self.sizes)]}
