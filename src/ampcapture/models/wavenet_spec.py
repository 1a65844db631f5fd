"""A WaveNet's shape, typed and checked once: built from a preset's config (conf/model/, a
checkpoint's hyper-parameters) or a `.nam` file's (`models.wavenet_nam`), then read by the torch
model, the `.nam` writer, the size limits and the real-time engine, none of which reads a dict.

A config gives per layer array one value for all its layers or one per dilation (kernel size,
activation, gating); the spec holds one `LayerSpec` per layer. An error names the config field.
`blocks` is the one walk of NAM's flat weight order that the torch model's parameters, the
reader and the engine all follow."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ampcapture.core.errors import ConfigError
from ampcapture.models.layout import ACTIVATION_PARAMETERS, ACTIVATIONS, FILM_POSITIONS, GATING_MODES, WeightBlock

ARRAY_KEYS = {"input_size", "condition_size", "head_size", "channels", "kernel_size", "dilations", "activation", "gated", "head_bias"}
ARRAY_KEYS |= {"head_kernel_size", "secondary_activation", "bottleneck", "head1x1", "layer1x1", "film"}
WAVENET_KEYS = {"layers", "head_scale", "post_head", "condition_dsp", "outputs", "knobs"}
EXAMPLE = "see conf/model/wavenet_standard.yaml"
# FiLMs that scale the input mixer's knob columns or the dilated conv's bias (where a setting
# folds them) by the signal
KNOB_UNFOLDABLE_FILMS = ("input_mixin_pre", "input_mixin_post", "conv_post")


@dataclass(frozen=True)
class Activation:
    """An activation by NAM's name, with the parameters the config gives (`given`, in its
    order; PReLU's per-channel `negative_slopes` a tuple)."""

    name: str
    given: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def of(cls, spec: Any, channels: int | None, where: str) -> Activation:
        """A config's activation: a name, or {name, parameters} with parameters it takes; per-channel
        PReLU slopes, one per channel (`channels`; None: where they cannot be given)."""
        name = spec.get("name") if isinstance(spec, dict) else spec
        if name not in ACTIVATIONS:
            raise ConfigError(where, f"unknown activation {name!r}", f"use one of {sorted(ACTIVATIONS)}")
        takes = set(ACTIVATION_PARAMETERS.get(name, {})) | ({"negative_slopes"} if name == "PReLU" and channels else set())
        given = {k: v for k, v in spec.items() if k != "name"} if isinstance(spec, dict) else {}
        if set(given) - takes:
            raise ConfigError(where, f"{name} takes no {sorted(set(given) - takes)[0]!r}", f"its parameters: {sorted(takes) or 'none'}")
        slopes = given.get("negative_slopes")
        if slopes is not None:
            if not isinstance(slopes, (list, tuple)) or len(slopes) != channels:
                raise ConfigError(
                    where, f"has {len(slopes) if isinstance(slopes, (list, tuple)) else slopes!r} PReLU slopes", f"give one per channel ({channels})"
                )
            given["negative_slopes"] = tuple(float(s) for s in slopes)
        return cls(name, tuple(given.items()))

    @property
    def parameters(self) -> dict[str, Any]:
        """Every parameter, NAM's defaults where the config gives none."""
        return ACTIVATION_PARAMETERS.get(self.name, {}) | dict(self.given)

    def config(self) -> str | dict[str, Any]:
        """As a config gives it: the name, or {name, parameters}."""
        if not self.given:
            return self.name
        return {"name": self.name, **{k: list(v) if isinstance(v, tuple) else v for k, v in self.given}}


TANH, SIGMOID = Activation("Tanh"), Activation("Sigmoid")


@dataclass(frozen=True)
class LayerSpec:
    """One dilated layer: its convolution, its activation and how it is paired (`gating`: none;
    gated, the activation times `secondary` of as many extra channels, NAM's PairMultiply;
    blended, s * activation(z) + (1 - s) * z with s the secondary of the extra channels, PairBlend)."""

    kernel_size: int
    dilation: int
    activation: Activation
    gating: str
    secondary: Activation

    @property
    def paired(self) -> bool:
        return self.gating != "none"


