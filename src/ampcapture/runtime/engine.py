"""The real-time engine: renders a `.nam` model (WaveNet or LSTM) buffer by buffer.

Why not the torch model: at plugin buffer sizes (32-512 samples) torch spends its time
dispatching a few hundred small ops per buffer, and the WaveNet's `process` re-runs the
whole receptive field. Here each dilated layer keeps its own input history (a buffer
with the last (kernel - 1) * dilation samples in front of the new ones), so a buffer
computes only its new samples, and the whole forward pass is one numba-compiled function
(plain loops over small matrices that LLVM vectorizes; no allocation per layer). Up to 16
channels (every NAM preset, A2 included) a convolution is loops over its taps straight from
the history, which beats gathering the taps for a BLAS product 1.2-2.5x at 64-sample buffers
and offline; wider layers use BLAS.

An engine is built from a `.nam` model dict (ampcapture.formats.nam reads and writes them),
so what it renders is exactly what the exported file holds.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np

from ampcapture.models.layout import (
    ACTIVATIONS,
    FILM_POSITIONS,
    GATING_MODES,
    HISTORY_BLOCK,
    activation_name,
    activation_parameters,
    activation_specs,
    bottleneck,
    films,
    gating_modes,
    head1x1,
    head_channels,
    head_kernel_size,
    kernel_sizes,
    lstm_layout,
    lstm_macs,
    lstm_prewarm_samples,
    post_head_blocks,
    wavenet_blocks,
    wavenet_macs,
    wavenet_receptive_field,
    wavenet_weight_count,
)

# The compiled kernels know an activation by its index in ampcapture.models.layout.ACTIVATIONS.

BLOCK = HISTORY_BLOCK  # longer buffers are cut into blocks of this size
# Convolutions over at most this many channels run as plain loops, wider ones as BLAS products.
DIRECT_MAX_CHANNELS = 16

# Columns of the per-layer table handed to the kernel: its shape (gating: the index in
# GATING_MODES; activations: in ACTIVATIONS), where its weights start (-1: it has none of that
# kind), where its input history lives in the state.
(L_CH, L_KERNEL, L_DILATION, L_GATING, L_ACT, L_SECONDARY, L_BOTTLENECK, L_HEAD1X1) = range(8)
(L_CONV_W, L_CONV_B, L_MIX_W, L_1X1_W, L_1X1_B, L_H1_W, L_H1_B, L_STATE, L_HISTORY) = range(8, 17)
# then per FiLM position (FILM_POSITIONS' order) where its weights start (-1: none), and whether it shifts
L_FILM, L_FILM_SHIFT = 17, 17 + len(FILM_POSITIONS)
L_GENERAL = L_FILM_SHIFT + len(FILM_POSITIONS)  # whether the layer has a FiLM or a condition of several channels
L_ACT_P, L_SECONDARY_P = L_GENERAL + 1, L_GENERAL + 2  # where the activations' constants start
(F_CONV_PRE, F_CONV_POST, F_MIXIN_PRE, F_MIXIN_POST, F_ACT_PRE, F_ACT_POST, F_1X1_POST, F_H1_POST) = range(len(FILM_POSITIONS))
# Columns of the per-array table (a head of more than one tap keeps a history of its input too).
A_IN, A_CH, A_HEAD, A_HEAD_IN, A_RECHANNEL_W, A_HEAD_W, A_HEAD_B, A_FIRST, A_COUNT, A_HEAD_K, A_STATE, A_HISTORY, A_COLS = range(13)
# Columns of the post-head's table, a row per block (activation code, convolution, history).
P_IN, P_OUT, P_KERNEL, P_ACT, P_W, P_B, P_STATE, P_HISTORY, P_ACT_P = range(9)


# Every kernel: fastmath (reassociation, no NaN checks) and numpy's error model (no
# zero-division check): both are needed for LLVM to vectorize the element-wise loops.
jit = numba.njit(cache=True, fastmath=True, error_model="numpy")


# tanh as Eigen computes it in float32 (x P(x^2) / Q(x^2), degrees 13/6, clamped where tanh
# rounds to +-1): within 2.6e-7 of the exact value, and 3.4x faster here than the float64
# polynomial it replaced, because it vectorizes at twice the width (the LSTM's and the gated
# layers' time goes to it).
_F = np.float32
_P13, _P11, _P9, _P7, _P5, _P3, _P1 = (
    _F(-2.76076847742355e-16),
    _F(2.00018790482477e-13),
    _F(-8.60467152213735e-11),
    _F(5.12229709037114e-08),
    _F(1.48572235717979e-05),
    _F(6.37261928875436e-04),
    _F(4.89352455891786e-03),
)
_Q6, _Q4, _Q2, _Q0 = _F(1.19825839466702e-06), _F(1.18534705686654e-04), _F(2.26843463243900e-03), _F(4.89352518554385e-03)
_TANH_CLAMP, _HALF = _F(7.90531110763549805), _F(0.5)


@jit
def _tanh(v):
    x = min(max(_F(v), -_TANH_CLAMP), _TANH_CLAMP)
    x2 = x * x
    p = ((((((_P13 * x2 + _P11) * x2 + _P9) * x2 + _P7) * x2 + _P5) * x2 + _P3) * x2 + _P1) * x
    q = ((_Q6 * x2 + _Q4) * x2 + _Q2) * x2 + _Q0
    return p / q


@jit
def _sigmoid(v):
    return _HALF + _HALF * _tanh(_HALF * v)


@jit
def _activate_rows(code, z, constants):
    """In place; one loop per activation so each one vectorizes. `constants`: the activation's
    parameters (see `_activation_constants`)."""
    rows, n = z.shape
    for o in range(rows):
        r = z[o]
        if code == 0:
            for t in range(n):
                r[t] = _tanh(r[t])
        elif code == 1:
            lo, hi = constants[0], constants[1]
            for t in range(n):
                r[t] = min(max(r[t], lo), hi)
        elif code == 2:
            for t in range(n):
                r[t] = max(r[t], 0.0)
        elif code == 3 or code == 10:  # LeakyReLU, PReLU: one slope, or one per row
            slope = constants[0] if code == 3 else constants[o]
            for t in range(n):
                r[t] = r[t] if r[t] >= 0.0 else slope * r[t]
        elif code == 4:
            for t in range(n):
                r[t] = _sigmoid(r[t])
        elif code == 5:
            for t in range(n):
                r[t] = r[t] * _sigmoid(r[t])
        elif code == 6:
            for t in range(n):
                r[t] = r[t] * min(max(r[t] + 3.0, 0.0), 6.0) / 6.0
        elif code == 7:
            for t in range(n):
                r[t] = r[t] / (1.0 + abs(r[t]))
        elif code == 8:
            for t in range(n):
                r[t] = 0.5 * (1.0 + r[t] / (1.0 + abs(r[t])))
        else:  # LeakyHardtanh: x inside [lo, hi], slopes outside
            lo, hi, lo_slope, hi_slope = constants[0], constants[1], constants[2], constants[3]
            for t in range(n):
                v = r[t]
                c = min(max(v, lo), hi)
                r[t] = c + (lo_slope if v < lo else hi_slope) * (v - c)


@jit
def _matrix(w, offset, rows, cols):
    return w[offset : offset + rows * cols].reshape((rows, cols))


@jit
def _append(state, at, rows, length, positions, i, past, values):
    """Write `values` (rows x n) after a history of `past` samples kept in state[at:] as a
    (rows, length) buffer; returns the buffer and where the new samples start in it."""
    n = values.shape[1]
    hist = state[at : at + rows * length].reshape((rows, length))
    p = positions[i]
    if p + n > length:  # move the last `past` samples to the front
        for r in range(rows):
            hist[r, :past] = hist[r, p - past : p].copy()
        p = past
    hist[:, p : p + n] = values
    positions[i] = p + n
    return hist, p


@jit
def _gather(hist, p, k, d, n, taps):
    """The taps of a causal convolution as one matrix: rows j*rows + i hold x[i, t - (k - 1 - j) * d]."""
    rows = hist.shape[0]
    cols = taps[: k * rows * n].reshape((k * rows, n))
    for j in range(k):
        start = p - (k - 1 - j) * d
        cols[j * rows : (j + 1) * rows, :] = hist[:, start : start + n]
    return cols


@jit
def _conv_into(w, at, hist, p, k, d, rows, n, out, taps):
    """out (rows x n) = the causal convolution of the history's rows ending at p + n: k taps d
    apart, weights (rows, k * channels) taps-first at w[at:]."""
    ch = hist.shape[0]
    if ch > DIRECT_MAX_CHANNELS:
        np.dot(_matrix(w, at, rows, k * ch), _gather(hist, p, k, d, n, taps), out)
        return
    out[:, :] = 0.0
    for o in range(rows):
        acc = out[o]
        for j in range(k):
            start = p - (k - 1 - j) * d
            at_j = at + (o * k + j) * ch
            i = 0
            while i + 4 <= ch:  # four channels a pass: the output row is read and written a quarter as often
                r0, r1, r2, r3 = hist[i, start:], hist[i + 1, start:], hist[i + 2, start:], hist[i + 3, start:]
                w0, w1, w2, w3 = w[at_j + i], w[at_j + i + 1], w[at_j + i + 2], w[at_j + i + 3]
                for t in range(n):
                    acc[t] += (w0 * r0[t] + w1 * r1[t]) + (w2 * r2[t] + w3 * r3[t])
                i += 4
            for i in range(i, ch):
                wv, row = w[at_j + i], hist[i, start:]
                for t in range(n):
                    acc[t] += wv * row[t]


@jit
def _matmul_into(w, at, rows, a, out):
    """out (rows x n) = W (rows x len(a), row-major at w[at:]) @ a."""
    cols, n = a.shape
    if cols > DIRECT_MAX_CHANNELS:
        np.dot(_matrix(w, at, rows, cols), np.ascontiguousarray(a), out)
        return
    out[:, :] = 0.0
    for o in range(rows):
        acc = out[o]
        at_o = at + o * cols
        i = 0
        while i + 4 <= cols:  # four inputs a pass, as in _conv_into
            a0, a1, a2, a3 = a[i], a[i + 1], a[i + 2], a[i + 3]
            w0, w1, w2, w3 = w[at_o + i], w[at_o + i + 1], w[at_o + i + 2], w[at_o + i + 3]
            for t in range(n):
                acc[t] += (w0 * a0[t] + w1 * a1[t]) + (w2 * a2[t] + w3 * a3[t])
            i += 4
        for i in range(i, cols):
            wv, ai = w[at_o + i], a[i]
            for t in range(n):
                acc[t] += wv * ai[t]


@jit
def _film(w, layer, position, values, c):
    """NAM's FiLM at `position` of a layer, in place: values (rows x n) times a scale, plus a
    shift, each a 1x1 of the condition c (channels x n; weights: the scales' rows, the shifts',
    then their biases). Nothing where the layer has none there."""
    at = layer[L_FILM + position]
    if at < 0:
        return
    rows, n = values.shape
    cc, shift = c.shape[0], layer[L_FILM_SHIFT + position]
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
def _add_projection(w, at_w, at_b, a, out, scratch):
    """out (rows x n) += W a + bias: a 1x1 convolution (weights row-major at w[at_w:], bias
    at w[at_b:]) added into a stream; `scratch` holds the product."""
    rows, n = out.shape
    product = scratch[: rows * n].reshape((rows, n))
    _matmul_into(w, at_w, rows, a, product)
    bias = w[at_b:]
    for o in range(rows):
        for t in range(n):
            out[o, t] += product[o, t] + bias[o]


@jit
def _add_filmed_projection(w, layer, at_w, at_b, film, a, out, scratch, c):
    """`_add_projection`, through the layer's FiLM at `film` if it has one there."""
    if layer[L_FILM + film] < 0:
        _add_projection(w, at_w, at_b, a, out, scratch)
        return
    rows, n = out.shape
    product = scratch[: rows * n].reshape((rows, n))
    _matmul_into(w, at_w, rows, a, product)
    bias = w[at_b:]
    for o in range(rows):
        product[o, :] += bias[o]
    _film(w, layer, film, product, c)
    out += product


