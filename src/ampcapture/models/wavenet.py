"""NAM's WaveNet: layer arrays of dilated causal convolutions with a conditioning input.

The structure follows neural-amp-modeler's, module for module, so every weight maps onto a
`.nam` file: per array an input rechannel (1x1, no bias), layers of (dilated conv, 1x1 input
mixer from the condition (the raw input), activation, 1x1 layer conv added to the residual),
a head rechannel over the sum of the layers' post-activations (1x1, or a causal convolution of
`head_kernel_size` taps as in NAM's A2); arrays chain their residual streams and their head
sums; the last head sum times `head_scale` is the output.

The modules hold the weights (so the state dict is NAM's layout); the arithmetic runs on
channel-major columns, the batch's windows laid end to end as one (channels, batch * time)
signal, one layer at a time in `_ColumnLayer`. On a CPU that makes every convolution a plain
matrix product on a strided view and lets one hand-written backward replace what autograd's
convolution and slicing cost: on 2 CPU cores a training step takes 0.53x the time of the same
model written with conv1d (`forward_with_conv1d`) for the standard preset and 0.24x for the
nano one (`benchmarks/training_step.py`). Such a step is bound by passes over memory, not by
the products, so no pass is spent on zeros: each layer hands the head only the columns it uses.
Outputs whose history crosses from one window into the next are computed and dropped.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch
from torch import nn

from ampcapture.models import limits, wavenet_nam
from ampcapture.models.base import AmpModel, FrameStream, NamReading, knob_columns
from ampcapture.models.wavenet_spec import Activation, ArraySpec, LayerSpec, PostHeadSpec, WaveNetSpec


class _Softsigmoid(nn.Module):
    """NAM's: 0.5 (1 + x / (1 + |x|))."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 0.5 * (1.0 + x / (1.0 + x.abs()))


class _LeakyHardtanh(nn.Module):
    """NAM's: x inside [min_val, max_val], slopes min_slope / max_slope outside."""

    def __init__(self, min_val: float, max_val: float, min_slope: float, max_slope: float):
        super().__init__()
        self.min_val, self.max_val, self.min_slope, self.max_slope = min_val, max_val, min_slope, max_slope

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        below = (x - self.min_val) * self.min_slope + self.min_val
        above = (x - self.max_val) * self.max_slope + self.max_val
        return torch.where(x < self.min_val, below, torch.where(x > self.max_val, above, x))


