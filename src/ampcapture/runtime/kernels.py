"""The real-time engine's compiled kernels that every model's engine shares: activations (tanh as
Eigen computes it in float32), a layer's input history, and the one accumulation of
convolutions and 1x1s. Every kernel is numba with fastmath (reassociation, no NaN
checks) and numpy's error model (no zero-division check): both are needed for LLVM to vectorize
the element-wise loops.

The compiled kernels know an activation by its index in ampcapture.models.layout.ACTIVATIONS.
"""

from __future__ import annotations

import numba
import numpy as np

# Convolutions over at most this many channels run as plain loops, wider ones as BLAS products.
DIRECT_MAX_CHANNELS = 16

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
_TANH_CLAMP, HALF = _F(7.90531110763549805), _F(0.5)


@jit
def tanh(v):
    x = min(max(_F(v), -_TANH_CLAMP), _TANH_CLAMP)
    x2 = x * x
    p = ((((((_P13 * x2 + _P11) * x2 + _P9) * x2 + _P7) * x2 + _P5) * x2 + _P3) * x2 + _P1) * x
    q = ((_Q6 * x2 + _Q4) * x2 + _Q2) * x2 + _Q0
    return p / q


@jit
def sigmoid(v):
    return HALF + HALF * tanh(HALF * v)


@jit
def activate_rows(code, z, constants):
    """In place; one loop per activation so each one vectorizes. `constants`: the activation's
    parameters (see `_activation_constants`)."""
    rows, n = z.shape
    for o in range(rows):
        r = z[o]
        if code == 0:
            for t in range(n):
                r[t] = tanh(r[t])
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
                r[t] = sigmoid(r[t])
        elif code == 5:
            for t in range(n):
                r[t] = r[t] * sigmoid(r[t])
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
def matrix(w, offset, rows, cols):
    return w[offset : offset + rows * cols].reshape((rows, cols))


@jit
def append(state, at, rows, length, positions, i, past, values):
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
def gather(hist, p, k, d, n, taps):
    """The taps of a causal convolution as one matrix: rows j*rows + i hold x[i, t - (k - 1 - j) * d]."""
    rows = hist.shape[0]
    cols = taps[: k * rows * n].reshape((k * rows, n))
    for j in range(k):
        start = p - (k - 1 - j) * d
        cols[j * rows : (j + 1) * rows, :] = hist[:, start : start + n]
    return cols


@jit
def accumulate(w, at, hist, p, k, d, rows, n, out, taps):
    """out (rows x n) = the causal convolution of the history's rows ending at p + n: k taps d
    apart, weights (rows, k * channels) taps-first at w[at:]. A 1x1 (a matrix product W @ a) is
    the case k = 1, p = 0 over a itself: every convolution and 1x1 of the engine runs here.
    Up to DIRECT_MAX_CHANNELS channels, loops straight over the history: with a multiple of 4
    channels, eight output rows and four input rows a pass (`_rows8`), otherwise four and two
    (`_any_channels`). At plugin buffer sizes a pass is a few vectors long, so what counts is
    how few passes there are, each with its weights in registers. Wider ones: one BLAS product."""
    ch = hist.shape[0]
    if ch > DIRECT_MAX_CHANNELS:
        np.dot(matrix(w, at, rows, k * ch), gather(hist, p, k, d, n, taps), out)
        return
    out[:, :] = 0.0
    if ch % 4:
        _any_channels(w, at, hist, p, k, d, rows, n, out)
        return
    width, o = k * ch, 0
    while o + 8 <= rows:
        _rows8(w, at + o * width, width, hist, p, k, d, n, out[o : o + 8])
        o += 8
    if o + 4 <= rows:
        _rows4(w, at + o * width, width, hist, p, k, d, n, out[o : o + 4])
        o += 4
    for o in range(o, rows):
        _rows1(w, at + o * width, width, hist, p, k, d, n, out[o])


@jit
def _rows8(w, b, width, hist, p, k, d, n, out):
    """out (8 x n) += eight weight rows (width apart from w[b:]) times the taps, four channels of
    one tap a pass (channels a multiple of 4), the weights held in registers. The loads are
    spelled out here and in `_rows4` / `_rows1`: helpers returning the four taps and weights
    made the accumulation twice as slow (numba does not inline them into the loop)."""
    ch = hist.shape[0]
    a0, a1, a2, a3, a4, a5, a6, a7 = out[0], out[1], out[2], out[3], out[4], out[5], out[6], out[7]
    for q in range(0, width, 4):
        j, i = divmod(q, ch)
        s = p - (k - 1 - j) * d
        r0, r1, r2, r3 = hist[i, s:], hist[i + 1, s:], hist[i + 2, s:], hist[i + 3, s:]
        u0, u1, u2, u3 = w[b + q], w[b + q + 1], w[b + q + 2], w[b + q + 3]
        v0, v1, v2, v3 = w[b + width + q], w[b + width + q + 1], w[b + width + q + 2], w[b + width + q + 3]
        x0, x1, x2, x3 = w[b + 2 * width + q], w[b + 2 * width + q + 1], w[b + 2 * width + q + 2], w[b + 2 * width + q + 3]
        y0, y1, y2, y3 = w[b + 3 * width + q], w[b + 3 * width + q + 1], w[b + 3 * width + q + 2], w[b + 3 * width + q + 3]
        f0, f1, f2, f3 = w[b + 4 * width + q], w[b + 4 * width + q + 1], w[b + 4 * width + q + 2], w[b + 4 * width + q + 3]
        g0, g1, g2, g3 = w[b + 5 * width + q], w[b + 5 * width + q + 1], w[b + 5 * width + q + 2], w[b + 5 * width + q + 3]
        h0, h1, h2, h3 = w[b + 6 * width + q], w[b + 6 * width + q + 1], w[b + 6 * width + q + 2], w[b + 6 * width + q + 3]
        m0, m1, m2, m3 = w[b + 7 * width + q], w[b + 7 * width + q + 1], w[b + 7 * width + q + 2], w[b + 7 * width + q + 3]
        for t in range(n):
            e0, e1, e2, e3 = r0[t], r1[t], r2[t], r3[t]
            a0[t] += u0 * e0 + u1 * e1 + u2 * e2 + u3 * e3
            a1[t] += v0 * e0 + v1 * e1 + v2 * e2 + v3 * e3
            a2[t] += x0 * e0 + x1 * e1 + x2 * e2 + x3 * e3
            a3[t] += y0 * e0 + y1 * e1 + y2 * e2 + y3 * e3
            a4[t] += f0 * e0 + f1 * e1 + f2 * e2 + f3 * e3
            a5[t] += g0 * e0 + g1 * e1 + g2 * e2 + g3 * e3
            a6[t] += h0 * e0 + h1 * e1 + h2 * e2 + h3 * e3
            a7[t] += m0 * e0 + m1 * e1 + m2 * e2 + m3 * e3


