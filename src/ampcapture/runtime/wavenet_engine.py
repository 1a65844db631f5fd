"""The real-time engine of a WaveNet: each dilated layer keeps its own input history (the last
(kernel - 1) * dilation samples in front of the new ones), so a buffer computes only its new
samples, and the whole forward pass is one numba-compiled function (plain loops over small
matrices that LLVM vectorizes; no allocation per layer).

The kernel reads the model's shape from tables packed once from its `WaveNetSpec`, numpy
structured arrays whose fields it reads by name: a row per layer (`LAYER`: its shape, its
activation's and gating's codes, where each of its weights starts in the flat weights, -1
where it has none, and where its history lives), per array (`ARRAY`) and per post-head block
(`POST`). A layer with NAM 0.13's FiLMs or a condition of several channels (from a condition
DSP) takes `_general_layer`, apart from the standard layer's path so that path compiles as it is.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ampcapture.models.layout import ACTIVATIONS, FILM_POSITIONS, GATING_MODES, HISTORY_BLOCK
from ampcapture.models.wavenet_spec import Activation, WaveNetSpec
from ampcapture.runtime.engine import BLOCK, Cost, Engine
from ampcapture.runtime.kernels import accumulate, activate_rows, append, jit

F_CONV_PRE, F_CONV_POST, F_MIXIN_PRE, F_MIXIN_POST, F_ACT_PRE, F_ACT_POST, F_1X1_POST, F_H1_POST = range(len(FILM_POSITIONS))
_I = np.int64
# A layer: its shape (gating: its index in GATING_MODES; activations: in ACTIVATIONS), where its
# weights start (-1: it has none of that kind; film: per FiLM position, film_shift: whether it
# shifts), its activations' constants, where its input history lives in the state.
LAYER = np.dtype(
    [(name, _I) for name in ("channels", "kernel", "dilation", "gating", "activation", "secondary", "bottleneck", "head1x1")]
    + [(name, _I) for name in ("conv_w", "conv_b", "mixer_w", "layer1x1_w", "layer1x1_b", "head1x1_w", "head1x1_b")]
    + [("film", _I, (len(FILM_POSITIONS),)), ("film_shift", _I, (len(FILM_POSITIONS),)), ("general", _I)]
    + [("activation_p", _I), ("secondary_p", _I), ("state", _I), ("history", _I)]
)
# A layer array: its sizes, its input rechannel's and head's weights, its layers (first, count);
# a head of more than one tap keeps a history of its input too.
ARRAY = np.dtype(
    [(name, _I) for name in ("inputs", "channels", "head", "head_in", "rechannel_w", "head_w", "head_b", "first", "count", "head_kernel", "state", "history")]
)
# A block of the post-head: an activation, then a convolution with a bias.
POST = np.dtype([(name, _I) for name in ("inputs", "outputs", "kernel", "activation", "w", "b", "state", "history", "activation_p")])


@jit
def _film(w, layer, position, values, c):
    """NAM's FiLM at `position` of a layer, in place: values (rows x n) times a scale, plus a
    shift, each a 1x1 of the condition c (channels x n; weights: the scales' rows, the shifts',
    then their biases). Nothing where the layer has none there."""
    at = layer.film[position]
    if at < 0:
        return
    rows, n = values.shape
    cc, shift = c.shape[0], layer.film_shift[position]
    bias = at + rows * cc * (2 if shift else 1)
    for o in range(rows):
        r = values[o]
        for t in range(n):
            scale, offset = w[bias + o], w[bias + rows + o] if shift else 0.0
            for i in range(cc):
                scale += w[at + o * cc + i] * c[i, t]
                if shift:
                    offset += w[at + (rows + o) * cc + i] * c[i, t]
            r[t] = r[t] * scale + offset


@jit
def _add_projection(w, layer, at_w, at_b, film, a, out, scratch, c, taps):
    """out (rows x n) += W a + bias: a 1x1 convolution (weights row-major at w[at_w:], bias at
    w[at_b:]) added into a stream, through the layer's FiLM at `film` if it has one there."""
    rows, n = out.shape
    product = scratch[: rows * n].reshape((rows, n))
    accumulate(w, at_w, a, 0, 1, 1, rows, n, product, taps)
    bias = w[at_b:]
    if layer.film[film] < 0:
        for o in range(rows):
            for t in range(n):
                out[o, t] += product[o, t] + bias[o]
        return
    for o in range(rows):
        product[o, :] += bias[o]
    _film(w, layer, film, product, c)
    out += product


