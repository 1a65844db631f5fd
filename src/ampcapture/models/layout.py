"""Facts about the models' NAM layouts that the torch models, the `.nam` reader and writer and
the real-time engine all use: the activations, the cost per sample and where each WaveNet and
LSTM weight sits in NAM's flat weight list. Plain Python (no torch), so the engine can use them too."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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
# samples fit between two shifts (each layer keeps its taps' span plus this).
HISTORY_BLOCK = 4096
# Where NAM 0.13's FiLM can modulate a layer's signals by its condition, in NAM's weight order.
FILM_POSITIONS = ("conv_pre", "conv_post", "input_mixin_pre", "input_mixin_post", "activation_pre", "activation_post", "layer1x1_post", "head1x1_post")


def per_layer(array: dict[str, Any], key: str, default: Any = None) -> list:
    """A layer array setting per layer: one value for all layers, or a list of one per dilation."""
    v = array.get(key, default)
    return list(v) if isinstance(v, (list, tuple)) else [v] * len(array["dilations"])


def kernel_sizes(array: dict[str, Any]) -> list[int]:
    """A layer array's kernel size per layer: `kernel_size` is one for all, or one per dilation."""
    return [int(k) for k in per_layer(array, "kernel_size")]


def activation_name(activation: str | dict[str, Any]) -> str:
    return activation["name"] if isinstance(activation, dict) else activation


def activation_parameters(activation: str | dict[str, Any]) -> dict[str, Any]:
    """An activation's parameters, NAM's defaults where it gives none."""
    given = {k: v for k, v in activation.items() if k != "name"} if isinstance(activation, dict) else {}
    return ACTIVATION_PARAMETERS.get(activation_name(activation), {}) | given


def activation_specs(array: dict[str, Any], key: str = "activation") -> list[str | dict[str, Any]]:
    """Per layer the activation (`activation`) or gate activation (`secondary_activation`) as
    the config gives it: a name, or {name, parameters}."""
    return per_layer(array, key, "Tanh" if key == "activation" else "Sigmoid")


def activations(array: dict[str, Any]) -> list[str]:
    """Per layer the activation's name."""
    return [activation_name(a) for a in activation_specs(array)]


def gating_modes(array: dict[str, Any]) -> list[str]:
    """Per layer how its activation is paired (`gated`: false/none, true/gated or blended):
    none; gated, the activation times a secondary activation (Sigmoid by default) of as many
    extra channels (NAM's PairMultiply); blended, s * activation(z) + (1 - s) * z with s the
    secondary of the extra channels (NAM's PairBlend)."""
    return [("gated" if g else "none") if isinstance(g, bool) else str(g) for g in per_layer(array, "gated", False)]


def secondary_activations(array: dict[str, Any]) -> list[str]:
    """Per layer the activation's name of a gated or blended layer's extra channels."""
    return [activation_name(a) for a in activation_specs(array, "secondary_activation")]


def bottleneck(array: dict[str, Any]) -> int:
    """The channels after a layer's activation (NAM's bottleneck; the layer's channels unless set)."""
    return int(array.get("bottleneck") or array["channels"])


def head_kernel_size(array: dict[str, Any]) -> int:
    """The taps of a layer array's head rechannel over its summed layer outputs (A2's is 16)."""
    return int(array.get("head_kernel_size", 1))


def head1x1(array: dict[str, Any]) -> int:
    """The outputs of a layer's head 1x1 (NAM's head1x1: each layer's head contribution
    projected); 0 when it has none, the head then sums the activations."""
    return int(array.get("head1x1") or 0)


def has_layer1x1(array: dict[str, Any]) -> bool:
    """Whether a layer has its 1x1 into the residual stream (without, it adds its activations)."""
    return bool(array.get("layer1x1", True))


def head_channels(array: dict[str, Any]) -> int:
    """The channels of a layer array's head sum: its layers' head 1x1 outputs, else their activations."""
    return head1x1(array) or bottleneck(array)


def films(array: dict[str, Any]) -> dict[str, bool]:
    """A layer array's FiLMs (NAM 0.13: a signal times a scale, plus a shift unless `shift` is
    false, both a 1x1 convolution of the condition), as {position: shift} in FILM_POSITIONS order;
    `film` in the config is {position: {shift: bool}}."""
    given = array.get("film") or {}
    return {p: bool((given[p] or {}).get("shift", True)) for p in FILM_POSITIONS if p in given}