@jit
def _rows4(w, b, width, hist, p, k, d, n, out):
    """`_rows8` for four rows."""
    ch = hist.shape[0]
    a0, a1, a2, a3 = out[0], out[1], out[2], out[3]
    for q in range(0, width, 4):
        j, i = divmod(q, ch)
        s = p - (k - 1 - j) * d
        r0, r1, r2, r3 = hist[i, s:], hist[i + 1, s:], hist[i + 2, s:], hist[i + 3, s:]
        u0, u1, u2, u3 = w[b + q], w[b + q + 1], w[b + q + 2], w[b + q + 3]
        v0, v1, v2, v3 = w[b + width + q], w[b + width + q + 1], w[b + width + q + 2], w[b + width + q + 3]
        x0, x1, x2, x3 = w[b + 2 * width + q], w[b + 2 * width + q + 1], w[b + 2 * width + q + 2], w[b + 2 * width + q + 3]
        y0, y1, y2, y3 = w[b + 3 * width + q], w[b + 3 * width + q + 1], w[b + 3 * width + q + 2], w[b + 3 * width + q + 3]
        for t in range(n):
            e0, e1, e2, e3 = r0[t], r1[t], r2[t], r3[t]
            a0[t] += u0 * e0 + u1 * e1 + u2 * e2 + u3 * e3
            a1[t] += v0 * e0 + v1 * e1 + v2 * e2 + v3 * e3
            a2[t] += x0 * e0 + x1 * e1 + x2 * e2 + x3 * e3
            a3[t] += y0 * e0 + y1 * e1 + y2 * e2 + y3 * e3


@jit
def _rows1(w, b, width, hist, p, k, d, n, acc):
    """`_rows8` for one row."""
    ch = hist.shape[0]
    for q in range(0, width, 4):
        j, i = divmod(q, ch)
        s = p - (k - 1 - j) * d
        r0, r1, r2, r3 = hist[i, s:], hist[i + 1, s:], hist[i + 2, s:], hist[i + 3, s:]
        u0, u1, u2, u3 = w[b + q], w[b + q + 1], w[b + q + 2], w[b + q + 3]
        for t in range(n):
            acc[t] += u0 * r0[t] + u1 * r1[t] + u2 * r2[t] + u3 * r3[t]


@jit
def _any_channels(w, at, hist, p, k, d, rows, n, out):
    """`accumulate` over any number of channels: four output rows and two input rows a pass."""
    ch = hist.shape[0]
    o, step = 0, k * ch
    while o + 4 <= rows:
        a0, a1, a2, a3 = out[o], out[o + 1], out[o + 2], out[o + 3]
        for j in range(k):
            start, b = p - (k - 1 - j) * d, at + (o * k + j) * ch
            i = 0
            while i + 2 <= ch:
                r0, r1 = hist[i, start:], hist[i + 1, start:]
                u0, u1, v0, v1 = w[b + i], w[b + i + 1], w[b + step + i], w[b + step + i + 1]
                x0, x1, y0, y1 = w[b + 2 * step + i], w[b + 2 * step + i + 1], w[b + 3 * step + i], w[b + 3 * step + i + 1]
                for t in range(n):
                    e0, e1 = r0[t], r1[t]
                    a0[t] += u0 * e0 + u1 * e1
                    a1[t] += v0 * e0 + v1 * e1
                    a2[t] += x0 * e0 + x1 * e1
                    a3[t] += y0 * e0 + y1 * e1
                i += 2
            if i < ch:
                row, u0, v0, x0, y0 = hist[i, start:], w[b + i], w[b + step + i], w[b + 2 * step + i], w[b + 3 * step + i]
                for t in range(n):
                    e0 = row[t]
                    a0[t] += u0 * e0
                    a1[t] += v0 * e0
                    a2[t] += x0 * e0
                    a3[t] += y0 * e0
        o += 4
    for o in range(o, rows):
        acc = out[o]
        for j in range(k):
            start, b = p - (k - 1 - j) * d, at + (o * k + j) * ch
            for i in range(ch):
                wv, row = w[b + i], hist[i, start:]
                for t in range(n):
                    acc[t] += wv * row[t]