@jit
def _paired_activation(w, layer, z, b, raw_all):
    """In place, z (mid x n) -> its first b rows: the activation, gated or blended by the
    secondary of the extra channels where the layer pairs them."""
    n, gating = z.shape[1], layer[L_GATING]
    raw = raw_all[: b * n].reshape((b, n))
    if gating != 0:
        _activate_rows(layer[L_SECONDARY], z[b:], w[layer[L_SECONDARY_P] :])
    if gating == 2:
        raw[:, :] = z[:b]
    _activate_rows(layer[L_ACT], z[:b], w[layer[L_ACT_P] :])
    if gating == 1:
        for o in range(b):
            for t in range(n):
                z[o, t] *= z[o + b, t]
    elif gating == 2:
        for o in range(b):
            for t in range(n):
                z[o, t] = z[o + b, t] * z[o, t] + (1.0 - z[o + b, t]) * raw[o, t]


@jit
def _layer_outputs(w, layer, a, cur, hs, scratch, c):
    """A layer's activations a into the head sum (through the head 1x1 if any) and the residual
    stream (through the layer 1x1 if any), each through its FiLM if the layer has one."""
    if layer[L_HEAD1X1]:
        _add_filmed_projection(w, layer, layer[L_H1_W], layer[L_H1_B], F_H1_POST, a, hs, scratch, c)
    else:
        hs += a
    if layer[L_1X1_W] < 0:
        cur += a
    else:
        _add_filmed_projection(w, layer, layer[L_1X1_W], layer[L_1X1_B], F_1X1_POST, a, cur, scratch, c)


