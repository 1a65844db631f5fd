"""What a `.nam` file may ask for, checked before anything is allocated: a file is data from
anywhere (a download, a forum post), and its numbers size the buffers the engine allocates and
the silence it plays at reset. Every limit is far above any model NAM trains (its largest,
A2's 8-channel WaveNet, has a receptive field of about 8,000 samples) and is named in the error."""

from __future__ import annotations

import math
import os
import re
from typing import Any

from ampcapture.core.errors import ModelFileError
from ampcapture.models.layout import HISTORY_BLOCK, bottleneck, head1x1, head_kernel_size, wavenet_receptive_field, wavenet_weight_count

MAX_FILE_BYTES = 256 * 2**20  # NAM's largest models are a few MB of JSON
MAX_DEPTH = 32  # nesting of JSON objects and lists (a container of a WaveNet with a condition DSP: about 10)
READ_VERSIONS = ((0, 5), (0, 7))  # the .nam versions ampcapture reads: 0.5.x to 0.7.x
SAMPLE_RATES = (8000.0, 384000.0)
MAX_CHANNELS = 1024  # channels, bottleneck, head and input sizes of a WaveNet array
MAX_LAYERS = 256  # layers of one array (and arrays of one model)
MAX_KERNEL = 64
MAX_DILATION = 65536
MAX_RECEPTIVE_FIELD = 2**18  # samples (5.5 s at 48 kHz): the silence a reset plays through
MAX_STATE_BYTES = 512 * 2**20  # the engine's history buffers
MAX_HIDDEN = 1024  # an LSTM's hidden size
MAX_LSTM_LAYERS = 16
_VERSION = re.compile(r"(\d+)\.(\d+)(?:\.(\d+))?")
_FIX = "the file is damaged or not made by NAM; export it again"


def check_file_size(path: os.PathLike, size: int) -> None:
    if size > MAX_FILE_BYTES:
        raise ModelFileError(path, f"is {size / 2**20:.0f} MB, more than any .nam model (limit {MAX_FILE_BYTES // 2**20} MB)", _FIX)


def check_depth(data: Any, where: Any) -> None:
    """Refuse JSON nested deeper than MAX_DEPTH (walked without recursion)."""
    stack = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ModelFileError(where, f"nests its JSON more than {MAX_DEPTH} levels deep", _FIX)
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))


def check_version(version: Any, where: Any) -> None:
    """Versions 0.5 to 0.7 are read; a missing one passes (our own dicts, a container's parts)."""
    if version is None:
        return
    match = _VERSION.fullmatch(version) if isinstance(version, str) else None
    if match is None:
        raise ModelFileError(where, f"has version {str(version)[:40]!r}, which is no NAM file version (x.y.z)", _FIX)
    major_minor = (int(match[1]), int(match[2]))
    if major_minor > READ_VERSIONS[1]:
        raise ModelFileError(
            where, f"was written by a newer NAM ({match[1]}.{match[2]}); ampcapture reads up to 0.7", "update ampcapture, or export the model as 0.7 from NAM"
        )
    if major_minor < READ_VERSIONS[0]:
        raise ModelFileError(
            where, f"was written by an old NAM ({match[1]}.{match[2]}); ampcapture reads 0.5 to 0.7", "open it in a current NAM and save it again"
        )


def checked_sample_rate(value: Any, where: Any) -> float:
    """The model's rate: NAM's default 48 kHz when absent, else a finite number in SAMPLE_RATES."""
    if value is None:
        return 48000.0
    low, high = SAMPLE_RATES
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (math.isfinite(value) and low <= value <= high):
        raise ModelFileError(where, f"has sample_rate {str(value)[:40]}: a model's rate is a number from {low:g} to {high:g} Hz", _FIX)
    return float(value)


def _count(value: Any, what: str, low: int, high: int, where: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ModelFileError(where, f"has {what} {str(value)[:40]}: it must be a whole number from {low} to {high}", _FIX)
    return value


def check_wavenet(config: dict[str, Any], where: Any) -> None:
    """A WaveNet config (ours, as read): every size bounded, then the receptive field and the
    engine's history buffers, before any of them is allocated."""
    layers = config["layers"]
    if not isinstance(layers, list) or not layers:
        raise ModelFileError(where, "has no layer arrays", _FIX)
    _count(len(layers), "a number of layer arrays", 1, MAX_LAYERS, where)
    state = 0
    for i, a in enumerate(layers):
        here = f"{where} (layers[{i}])"
        dilations = a["dilations"]
        if not isinstance(dilations, list):
            raise ModelFileError(here, f"has dilations {str(dilations)[:40]}: a list of whole numbers", _FIX)
        _count(len(dilations), "a number of layers", 1, MAX_LAYERS, here)
        for d in dilations:
            _count(d, "a dilation", 1, MAX_DILATION, here)
        for key in ("input_size", "condition_size", "head_size", "channels"):
            _count(a[key], key, 1, MAX_CHANNELS, here)
        _count(bottleneck(a), "bottleneck", 1, MAX_CHANNELS, here)
        _count(head1x1(a) or 1, "head1x1 out_channels", 1, MAX_CHANNELS, here)
        _count(a.get("head_kernel_size", 1), "head kernel_size", 1, MAX_KERNEL, here)
        kernels = a["kernel_size"] if isinstance(a["kernel_size"], list) else [a["kernel_size"]] * len(dilations)
        if len(kernels) != len(dilations):
            raise ModelFileError(here, f"has {len(kernels)} kernel sizes for {len(dilations)} layers", _FIX)
        for k in kernels:
            _count(k, "a kernel_size", 1, MAX_KERNEL, here)
        state += sum(a["channels"] * ((k - 1) * d + HISTORY_BLOCK) for k, d in zip(kernels, dilations))
        state += a["head_size"] * (head_kernel_size(a) + HISTORY_BLOCK)
    post = config.get("post_head")
    if post is not None:
        _count(post["channels"], "post-head channels", 1, MAX_CHANNELS, where)
        _count(post["out_channels"], "post-head out_channels", 1, MAX_CHANNELS, where)
        if not isinstance(post["kernel_sizes"], list) or len(post["kernel_sizes"]) > MAX_LAYERS:
            raise ModelFileError(where, "has a post-head whose kernel_sizes are not a short list", _FIX)
        for k in post["kernel_sizes"]:
            _count(k, "a post-head kernel size", 1, MAX_KERNEL, where)
    field = wavenet_receptive_field(layers, post)
    if field > MAX_RECEPTIVE_FIELD:
        raise ModelFileError(
            where, f"has a receptive field of {field} samples (limit {MAX_RECEPTIVE_FIELD}: {MAX_RECEPTIVE_FIELD / 48000:.1f} s at 48 kHz)", _FIX
        )
    if 4 * state > MAX_STATE_BYTES:
        raise ModelFileError(where, f"needs {4 * state / 2**20:.0f} MB of history buffers (limit {MAX_STATE_BYTES // 2**20} MB)", _FIX)
    weights = wavenet_weight_count(layers, post)
    if 4 * weights > MAX_FILE_BYTES:
        raise ModelFileError(where, f"declares {weights} weights, more than a .nam file can hold", _FIX)


def check_lstm(config: dict[str, Any], where: Any) -> None:
    _count(config["hidden_size"], "hidden_size", 1, MAX_HIDDEN, where)
    _count(config["num_layers"], "num_layers", 1, MAX_LSTM_LAYERS, where)
