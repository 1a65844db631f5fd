"""The real-time engine: a model file rendered buffer by buffer.

Why not the torch model: at plugin buffer sizes (32-512 samples) torch spends its time
dispatching a few hundred small ops per buffer, and a WaveNet's `process` re-runs the whole
receptive field. An engine keeps each layer's state and runs one compiled function per buffer
(`runtime.wavenet_engine`, `runtime.lstm_engine`, on the kernels of `runtime.kernels`). It is
built from a model's spec and its weights as a `.nam` holds them, so what it renders is exactly
what the exported file holds. An architecture without a compiled engine plays through its torch
model's streaming `process` (`TorchEngine`).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch

from ampcapture.models import AmpModel
from ampcapture.models.layout import HISTORY_BLOCK

BLOCK = HISTORY_BLOCK  # longer buffers are cut into blocks of this size


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


class TorchEngine(Engine):
    """An architecture without a compiled engine, played by its torch model (`AmpModel.process`)."""

    def __init__(self, model: AmpModel):
        self.model, self.sample_rate = model.eval(), model.sample_rate
        self.cost = Cost(parameters=model.num_parameters(), macs_per_sample=model.macs_per_sample())
        self.reset()

    def reset(self) -> None:
        self.model.reset()
        self.process(np.zeros(self.model.prewarm_samples, np.float32))

    def _block(self, x: np.ndarray, out: np.ndarray) -> None:
        with torch.no_grad():
            out[:] = self.model.process(torch.from_numpy(x)).numpy()

    def clone(self) -> "Engine":
        twin = copy.copy(self)
        twin.model = copy.deepcopy(self.model)
        return twin