@jit
def _option_layer_outputs(w, layer, z, b, cur, hs, raw_all, scratch, condition):
    """A layer with NAM 0.13's options, from its pre-activations z. Apart from the standard
    layer's path so that path compiles as before."""
    _paired_activation(w, layer, z, b, raw_all)
    _layer_outputs(w, layer, z[:b], cur, hs, scratch, condition)


@jit
def _general_layer(w, layer, li, condition, cur, hs, state, positions, z_all, raw_all, scratch, taps):
    """A layer with FiLMs or a condition of several channels (NAM 0.13's, from a condition DSP),
    its whole arithmetic: the standard layer's, with each signal that has a FiLM modulated by
    the condition (channels x n) where NAM modulates it."""
    n, ch, k, d, b = condition.shape[1], layer[L_CH], layer[L_KERNEL], layer[L_DILATION], layer[L_BOTTLENECK]
    mid = b if layer[L_GATING] == 0 else 2 * b
    conv_in = scratch[: ch * n].reshape((ch, n))  # the history holds the modulated input
    conv_in[:, :] = cur
    _film(w, layer, F_CONV_PRE, conv_in, condition)
    hist, p = _append(state, layer[L_STATE], ch, layer[L_HISTORY], positions, li, (k - 1) * d, conv_in)
    z = z_all[: mid * n].reshape((mid, n))
    _conv_into(w, layer[L_CONV_W], hist, p, k, d, mid, n, z, taps)
    bias = w[layer[L_CONV_B] :]
    for o in range(mid):
        z[o, :] += bias[o]
    _film(w, layer, F_CONV_POST, z, condition)
    mixin = condition.copy()
    _film(w, layer, F_MIXIN_PRE, mixin, condition)
    mix = raw_all[: mid * n].reshape((mid, n))
    _matmul_into(w, layer[L_MIX_W], mid, mixin, mix)
    _film(w, layer, F_MIXIN_POST, mix, condition)
    z += mix
    _film(w, layer, F_ACT_PRE, z, condition)
    _paired_activation(w, layer, z, b, raw_all)
    a = z[:b]
    _film(w, layer, F_ACT_POST, a, condition)
    _layer_outputs(w, layer, a, cur, hs, scratch, condition)