@jit
def _paired_activation(w, layer, z, b, raw_all):
    """In place, z (mid x n) -> its first b rows: the activation, gated or blended by the
    secondary of the extra channels where the layer pairs them."""
    n, gating = z.shape[1], layer.gating
    raw = raw_all[: b * n].reshape((b, n))
    if gating != 0:
        activate_rows(layer.secondary, z[b:], w[layer.secondary_p :])
    if gating == 2:
        raw[:, :] = z[:b]
    activate_rows(layer.activation, z[:b], w[layer.activation_p :])
    if gating == 1:
        for o in range(b):
            for t in range(n):
                z[o, t] *= z[o + b, t]
    elif gating == 2:
        for o in range(b):
            for t in range(n):
                z[o, t] = z[o + b, t] * z[o, t] + (1.0 - z[o + b, t]) * raw[o, t]


@jit
def _layer_outputs(w, layer, a, cur, hs, scratch, c, taps):
    """A layer's activations a into the head sum (through the head 1x1 if any) and the residual
    stream (through the layer 1x1 if any), each through its FiLM if the layer has one."""
    if layer.head1x1:
        _add_projection(w, layer, layer.head1x1_w, layer.head1x1_b, F_H1_POST, a, hs, scratch, c, taps)
    else:
        hs += a
    if layer.layer1x1_w < 0:
        cur += a
    else:
        _add_projection(w, layer, layer.layer1x1_w, layer.layer1x1_b, F_1X1_POST, a, cur, scratch, c, taps)


@jit
def _general_layer(w, layer, li, condition, cur, hs, state, positions, z_all, raw_all, scratch, taps):
    """A layer with FiLMs or a condition of several channels (NAM 0.13's, from a condition DSP),
    its whole arithmetic: the standard layer's, with each signal that has a FiLM modulated by
    the condition (channels x n) where NAM modulates it."""
    n, ch, k, d, b = condition.shape[1], layer.channels, layer.kernel, layer.dilation, layer.bottleneck
    mid = b if layer.gating == 0 else 2 * b
    conv_in = scratch[: ch * n].reshape((ch, n))  # the history holds the modulated input
    conv_in[:, :] = cur
    _film(w, layer, F_CONV_PRE, conv_in, condition)
    hist, p = append(state, layer.state, ch, layer.history, positions, li, (k - 1) * d, conv_in)
    z = z_all[: mid * n].reshape((mid, n))
    accumulate(w, layer.conv_w, hist, p, k, d, mid, n, z, taps)
    bias = w[layer.conv_b :]
    for o in range(mid):
        z[o, :] += bias[o]
    _film(w, layer, F_CONV_POST, z, condition)
    mixin = condition.copy()
    _film(w, layer, F_MIXIN_PRE, mixin, condition)
    mix = raw_all[: mid * n].reshape((mid, n))
    accumulate(w, layer.mixer_w, mixin, 0, 1, 1, mid, n, mix, taps)
    _film(w, layer, F_MIXIN_POST, mix, condition)
    z += mix
    _film(w, layer, F_ACT_PRE, z, condition)
    _paired_activation(w, layer, z, b, raw_all)
    a = z[:b]
    _film(w, layer, F_ACT_POST, a, condition)
    _layer_outputs(w, layer, a, cur, hs, scratch, condition, taps)


