"""NAM's `Linear`: one FIR filter (a causal convolution of `receptive_field` taps, a bias if
asked), which NAM's core and plugin load. Of no use for an amp that distorts, it is the smallest
whole architecture: its spec, its torch model and its `.nam` layout live here and nowhere else
(models.ARCHITECTURES names it), and reading, rendering, training and exporting work as for the
others (the engine plays it through the torch model: runtime.engine.TorchEngine)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from ampcapture.core.errors import ConfigError, ModelFileError
from ampcapture.models import limits
from ampcapture.models.base import AmpModel, FrameStream, NamReading


@dataclass(frozen=True)
class LinearSpec:
    receptive_field: int
    bias: bool = False

    @classmethod
    def from_config(cls, config: dict[str, Any], where: str = "model.config") -> LinearSpec:
        """Of {receptive_field, bias}; knobs are refused (a setting would be only a DC offset)."""
        if config.get("knobs"):
            raise ConfigError(f"{where}.knobs", "a Linear model takes no knobs", "train a WaveNet or an LSTM on a capture set")
        unknown = set(config) - {"receptive_field", "bias", "knobs"}
        if unknown:
            raise ConfigError(where, f"does not fit Linear (unexpected key {sorted(unknown)[0]!r})", "give receptive_field and bias")
        taps = config.get("receptive_field")
        if isinstance(taps, bool) or not isinstance(taps, int) or taps < 1:
            raise ConfigError(f"{where}.receptive_field", f"is {taps!r}", "give the filter's taps, a whole number >= 1")
        return cls(taps, bool(config.get("bias", False)))


class Linear(FrameStream, AmpModel):
    """y[t] = bias + sum_k w[k] x[t - receptive_field + 1 + k]: NAM's weight order (conv1d's)."""

    Spec, architecture = LinearSpec, "Linear"

    def __init__(self, spec: LinearSpec, sample_rate: int = 48000):
        super().__init__(sample_rate)
        self.spec = spec
        self.conv = nn.Conv1d(1, 1, spec.receptive_field, bias=spec.bias)
        self.reset()

    @property
    def receptive_field(self) -> int:
        return self.spec.receptive_field

    def forward(self, x: torch.Tensor, knobs: torch.Tensor | None = None) -> torch.Tensor:
        self.check_knobs(knobs)
        return self.conv(x.unsqueeze(1)).squeeze(1)

    def nam_weights(self) -> torch.Tensor:
        parts = [self.conv.weight] + ([self.conv.bias] if self.spec.bias else [])
        return torch.cat([p.detach().float().flatten() for p in parts])

    @torch.no_grad()
    def load_nam_weights(self, weights: torch.Tensor) -> None:
        taps = self.spec.receptive_field
        if weights.numel() != taps + self.spec.bias:
            raise ValueError(f"this Linear has {taps + self.spec.bias} weights, not {weights.numel()}")
        self.conv.weight.copy_(weights[:taps].view_as(self.conv.weight))
        if self.spec.bias:
            self.conv.bias.copy_(weights[taps:])

    def macs_per_sample(self) -> int:
        return self.spec.receptive_field

    @torch.no_grad()
    def shift_output(self, offset: float) -> bool:
        if self.conv.bias is None:
            return False
        self.conv.bias += offset
        return True

    @classmethod
    def bounded_spec(cls, config: dict[str, Any], where: Any) -> LinearSpec:
        limits.count(config.get("receptive_field"), "receptive_field", 1, limits.MAX_RECEPTIVE_FIELD, where)
        return LinearSpec.from_config(config)

    def nam_config(self, version: str, body) -> dict[str, Any]:
        return {"receptive_field": self.spec.receptive_field, "bias": self.spec.bias}

    @classmethod
    def read_nam(cls, data, where, outputs, weights, read_part) -> NamReading:
        config = {"receptive_field": data["config"]["receptive_field"], "bias": bool(data["config"].get("bias", False))}
        spec = cls.bounded_spec(config, where)
        if weights.size != spec.receptive_field + spec.bias:
            problem = f"weights do not fit the config: it needs {spec.receptive_field + spec.bias}, the file has {weights.size}"
            raise ModelFileError(where, problem, "the file is damaged; export it again")
        return spec, np.asarray(weights, np.float32), []