def film_channels(array: dict[str, Any], position: str, gating: str) -> int:
    """The channels of the signal a FiLM at `position` modulates in a layer of this gating mode."""
    b = bottleneck(array)
    return {
        "conv_pre": array["channels"],
        "input_mixin_pre": array["condition_size"],
        "activation_post": b,
        "layer1x1_post": array["channels"],
        "head1x1_post": head1x1(array),
    }.get(position, b if gating == "none" else 2 * b)


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


def post_head_blocks(post_head: dict[str, Any] | None, in_channels: int) -> list[tuple[int, int, int]]:
    """A WaveNet's post-head (NAM 0.13's `head`, after the layer arrays and head_scale): per
    block (activation, then a convolution of `kernel_sizes[i]` taps with a bias) its (inputs,
    outputs, taps); `channels` between blocks, `out_channels` out of the last. None: no post-head."""
    if not post_head:
        return []
    kernels = [int(k) for k in post_head["kernel_sizes"]]
    outs = [int(post_head["channels"])] * (len(kernels) - 1) + [int(post_head["out_channels"])]
    return [(cin, cout, k) for cin, cout, k in zip([in_channels] + outs[:-1], outs, kernels)]


def wavenet_blocks(layers: list[dict[str, Any]], post_head: dict[str, Any] | None = None) -> list[WeightBlock]:
    """NAM's WaveNet weight order, the one walk of it that the torch model's parameters, the
    reader and the engine all follow: per array the input rechannel; per layer the dilated
    conv and its bias, the input mixer, the layer 1x1 and its bias (unless it has none), the
    head 1x1 and its bias (if it has one), each FiLM's 1x1 and its bias (`film_<position>`);
    the head rechannel and its bias (if any); then the post-head's convolutions and biases
    (`post_head` of array len(layers)); head_scale last."""
    blocks: list[WeightBlock] = []

    def add(array: int, layer: int | None, part: str, rows: int, cols: int = 1, taps: int = 1) -> None:
        offset = blocks[-1].offset + blocks[-1].size if blocks else 0
        blocks.append(WeightBlock(array, layer, part, rows, cols, taps, offset))

    for a, c in enumerate(layers):
        ch, b, h1 = c["channels"], bottleneck(c), head1x1(c)
        add(a, None, "rechannel", ch, c["input_size"])
        for i, (k, mode) in enumerate(zip(kernel_sizes(c), gating_modes(c))):
            mid = b * (1 if mode == "none" else 2)
            add(a, i, "conv", mid, ch, k)
            add(a, i, "conv_bias", mid)
            add(a, i, "mixer", mid, c["condition_size"])
            if has_layer1x1(c):
                add(a, i, "layer1x1", ch, b)
                add(a, i, "layer1x1_bias", ch)
            if h1:
                add(a, i, "head1x1", h1, b)
                add(a, i, "head1x1_bias", h1)
            for position, shift in films(c).items():
                rows = (2 if shift else 1) * film_channels(c, position, mode)
                add(a, i, f"film_{position}", rows, c["condition_size"])
                add(a, i, f"film_{position}_bias", rows)
        add(a, None, "head", c["head_size"], head_channels(c), head_kernel_size(c))
        if c.get("head_bias", True):
            add(a, None, "head_bias", c["head_size"])
    for i, (cin, cout, k) in enumerate(post_head_blocks(post_head, layers[-1]["head_size"])):
        add(len(layers), i, "post_head", cout, cin, k)
        add(len(layers), i, "post_head_bias", cout)
    add(len(layers), None, "head_scale", 1)
    return blocks


def wavenet_macs(layers: list[dict[str, Any]], post_head: dict[str, Any] | None = None) -> int:
    """Multiply-accumulates per output sample of a WaveNet (its layer arrays' configs): one
    per weight of every convolution (biases and head_scale add, not multiply-accumulate)."""
    return sum(b.size for b in wavenet_blocks(layers, post_head) if not b.is_bias and b.part != "head_scale")


def array_receptive_field(array: dict[str, Any]) -> int:
    """Input samples one output of a layer array sees: its dilated layers, then its head's taps."""
    return 1 + sum((k - 1) * d for k, d in zip(kernel_sizes(array), array["dilations"])) + head_kernel_size(array) - 1


def wavenet_receptive_field(layers: list[dict[str, Any]], post_head: dict[str, Any] | None = None) -> int:
    return 1 + sum(array_receptive_field(c) - 1 for c in layers) + sum(k - 1 for _, _, k in post_head_blocks(post_head, 1))


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


def wavenet_weight_count(layers: list[dict[str, Any]], post_head: dict[str, Any] | None = None) -> int:
    """The length of a WaveNet's flat NAM weights (head_scale included)."""
    last = wavenet_blocks(layers, post_head)[-1]
    return last.offset + last.size