@jit
def _layer(w, layer, li, condition, cur, hs, state, positions, z_all, raw_all, scratch, taps):
    """One layer of an array: the dilated conv over its history, bias and input mix, the
    activation (gated or blended where paired), the head sum and the 1x1 back into the residual
    stream (NAM 0.13's options through `_layer_outputs`; FiLMs through `_general_layer`)."""
    if layer.general:
        _general_layer(w, layer, li, condition, cur, hs, state, positions, z_all, raw_all, scratch, taps)
        return
    n, ch, k, d, b = condition.shape[1], layer.channels, layer.kernel, layer.dilation, layer.bottleneck
    mid = b if layer.gating == 0 else 2 * b
    hist, p = append(state, layer.state, ch, layer.history, positions, li, (k - 1) * d, cur)
    z = z_all[: mid * n].reshape((mid, n))
    accumulate(w, layer.conv_w, hist, p, k, d, mid, n, z, taps)
    bias, mix = w[layer.conv_b :], w[layer.mixer_w :]
    for o in range(mid):
        for t in range(n):
            z[o, t] += bias[o] + mix[o] * condition[0, t]
    if layer.gating != 0 or layer.head1x1 or layer.layer1x1_w < 0:
        _paired_activation(w, layer, z, b, raw_all)
        _layer_outputs(w, layer, z[:b], cur, hs, scratch, condition, taps)
        return
    activate_rows(layer.activation, z[:b], w[layer.activation_p :])
    zc = z[:b]
    hs += zc
    _add_projection(w, layer, layer.layer1x1_w, layer.layer1x1_b, F_1X1_POST, zc, cur, scratch, condition, taps)


@jit
def _wavenet_block(x, condition, out, w, arrays, layers, post, state, positions, head_positions, post_positions, head_scale, widest, work):
    """Process len(x) <= BLOCK samples into out (outputs x n), the layers conditioned on
    `condition` (channels x n: the input itself, or a condition DSP's output); layer and head
    histories live in `state` (see WaveNetEngine); `widest`: the most channels (and channels
    times taps) any of its products reads; `work`: the engine's scratch memory, allocated once."""
    n = x.shape[0]
    max_ch, max_cols = widest
    size = max_ch * n
    array_in = work[:size].reshape((max_ch, n))
    array_in[:, :] = 0.0
    array_in[0, :] = x
    current = work[size : 2 * size].reshape((max_ch, n))  # the residual stream entering a layer
    head_sum = work[2 * size : 3 * size].reshape((max_ch, n))
    head_out = work[3 * size : 4 * size].reshape((max_ch, n))
    head_out[:, :] = 0.0
    z_all = work[4 * size : 6 * size]
    raw_all = work[6 * size : 8 * size]  # a blended layer's pre-activation, a FiLM layer's input mix
    scratch = work[8 * size : 9 * size]
    taps = work[9 * size : 9 * size + max_cols * n]
    n_head_in = 0
    for ai in range(arrays.shape[0]):
        array = arrays[ai]
        cur = current[: array.channels]
        accumulate(w, array.rechannel_w, array_in[: array.inputs], 0, 1, 1, array.channels, n, cur, taps)
        hs = head_sum[: array.head_in]
        if n_head_in:  # the head sum starts from the previous array's head output
            hs[:, :] = head_out[: array.head_in]
        else:
            hs[:, :] = 0.0
        for li in range(array.first, array.first + array.count):
            _layer(w, layers[li], li, condition, cur, hs, state, positions, z_all, raw_all, scratch, taps)
        ho = head_out[: array.head]
        if array.head_kernel == 1:
            accumulate(w, array.head_w, hs, 0, 1, 1, array.head, n, ho, taps)
        else:
            hist, p = append(state, array.state, array.head_in, array.history, head_positions, ai, array.head_kernel - 1, hs)
            accumulate(w, array.head_w, hist, p, array.head_kernel, 1, array.head, n, ho, taps)
        if array.head_b >= 0:
            hb = w[array.head_b :]
            for o in range(array.head):
                ho[o, :] += hb[o]
        n_head_in = array.head
        array_in[: array.channels, :] = cur
    if post.shape[0] == 0:
        for o in range(out.shape[0]):
            for t in range(n):
                out[o, t] = head_scale * head_out[o, t]
        return
    y = current[:n_head_in]  # the residual stream is done with: the post-head runs in it and head_sum
    y[:, :] = head_scale * head_out[:n_head_in]
    for q in range(post.shape[0]):
        block = post[q]
        activate_rows(block.activation, y, w[block.activation_p :])
        hist, p = append(state, block.state, block.inputs, block.history, post_positions, q, block.kernel - 1, y)
        y = (head_sum if q % 2 == 0 else current)[: block.outputs]
        accumulate(w, block.w, hist, p, block.kernel, 1, block.outputs, n, y, taps)
        for o in range(block.outputs):
            y[o, :] += w[block.b + o]
    out[:, :] = y[: out.shape[0]]