@dataclass(frozen=True)
class ArraySpec:
    """A layer array: an input rechannel, the layers (each mixing in the condition), a head
    rechannel of `head_kernel_size` taps over the sum of the layers' head outputs; NAM 0.13's
    options: a bottleneck (fewer channels after the activation), a head 1x1 (its outputs, 0:
    none), layers without their 1x1, FiLMs ({position: shift})."""

    input_size: int
    condition_size: int
    head_size: int
    channels: int
    layers: tuple[LayerSpec, ...]
    head_bias: bool = True
    head_kernel_size: int = 1
    bottleneck: int = 0  # 0: the channels
    head1x1: int = 0
    layer1x1: bool = True
    films: tuple[tuple[str, bool], ...] = ()  # (position, shift), in FILM_POSITIONS order

    @property
    def mid_channels(self) -> int:
        """Channels after the activation."""
        return self.bottleneck or self.channels

    @property
    def head_channels(self) -> int:
        """The channels of the head sum: the layers' head 1x1 outputs, else their activations."""
        return self.head1x1 or self.mid_channels

    @property
    def film(self) -> dict[str, bool]:
        return dict(self.films)

    def film_channels(self, position: str, layer: LayerSpec) -> int:
        """The channels of the signal a FiLM at `position` modulates in `layer`."""
        b = self.mid_channels
        return {
            "conv_pre": self.channels,
            "input_mixin_pre": self.condition_size,
            "activation_post": b,
            "layer1x1_post": self.channels,
            "head1x1_post": self.head1x1,
        }.get(position, 2 * b if layer.paired else b)

    @property
    def layers_span(self) -> int:
        """Columns the dilated layers shorten a signal by."""
        return sum((layer.kernel_size - 1) * layer.dilation for layer in self.layers)

    @property
    def receptive_field(self) -> int:
        """Input samples one output sees: the dilated layers, then the head's taps."""
        return 1 + self.layers_span + self.head_kernel_size - 1


@dataclass(frozen=True)
class PostHeadSpec:
    """NAM 0.13's post-head (its `head`, after head_scale): blocks of an activation then a
    convolution with a bias of `kernel_sizes[i]` taps; `channels` between blocks, `out_channels` out."""

    channels: int
    activation: Activation
    out_channels: int
    kernel_sizes: tuple[int, ...]

    def blocks(self, in_channels: int) -> list[tuple[int, int, int]]:
        """Per block (inputs, outputs, taps)."""
        outs = [self.channels] * (len(self.kernel_sizes) - 1) + [self.out_channels]
        return list(zip([in_channels] + outs[:-1], outs, self.kernel_sizes))

    def config(self) -> dict[str, Any]:
        return {"channels": self.channels, "activation": self.activation.config(), "out_channels": self.out_channels, "kernel_sizes": list(self.kernel_sizes)}