class _PReLU(nn.Module):
    """PReLU with the slopes the config gives, one for all channels or one per channel (NAM keeps
    them in the config, not the weights); held fixed, not trained."""

    def __init__(self, parameters: dict[str, Any], channels: int):
        super().__init__()
        slopes = parameters.get("negative_slopes") or [parameters["negative_slope"]] * channels
        self.register_buffer("slopes", torch.tensor(slopes, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: channels first."""
        slopes = self.slopes.to(x.dtype).view(-1, *[1] * (x.dim() - 1))
        return torch.where(x >= 0, x, slopes * x)


_ACTIVATION_MODULES = {"Softsigmoid": _Softsigmoid, "LeakyHardtanh": _LeakyHardtanh}


def _activation(activation: Activation, channels: int) -> nn.Module:
    """The module of an activation for `channels`."""
    name, parameters = activation.name, activation.parameters
    if name == "PReLU":
        return _PReLU(parameters, channels)
    return _ACTIVATION_MODULES[name](**parameters) if name in _ACTIVATION_MODULES else getattr(nn, name)(**parameters)


class _Layer(nn.Module):
    """The weights of one layer; `_ColumnLayer` does its arithmetic (`_plain_columns` for a
    layer with a head 1x1 or without a layer 1x1, which NAM 0.13 files may have)."""

    def __init__(self, array: ArraySpec, layer: LayerSpec, condition_size: int):
        """`condition_size`: the array's, and a parametric model's knobs."""
        super().__init__()
        b, channels = array.mid_channels, array.channels
        mid = 2 * b if layer.paired else b
        self.channels, self.bottleneck, self.gating, self.dilation = channels, b, layer.gating, layer.dilation
        # registered in NAM's weight order (WaveNetSpec.blocks)
        self.conv = nn.Conv1d(channels, mid, layer.kernel_size, dilation=layer.dilation)
        self.input_mixer = nn.Conv1d(condition_size, mid, 1, bias=False)
        self.activation = _activation(layer.activation, b)
        self.secondary = _activation(layer.secondary, b) if layer.paired else None
        self.layer1x1 = nn.Conv1d(b, channels, 1) if array.layer1x1 else None
        self.head1x1 = nn.Conv1d(b, array.head1x1, 1) if array.head1x1 else None
        # FiLM at a position: scale (and shift) the signal there by a 1x1 of the condition
        films = {p: nn.Conv1d(condition_size, (2 if shift else 1) * array.film_channels(p, layer), 1) for p, shift in array.films}
        self.films = nn.ModuleDict(films)
        # tanh's derivative comes from its output, so no pre-activation is kept for the backward
        self.plain_tanh = layer.activation == Activation("Tanh") and not layer.paired

    def post_activation(self, z: torch.Tensor) -> torch.Tensor:
        """z: (mid, n) channels first -> (bottleneck, n)."""
        if self.gating == "none":
            return self.activation(z)
        primary, gate = z[: self.bottleneck], self.secondary(z[self.bottleneck :])
        if self.gating == "gated":
            return self.activation(primary) * gate
        return gate * self.activation(primary) + (1.0 - gate) * primary

    def forward(self, x: torch.Tensor, condition: torch.Tensor, tail: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Columns x (channels, n + (kernel - 1) * dilation) and the condition ending at the same
        sample -> the residual stream (channels, n) and the layer's part of the head sum over the
        last `tail` columns (the array's output length: the head uses no column before them)."""
        if self.layer1x1 is None or self.head1x1 is not None or self.films:
            return self._plain_columns(x, condition, tail)
        return _ColumnLayer.apply(x, condition, self.conv.weight, self.conv.bias, self.input_mixer.weight, self.layer1x1.weight, self.layer1x1.bias, self, tail)

    def _plain_columns(self, x, condition, tail):
        """The same arithmetic in plain torch ops (autograd's backward), with the FiLMs."""
        w, d = self.conv.weight, self.dilation
        n = x.shape[1] - (w.shape[2] - 1) * d
        x_in = self.film("conv_pre", x, condition)
        z = self.conv.bias[:, None].expand(-1, n)
        for k in range(w.shape[2]):
            z = z.addmm(w[:, :, k], x_in[:, k * d : k * d + n])
        mix = self.input_mixer.weight[:, :, 0] @ self.film("input_mixin_pre", condition[:, -n:], condition)
        z = self.film("conv_post", z, condition) + self.film("input_mixin_post", mix, condition)
        a = self.film("activation_post", self.post_activation(self.film("activation_pre", z, condition)), condition)
        if self.layer1x1 is not None:
            a_out = self.film("layer1x1_post", torch.addmm(self.layer1x1.bias[:, None], self.layer1x1.weight[:, :, 0], a), condition)
        x_next = x[:, -n:] + (a if self.layer1x1 is None else a_out)
        h = a if self.head1x1 is None else self.film("head1x1_post", torch.addmm(self.head1x1.bias[:, None], self.head1x1.weight[:, :, 0], a), condition)
        return x_next, h[:, -tail:]

    def film(self, position: str, signal: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        """NAM's FiLM: signal (channels, n) * scale + shift, both 1x1s of the condition's last n
        columns; the signal itself where the layer has no FiLM at `position`."""
        if position not in self.films:
            return signal
        conv = self.films[position]
        f = torch.addmm(conv.bias[:, None], conv.weight[:, :, 0], condition[:, -signal.shape[1] :])
        c = signal.shape[0]
        return signal * f if f.shape[0] == c else torch.addcmul(f[c:], signal, f[:c])


class _ColumnLayer(torch.autograd.Function):
    """z = dilated conv(x) + mixer(condition); a = activation(z); x' = x + 1x1(a); the head's
    part: a's last `tail` columns. On 2 cores the step is bound by passes over memory, not by
    the products, so the backward writes no zero-padded head gradient: every layer's head part
    gets the same gradient, added to the last columns of a's."""

    @staticmethod
    def forward(ctx, x, condition, conv_w, conv_b, mixer_w, out_w, out_b, layer, tail):
        taps, d = conv_w.shape[2], layer.dilation
        n = x.shape[1] - (taps - 1) * d
        z = torch.addmm(conv_b[:, None], conv_w[:, :, 0], x[:, :n])
        for k in range(1, taps):
            z.addmm_(conv_w[:, :, k], x[:, k * d : k * d + n])
        z.addmm_(mixer_w[:, :, 0], condition[:, -n:])
        if layer.plain_tanh:
            a = saved = z.tanh_()
        else:
            a, saved = layer.post_activation(z), z
        x_next = torch.addmm(x[:, -n:], out_w[:, :, 0], a).add_(out_b[:, None])
        ctx.save_for_backward(x, condition, saved, conv_w, mixer_w, out_w)
        ctx.layer, ctx.tail = layer, tail
        return x_next, a[:, -tail:]

    @staticmethod
    def backward(ctx, grad_x_next, grad_head):
        with torch.autocast(grad_x_next.device.type, enabled=False):  # as in the forward
            return _ColumnLayer._backward(ctx, grad_x_next, grad_head)

    @staticmethod
    def _backward(ctx, grad_x_next, grad_head):
        x, condition, saved, conv_w, mixer_w, out_w = ctx.saved_tensors
        layer, taps, n = ctx.layer, conv_w.shape[2], saved.shape[1]
        d, shift = layer.dilation, x.shape[1] - n
        grad_a = out_w[:, :, 0].t() @ grad_x_next
        grad_a[:, -ctx.tail :] += grad_head
        if layer.plain_tanh:
            a = saved
            grad_z = torch.ops.aten.tanh_backward(grad_a, a)
        else:
            with torch.enable_grad():
                z = saved.detach().requires_grad_()
                a = layer.post_activation(z)
                (grad_z,) = torch.autograd.grad(a, z, grad_a)
            a = a.detach()
        grad_out_w = (grad_x_next @ a.t())[:, :, None]
        grad_x = torch.empty_like(x)
        grad_x[:, :shift].zero_()
        grad_x[:, shift:].copy_(grad_x_next)
        grad_conv_w = torch.empty_like(conv_w)
        for k in range(taps):
            grad_x[:, k * d : k * d + n].addmm_(conv_w[:, :, k].t(), grad_z)
            grad_conv_w[:, :, k] = grad_z @ x[:, k * d : k * d + n].t()
        grad_mixer_w = (grad_z @ condition[:, -n:].t())[:, :, None]
        grad_condition = None
        if ctx.needs_input_grad[1]:
            grad_condition = grad_z.new_zeros(condition.shape)
            grad_condition[:, -n:] = mixer_w[:, :, 0].t() @ grad_z
        return (grad_x, grad_condition, grad_conv_w, grad_z.sum(1), grad_mixer_w, grad_out_w, grad_x_next.sum(1), None, None)


class _LayerArray(nn.Module):
    def __init__(self, array: ArraySpec, knobs: int = 0):
        super().__init__()
        self.rechannel = nn.Conv1d(array.input_size, array.channels, 1, bias=False)
        self.layers = nn.ModuleList(_Layer(array, layer, array.condition_size + knobs) for layer in array.layers)
        self.head_rechannel = nn.Conv1d(array.head_channels, array.head_size, array.head_kernel_size, bias=array.head_bias)
        self.receptive_field, self.layers_span = array.receptive_field, array.layers_span

    def forward(self, x, condition, head=None):
        """Columns in, columns out: (head rechannelled, residual stream), both as long as the
        head's output (its taps shorten it by head_kernel_size - 1). The head sum is the layers'
        activations (or head 1x1s) over the columns left after the last layer."""
        x = self.rechannel.weight[:, :, 0] @ x
        tail = x.shape[1] - self.layers_span
        head = None if head is None else head[:, -tail:]
        for layer in self.layers:
            x, part = layer(x, condition, tail)
            head = part if head is None else head + part
        w, b = self.head_rechannel.weight, self.head_rechannel.bias
        taps = w.shape[2]
        n = head.shape[1] - (taps - 1)
        out = w[:, :, 0] @ head[:, :n] if b is None else torch.addmm(b[:, None], w[:, :, 0], head[:, :n])
        for k in range(1, taps):
            out = torch.addmm(out, w[:, :, k], head[:, k : k + n])
        return out, x[:, -n:]


class _PostHead(nn.Module):
    """NAM 0.13's post-head, after head_scale: blocks of an activation then a convolution (with
    a bias) of its own taps, on columns like the layers."""

    def __init__(self, post_head: PostHeadSpec, in_channels: int):
        super().__init__()
        self.activation = _activation(post_head.activation, 1)
        self.convs = nn.ModuleList(nn.Conv1d(cin, cout, k) for cin, cout, k in post_head.blocks(in_channels))

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        for conv in self.convs:
            a, w = self.activation(y), conv.weight
            n = a.shape[1] - (w.shape[2] - 1)
            y = conv.bias[:, None].expand(-1, n)
            for k in range(w.shape[2]):
                y = y.addmm(w[:, :, k], a[:, k : k + n])
        return y


class WaveNet(FrameStream, AmpModel):
    """NAM's WaveNet of a `WaveNetSpec`; a condition DSP is a WaveNet of its own whose outputs
    condition every layer, and a parametric model's knobs join every layer's condition (its
    input mixer and FiLMs), so that a fixed setting folds exactly into their biases (`at_knobs`)."""

    Spec, architecture = WaveNetSpec, "WaveNet"

    def __init__(self, spec: WaveNetSpec, sample_rate: int = 48000):
        super().__init__(sample_rate)
        self.spec = spec
        self.head_scale, self.knobs, self.output_channels = spec.head_scale, spec.knobs, spec.outputs
        # its weights follow the model's own in `nam_weights` (a .nam keeps them in the config)
        self.condition_dsp = WaveNet(spec.condition_dsp, sample_rate) if spec.condition_dsp else None
        self.arrays = nn.ModuleList(_LayerArray(array, spec.knobs) for array in spec.arrays)
        self.post_head = _PostHead(spec.post_head, spec.arrays[-1].head_size) if spec.post_head else None
        self.reset()

    @property
    def receptive_field(self) -> int:
        return self.spec.total_receptive_field

    @classmethod
    def bounded_spec(cls, config: dict[str, Any], where: Any) -> WaveNetSpec:
        limits.check_wavenet_config(config, where)
        spec = WaveNetSpec.from_config(config)
        limits.check_wavenet(spec, where)
        return spec

    @torch.no_grad()
    def shift_output(self, offset: float) -> bool:
        """Through the last head's bias (scaled by head_scale): not behind a post-head."""
        bias = self.arrays[-1].head_rechannel.bias
        if self.post_head is not None or bias is None or self.head_scale == 0:
            return False
        bias += offset / self.head_scale
        return True

    def nam_config(self, version: str, body) -> dict[str, Any]:
        config = wavenet_nam.nam_config(self.spec, self.head_scale, version)
        if self.condition_dsp is not None:  # a whole .nam of its own, as NAM writes it
            dsp = self.condition_dsp
            weights = dsp.nam_weights().cpu().tolist()
            config["condition_dsp"] = {
                "version": version,
                "metadata": {},
                "architecture": "WaveNet",
                "config": dsp.nam_config(version, body),
                "weights": weights,
            }
            config["condition_dsp"]["sample_rate"] = float(self.sample_rate)
        return config

    def nam_file_weights(self) -> torch.Tensor:
        """Its own weights: the condition DSP's are in the config."""
        return self.nam_weights()[: self.spec.weight_count]

    def beyond_legacy(self) -> list[str]:
        return wavenet_nam.beyond_legacy(self.spec)

    def plugin_differences(self) -> list[str]:
        return wavenet_nam.plugin_differences(self.spec)

    @classmethod
    def read_nam(cls, data, where, outputs, weights, read_part) -> NamReading:
        def dsp(part, at, channels):
            read = read_part(part, at, channels)
            return read.spec, read.weights

        spec, weights = wavenet_nam.read(data, where, outputs, weights, dsp)
        return spec, weights, []

    def forward(self, x: torch.Tensor, knobs: torch.Tensor | None = None) -> torch.Tensor:
        """(batch, time) -> (batch, time - receptive_field + 1): 'valid' outputs only. Under
        mixed precision it runs in the weights' dtype (the in-place products need one dtype)."""
        self.check_knobs(knobs)
        batch, time = x.shape
        dtype = self.arrays[0].rechannel.weight.dtype
        with torch.autocast(x.device.type, enabled=False):
            knob_cols = None if knobs is None else knob_columns(knobs, batch, time).to(dtype)
            head = self.columns(x.reshape(1, batch * time).to(dtype), knob_cols)
        # column c of the output is input sample c + receptive_field - 1; window b's valid
        # outputs are columns b * time .. b * time + n - 1
        n = time - self.receptive_field + 1
        out = torch.nn.functional.pad(head[0], (0, time - n))
        return out.view(batch, time)[:, :n]

    def columns(self, x: torch.Tensor, knobs: torch.Tensor | None = None) -> torch.Tensor:
        """Input columns (1, m) [and knob columns (knobs, m)] -> output columns (outputs, m -
        receptive_field + 1)."""
        condition, skip = (x if knobs is None else torch.cat([x, knobs])), 0
        if self.condition_dsp is not None:
            # aligned to the input's columns; the first ones, zeros, reach no output that is kept
            skip = self.condition_dsp.receptive_field - 1
            condition = torch.nn.functional.pad(self.condition_dsp.columns(x), (skip, 0))
        y, head = x, None
        for array in self.arrays:
            head, y = array(y, condition, head)
        head = self.head_scale * head if self.post_head is None else self.post_head(self.head_scale * head)
        return head[:, skip:]

    def macs_per_sample(self) -> int:
        return self.spec.macs

    @torch.no_grad()
    def at_knobs(self, values: torch.Tensor) -> "WaveNet":
        """The plain WaveNet this one is with its knobs held at `values`: every 1x1 of the
        condition (input mixer, FiLMs) keeps its input sample's column, and its knob columns
        times the values join the bias after it (the mixer's: the dilated conv's)."""
        if not self.knobs:
            return super().at_knobs(values)
        values = values.to(self.arrays[0].rechannel.weight)
        plain = WaveNet(replace(self.spec, knobs=0, head_scale=self.head_scale), self.sample_rate)
        state = {k: v.clone() for k, v in self.state_dict().items()}
        for name, module in self.named_modules():
            if isinstance(module, _Layer):
                mixer = state[f"{name}.input_mixer.weight"]
                state[f"{name}.conv.bias"] += mixer[:, 1:, 0] @ values
                state[f"{name}.input_mixer.weight"] = mixer[:, :1].contiguous()
                for position in module.films:
                    w = state[f"{name}.films.{position}.weight"]
                    state[f"{name}.films.{position}.bias"] += w[:, 1:, 0] @ values
                    state[f"{name}.films.{position}.weight"] = w[:, :1].contiguous()
        plain.load_state_dict(state)
        return plain

    def nam_weights(self) -> torch.Tensor:
        """Per array the input rechannel, per layer the dilated conv (weight, bias), the input
        mixer and the 1x1 (weight, bias), then the head rechannel; the post-head's convolutions;
        head_scale (`WaveNetSpec.blocks`); then the condition DSP's, which a .nam
        keeps in the config instead."""
        own = torch.cat([p.detach().float().flatten() for p in self._own_parameters()] + [torch.tensor([self.head_scale])])
        return own if self.condition_dsp is None else torch.cat([own, self.condition_dsp.nam_weights()])

    @torch.no_grad()
    def load_nam_weights(self, weights: torch.Tensor) -> None:
        count = sum(p.numel() for p in self.parameters()) + 1 + (self.condition_dsp is not None)
        if weights.numel() != count:
            raise ValueError(f"this WaveNet has {count} weights, not {weights.numel()}")
        i = 0
        for p in self._own_parameters():
            p.copy_(weights[i : i + p.numel()].view_as(p))
            i += p.numel()
        self.head_scale = float(weights[i])
        if self.condition_dsp is not None:
            self.condition_dsp.load_nam_weights(weights[i + 1 :])

    def _own_parameters(self) -> list[nn.Parameter]:
        """The parameters but the condition DSP's."""
        return [p for name, p in self.named_parameters() if not name.startswith("condition_dsp.")]


def forward_with_conv1d(model: WaveNet, x: torch.Tensor, knobs: torch.Tensor | None = None) -> torch.Tensor:
    """NAM's WaveNet written plainly, module by module, with conv1d on (batch, channels, time):
    the definition `WaveNet.forward` (and its backward) must reproduce, and the baseline of
    `benchmarks/training_step.py`. Knobs (batch, n) join the input in the condition."""
    return _conv1d_outputs(model, x.unsqueeze(1), knobs)[:, 0]


def _conv1d_outputs(model: WaveNet, x: torch.Tensor, knobs: torch.Tensor | None = None) -> torch.Tensor:
    """(batch, 1, time) -> (batch, outputs, time - receptive_field + 1)."""
    F = torch.nn.functional
    condition, skip = x if knobs is None else torch.cat([x, knobs[..., None].expand(-1, -1, x.shape[-1])], dim=1), 0
    if model.condition_dsp is not None:  # padded to the input's length, as in WaveNet.columns
        skip = model.condition_dsp.receptive_field - 1
        condition = F.pad(_conv1d_outputs(model.condition_dsp, x), (skip, 0))

    def film(layer, position, signal):
        if position not in layer.films:
            return signal
        conv, c = layer.films[position], signal.shape[1]
        f = F.conv1d(condition[..., -signal.shape[-1] :], conv.weight, conv.bias)
        return signal * f if f.shape[1] == c else signal * f[:, :c] + f[:, c:]

    y, head = x, None
    for array in model.arrays:
        y = F.conv1d(y, array.rechannel.weight)
        for layer in array.layers:
            z = F.conv1d(film(layer, "conv_pre", y), layer.conv.weight, layer.conv.bias, dilation=layer.dilation)
            n = z.shape[-1]
            mix = F.conv1d(film(layer, "input_mixin_pre", condition[..., -n:]), layer.input_mixer.weight)
            z = film(layer, "activation_pre", film(layer, "conv_post", z) + film(layer, "input_mixin_post", mix))
            a = layer.post_activation(z.transpose(0, 1)).transpose(0, 1)  # channels first, as the layer keeps them
            a = film(layer, "activation_post", a)
            y = y[..., -n:] + (a if layer.layer1x1 is None else film(layer, "layer1x1_post", F.conv1d(a, layer.layer1x1.weight, layer.layer1x1.bias)))
            h = a if layer.head1x1 is None else film(layer, "head1x1_post", F.conv1d(a, layer.head1x1.weight, layer.head1x1.bias))
            head = h if head is None else head[..., -n:] + h
        head = F.conv1d(head, array.head_rechannel.weight, array.head_rechannel.bias)
        y = y[..., -head.shape[-1] :]
    head = model.head_scale * head
    for conv in model.post_head.convs if model.post_head is not None else []:
        head = F.conv1d(model.post_head.activation(head), conv.weight, conv.bias)
    return head[..., skip:]
