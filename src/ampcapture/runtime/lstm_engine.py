"""The real-time engine of an LSTM (NAM's, or GuitarML's with its input skip): one sample at a
time, compiled for its hidden size, up to ROWS_PER_PASS rows of its weights a pass over its
gates, one tanh over all of them (the sigmoid gates' rows are halved at load)."""

from __future__ import annotations

import functools

import numba
import numpy as np

from ampcapture.models.layout import lstm_layout, lstm_macs, lstm_prewarm_samples
from ampcapture.models.lstm import LSTMSpec
from ampcapture.runtime.engine import Cost, Engine
from ampcapture.runtime.kernels import HALF, jit, tanh

ROWS_PER_PASS = 12  # weight rows a gate-product pass adds at most (measured best here for H = 16 and 32)


def _passes(rows: int) -> tuple[int, int, int]:
    """(rows a pass, rows in whole passes, rows left for a last pass) for a gate product."""
    per_pass = -(-rows // -(-rows // ROWS_PER_PASS))
    full = (rows // per_pass) * per_pass
    return per_pass, full, rows - full


@numba.njit(fastmath=True, error_model="numpy", inline="always")
def _gate_product(wl, z, gates, width, rows, per_pass, full, rest):
    """gates (`width` of them) = bias + the `rows` rows of W^T ((rows + 1) x 4H, the bias last)
    weighted by z, in passes of `per_pass` rows. Inlined where the sizes are constants of the
    compiled code (see `_lstm_kernel`), so each pass's sum is a fixed-length loop LLVM unrolls:
    the gates are read and written once a pass, and every pass vectorizes over the gates."""
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
        width = 4 * h
        gates = np.empty(width, np.float32)
        for t in range(x.shape[0]):
            z[0, 0] = x[t]
            for layer in range(n_layers):
                zl, c = z[layer], cell[layer]
                n_in = 1 if layer == 0 else h
                if layer == 0:
                    _gate_product(weights[0], zl, gates, width, first_rows, first_per_pass, first_full, first_rest)
                else:
                    _gate_product(weights[layer], zl, gates, width, deeper_rows, deeper_per_pass, deeper_full, deeper_rest)
                for g in range(width):
                    gates[g] = tanh(gates[g])
                for u in range(h):  # torch's gate order: input, forget, cell, output
                    c[u] = (HALF + HALF * gates[h + u]) * c[u] + (HALF + HALF * gates[u]) * gates[2 * h + u]
                for u in range(h):
                    zl[n_in + u] = (HALF + HALF * gates[3 * h + u]) * tanh(c[u])
                if layer + 1 < n_layers:
                    for u in range(h):
                        z[layer + 1, u] = zl[n_in + u]
            last, n_in = z[n_layers - 1], (1 if n_layers == 1 else h)
            y = head_b
            for u in range(h):
                y += head_w[u] * last[n_in + u]
            out[t] = y + x[t] if skip else y

    return kernel


class LSTMEngine(Engine):
    def __init__(self, spec: LSTMSpec, weights: np.ndarray, sample_rate: float):
        self.sample_rate = sample_rate
        h, n_layers, skip = spec.hidden_size, spec.num_layers, spec.skip
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
