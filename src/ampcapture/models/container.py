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

from typing import Any

import torch
from torch import nn

from ampcapture.core.errors import ConfigError
from ampcapture.models.base import AmpModel, knob_slice
from ampcapture.models.lstm import LSTM
from ampcapture.models.wavenet import WaveNet

SIZE_ARCHITECTURES: dict[str, type[AmpModel]] = {"WaveNet": WaveNet, "LSTM": LSTM}


class SlimmableContainer(AmpModel):
    def __init__(self, submodels: list[dict[str, Any]], max_values: list[float] | None = None, sample_rate: int = 48000, knobs: int = 0):
        """`submodels`: {architecture, config} per size, smallest first; `max_values`: where each
        size's range of the size control ends (default NAM's "uniform": i / n, the last 1.0);
        `knobs`: every size's (a parametric capture's)."""
        super().__init__(sample_rate)
        if not submodels:
            raise ConfigError("model.config.submodels", "is empty", "list the sizes, smallest first (see conf/model/a2.yaml)")
        for i, s in enumerate(submodels):
            if s.get("architecture") not in SIZE_ARCHITECTURES:
                raise ConfigError(f"model.config.submodels[{i}].architecture", f"is {s.get('architecture')!r}", f"use one of {sorted(SIZE_ARCHITECTURES)}")
        n = len(submodels)
        max_values = [float(v) for v in max_values] if max_values is not None else [(i + 1) / n for i in range(n)]
        if len(max_values) != n or any(b <= a for a, b in zip(max_values, max_values[1:])) or max_values[-1] != 1.0:
            raise ConfigError("model.config.max_values", f"{max_values} must rise, one per size, up to 1.0", "leave it out for NAM's uniform steps")
        self.max_values, self.knobs, self.submodels = max_values, int(knobs), [dict(s) for s in submodels]
        self.sizes = nn.ModuleList(SIZE_ARCHITECTURES[s["architecture"]](**s["config"], sample_rate=sample_rate, knobs=knobs) for s in submodels)

    @property
    def size_names(self) -> list[str]:
        """Each size by what it is, as NAM names A2's: `channels_3`, `channels_8` (a WaveNet's first
        layer array's channels), `hidden_16` (an LSTM's); `size<i>` where two would read alike."""
        names = []
        for s in self.submodels:
            layers = s["config"].get("layers") or [{}]
            names.append(f"channels_{layers[0].get('channels')}" if s["architecture"] == "WaveNet" else f"hidden_{s['config'].get('hidden_size')}")
        return names if len(set(names)) == len(names) else [f"size{i}" for i in range(len(names))]

    @property
    def size_controls(self) -> list[float]:
        """Per size, the lowest value of the player's size control that plays it."""
        return [0.0, *self.max_values[:-1]]

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
        plain = SlimmableContainer(self.submodels, self.max_values, self.sample_rate)
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
