"""Facts about the models' NAM layouts that the torch models, the `.nam` reader and writer and
the real-time engine all use: the activations, the cost per sample and where each LSTM weight
sits in NAM's flat weight list. Plain Python (no torch), so the engine can use them too."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Activations NAM's core implements, by NAM's names (torch.nn's, and NAM's own Softsigmoid and
# LeakyHardtanh); the engine's compiled kernels know them by their index here.
ACTIVATIONS = ("Tanh", "Hardtanh", "ReLU", "LeakyReLU", "Sigmoid", "SiLU", "Hardswish", "Softsign", "Softsigmoid", "LeakyHardtanh")


def per_layer(array: dict[str, Any], key: str, default: Any = None) -> list:
    """A layer array setting per layer: one value for all layers, or a list of one per dilation."""
    v = array.get(key, default)
    return list(v) if isinstance(v, (list, tuple)) else [v] * len(array["dilations"])


def kernel_sizes(array: dict[str, Any]) -> list[int]:
    """A layer array's kernel size per layer: `kernel_size` is one for all, or one per dilation."""
    return [int(k) for k in per_layer(array, "kernel_size")]


def activations(array: dict[str, Any]) -> list[str]:
    return per_layer(array, "activation", "Tanh")


def gatings(array: dict[str, Any]) -> list[bool]:
    """Per layer whether it is gated (its activation times a sigmoid of as many extra channels)."""
    return [bool(g) for g in per_layer(array, "gated", False)]


def head_kernel_size(array: dict[str, Any]) -> int:
    """The taps of a layer array's head rechannel over its summed layer outputs (A2's is 16)."""
    return int(array.get("head_kernel_size", 1))


def wavenet_macs(layers: list[dict[str, Any]]) -> int:
    """Multiply-accumulates per output sample of a WaveNet (its layer arrays' configs)."""
    total = 0
    for c in layers:
        total += c["input_size"] * c["channels"] + head_kernel_size(c) * c["channels"] * c["head_size"]
        for k, gated in zip(kernel_sizes(c), gatings(c)):
            mid = c["channels"] * (2 if gated else 1)
            total += k * c["channels"] * mid + c["condition_size"] * mid + c["channels"] ** 2
    return total


def array_receptive_field(array: dict[str, Any]) -> int:
    """Input samples one output of a layer array sees: its dilated layers, then its head's taps."""
    return 1 + sum((k - 1) * d for k, d in zip(kernel_sizes(array), array["dilations"])) + head_kernel_size(array) - 1


def wavenet_receptive_field(layers: list[dict[str, Any]]) -> int:
    return 1 + sum(array_receptive_field(c) - 1 for c in layers)


def lstm_macs(hidden_size: int, num_layers: int) -> int:
    """Multiply-accumulates per sample of a stacked LSTM: gates, cell/hidden updates, head."""
    h = hidden_size
    gates = 4 * h * (1 + h) + 4 * h * (h + h) * (num_layers - 1)
    return gates + 3 * h * num_layers + h


@dataclass(frozen=True)
class LSTMLayerSlices:
    """Where one layer sits in NAM's flat LSTM weights: [W_ih | W_hh] (4h x (n_in + h), row
    major), the bias (b_ih + b_hh), the initial hidden and cell state."""

    inputs: int
    matrix: slice
    bias: slice
    hidden: slice
    cell: slice


def lstm_layout(hidden_size: int, num_layers: int) -> tuple[list[LSTMLayerSlices], slice, slice, int]:
    """NAM's LSTM weight order: per layer the slices above, then the head's weights and bias;
    returns (layers, head weight, head bias, total count)."""
    h, i, layers = hidden_size, 0, []
    for layer in range(num_layers):
        n_in = 1 if layer == 0 else h
        matrix = slice(i, i + 4 * h * (n_in + h))
        bias = slice(matrix.stop, matrix.stop + 4 * h)
        layers.append(LSTMLayerSlices(n_in, matrix, bias, slice(bias.stop, bias.stop + h), slice(bias.stop + h, bias.stop + 2 * h)))
        i = bias.stop + 2 * h
    return layers, slice(i, i + h), slice(i + h, i + h + 1), i + h + 1


def wavenet_weight_count(layers: list[dict[str, Any]]) -> int:
    """The length of a WaveNet's flat NAM weights (head_scale included)."""
    total = 1
    for c in layers:
        ch = c["channels"]
        for k, gated in zip(kernel_sizes(c), gatings(c)):
            mid = ch * (2 if gated else 1)
            total += mid * ch * k + mid + mid * c["condition_size"] + ch * ch + ch
        total += ch * c["input_size"] + c["head_size"] * ch * head_kernel_size(c) + (c["head_size"] if c.get("head_bias", True) else 0)
    return total
