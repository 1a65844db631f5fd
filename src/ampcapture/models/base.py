"""What every amp model offers: a batched forward for training, a stateful `process` for
streaming, and the size/cost figures users compare architectures by."""

from __future__ import annotations

import abc

import torch
from torch import nn


class AmpModel(nn.Module, abc.ABC):
    """Maps input audio (batch, time) to output audio (batch, time - receptive_field + 1)."""

    def __init__(self, sample_rate: int):
        super().__init__()
        self.sample_rate = int(sample_rate)

    @property
    @abc.abstractmethod
    def receptive_field(self) -> int:
        """Input samples each output sample depends on (1 for recurrent models)."""

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
        return {"parameters": self.num_parameters(), "receptive_field": self.receptive_field,
                "macs_per_sample": self.macs_per_sample()}