@dataclass(frozen=True)
class WaveNetSpec:
    """Layer arrays chained by their residual streams and head sums; the last head sum times
    `head_scale` is the output (through the post-head, if any). `condition_dsp` (NAM 0.13): a
    WaveNet whose output channels, instead of the input sample, condition every layer. `knobs`:
    knob values that join the condition of every layer (a parametric capture's)."""

    arrays: tuple[ArraySpec, ...]
    head_scale: float = 0.02
    post_head: PostHeadSpec | None = None
    condition_dsp: WaveNetSpec | None = None
    outputs: int = 1
    knobs: int = 0

    @classmethod
    def from_config(cls, config: dict[str, Any], where: str = "model.config", condition_dsp: WaveNetSpec | None = None) -> WaveNetSpec:
        """The spec of a config ({layers, head_scale, post_head, condition_dsp, knobs}), checked;
        `condition_dsp`: the condition DSP's spec, when it was read already (from a .nam)."""
        unknown = set(config) - WAVENET_KEYS - {"sample_rate"}
        if unknown:
            raise ConfigError(where, f"does not fit WaveNet (unexpected key {sorted(unknown)[0]!r})", "compare with the presets in conf/model/")
        layers, outputs = config.get("layers"), int(config.get("outputs", 1))
        if not layers:
            raise ConfigError(f"{where}.layers", "needs at least one layer array", EXAMPLE)
        arrays = tuple(_array(c, f"{where}.layers[{i}]") for i, c in enumerate(layers))
        _check_chain(arrays, where)
        post = _post_head(config.get("post_head"), outputs, f"{where}.post_head")
        if post is None and arrays[-1].head_size != outputs:
            raise ConfigError(
                f"{where}.layers[{len(arrays) - 1}].head_size",
                f"the last array must output {outputs} channel(s)",
                f"set head_size: {outputs} (or add a post_head)",
            )
        dsp_config, conditions = condition_dsp or config.get("condition_dsp"), {a.condition_size for a in arrays}
        if dsp_config is None and conditions != {1}:
            raise ConfigError(
                f"{where}.layers", f"have condition_size {sorted(conditions)}: the input sample is one channel", "set condition_size: 1, or add a condition_dsp"
            )
        dsp = condition_dsp
        if dsp is None and dsp_config is not None:
            if len(conditions) != 1 or not isinstance(dsp_config, dict) or dsp_config.get("condition_dsp"):
                raise ConfigError(
                    f"{where}.condition_dsp", "needs one condition_size for all arrays and no condition DSP of its own", "see NAM 0.13's condition_dsp"
                )
            dsp = cls.from_config({**dsp_config, "outputs": arrays[0].condition_size}, f"{where}.condition_dsp")
        knobs = int(config.get("knobs", 0))
        if knobs < 0 or (knobs and dsp is not None):
            raise ConfigError(f"{where}.knobs", f"is {knobs}", "use knobs >= 0, and no condition_dsp with knobs")
        unfoldable = sorted({p for a in arrays for p, _ in a.films if p in KNOB_UNFOLDABLE_FILMS}) if knobs else []
        if unfoldable:  # they scale the knobs' share of the mixer (or the bias it folds into) by the signal
            raise ConfigError(f"{where}.layers", f"have a {unfoldable[0]} FiLM, which a knob setting cannot fold through", "drop it, or train without knobs")
        return cls(arrays, float(config.get("head_scale", 0.02)), post, dsp, outputs, knobs)

    @property
    def receptive_field(self) -> int:
        """Of the WaveNet itself (`total_receptive_field` adds its condition DSP's)."""
        post = sum(k - 1 for _, _, k in self.post_head.blocks(1)) if self.post_head else 0
        return 1 + sum(a.receptive_field - 1 for a in self.arrays) + post

    @property
    def total_receptive_field(self) -> int:
        return self.receptive_field + (self.condition_dsp.total_receptive_field - 1 if self.condition_dsp else 0)

    def blocks(self) -> list[WeightBlock]:
        """NAM's WaveNet weight order (the condition DSP's weights follow in a file's list, or sit
        in its config): per array the input rechannel; per layer the dilated conv and its bias, the
        input mixer, the layer 1x1 and its bias (unless it has none), the head 1x1 and its bias (if
        it has one), each FiLM's 1x1 and its bias (`film_<position>`); the head rechannel and its
        bias (if any); then the post-head's convolutions and biases (`post_head` of array
        len(arrays)); head_scale last."""
        blocks: list[WeightBlock] = []

        def add(array: int, layer: int | None, part: str, rows: int, cols: int = 1, taps: int = 1) -> None:
            offset = blocks[-1].offset + blocks[-1].size if blocks else 0
            blocks.append(WeightBlock(array, layer, part, rows, cols, taps, offset))

        for a, c in enumerate(self.arrays):
            ch, b, h1 = c.channels, c.mid_channels, c.head1x1
            add(a, None, "rechannel", ch, c.input_size)
            for i, layer in enumerate(c.layers):
                mid = 2 * b if layer.paired else b
                add(a, i, "conv", mid, ch, layer.kernel_size)
                add(a, i, "conv_bias", mid)
                add(a, i, "mixer", mid, c.condition_size)
                if c.layer1x1:
                    add(a, i, "layer1x1", ch, b)
                    add(a, i, "layer1x1_bias", ch)
                if h1:
                    add(a, i, "head1x1", h1, b)
                    add(a, i, "head1x1_bias", h1)
                for position, shift in c.films:
                    rows = (2 if shift else 1) * c.film_channels(position, layer)
                    add(a, i, f"film_{position}", rows, c.condition_size)
                    add(a, i, f"film_{position}_bias", rows)
            add(a, None, "head", c.head_size, c.head_channels, c.head_kernel_size)
            if c.head_bias:
                add(a, None, "head_bias", c.head_size)
        for i, (cin, cout, k) in enumerate(self.post_head.blocks(self.arrays[-1].head_size) if self.post_head else []):
            add(len(self.arrays), i, "post_head", cout, cin, k)
            add(len(self.arrays), i, "post_head_bias", cout)
        add(len(self.arrays), None, "head_scale", 1)
        return blocks

    @property
    def weight_count(self) -> int:
        """The length of its own flat NAM weights (head_scale included, the condition DSP's not)."""
        last = self.blocks()[-1]
        return last.offset + last.size

    @property
    def macs(self) -> int:
        """Multiply-accumulates per output sample of the WaveNet itself: one per weight of every
        convolution (biases and head_scale add, not multiply-accumulate)."""
        return sum(b.size for b in self.blocks() if not b.is_bias and b.part != "head_scale")


def _per_layer(c: dict[str, Any], key: str, default: Any, where: str) -> list:
    v = c.get(key, default)
    count = len(c.get("dilations") or [])
    if isinstance(v, (list, tuple)):
        if len(v) != count:
            raise ConfigError(f"{where}.{key}", f"has {len(v)} values for {count} dilations", "give one value, or one per dilation")
        return list(v)
    return [v] * count