class WaveNetEngine(Engine):
    """A condition DSP (NAM 0.13) is an engine of its own whose outputs condition the layers."""

    def __init__(self, spec: WaveNetSpec, weights: np.ndarray, sample_rate: float):
        self.sample_rate, self.outputs = sample_rate, spec.outputs
        own = spec.weight_count
        self.condition_dsp = WaveNetEngine(spec.condition_dsp, weights[own:], sample_rate) if spec.condition_dsp else None
        self.weights = np.array(weights[:own], dtype=np.float32)  # a copy: conv blocks get reordered
        if self.weights.size != own:
            raise ValueError(f"the spec needs {own} weights, the file has {self.weights.size}")
        self.head_scale = float(self.weights[-1])  # NAM keeps head_scale as the last weight
        tables = _Tables(spec, self.weights.size)
        for block in spec.blocks():
            if block.part in ("conv", "head", "post_head"):
                self._taps_last(block)
        self.arrays, self.layers, self.post = tables.arrays, tables.layers, tables.post
        self.widest = tables.widest
        self.work = np.zeros((9 * self.widest[0] + self.widest[1]) * BLOCK, np.float32)  # _wavenet_block's scratch
        self.state = np.zeros(tables.state_size, np.float32)
        self.positions = np.zeros(len(self.layers), np.int64)
        self.head_positions = np.zeros(len(self.arrays), np.int64)
        self.post_positions = np.zeros(len(self.post), np.int64)
        self.receptive_field = spec.total_receptive_field
        self.cost = Cost(parameters=self.weights.size - 1, macs_per_sample=spec.macs)  # head_scale is no parameter
        if self.condition_dsp is not None:
            self.cost.parameters += self.condition_dsp.cost.parameters
            self.cost.macs_per_sample += self.condition_dsp.cost.macs_per_sample
        self.weights = np.concatenate([self.weights, np.asarray(tables.constants, np.float32)])
        self.reset()

    def reset(self) -> None:
        """Silence before the stream: zero histories, then receptive_field - 1 zeros played
        through so every layer holds what it computes for silence (as NAM's core prewarms)."""
        if self.condition_dsp is not None:
            self.condition_dsp.reset()
        self.state[:] = 0.0
        self.positions[:] = (self.layers["kernel"] - 1) * self.layers["dilation"]
        self.head_positions[:] = self.arrays["head_kernel"] - 1
        self.post_positions[:] = self.post["kernel"] - 1
        self.process(np.zeros(self.receptive_field - 1, np.float32))

    def _taps_last(self, block) -> None:
        """A conv weight (out, channels, taps) -> (out, taps * channels), the order `accumulate` reads."""
        weights = self.weights[block.offset : block.offset + block.size]
        weights[:] = weights.reshape(block.rows, block.cols, block.taps).transpose(0, 2, 1).ravel()

    def _block(self, x: np.ndarray, out: np.ndarray) -> None:
        self._outputs(x, out[None, :])

    def _outputs(self, x: np.ndarray, out: np.ndarray) -> None:
        """x (n) -> out (outputs x n)."""
        if self.condition_dsp is None:
            condition = x[None, :]
        else:
            condition = np.empty((self.condition_dsp.outputs, x.size), np.float32)
            self.condition_dsp._outputs(x, condition)
        state = (self.state, self.positions, self.head_positions, self.post_positions)
        _wavenet_block(x, condition, out, self.weights, self.arrays, self.layers, self.post, *state, np.float32(self.head_scale), self.widest, self.work)


