"""Recurrent models: NAM's LSTM (stacked LSTM, linear head, trainable initial state) and
GuitarML's variant (no trainable initial state, the input added to the output), the layout
RTNeural / AIDA-X load."""

from __future__ import annotations

import torch
from torch import nn

from ..errors import ConfigError
from .base import AmpModel


class LSTM(AmpModel):
    def __init__(self, hidden_size: int = 16, num_layers: int = 1, skip: bool = False, trainable_initial_state: bool = True,
                 warmup: int = 4096, sample_rate: int = 48000):
        super().__init__(sample_rate)
        if hidden_size < 1 or num_layers < 1 or warmup < 0:
            raise ConfigError("model.config", f"hidden_size={hidden_size}, num_layers={num_layers}, warmup={warmup}",
                              "use hidden_size >= 1, num_layers >= 1, warmup >= 0")
        self.hidden_size, self.num_layers, self.skip, self.warmup = hidden_size, num_layers, skip, warmup
        self.core = nn.LSTM(1, hidden_size, num_layers, batch_first=True)
        self.head = nn.Linear(hidden_size, 1)
        initial = torch.zeros(num_layers, hidden_size)
        if trainable_initial_state:
            self.initial_hidden, self.initial_cell = nn.Parameter(initial.clone()), nn.Parameter(initial.clone())
        else:
            self.register_buffer("initial_hidden", initial.clone())
            self.register_buffer("initial_cell", initial.clone())
        self.reset()

    @property
    def receptive_field(self) -> int:
        return 1

    def forward(self, x: torch.Tensor, state=None) -> torch.Tensor:
        """(batch, time) -> (batch, time), starting from the initial state."""
        return self.step(x, state)[0]

    def step(self, x: torch.Tensor, state=None):
        """Like forward, also returning the final (h, c) so a caller can carry it on."""
        if state is None:
            batch = x.shape[0]
            state = (self.initial_hidden.unsqueeze(1).expand(-1, batch, -1).contiguous(),
                     self.initial_cell.unsqueeze(1).expand(-1, batch, -1).contiguous())
        features, state = self.core(x.unsqueeze(-1), state)
        y = self.head(features).squeeze(-1)
        return (y + x if self.skip else y), state

    def macs_per_sample(self) -> int:
        h = self.hidden_size
        gates = 4 * h * (1 + h) + 4 * h * (h + h) * (self.num_layers - 1)
        return gates + 3 * h * self.num_layers + h  # gates, cell/hidden updates, head

    def reset(self) -> None:
        self._state = None

    @torch.no_grad()
    def process(self, buffer: torch.Tensor) -> torch.Tensor:
        y, self._state = self.step(buffer.unsqueeze(0), self._state)
        return y.squeeze(0)