def _array(c: dict[str, Any], where: str) -> ArraySpec:
    unknown = set(c) - ARRAY_KEYS
    if unknown:
        raise ConfigError(where, f"does not fit a WaveNet layer array (unexpected key {sorted(unknown)[0]!r})", EXAMPLE)
    kernels = _per_layer(c, "kernel_size", 0, where)
    activations, gated = _per_layer(c, "activation", "Tanh", where), _per_layer(c, "gated", False, where)
    secondaries = _per_layer(c, "secondary_activation", "Sigmoid", where)
    dilations = c.get("dilations") or []
    if not dilations or min(dilations) < 1 or min(kernels) < 1 or c.get("channels", 0) < 1 or c.get("head_kernel_size", 1) < 1:
        raise ConfigError(where, "needs channels >= 1, kernel_size >= 1, head_kernel_size >= 1 and dilations >= 1", EXAMPLE)
    if (c.get("bottleneck") is not None and int(c["bottleneck"]) < 1) or int(c.get("head1x1") or 0) < 0:
        raise ConfigError(where, "needs bottleneck >= 1 and head1x1 >= 0 (0: none)", "leave them out for NAM's standard layer")
    b = int(c.get("bottleneck") or c["channels"])
    gatings = [("gated" if g else "none") if isinstance(g, bool) else str(g) for g in gated]
    unknown_gating = [g for g in gatings if g not in GATING_MODES]
    if unknown_gating:
        raise ConfigError(f"{where}.gated", f"unknown gating {unknown_gating[0]!r}", "use false (none), true (gated) or blended")
    layers = tuple(
        LayerSpec(int(k), int(d), Activation.of(a, b, f"{where}.activation"), g, Activation.of(s, b, f"{where}.secondary_activation"))
        for k, d, a, g, s in zip(kernels, dilations, activations, gatings, secondaries)
    )
    array = ArraySpec(
        int(c["input_size"]),
        int(c["condition_size"]),
        int(c["head_size"]),
        int(c["channels"]),
        layers,
        bool(c.get("head_bias", True)),
        int(c.get("head_kernel_size", 1)),
        int(c.get("bottleneck") or 0) if c.get("bottleneck") is not None and int(c["bottleneck"]) != c["channels"] else 0,
        int(c.get("head1x1") or 0),
        bool(c.get("layer1x1", True)),
        _films(c.get("film"), where),
    )
    needs = {"layer1x1_post": array.layer1x1, "head1x1_post": array.head1x1 > 0}
    missing = [p for p, _ in array.films if not needs.get(p, True)]
    if missing:
        part = missing[0].removesuffix("_post")
        raise ConfigError(
            f"{where}.film.{missing[0]}", f"modulates the output of a {part} this layer array does not have", f"drop it, or give the array a {part}"
        )
    if not array.layer1x1 and array.mid_channels != array.channels:
        why = "a layer without a 1x1 adds its activations to the residual stream, so bottleneck must equal channels"
        raise ConfigError(f"{where}.layer1x1", why, "set layer1x1: true")
    return array


def _films(given: Any, where: str) -> tuple[tuple[str, bool], ...]:
    """{position: {shift: bool}} (a position with null: shift) as (position, shift) in FILM_POSITIONS order."""
    given = given or {}
    unknown = [p for p in given if p not in FILM_POSITIONS] if isinstance(given, dict) else [given]
    if unknown or not all(v is None or isinstance(v, dict) for v in given.values()):
        fix = f"give {{position: {{shift: true|false}}}}, positions from {FILM_POSITIONS}"
        raise ConfigError(f"{where}.film", f"has {unknown[0] if unknown else given!r}", fix)
    return tuple((p, bool((given[p] or {}).get("shift", True))) for p in FILM_POSITIONS if p in given)


def _check_chain(arrays: tuple[ArraySpec, ...], where: str) -> None:
    for i in range(1, len(arrays)):
        prev, c = arrays[i - 1], arrays[i]
        if c.input_size != prev.channels or c.head_channels != prev.head_size:
            raise ConfigError(
                f"{where}.layers[{i}]",
                f"input_size must equal the previous array's channels ({prev.channels}) and the head sum's channels (head1x1, else"
                f" bottleneck, else channels) its head_size ({prev.head_size})",
                "chain the arrays as NAM's presets do",
            )


def _post_head(post: Any, outputs: int, where: str) -> PostHeadSpec | None:
    if not post:
        return None
    keys = {"channels", "activation", "out_channels", "kernel_sizes"}
    if not isinstance(post, dict) or set(post) != keys:
        raise ConfigError(where, f"needs exactly {sorted(keys)}", "see NAM 0.13's WaveNet head")
    activation = Activation.of(post["activation"], None, f"{where}.activation")
    if post["out_channels"] != outputs or post["channels"] < 1 or not post["kernel_sizes"] or min(post["kernel_sizes"]) < 1:
        raise ConfigError(
            where,
            f"needs out_channels {outputs}, channels >= 1 and kernel_sizes >= 1",
            "e.g. {channels: 4, activation: Tanh, out_channels: 1, kernel_sizes: [3, 1]}",
        )
    return PostHeadSpec(int(post["channels"]), activation, int(post["out_channels"]), tuple(int(k) for k in post["kernel_sizes"]))
