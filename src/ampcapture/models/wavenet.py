"""NAM's WaveNet: layer arrays of dilated causal convolutions with a conditioning input.

The structure follows neural-amp-modeler's, module for module, so every weight maps onto a
`.nam` file: per array an input rechannel (1x1, no bias), layers of (dilated conv, 1x1 input
mixer from the condition (the raw input), activation, 1x1 layer conv added to the residual),
a head rechannel summing the layers' post-activations; arrays chain their residual streams
and their head sums; the last head sum times `head_scale` is the output.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..errors import ConfigError
from .base import AmpModel

# Activations NAM's core implements that torch has too.
ACTIVATIONS = {"Tanh": nn.Tanh, "Hardtanh": nn.Hardtanh, "ReLU": nn.ReLU, "LeakyReLU": nn.LeakyReLU,
               "Sigmoid": nn.Sigmoid, "SiLU": nn.SiLU, "Hardswish": nn.Hardswish, "Softsign": nn.Softsign}


class _Layer(nn.Module):
    def __init__(self, channels: int, condition_size: int, kernel_size: int, dilation: int, activation: str, gated: bool):
        super().__init__()
        mid = 2 * channels if gated else channels
        self.channels, self.gated = channels, gated
        self.conv = nn.Conv1d(channels, mid, kernel_size, dilation=dilation)
        self.input_mixer = nn.Conv1d(condition_size, mid, 1, bias=False)
        self.activation = ACTIVATIONS[activation]()
        self.layer1x1 = nn.Conv1d(channels, channels, 1)

    def forward(self, x: torch.Tensor, condition: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.conv(x)
        n = z.shape[-1]
        z = z + self.input_mixer(condition[..., -n:])
        if self.gated:
            z = self.activation(z[:, : self.channels]) * torch.sigmoid(z[:, self.channels :])
        else:
            z = self.activation(z)
        return x[..., -n:] + self.layer1x1(z), z


class _LayerArray(nn.Module):
    def __init__(self, input_size: int, condition_size: int, head_size: int, channels: int, kernel_size: int,
                 dilations: list[int], activation: str = "Tanh", gated: bool = False, head_bias: bool = True):
        super().__init__()
        self.rechannel = nn.Conv1d(input_size, channels, 1, bias=False)
        self.layers = nn.ModuleList(_Layer(channels, condition_size, kernel_size, d, activation, gated) for d in dilations)
        self.head_rechannel = nn.Conv1d(channels, head_size, 1, bias=head_bias)
        self.receptive_field = 1 + sum((kernel_size - 1) * d for d in dilations)

    def forward(self, x, condition, head_input=None):
        x = self.rechannel(x)
        for layer in self.layers:
            x, head_term = layer(x, condition)
            head_input = head_term if head_input is None else head_input[..., -head_term.shape[-1] :] + head_term
        return self.head_rechannel(head_input), x


class WaveNet(AmpModel):
    def __init__(self, layers: list[dict[str, Any]], head_scale: float = 0.02, sample_rate: int = 48000):
        super().__init__(sample_rate)
        _validate(layers)
        self.layers_config = [dict(c) for c in layers]
        self.head_scale = float(head_scale)
        self.arrays = nn.ModuleList(_LayerArray(**c) for c in self.layers_config)
        self.reset()

    @property
    def receptive_field(self) -> int:
        return 1 + sum(a.receptive_field - 1 for a in self.arrays)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, time) -> (batch, time - receptive_field + 1): 'valid' outputs only."""
        condition = x.unsqueeze(1)
        y, head = condition, None
        for array in self.arrays:
            head, y = array(y, condition, head)
        return self.head_scale * head.squeeze(1)

    def macs_per_sample(self) -> int:
        total = 0
        for c in self.layers_config:
            mid = c["channels"] * (2 if c.get("gated") else 1)
            per_layer = c["kernel_size"] * c["channels"] * mid + c["condition_size"] * mid + c["channels"] ** 2
            total += c["input_size"] * c["channels"] + len(c["dilations"]) * per_layer + c["channels"] * c["head_size"]
        return total

    def reset(self) -> None:
        self._history = torch.zeros(self.receptive_field - 1)

    @torch.no_grad()
    def process(self, buffer: torch.Tensor) -> torch.Tensor:
        """Streaming: prepend the last receptive_field - 1 input samples kept from before."""
        frame = torch.cat([self._history.to(buffer), buffer])
        self._history = frame[frame.numel() - (self.receptive_field - 1) :]
        return self(frame.unsqueeze(0)).squeeze(0)


def _validate(layers: list[dict[str, Any]]) -> None:
    if not layers:
        raise ConfigError("model.config.layers", "needs at least one layer array", "see conf/model/wavenet_standard.yaml")
    for i, c in enumerate(layers):
        where = f"model.config.layers[{i}]"
        if c.get("activation", "Tanh") not in ACTIVATIONS:
            raise ConfigError(f"{where}.activation", f"unknown activation {c.get('activation')!r}", f"use one of {sorted(ACTIVATIONS)}")
        if not c.get("dilations") or min(c["dilations"]) < 1 or c.get("kernel_size", 0) < 1 or c.get("channels", 0) < 1:
            raise ConfigError(where, "needs channels >= 1, kernel_size >= 1 and dilations >= 1", "see conf/model/wavenet_standard.yaml")
        if i > 0:
            prev = layers[i - 1]
            if c["input_size"] != prev["channels"] or c["channels"] != prev["head_size"]:
                raise ConfigError(where, f"input_size must equal the previous array's channels ({prev['channels']}) and channels its "
                                  f"head_size ({prev['head_size']})", "chain the arrays as NAM's presets do")
    if layers[-1]["head_size"] != 1:
        raise ConfigError(f"model.config.layers[{len(layers) - 1}].head_size", "the last array must output 1 channel", "set head_size: 1")