@jit
def _wavenet_block(x, condition, out, w, arrays, layers, post, state, positions, head_positions, post_positions, head_scale):
    """Process len(x) <= BLOCK samples into out (outputs x n), the layers conditioned on
    `condition` (channels x n: the input itself, or a condition DSP's output); layer and head
    histories live in `state` (see WaveNetEngine).

    Per layer: the dilated conv (`_conv_into`), bias and input mix, activation (gated or
    blended by a secondary activation), the head sum (through the head 1x1 if any), the layer
    1x1 back into the residual stream (`_matmul_into`; without one, the activations)."""
    n = x.shape[0]
    max_ch, max_cols = 1, 1
    for a in range(arrays.shape[0]):
        max_ch = max(max_ch, arrays[a, A_CH], arrays[a, A_IN], arrays[a, A_HEAD], arrays[a, A_HEAD_IN])
        max_cols = max(max_cols, arrays[a, A_HEAD_IN] * arrays[a, A_HEAD_K])
    for li in range(layers.shape[0]):
        max_ch = max(max_ch, layers[li, L_BOTTLENECK], layers[li, L_HEAD1X1])
        max_cols = max(max_cols, layers[li, L_CH] * layers[li, L_KERNEL])
    for q in range(post.shape[0]):
        max_ch = max(max_ch, post[q, P_IN], post[q, P_OUT])
        max_cols = max(max_cols, post[q, P_IN] * post[q, P_KERNEL])
    array_in = np.zeros((max_ch, n), np.float32)
    array_in[0, :] = x
    current = np.empty((max_ch, n), np.float32)  # the residual stream entering a layer
    head_sum = np.empty((max_ch, n), np.float32)
    head_out = np.zeros((max_ch, n), np.float32)
    taps = np.empty(max_cols * n, np.float32)
    z_all = np.empty(2 * max_ch * n, np.float32)
    raw_all = np.empty(2 * max_ch * n, np.float32)  # a blended layer's pre-activation, a FiLM layer's input mix
    mixed_all = np.empty(max_ch * n, np.float32)
    n_head_in = 0
    for a in range(arrays.shape[0]):
        cin, ch, nhead, hin = arrays[a, A_IN], arrays[a, A_CH], arrays[a, A_HEAD], arrays[a, A_HEAD_IN]
        cur = current[:ch]
        _matmul_into(w, arrays[a, A_RECHANNEL_W], ch, array_in[:cin], cur)
        hs = head_sum[:hin]
        if n_head_in:  # the head sum starts from the previous array's head output
            hs[:, :] = head_out[:hin]
        else:
            hs[:, :] = 0.0
        for li in range(arrays[a, A_FIRST], arrays[a, A_FIRST] + arrays[a, A_COUNT]):
            if layers[li, L_GENERAL]:
                _general_layer(w, layers[li], li, condition, cur, hs, state, positions, z_all, raw_all, mixed_all, taps)
                continue
            k, d, gating, b = layers[li, L_KERNEL], layers[li, L_DILATION], layers[li, L_GATING], layers[li, L_BOTTLENECK]
            mid = b if gating == 0 else 2 * b
            hist, p = _append(state, layers[li, L_STATE], ch, layers[li, L_HISTORY], positions, li, (k - 1) * d, cur)
            z = z_all[: mid * n].reshape((mid, n))
            _conv_into(w, layers[li, L_CONV_W], hist, p, k, d, mid, n, z, taps)
            bias, mix = w[layers[li, L_CONV_B] :], w[layers[li, L_MIX_W] :]
            for o in range(mid):
                for t in range(n):
                    z[o, t] += bias[o] + mix[o] * condition[0, t]
            if gating != 0 or layers[li, L_HEAD1X1] or layers[li, L_1X1_W] < 0:
                _option_layer_outputs(w, layers[li], z, b, cur, hs, raw_all, mixed_all, condition)
                continue
            _activate_rows(layers[li, L_ACT], z[:b], w[layers[li, L_ACT_P] :])
            zc = z[:b]
            hs += zc
            _add_projection(w, layers[li, L_1X1_W], layers[li, L_1X1_B], zc, cur, mixed_all)
        ho = head_out[:nhead]
        kh = arrays[a, A_HEAD_K]
        if kh == 1:
            _matmul_into(w, arrays[a, A_HEAD_W], nhead, hs, ho)
        else:
            hist, p = _append(state, arrays[a, A_STATE], hin, arrays[a, A_HISTORY], head_positions, a, kh - 1, hs)
            _conv_into(w, arrays[a, A_HEAD_W], hist, p, kh, 1, nhead, n, ho, taps)
        if arrays[a, A_HEAD_B] >= 0:
            hb = w[arrays[a, A_HEAD_B] :]
            for o in range(nhead):
                ho[o, :] += hb[o]
        n_head_in = nhead
        array_in[:ch, :] = cur
    if post.shape[0] == 0:
        for o in range(out.shape[0]):
            for t in range(n):
                out[o, t] = head_scale * head_out[o, t]
        return
    y = current[:n_head_in]  # the residual stream is done with: the post-head runs in it and head_sum
    y[:, :] = head_scale * head_out[:n_head_in]
    for q in range(post.shape[0]):
        cin, cout, k = post[q, P_IN], post[q, P_OUT], post[q, P_KERNEL]
        _activate_rows(post[q, P_ACT], y, w[post[q, P_ACT_P] :])
        hist, p = _append(state, post[q, P_STATE], cin, post[q, P_HISTORY], post_positions, q, k - 1, y)
        y = (head_sum if q % 2 == 0 else current)[:cout]
        _conv_into(w, post[q, P_W], hist, p, k, 1, cout, n, y, taps)
        for o in range(cout):
            y[o, :] += w[post[q, P_B] + o]
    out[:, :] = y[: out.shape[0]]


