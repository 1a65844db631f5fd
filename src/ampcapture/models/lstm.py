"""Recurrent models: NAM's LSTM (stacked LSTM, linear head, trainable initial state) and
GuitarML's variant (no trainable initial state, the input added to the output), the layout
RTNeural / AIDA-X load."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

import torch
from torch import nn

from ampcapture.core.errors import ConfigError, ModelFileError
from ampcapture.models import limits
from ampcapture.models.base import AmpModel, NamReading, knob_slice
from ampcapture.models.layout import lstm_layout, lstm_macs, lstm_prewarm_samples


@dataclass(frozen=True)
class LSTMSpec:
    """A stacked LSTM with a linear head: NAM's (a trained initial state) or GuitarML's (`skip`:
    the input added to the output; no trained initial state). `warmup`: samples it runs on before
    training scores it; `knobs`: knob values fed beside the sample, as GuitarML's parametric LSTMs
    take them."""

    hidden_size: int = 16
    num_layers: int = 1
    skip: bool = False
    trainable_initial_state: bool = True
    warmup: int = 4096
    knobs: int = 0

    @classmethod
    def from_config(cls, config: dict[str, Any], where: str = "model.config") -> LSTMSpec:
        unknown = set(config) - {f.name for f in fields(cls)}
        if unknown:
            raise ConfigError(where, f"does not fit LSTM (unexpected key {sorted(unknown)[0]!r})", "compare with the presets in conf/model/")
        spec = cls(**config)
        if spec.hidden_size < 1 or spec.num_layers < 1 or spec.warmup < 0 or spec.knobs < 0:
            raise ConfigError(
                where,
                f"hidden_size={spec.hidden_size}, num_layers={spec.num_layers}, warmup={spec.warmup}, knobs={spec.knobs}",
                "use hidden_size >= 1, num_layers >= 1, warmup >= 0, knobs >= 0",
            )
        return spec


class LSTM(AmpModel):
    Spec, architecture = LSTMSpec, "LSTM"

    def __init__(self, spec: LSTMSpec = LSTMSpec(), sample_rate: int = 48000):
        """A fixed setting of a parametric LSTM's knobs folds into its first layer's bias (`at_knobs`)."""
        super().__init__(sample_rate)
        self.spec = spec
        hidden_size, num_layers, knobs = spec.hidden_size, spec.num_layers, spec.knobs
        self.hidden_size, self.num_layers, self.skip, self.warmup, self.knobs = hidden_size, num_layers, spec.skip, spec.warmup, knobs
        self.trainable_initial_state = spec.trainable_initial_state
        self.core = nn.LSTM(1 + knobs, hidden_size, num_layers, batch_first=True)
        self.head = nn.Linear(hidden_size, 1)
        initial = torch.zeros(num_layers, hidden_size)
        if spec.trainable_initial_state:
            self.initial_hidden, self.initial_cell = nn.Parameter(initial.clone()), nn.Parameter(initial.clone())
        else:
            self.register_buffer("initial_hidden", initial.clone())
            self.register_buffer("initial_cell", initial.clone())
        self.reset()

    @property
    def receptive_field(self) -> int:
        return 1

    def forward(self, x: torch.Tensor, knobs: torch.Tensor | None = None) -> torch.Tensor:
        """(batch, time) -> (batch, time), starting from the initial state."""
        return self.step(x, None, knobs)[0]

    def step(self, x: torch.Tensor, state=None, knobs: torch.Tensor | None = None):
        """Like forward, also returning the final (h, c) so a caller can carry it on."""
        self.check_knobs(knobs)
        if state is None:
            batch = x.shape[0]
            state = (self.initial_hidden.unsqueeze(1).expand(-1, batch, -1).contiguous(), self.initial_cell.unsqueeze(1).expand(-1, batch, -1).contiguous())
        inputs = x.unsqueeze(-1)
        if knobs is not None:
            held = knobs[:, None, :].expand(-1, x.shape[1], -1) if knobs.dim() == 2 else knobs.transpose(1, 2)
            inputs = torch.cat([inputs, held.to(x)], dim=-1)
        features, state = self.core(inputs, state)
        y = self.head(features).squeeze(-1)
        return (y + x if self.skip else y), state

    @property
    def prewarm_samples(self) -> int:
        """Half a second of silence from the initial state, as NAM's core prewarms an LSTM."""
        return lstm_prewarm_samples(self.sample_rate)

    @property
    def pre_roll(self) -> int:
        """Samples the LSTM runs on before it is scored (truncated back-propagation through time)."""
        return self.warmup

    def predict(self, x: torch.Tensor, knobs: torch.Tensor | None = None) -> torch.Tensor:
        """(batch, pre_roll + n) -> (batch, n): the pre-roll warms the state up without gradient."""
        state, p = None, self.pre_roll
        if p:
            with torch.no_grad():
                _, state = self.step(x[:, :p], None, knob_slice(knobs, 0, p))
        return self.step(x[:, p:], state, knob_slice(knobs, p, x.shape[1]))[0]

    def evaluate(self, x: torch.Tensor, knobs: torch.Tensor | None = None) -> torch.Tensor:
        """predict() over a whole region, carrying the state from chunk to chunk."""
        state, outputs, p = None, [], self.pre_roll
        if p:
            _, state = self.step(x[:, :p], None, knob_slice(knobs, 0, p))
        for start in range(p, x.shape[1], self.eval_chunk):
            y, state = self.step(x[:, start : start + self.eval_chunk], state, knob_slice(knobs, start, start + self.eval_chunk))
            outputs.append(y)
        return torch.cat(outputs, dim=1)

    @torch.no_grad()
    def at_knobs(self, values: torch.Tensor) -> "LSTM":
        """The plain LSTM this one is with its knobs held at `values`: the first layer keeps its
        sample's input weights, and its knob weights times the values join its bias."""
        if not self.knobs:
            return super().at_knobs(values)
        plain = LSTM(replace(self.spec, knobs=0), self.sample_rate)
        state = {k: v.clone() for k, v in self.state_dict().items()}
        w = state["core.weight_ih_l0"]
        state["core.bias_ih_l0"] += w[:, 1:] @ values.to(w)
        state["core.weight_ih_l0"] = w[:, :1].contiguous()
        plain.load_state_dict(state)
        return plain

    def fused_bias(self, layer: int) -> torch.Tensor:
        """b_ih + b_hh: one bias per gate, as NAM, RTNeural and Keras keep it."""
        return getattr(self.core, f"bias_ih_l{layer}") + getattr(self.core, f"bias_hh_l{layer}")

    def nam_weights(self) -> torch.Tensor:
        parts = []
        for layer in range(self.num_layers):
            w_ih, w_hh = getattr(self.core, f"weight_ih_l{layer}"), getattr(self.core, f"weight_hh_l{layer}")
            parts += [torch.cat([w_ih, w_hh], dim=1), self.fused_bias(layer), self.initial_hidden[layer], self.initial_cell[layer]]
        parts += [self.head.weight, self.head.bias]
        return torch.cat([p.detach().float().flatten() for p in parts])

    @torch.no_grad()
    def load_nam_weights(self, weights: torch.Tensor) -> None:
        layers, head_w, head_b, count = lstm_layout(self.hidden_size, self.num_layers)
        if weights.numel() != count:
            raise ValueError(f"an LSTM of {self.num_layers} x {self.hidden_size} has {count} weights, not {weights.numel()}")
        for layer, at in enumerate(layers):
            matrix = weights[at.matrix].view(4 * self.hidden_size, at.inputs + self.hidden_size)
            getattr(self.core, f"weight_ih_l{layer}").copy_(matrix[:, : at.inputs])
            getattr(self.core, f"weight_hh_l{layer}").copy_(matrix[:, at.inputs :])
            getattr(self.core, f"bias_ih_l{layer}").copy_(weights[at.bias])
            getattr(self.core, f"bias_hh_l{layer}").zero_()
            self.initial_hidden[layer] = weights[at.hidden]
            self.initial_cell[layer] = weights[at.cell]
        self.head.weight.copy_(weights[head_w].view(1, -1))
        self.head.bias.copy_(weights[head_b])

    @torch.no_grad()
    def shift_output(self, offset: float) -> bool:
        self.head.bias += offset
        return True

    @classmethod
    def bounded_spec(cls, config: dict[str, Any], where: Any) -> LSTMSpec:
        limits.check_lstm(config, where)
        return LSTMSpec.from_config(config)

    @property
    def has_nam_layout(self) -> bool:
        return not self.skip

    @property
    def has_aidax_layout(self) -> bool:
        return True

    def nam_config(self, version: str, body) -> dict[str, Any]:
        if self.skip:
            raise ModelFileError(
                "model",
                "this LSTM adds its input to its output (GuitarML's skip), which .nam cannot express",
                "export it for AIDA-X (--aidax), or train lstm_small / lstm_medium for the NAM plugin",
            )
        return {"input_size": 1, "hidden_size": self.hidden_size, "num_layers": self.num_layers}

    @classmethod
    def read_nam(cls, data, where, outputs, weights, read_part) -> NamReading:
        config = {k: data["config"][k] for k in ("hidden_size", "num_layers")}
        limits.check_lstm(config, where)
        if data["config"].get("input_size", 1) != 1:
            raise ModelFileError(where, "has a conditioned LSTM (input_size > 1, knobs)", "use a model without knob inputs")
        expected = lstm_layout(config["hidden_size"], config["num_layers"])[3]
        if weights.size != expected:
            problem = f"weights do not fit the config: it needs {expected}, the file has {weights.size}"
            raise ModelFileError(where, problem, "the file is damaged; export it again")
        return LSTMSpec(**config), weights, []

    def macs_per_sample(self) -> int:
        return lstm_macs(self.hidden_size, self.num_layers)

    def reset(self) -> None:
        self._state = None

    @torch.no_grad()
    def process(self, buffer: torch.Tensor) -> torch.Tensor:
        if self._state is None:  # after a reset: settle on silence first, as render() does
            _, self._state = self.step(buffer.new_zeros(1, self.prewarm_samples))
        y, self._state = self.step(buffer.unsqueeze(0), self._state)
        return y.squeeze(0)