class _Tables:
    """The engine's tables of a spec, packed once; the activations' constants follow the
    weights (`constants`, from index `weight_count`)."""

    def __init__(self, spec: WaveNetSpec, weight_count: int):
        self.blocks = {(b.array, b.layer, b.part): b for b in spec.blocks()}
        self.weight_count, self.constants, self.state_size = weight_count, [], 0
        self.layers = np.zeros(sum(len(a.layers) for a in spec.arrays), LAYER)
        self.arrays = np.zeros(len(spec.arrays), ARRAY)
        first = 0
        for ai, array in enumerate(spec.arrays):
            for i, layer in enumerate(array.layers):
                self._layer(self.layers[first + i], ai, i, array, layer)
            self._array(self.arrays[ai], ai, array, first)
            first += len(array.layers)
        blocks = spec.post_head.blocks(spec.arrays[-1].head_size) if spec.post_head else []
        self.post = np.zeros(len(blocks), POST)
        for q, (cin, cout, k) in enumerate(blocks):
            row, conv = self.post[q], self.blocks[(len(spec.arrays), q, "post_head")]
            row["inputs"], row["outputs"], row["kernel"], row["w"], row["b"] = cin, cout, k, conv.offset, conv.offset + conv.size
            row["activation"], row["activation_p"] = ACTIVATIONS.index(spec.post_head.activation.name), self._constants(spec.post_head.activation, cin)
            row["state"], row["history"] = self.state_size, k - 1 + BLOCK
            self.state_size += cin * (k - 1 + BLOCK)
        a, la, pb = self.arrays, self.layers, self.post
        channels = [1, spec.arrays[0].condition_size, *a["channels"], *a["inputs"], *a["head"], *a["head_in"], *la["bottleneck"], *la["head1x1"]]
        channels += [*pb["inputs"], *pb["outputs"]]
        columns = [*(a["head_in"] * a["head_kernel"]), *(la["channels"] * la["kernel"]), *(pb["inputs"] * pb["kernel"])]
        # the most channels any signal has, and channels times taps any product reads (a 1x1 reads its channels)
        self.widest = (int(max(channels)), int(max(channels + columns)))

    def _offset(self, *key) -> int:
        return self.blocks[key].offset if key in self.blocks else -1

    def _constants(self, activation: Activation, rows: int) -> int:
        """Where an activation's constants start in the weights."""
        start = self.weight_count + len(self.constants)
        self.constants.extend(_activation_constants(activation, rows))
        return start

    def _layer(self, row, ai: int, i: int, array, layer) -> None:
        history = (layer.kernel_size - 1) * layer.dilation + HISTORY_BLOCK
        row["channels"], row["kernel"], row["dilation"] = array.channels, layer.kernel_size, layer.dilation
        row["gating"], row["bottleneck"], row["head1x1"] = GATING_MODES.index(layer.gating), array.mid_channels, array.head1x1
        row["activation"], row["secondary"] = ACTIVATIONS.index(layer.activation.name), ACTIVATIONS.index(layer.secondary.name)
        for part in ("conv", "mixer", "layer1x1", "head1x1"):
            row[f"{part}_w"] = self._offset(ai, i, part)
        for part in ("conv", "layer1x1", "head1x1"):
            row[f"{part}_b"] = self._offset(ai, i, f"{part}_bias")
        film = array.film
        row["film"] = [self._offset(ai, i, f"film_{position}") for position in FILM_POSITIONS]
        row["film_shift"] = [film.get(position, False) for position in FILM_POSITIONS]
        row["general"] = bool(film) or array.condition_size > 1
        row["activation_p"] = self._constants(layer.activation, array.mid_channels)
        row["secondary_p"] = self._constants(layer.secondary, array.mid_channels)
        row["state"], row["history"] = self.state_size, history
        self.state_size += array.channels * history

    def _array(self, row, ai: int, array, first: int) -> None:
        kh = array.head_kernel_size
        history = kh - 1 + BLOCK if kh > 1 else 0
        row["inputs"], row["channels"], row["head"], row["head_in"] = array.input_size, array.channels, array.head_size, array.head_channels
        row["rechannel_w"], row["head_w"] = self._offset(ai, None, "rechannel"), self._offset(ai, None, "head")
        row["head_b"] = self._offset(ai, None, "head_bias")
        row["first"], row["count"], row["head_kernel"], row["state"], row["history"] = first, len(array.layers), kh, self.state_size, history
        self.state_size += array.head_channels * history


def _activation_constants(activation: Activation, rows: int) -> list[float]:
    """What `activate_rows` reads of an activation's parameters: PReLU's slope per row, others'
    parameters in ACTIVATION_PARAMETERS' order, padded to 4."""
    parameters: dict[str, Any] = activation.parameters
    if activation.name == "PReLU":
        return list(parameters.get("negative_slopes") or [parameters["negative_slope"]] * rows)
    values = [float(v) for v in parameters.values()]
    return values + [0.0] * (4 - len(values))
