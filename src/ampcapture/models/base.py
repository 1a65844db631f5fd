"""What every amp model offers: a batched forward for training (after a pre-roll of input), a
whole-region evaluation, a render from silence, a stateful `process` for streaming, its weights
in NAM's flat order, and the size/cost figures users compare architectures by.

A model built with `knobs` (a parametric capture: one model for every setting of the gear's
knobs) also takes the knob values, normalized to [0, 1]: `knobs` of shape (batch, n) for
settings held for the whole window, or (batch, n, time) aligned with the input for knobs that
move. `at_knobs` folds a fixed setting into an ordinary model, which every player can load."""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from ampcapture.core.errors import ModelFileError

# What a model class reads of a `.nam` dict: (its spec, its weights, its parts as (max_value,
# part)), given the dict, where it is from, the channels it must output, its weights (float32,
# checked finite) and the reader of a part (a whole `.nam` dict of its own).
NamReading = tuple[Any, np.ndarray, list[tuple[float, Any]]]


class AmpModel(nn.Module, abc.ABC):
    """Maps input audio (batch, time) to output audio (batch, time - receptive_field + 1).

    Each architecture is a subclass with its `Spec` (a frozen dataclass built and checked once
    from a config: `Spec.from_config`) and its `.nam` layout: `nam_config` writes the file's
    config, `read_nam` reads it back (formats.nam does the rest of a file, the same for all).
    models.ARCHITECTURES lists them by the name a `.nam` and a preset give."""

    Spec: ClassVar[type]
    architecture: ClassVar[str]  # its name in ARCHITECTURES, a preset and a .nam file
    eval_chunk = 1 << 17  # outputs per step when a whole region is evaluated
    size_names: list[str] | None = None  # several sizes' names (a SlimmableContainer's)

    def __init__(self, sample_rate: int):
        super().__init__()
        self.sample_rate = int(sample_rate)

    @classmethod
    def bounded_spec(cls, config: dict[str, Any], where: Any) -> Any:
        """The spec of a config from a file (a .nam's, a checkpoint's), its sizes bounded
        (models.limits) before anything of the model is allocated."""
        return cls.Spec.from_config(config)

    # --- its .nam layout ---------------------------------------------------------------------

    @property
    def parts(self) -> list["AmpModel"]:
        """The models a player can pick, smallest first: itself, but for a SlimmableContainer."""
        return [self]

    @property
    def size_controls(self) -> list[float | None]:
        """Per part, the lowest value of the player's size control that plays it (None: it has no size control)."""
        return [None]

    @property
    def has_nam_layout(self) -> bool:
        return True

    @property
    def has_aidax_layout(self) -> bool:
        """Whether AIDA-X (RTNeural's JSON, formats.aidax) can hold it: LSTMs only."""
        return False

    def shift_output(self, offset: float) -> bool:
        """Add `offset` to every output sample through the output's own bias; False (and nothing
        changed) where it has none."""
        return False

    def nam_config(self, version: str, body: Callable[["AmpModel"], dict[str, Any]]) -> dict[str, Any]:
        """The `config` of its `.nam` in the layout of `version`; `body` writes a part's whole `.nam` dict."""
        raise ModelFileError("model", f"{type(self).__name__} has no .nam layout", "export a WaveNet or an LSTM")

    def nam_file_weights(self) -> torch.Tensor:
        """The `weights` list of its `.nam` (what the config does not hold)."""
        return self.nam_weights()

    def beyond_legacy(self) -> list[str]:
        """What of it only a .nam 0.7 holds (nothing: a 0.5 file holds it)."""
        return []

    def plugin_differences(self) -> list[str]:
        """What of it NAM's plugin renders otherwise than neural-amp-modeler 0.13, which ampcapture follows."""
        return []

    @classmethod
    def read_nam(cls, data: dict[str, Any], where: Any, outputs: int, weights: np.ndarray, read_part: Callable) -> NamReading:
        raise ModelFileError(where, f"architecture {cls.architecture!r} has no .nam layout", "use a WaveNet, LSTM or SlimmableContainer .nam")

    @property
    @abc.abstractmethod
    def receptive_field(self) -> int:
        """Input samples each output sample depends on (1 for recurrent models)."""

    @property
    def pre_roll(self) -> int:
        """Input samples before the first scored output (a WaveNet's history)."""
        return self.receptive_field - 1

    knobs = 0  # knob inputs (a parametric model's); 0: none

    def predict(self, x: torch.Tensor, knobs: torch.Tensor | None = None) -> torch.Tensor:
        """(batch, pre_roll + n) -> (batch, n): what training scores."""
        return self(x, knobs)

    def evaluate(self, x: torch.Tensor, knobs: torch.Tensor | None = None) -> torch.Tensor:
        """predict() over a whole region, `eval_chunk` outputs at a time, so that evaluating an hour
        of audio holds one chunk's activations: the same numbers (a WaveNet re-reads its
        pre-roll for each chunk)."""
        n, chunk, p = x.shape[1] - self.pre_roll, self.eval_chunk, self.pre_roll
        return torch.cat([self.predict(x[:, start : start + p + chunk], knob_slice(knobs, start, start + p + chunk)) for start in range(0, n, chunk)], dim=1)

    def outputs(self, x: torch.Tensor, knobs: torch.Tensor | None = None) -> list[torch.Tensor]:
        """predict() of every size the model holds, smallest first: what training scores (one
        size but for a SlimmableContainer)."""
        return [self.predict(x, knobs)]

    def evaluate_sizes(self, x: torch.Tensor, knobs: torch.Tensor | None = None) -> list[torch.Tensor]:
        """evaluate() of every size, smallest first; the last is evaluate()'s."""
        return [self.evaluate(x, knobs)]

    def render(self, x: torch.Tensor, knobs: torch.Tensor | None = None) -> torch.Tensor:
        """A 1-D signal as a stream that starts from silence: what an exported file renders.
        `knobs`: (n,) held, or (n, time) moving with the signal."""
        lead = self.prewarm_samples
        if knobs is not None and knobs.dim() == 2:
            knobs = torch.cat([knobs[:, :1].expand(-1, lead), knobs], dim=1)
        y = self(torch.cat([x.new_zeros(lead), x]).unsqueeze(0), None if knobs is None else knobs.unsqueeze(0)).squeeze(0)
        return y[y.shape[0] - x.shape[0] :]

    @property
    def prewarm_samples(self) -> int:
        """Silence played before a render, as NAM's core prewarms at reset: a WaveNet's receptive
        field (after it, silence is all it holds)."""
        return self.receptive_field - 1

    def at_knobs(self, values: torch.Tensor) -> "AmpModel":
        """The ordinary model this one is with its knobs held at `values` (n,), normalized."""
        raise NotImplementedError(f"{type(self).__name__} has no knobs to fold")

    def check_knobs(self, knobs: torch.Tensor | None) -> None:
        """Knob values given exactly when the model has knobs, as many as it has."""
        if (knobs is None) != (self.knobs == 0) or (knobs is not None and knobs.shape[1] != self.knobs):
            given = "none" if knobs is None else knobs.shape[1]
            raise ValueError(f"this model takes {self.knobs} knob value(s), {given} given")

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


class FrameStream:
    """Streaming for a model whose output sample is a function of its last `receptive_field`
    inputs (a WaveNet, an FIR): each buffer runs over the inputs kept from before and itself."""

    receptive_field: int

    def reset(self) -> None:
        self._history = torch.zeros(self.receptive_field - 1)

    @torch.no_grad()
    def process(self, buffer: torch.Tensor) -> torch.Tensor:
        frame = torch.cat([self._history.to(buffer), buffer])
        self._history = frame[frame.numel() - (self.receptive_field - 1) :]
        return self(frame.unsqueeze(0)).squeeze(0)


def knob_slice(knobs: torch.Tensor | None, start: int, stop: int) -> torch.Tensor | None:
    """The knobs of input samples start..stop: held knobs (batch, n) as they are."""
    return knobs if knobs is None or knobs.dim() == 2 else knobs[..., start:stop]


def knob_columns(knobs: torch.Tensor, batch: int, time: int) -> torch.Tensor:
    """Knobs (batch, n) or (batch, n, time) as (n, batch * time) columns, window after window."""
    full = knobs[..., None].expand(-1, -1, time) if knobs.dim() == 2 else knobs
    return full.transpose(0, 1).reshape(knobs.shape[1], batch * time)
