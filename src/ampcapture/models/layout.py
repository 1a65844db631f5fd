"""Facts about the models' NAM layouts that the torch models, the `.nam` reader and writer and
the real-time engine all use: the activations and their parameters, FiLM's positions, a block of
a WaveNet's flat weights (`WaveNetSpec.blocks` walks them), an LSTM's weight slices and cost.
Plain Python (no torch), so the engine can use them too."""

from __future__ import annotations

from dataclasses import dataclass

GATING_MODES = ("none", "gated", "blended")
# Activations NAM's core implements, by NAM's names (torch.nn's, and NAM's own Softsigmoid and
# LeakyHardtanh); the engine's compiled kernels know them by their index here.
ACTIVATIONS = ("Tanh", "Hardtanh", "ReLU", "LeakyReLU", "Sigmoid", "SiLU", "Hardswish", "Softsign", "Softsigmoid", "LeakyHardtanh", "PReLU")
# The parameters an activation takes, at NAM's defaults: a config gives an activation as a name,
# or as {name: ..., parameter: value}; PReLU's slope is one for all channels (negative_slope)
# or one per channel (negative_slopes: [...]).
ACTIVATION_PARAMETERS = {
    "LeakyReLU": {"negative_slope": 0.01},
    "Hardtanh": {"min_val": -1.0, "max_val": 1.0},
    "LeakyHardtanh": {"min_val": -1.0, "max_val": 1.0, "min_slope": 0.01, "max_slope": 0.01},
    "PReLU": {"negative_slope": 0.25},
}
# The engine's layer histories are shifted back to the front when they fill up; this many
# samples fit between two shifts (each layer keeps its taps' span plus this), and offline renders
# run in blocks of this size. 512 rather than 4096: wavenet_standard's histories then take 0.7 MB,
# inside a 2 MB L2 cache, and it streams 7 % faster and renders 35 % faster offline.
HISTORY_BLOCK = 512
# Where NAM 0.13's FiLM can modulate a layer's signals by its condition, in NAM's weight order.
FILM_POSITIONS = ("conv_pre", "conv_post", "input_mixin_pre", "input_mixin_post", "activation_pre", "activation_post", "layer1x1_post", "head1x1_post")


@dataclass(frozen=True)
class WeightBlock:
    """One tensor of a WaveNet's flat NAM weights: `part` of layer `layer` (None: of the array)
    of array `array`, a (rows, cols, taps) convolution weight or a bias of `rows` (cols = taps
    = 1), starting at `offset`."""

    array: int
    layer: int | None
    part: str
    rows: int
    cols: int
    taps: int
    offset: int

    @property
    def size(self) -> int:
        return self.rows * self.cols * self.taps

    @property
    def is_bias(self) -> bool:
        return self.part.endswith("_bias")


def lstm_macs(hidden_size: int, num_layers: int) -> int:
    """Multiply-accumulates per sample of a stacked LSTM: gates, cell/hidden updates, head."""
    h = hidden_size
    gates = 4 * h * (1 + h) + 4 * h * (h + h) * (num_layers - 1)
    return gates + 3 * h * num_layers + h


def lstm_prewarm_samples(sample_rate: float) -> int:
    """The silence an LSTM settles on before it plays: half a second, NAM's core's
    `nam::lstm::LSTM::GetPrewarmSamples` (its state has no receptive field to fill)."""
    return max(int(0.5 * sample_rate), 1)


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
