"""What every amp model offers: a batched forward for training (after a pre-roll of input), a
whole-region evaluation, a render from silence, a stateful `process` for streaming, its weights
in NAM's flat order, and the size/cost figures users compare architectures by."""

from __future__ import annotations

import abc

import torch
from torch import nn


class AmpModel(nn.Module, abc.ABC):
    """Maps input audio (batch, time) to output audio (batch, time - receptive_field + 1)."""

    eval_chunk = 1 << 17  # outputs per step when a whole region is evaluated

    def __init__(self, sample_rate: int):
        super().__init__()
        self.sample_rate = int(sample_rate)

    @property
    @abc.abstractmethod
    def receptive_field(self) -> int:
        """Input samples each output sample depends on (1 for recurrent models)."""

    @property
    def pre_roll(self) -> int:
        """Input samples before the first scored output (a WaveNet's history)."""
        return self.receptive_field - 1

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, pre_roll + n) -> (batch, n): what training scores."""
        return self(x)

    def evaluate(self, x: torch.Tensor) -> torch.Tensor:
        """predict() over a whole region, `eval_chunk` outputs at a time, so that evaluating an hour
        of audio holds one chunk's activations: the same numbers (a WaveNet re-reads its
        pre-roll for each chunk)."""
        n, chunk = x.shape[1] - self.pre_roll, self.eval_chunk
        return torch.cat([self.predict(x[:, start : start + self.pre_roll + chunk]) for start in range(0, n, chunk)], dim=1)

    def outputs(self, x: torch.Tensor) -> list[torch.Tensor]:
        """predict() of every size the model holds, smallest first: what training scores (one
        size but for a SlimmableContainer)."""
        return [self.predict(x)]

    def evaluate_sizes(self, x: torch.Tensor) -> list[torch.Tensor]:
        """evaluate() of every size, smallest first; the last is evaluate()'s."""
        return [self.evaluate(x)]

    def render(self, x: torch.Tensor) -> torch.Tensor:
        """A 1-D signal as a stream that starts from silence: what an exported file renders."""
        return self(torch.cat([x.new_zeros(self.receptive_field - 1), x]).unsqueeze(0)).squeeze(0)

    @abc.abstractmethod
    def nam_weights(self) -> torch.Tensor:
        """Every weight, flat, in the order of NAM's `.nam` files."""

    @abc.abstractmethod
    def load_nam_weights(self, weights: torch.Tensor) -> None:
        """The inverse of nam_weights()."""

    @abc.abstractmethod
    def macs_per_sample(self) -> int:
        """Multiply-accumulates to compute one output sample when streaming."""

    @abc.abstractmethod
    def reset(self) -> None:
        """Forget the stream's past: the next `process` starts from silence."""

    @abc.abstractmethod
    def process(self, buffer: torch.Tensor) -> torch.Tensor:
        """Process one buffer (1-D) of a stream, keeping state for the next one."""

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def describe(self) -> dict[str, int]:
        return {"parameters": self.num_parameters(), "receptive_field": self.receptive_field, "macs_per_sample": self.macs_per_sample()}
