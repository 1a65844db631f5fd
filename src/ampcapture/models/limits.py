"""What a model may ask for, checked before anything of it is allocated: a model file or a
checkpoint is data from anywhere (a download, a forum post), and its numbers size the weights,
the buffers the engine allocates and the silence it plays at reset. Every limit is far above any
model NAM trains (its largest, A2's 8-channel WaveNet, has a receptive field of about 8,000
samples) and is named in the error."""

from __future__ import annotations

from typing import Any

from ampcapture.core.errors import ModelFileError
from ampcapture.models.layout import HISTORY_BLOCK

MAX_CHANNELS = 1024  # channels, bottleneck, head and input sizes of a WaveNet array
MAX_LAYERS = 256  # layers of one array (and arrays of one model)
MAX_KERNEL = 64
MAX_DILATION = 65536
MAX_RECEPTIVE_FIELD = 2**18  # samples (5.5 s at 48 kHz): the silence a reset plays through
MAX_STATE_BYTES = 512 * 2**20  # the engine's history buffers
MAX_WEIGHT_BYTES = 256 * 2**20  # as many weights as the largest .nam file holds
MAX_HIDDEN = 1024  # an LSTM's hidden size
MAX_LSTM_LAYERS = 16
FIX = "the file is damaged or not made by NAM; export it again"


def count(value: Any, what: str, low: int, high: int, where: Any) -> int:
    """`value`, a whole number from `low` to `high`; else an error naming `what`."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ModelFileError(where, f"has {what} {str(value)[:40]}: it must be a whole number from {low} to {high}", FIX)
    return value


def check_wavenet_config(config: dict[str, Any], where: Any) -> None:
    """A WaveNet config's sizes (as a preset gives them), every one bounded before its spec is built."""
    layers = config["layers"]
    if not isinstance(layers, list) or not layers:
        raise ModelFileError(where, "has no layer arrays", FIX)
    count(len(layers), "a number of layer arrays", 1, MAX_LAYERS, where)
    for i, a in enumerate(layers):
        here = f"{where} (layers[{i}])"
        dilations = a["dilations"]
        if not isinstance(dilations, list):
            raise ModelFileError(here, f"has dilations {str(dilations)[:40]}: a list of whole numbers", FIX)
        count(len(dilations), "a number of layers", 1, MAX_LAYERS, here)
        for d in dilations:
            count(d, "a dilation", 1, MAX_DILATION, here)
        for key in ("input_size", "condition_size", "head_size", "channels"):
            count(a[key], key, 1, MAX_CHANNELS, here)
        count(int(a.get("bottleneck") or a["channels"]), "bottleneck", 1, MAX_CHANNELS, here)
        count(int(a.get("head1x1") or 0) or 1, "head1x1 out_channels", 1, MAX_CHANNELS, here)
        count(a.get("head_kernel_size", 1), "head kernel_size", 1, MAX_KERNEL, here)
        kernels = a["kernel_size"] if isinstance(a["kernel_size"], list) else [a["kernel_size"]] * len(dilations)
        if len(kernels) != len(dilations):
            raise ModelFileError(here, f"has {len(kernels)} kernel sizes for {len(dilations)} layers", FIX)
        for k in kernels:
            count(k, "a kernel_size", 1, MAX_KERNEL, here)
    post = config.get("post_head")
    if post is not None:
        count(post["channels"], "post-head channels", 1, MAX_CHANNELS, where)
        count(post["out_channels"], "post-head out_channels", 1, MAX_CHANNELS, where)
        if not isinstance(post["kernel_sizes"], list) or len(post["kernel_sizes"]) > MAX_LAYERS:
            raise ModelFileError(where, "has a post-head whose kernel_sizes are not a short list", FIX)
        for k in post["kernel_sizes"]:
            count(k, "a post-head kernel size", 1, MAX_KERNEL, where)


def check_wavenet(spec, where: Any) -> None:
    """A WaveNet spec's receptive field, the engine's history buffers and its weights, bounded."""
    field = spec.receptive_field
    if field > MAX_RECEPTIVE_FIELD:
        raise ModelFileError(
            where, f"has a receptive field of {field} samples (limit {MAX_RECEPTIVE_FIELD}: {MAX_RECEPTIVE_FIELD / 48000:.1f} s at 48 kHz)", FIX
        )
    state = sum(a.channels * ((layer.kernel_size - 1) * layer.dilation + HISTORY_BLOCK) for a in spec.arrays for layer in a.layers)
    state += sum(a.head_size * (a.head_kernel_size + HISTORY_BLOCK) for a in spec.arrays)
    if 4 * state > MAX_STATE_BYTES:
        raise ModelFileError(where, f"needs {4 * state / 2**20:.0f} MB of history buffers (limit {MAX_STATE_BYTES // 2**20} MB)", FIX)
    if 4 * spec.weight_count > MAX_WEIGHT_BYTES:
        raise ModelFileError(where, f"declares {spec.weight_count} weights, more than a .nam file can hold", FIX)


def check_lstm(config: dict[str, Any], where: Any) -> None:
    count(config["hidden_size"], "hidden_size", 1, MAX_HIDDEN, where)
    count(config["num_layers"], "num_layers", 1, MAX_LSTM_LAYERS, where)