ROWS_PER_PASS = 12  # weight rows a gate-product pass adds at most (measured best here for H = 16 and 32)


def _passes(rows: int) -> tuple[int, int, int]:
    """(rows a pass, rows in whole passes, rows left for a last pass) for a gate product."""
    per_pass = -(-rows // -(-rows // ROWS_PER_PASS))
    full = (rows // per_pass) * per_pass
    return per_pass, full, rows - full


@numba.njit(fastmath=True, error_model="numpy", inline="always")
def _gate_product(wl, z, gates, rows, per_pass, full, rest):
    """gates = bias + the `rows` rows of W^T ((rows + 1) x 4H, the bias last) weighted by z, in
    passes of `per_pass` rows. Inlined where the sizes are constants of the compiled code (see
    `_lstm_kernel`), so each pass's sum is a fixed-length loop LLVM unrolls: the gates are read
    and written once a pass, and every pass vectorizes over the gates."""
    width = gates.shape[0]
    for g in range(width):
        gates[g] = wl[rows, g]
    for i in range(0, full, per_pass):
        for g in range(width):
            acc = gates[g]
            for r in range(per_pass):
                acc += wl[i + r, g] * z[i + r]
            gates[g] = acc
    if rest:
        for g in range(width):
            acc = gates[g]
            for r in range(rest):
                acc += wl[full + r, g] * z[full + r]
            gates[g] = acc


@functools.lru_cache(maxsize=None)
def _lstm_kernel(h_size: int):
    """The stacked LSTM of hidden size `h_size`, one sample at a time, compiled for that size
    (lstm_medium 0.75x the time of the same loops over sizes read at run time).
    weights[l]: (in + H + 1, 4H) = [W_ih | W_hh | b]^T; z[l] = [layer l's input, its h] (the
    sample, or layer l - 1's h), so the gates add a contiguous weight row per entry of z. The
    input, forget and output gates' rows are halved: sigmoid(v) = (1 + tanh(v / 2)) / 2, so one
    tanh over all 4H gates (one vectorized loop) gives every gate."""
    first_rows, deeper_rows = 1 + h_size, 2 * h_size  # numba freezes these (plain ints) as constants
    (first_per_pass, first_full, first_rest), (deeper_per_pass, deeper_full, deeper_rest) = _passes(first_rows), _passes(deeper_rows)

    @jit
    def kernel(x, out, weights, z, cell, head_w, head_b, skip):
        n_layers, h = cell.shape
        gates = np.empty(4 * h, np.float32)
        for t in range(x.shape[0]):
            z[0, 0] = x[t]
            for layer in range(n_layers):
                zl, c = z[layer], cell[layer]
                n_in = 1 if layer == 0 else h
                if layer == 0:
                    _gate_product(weights[0], zl, gates, first_rows, first_per_pass, first_full, first_rest)
                else:
                    _gate_product(weights[layer], zl, gates, deeper_rows, deeper_per_pass, deeper_full, deeper_rest)
                for g in range(4 * h):
                    gates[g] = _tanh(gates[g])
                for u in range(h):  # torch's gate order: input, forget, cell, output
                    c[u] = (_HALF + _HALF * gates[h + u]) * c[u] + (_HALF + _HALF * gates[u]) * gates[2 * h + u]
                for u in range(h):
                    zl[n_in + u] = (_HALF + _HALF * gates[3 * h + u]) * _tanh(c[u])
                if layer + 1 < n_layers:
                    for u in range(h):
                        z[layer + 1, u] = zl[n_in + u]
            last, n_in = z[n_layers - 1], (1 if n_layers == 1 else h)
            y = head_b
            for u in range(h):
                y += head_w[u] * last[n_in + u]
            out[t] = y + x[t] if skip else y

    return kernel


@dataclass
class Cost:
    parameters: int
    macs_per_sample: int


class Engine:
    """A stream: `process(buffer)` returns as many output samples as it is given."""

    sample_rate: float
    cost: Cost

    def reset(self) -> None:
        raise NotImplementedError

    def _block(self, x: np.ndarray, out: np.ndarray) -> None:
        raise NotImplementedError

    def process(self, buffer: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(buffer, dtype=np.float32)
        out = np.empty_like(x)
        for start in range(0, x.size, BLOCK):
            self._block(x[start : start + BLOCK], out[start : start + BLOCK])
        return out

    def clone(self) -> "Engine":
        """Another stream of the same model, in this one's state (a stereo take's second channel)."""
        twin = copy.copy(self)
        for name, value in vars(self).items():
            if isinstance(value, (np.ndarray, Engine)):
                setattr(twin, name, value.copy() if isinstance(value, np.ndarray) else value.clone())
        return twin

    def render(self, x: np.ndarray) -> np.ndarray:
        """A whole signal from silence (offline render)."""
        self.reset()
        return self.process(x)


class WaveNetEngine(Engine):
    """A condition DSP (NAM 0.13) is an engine of its own whose outputs condition the layers."""

    def __init__(self, config: dict[str, Any], weights: np.ndarray, sample_rate: float, outputs: int = 1):
        self.sample_rate = sample_rate
        post_head = config.get("post_head")
        own = wavenet_weight_count(config["layers"], post_head)
        dsp = config.get("condition_dsp")
        self.condition_dsp = WaveNetEngine(dsp, weights[own:], sample_rate, config["layers"][0]["condition_size"]) if dsp else None
        self.outputs = outputs
        self.weights = np.array(weights[:own], dtype=np.float32)  # a copy: conv blocks get reordered
        self.head_scale = float(self.weights[-1])  # NAM keeps head_scale as the last weight
        blocks = {(b.array, b.layer, b.part): b for b in wavenet_blocks(config["layers"], post_head)}

        def offset(*key) -> int:
            return blocks[key].offset if key in blocks else -1

        if wavenet_weight_count(config["layers"], post_head) != self.weights.size:
            raise ValueError(f"the config needs {wavenet_weight_count(config['layers'], post_head)} weights, the file has {self.weights.size}")
        constants: list[float] = []  # the activations' parameters, kept after the weights

        def constants_of(activation, rows: int) -> int:
            """Where an activation's constants will start in the weights."""
            start = self.weights.size + len(constants)
            constants.extend(_activation_constants(activation, rows))
            return start

        array_rows, layer_rows, state_size = [], [], 0
        for a, c in enumerate(config["layers"]):
            ch, b, h1, first = c["channels"], bottleneck(c), head1x1(c), len(layer_rows)
            shapes = zip(kernel_sizes(c), c["dilations"], gating_modes(c), activation_specs(c), activation_specs(c, "secondary_activation"))
            for i, (k, d, gating, activation, secondary) in enumerate(shapes):
                at = [offset(a, i, part) for part in ("conv", "conv_bias", "mixer", "layer1x1", "layer1x1_bias", "head1x1", "head1x1_bias")]
                history = (k - 1) * d + BLOCK
                codes = [GATING_MODES.index(gating), ACTIVATIONS.index(activation_name(activation)), ACTIVATIONS.index(activation_name(secondary))]
                film = [offset(a, i, f"film_{position}") for position in FILM_POSITIONS]
                shifts = [films(c).get(position, False) for position in FILM_POSITIONS]
                layer_rows.append([ch, k, d, *codes, b, h1, *at, state_size, history, *film, *shifts, max(film) >= 0 or c["condition_size"] > 1])
                layer_rows[-1] += [constants_of(activation, b), constants_of(secondary, b)]
                state_size += ch * history
                self._taps_last(blocks[(a, i, "conv")])
            head, kh, hin = blocks[(a, None, "head")], head_kernel_size(c), head_channels(c)
            history = (kh - 1) + BLOCK if kh > 1 else 0
            array_rows.append([c["input_size"], ch, c["head_size"], hin, offset(a, None, "rechannel"), head.offset, offset(a, None, "head_bias"), first])
            array_rows[-1] += [len(c["dilations"]), kh, state_size, history]
            state_size += hin * history
            self._taps_last(head)
        post_rows = []
        for q, (cin, cout, k) in enumerate(post_head_blocks(post_head, config["layers"][-1]["head_size"])):
            conv = blocks[(len(config["layers"]), q, "post_head")]
            act = post_head["activation"]
            post_rows.append([cin, cout, k, ACTIVATIONS.index(activation_name(act)), conv.offset, conv.offset + conv.size, state_size, k - 1 + BLOCK])
            post_rows[-1].append(constants_of(act, cin))
            state_size += cin * (k - 1 + BLOCK)
            self._taps_last(conv)
        self.arrays = np.array(array_rows, dtype=np.int64)
        self.layers = np.array(layer_rows, dtype=np.int64)
        self.post = np.array(post_rows, dtype=np.int64).reshape(len(post_rows), P_ACT_P + 1)
        self.state = np.zeros(state_size, np.float32)
        self.positions = np.zeros(len(layer_rows), np.int64)
        self.head_positions = np.zeros(len(array_rows), np.int64)
        self.post_positions = np.zeros(len(post_rows), np.int64)
        self.receptive_field = wavenet_receptive_field(config["layers"], post_head)
        macs = wavenet_macs(config["layers"], post_head)
        self.cost = Cost(parameters=self.weights.size - 1, macs_per_sample=macs)  # head_scale is no parameter
        if self.condition_dsp is not None:
            self.receptive_field += self.condition_dsp.receptive_field - 1
            self.cost.parameters += self.condition_dsp.cost.parameters
            self.cost.macs_per_sample += self.condition_dsp.cost.macs_per_sample
        self.weights = np.concatenate([self.weights, np.asarray(constants, np.float32)])
        self.reset()

    def reset(self) -> None:
        """Silence before the stream: zero histories, then receptive_field - 1 zeros played
        through so every layer holds what it computes for silence (as NAM's core prewarms)."""
        if self.condition_dsp is not None:
            self.condition_dsp.reset()
        self.state[:] = 0.0
        self.positions[:] = (self.layers[:, L_KERNEL] - 1) * self.layers[:, L_DILATION]
        self.head_positions[:] = self.arrays[:, A_HEAD_K] - 1
        self.post_positions[:] = self.post[:, P_KERNEL] - 1
        self.process(np.zeros(self.receptive_field - 1, np.float32))

    def _taps_last(self, block) -> None:
        """A conv weight (out, channels, taps) -> (out, taps * channels), the order `_conv_into` reads."""
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
        _wavenet_block(
            x,
            condition,
            out,
            self.weights,
            self.arrays,
            self.layers,
            self.post,
            self.state,
            self.positions,
            self.head_positions,
            self.post_positions,
            np.float32(self.head_scale),
        )


def _activation_constants(activation, rows: int) -> list[float]:
    """What `_activate_rows` reads of an activation's parameters: PReLU's slope per row, others'
    parameters in ACTIVATION_PARAMETERS' order, padded to 4."""
    parameters = activation_parameters(activation)
    if activation_name(activation) == "PReLU":
        return list(parameters.get("negative_slopes") or [parameters["negative_slope"]] * rows)
    values = [float(v) for v in parameters.values()]
    return values + [0.0] * (4 - len(values))


class LSTMEngine(Engine):
    def __init__(self, config: dict[str, Any], weights: np.ndarray, sample_rate: float, skip: bool = False):
        self.sample_rate = sample_rate
        h, n_layers = int(config["hidden_size"]), int(config["num_layers"])
        w = np.asarray(weights, dtype=np.float32)
        layers, head_w, head_b, count = lstm_layout(h, n_layers)
        if count != w.size:
            raise ValueError(f"the config needs {count} weights, the file has {w.size}")
        cells = np.zeros((n_layers, h + h + 1, 4 * h), np.float32)  # every layer padded to the widest input
        for layer, at in enumerate(layers):
            cells[layer, : at.inputs + h] = w[at.matrix].reshape(4 * h, at.inputs + h).T
            cells[layer, at.inputs + h] = w[at.bias]
        sigmoid_gates = np.r_[0 : 2 * h, 3 * h : 4 * h]  # input, forget, output: halved for _lstm_kernel
        cells[:, :, sigmoid_gates] *= 0.5
        self.initial_hidden = np.stack([w[at.hidden] for at in layers])
        self.initial_cell = np.stack([w[at.cell] for at in layers])
        self.head_w = np.ascontiguousarray(w[head_w])
        self.head_b = np.float32(w[head_b][0])
        self.cells = cells
        self.skip = bool(skip)
        self.kernel = _lstm_kernel(h)
        self.z = np.zeros((n_layers, 2 * h), np.float32)  # the state: each layer's [input, h] (see _lstm_kernel)
        self.cell = self.initial_cell.copy()
        # parameters as torch/NAM count them: the file sums b_ih and b_hh into one bias
        self.cost = Cost(parameters=int(w.size) + 4 * h * n_layers, macs_per_sample=lstm_macs(h, n_layers))
        self.reset()

    def reset(self) -> None:
        """The file's initial state settled on half a second of silence, as NAM's core prewarms
        an LSTM at reset (`nam::lstm::LSTM::GetPrewarmSamples`), so both play alike from the first sample."""
        h = self.initial_hidden.shape[1]
        self.z[0, 1 : 1 + h] = self.initial_hidden[0]
        self.z[1:, :h] = self.initial_hidden[:-1]
        self.z[1:, h:] = self.initial_hidden[1:]
        self.cell[:] = self.initial_cell
        self.process(np.zeros(lstm_prewarm_samples(self.sample_rate), np.float32))

    def _block(self, x: np.ndarray, out: np.ndarray) -> None:
        self.kernel(x, out, self.cells, self.z, self.cell, self.head_w, self.head_b, self.skip)
