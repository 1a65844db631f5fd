"""A WaveNet's layout in a `.nam` file: its config written (0.7.0, what neural-amp-modeler 0.13
writes, or the 0.5 layout every NAM plugin reads) and read (both, NAM 0.13's layer options
included), and what of a model only 0.7 holds or NAM's plugin renders otherwise. Grouped
convolutions (NAM 0.13) are read as the equivalent dense weights. A condition DSP is a whole
`.nam` dict in the config; read, its weights follow the WaveNet's own in one list."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ampcapture.core.errors import ConfigError, ModelFileError
from ampcapture.models import limits
from ampcapture.models.layout import ACTIVATION_PARAMETERS, ACTIVATIONS, FILM_POSITIONS
from ampcapture.models.wavenet_spec import Activation, WaveNetSpec

LEGACY_VERSION = "0.5.4"


def nam_config(spec: WaveNetSpec, head_scale: float, version: str) -> dict[str, Any]:
    """The `config` of a WaveNet's `.nam` in `version`'s layout, but its condition DSP's (a whole
    `.nam` of its own, which the model writes)."""
    arrays = [_legacy_array(c) if version == LEGACY_VERSION else _array(c) for c in spec.arrays]
    head = spec.post_head.config() if spec.post_head else None  # its activation as a name: NAM's loader reads no {"type": ...} there
    return {"layers": arrays, "head": head, "head_scale": head_scale}


def _legacy_array(c) -> dict[str, Any]:
    first = c.layers[0]
    shape = {"input_size": c.input_size, "condition_size": c.condition_size, "head_size": c.head_size, "channels": c.channels}
    layers = {"dilations": [layer.dilation for layer in c.layers], "head_bias": c.head_bias}
    return {**shape, **layers, "kernel_size": first.kernel_size, "activation": first.activation.name, "gated": first.gating == "gated"}


def _array(c) -> dict[str, Any]:
    film = c.film
    return {
        "input_size": c.input_size,
        "condition_size": c.condition_size,
        "head": {"out_channels": c.head_size, "kernel_size": c.head_kernel_size, "bias": c.head_bias},
        "channels": c.channels,
        "kernel_sizes": [layer.kernel_size for layer in c.layers],
        "dilations": [layer.dilation for layer in c.layers],
        "activation": [_activation_export(layer.activation) for layer in c.layers],
        "bottleneck": c.mid_channels,
        "head1x1": {"active": bool(c.head1x1), "out_channels": c.head1x1 or 1, "groups": 1},
        "layer1x1": {"active": c.layer1x1, "groups": 1},
        "groups_input": 1,
        "groups_input_mixin": 1,
        **{f"{p}_film": {"active": p in film, "shift": film.get(p, True), "groups": 1} for p in FILM_POSITIONS},
        "gating_mode": [layer.gating for layer in c.layers],
        "secondary_activation": [_activation_export(layer.secondary) if layer.paired else None for layer in c.layers],
        "slimmable": None,
    }


def _activation_export(activation: Activation) -> dict[str, Any]:
    """An activation as NAM 0.7 writes a layer's: {"type": name, parameters...}."""
    return {"type": activation.name, **{k: list(v) if isinstance(v, tuple) else v for k, v in activation.given}}


def beyond_legacy(spec: WaveNetSpec) -> list[str]:
    """What of the WaveNet only a .nam 0.7 holds (nothing: a 0.5 file holds it)."""
    arrays, layers = spec.arrays, [layer for c in spec.arrays for layer in c.layers]
    beyond = {
        "one kernel size per layer": any(len({layer.kernel_size for layer in c.layers}) > 1 for c in arrays),
        "a head kernel wider than 1": any(c.head_kernel_size > 1 for c in arrays),
        "activations that differ between layers": any(len({layer.activation.name for layer in c.layers}) > 1 for c in arrays),
        "gating that differs between layers": any(len({layer.gating for layer in c.layers}) > 1 for c in arrays),
        "blended layers (PairBlend)": any(layer.gating == "blended" for layer in layers),
        "a gate other than Sigmoid": any(layer.secondary.name != "Sigmoid" for layer in layers if layer.paired),
        "a bottleneck": any(c.mid_channels != c.channels for c in arrays),
        "a head 1x1": any(c.head1x1 for c in arrays),
        "layers without a 1x1": any(not c.layer1x1 for c in arrays),
        "FiLM conditioning": any(c.films for c in arrays),
        "activation parameters": any(layer.activation.given or layer.secondary.given for layer in layers),
        "a post-head": spec.post_head is not None,
        "a condition DSP": spec.condition_dsp is not None,
    }
    return [what for what, has in beyond.items() if has]


def plugin_differences(spec: WaveNetSpec) -> list[str]:
    """What of a WaveNet the NAM plugin's engine (NeuralAmpModelerCore at daae2d0, 2026) renders
    otherwise than neural-amp-modeler 0.13, whose arithmetic ampcapture follows (found by
    rendering one-feature files with the core's `render` tool; README, "Which .nam files")."""
    arrays = spec.arrays + (spec.condition_dsp.arrays if spec.condition_dsp is not None else ())
    activations = [a for c in arrays for layer in c.layers for a in (layer.activation, layer.secondary)]
    plain_or_gated = [layer.gating != "blended" for c in arrays for layer in c.layers if "layer1x1_post" in c.film]
    differs = {
        "layers without a 1x1 (the core's residual leaves out their activations)": any(not c.layer1x1 for c in arrays),
        "a Hardtanh with bounds other than -1 and 1 (the core's ignores them)": any(
            a.name == "Hardtanh" and (a.parameters["min_val"], a.parameters["max_val"]) != (-1.0, 1.0) for a in activations
        ),
        "a PReLU with one slope for several channels (the core reads a slope per channel)": any(
            a.name == "PReLU" and "negative_slopes" not in dict(a.given) for a in activations
        ),
        "FiLM after the layer 1x1 of a plain or gated layer (the core applies it in blended layers only)": any(plain_or_gated),
        "Softsigmoid (the core has no such activation and refuses the file)": any(a.name == "Softsigmoid" for a in activations),
    }
    return [what for what, has in differs.items() if has]


# --- reading ----------------------------------------------------------------------------------


def read(data: dict[str, Any], where: Any, outputs: int, weights: np.ndarray, read_part: Callable) -> tuple[WaveNetSpec, np.ndarray]:
    """The spec and the flat weights (grouped convolutions made dense; a condition DSP's after
    the WaveNet's own) of a `.nam` WaveNet dict; `outputs`: the channels it must output (a
    condition DSP's: as many as the layers it conditions take); `read_part` reads the condition
    DSP, a whole `.nam` dict, into (its spec, its weights)."""
    config, groups = _config(data["config"], where)
    limits.check_wavenet_config(config, where)
    produced = config["post_head"]["out_channels"] if "post_head" in config else config["layers"][-1]["head_size"]
    if produced != outputs:
        raise ModelFileError(where, f"outputs {produced} channels where {outputs} are needed", "use a model with one output (a mono amp)")
    dsp = data["config"].get("condition_dsp")
    conditions = {a["condition_size"] for a in config["layers"]}
    if dsp is not None:
        if not isinstance(dsp, dict) or dsp.get("architecture") != "WaveNet" or (dsp.get("config") or {}).get("condition_dsp") or len(conditions) > 1:
            why = "has a condition DSP that is not a WaveNet without a condition DSP of its own, or layers with different condition sizes"
            raise ModelFileError(where, why, "render it in the NAM plugin")
        dsp = read_part({"sample_rate": data.get("sample_rate"), **dsp}, f"{where} (condition_dsp)", conditions.pop())
    try:
        spec = WaveNetSpec.from_config({**config, "outputs": outputs}, condition_dsp=None if dsp is None else dsp[0])
    except ConfigError as exc:
        raise ModelFileError(where, f"{exc.where.replace('model.config.', '')}: {exc.problem}", "render it in the NAM plugin") from None
    limits.check_wavenet(spec, where)
    if any(g != 1 for array in groups for g in array.values()):
        weights = _ungrouped(spec, groups, weights, where)
    if weights.size != spec.weight_count:
        problem = f"weights do not fit the config: it needs {spec.weight_count}, the file has {weights.size}"
        raise ModelFileError(where, problem, "the file is damaged; export it again")
    return spec, weights if dsp is None else np.concatenate([weights, dsp[1]])


def _config(config: dict[str, Any], where) -> tuple[dict[str, Any], list[dict[str, int]]]:
    """Our WaveNet config of a .nam's, and per array the groups of its dilated convs, layer 1x1s
    and head 1x1s (NAM 0.13's grouped convolutions, which the weights are expanded from)."""
    arrays, groups = [], []
    for i, a in enumerate(config["layers"]):
        here = f"{where} (layers[{i}])"
        grouped = {part: a.get(part) for part in ("layer1x1", "head1x1")} | {f"film_{p}": a.get(f"{p}_film") for p in FILM_POSITIONS}
        groups.append({part: int((g or {}).get("groups", 1)) for part, g in grouped.items()} | {"conv": int(a.get("groups_input", 1))})
        if "kernel_sizes" in a or isinstance(a.get("activation"), list) or "head" in a:  # 0.6+ layout
            arrays.append(_read_v07_array(a, here))
        else:
            arrays.append(
                {k: a[k] for k in ("input_size", "condition_size", "head_size", "channels", "kernel_size", "dilations", "activation", "gated", "head_bias")}
            )
        a = arrays[-1]
        names = [a["activation"]] if not isinstance(a["activation"], list) else a["activation"]
        names = [n["name"] if isinstance(n, dict) else n for n in names + list(_listed(a.get("secondary_activation", [])))]
        for name in names:
            if name not in ACTIVATIONS:
                raise ModelFileError(here, f"activation {name!r} is not supported (ampcapture has {', '.join(ACTIVATIONS)})", "render it in the NAM plugin")
        if a["condition_size"] != 1 and config.get("condition_dsp") is None:
            raise ModelFileError(here, "has a conditioned WaveNet (condition_size > 1, knobs)", "use a model without knob inputs")
    result = {"layers": arrays, "head_scale": float(config["head_scale"])}
    if config.get("head") is not None:
        result["post_head"] = _read_post_head(config["head"], f"{where} (head)")
    return result, groups


def _listed(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def _read_post_head(head: dict[str, Any], where: str) -> dict[str, Any]:
    """NAM 0.13's post-head (its `head`: blocks of activation and convolution after head_scale)."""
    activation = _activation_spec(head["activation"], where)
    name = activation["name"] if isinstance(activation, dict) else activation
    if name not in ACTIVATIONS or (isinstance(activation, dict) and "negative_slopes" in activation):
        raise ModelFileError(where, f"activation {activation!r} is not supported (ampcapture has {', '.join(ACTIVATIONS)})", "render it in the NAM plugin")
    return {
        "channels": int(head["channels"]),
        "activation": activation,
        "out_channels": int(head["out_channels"]),
        "kernel_sizes": [int(k) for k in head["kernel_sizes"]],
    }


def _ungrouped(spec: WaveNetSpec, groups: list[dict[str, int]], weights: np.ndarray, where) -> np.ndarray:
    """The weights of grouped convolutions as the dense ones our model and engine hold (zero
    between groups): the same outputs, in NAM's weight order (`WaveNetSpec.blocks`)."""
    parts, i = [], 0
    for block in spec.blocks():
        g = groups[block.array].get(block.part, 1) if block.array < len(groups) else 1
        if block.rows % g or block.cols % g:
            raise ModelFileError(where, f"has {g} groups in a {block.part} of {block.cols} -> {block.rows} channels", "the file is damaged; export it again")
        count = block.size // g
        w = weights[i : i + count].reshape(block.rows, block.cols // g, block.taps)
        i += count
        if g == 1:
            parts.append(w.ravel())
            continue
        dense = np.zeros((block.rows, block.cols, block.taps), np.float32)
        rows, cols = block.rows // g, block.cols // g
        for j in range(g):
            dense[j * rows : (j + 1) * rows, j * cols : (j + 1) * cols] = w[j * rows : (j + 1) * rows]
        parts.append(dense.ravel())
    if i != weights.size:
        raise ModelFileError(where, f"weights do not fit the config: it needs {i}, the file has {weights.size}", "the file is damaged; export it again")
    return np.concatenate(parts)


def _activation_spec(activation: Any, where: str) -> str | dict[str, Any]:
    """An activation of a .nam 0.7 file ({"type": name, parameters...} or a name) as our config
    gives it: the name, or {name, parameters} where they are not NAM's defaults. Unknown names
    pass (the caller refuses them by name); parameters an activation does not take are refused."""
    if not isinstance(activation, dict):
        return activation
    name = activation.get("type", activation.get("name"))  # "name": as a post-head keeps its config
    given = {k: v for k, v in activation.items() if k not in ("type", "name")}
    if name not in ACTIVATIONS or not given:
        return name
    defaults = ACTIVATION_PARAMETERS.get(name, {})
    takes = set(defaults) | ({"negative_slopes"} if name == "PReLU" else set())
    if set(given) - takes:
        raise ModelFileError(where, f"uses {name} with {given}, which ampcapture's {name} does not take", "render it in the NAM plugin")
    if name == "PReLU" and "negative_slopes" in given:
        return {"name": name, "negative_slopes": [float(v) for v in given["negative_slopes"]]}
    if all(np.isclose(float(v), defaults[k], rtol=1e-6, atol=0) for k, v in given.items()):
        return name
    return {"name": name, **{k: float(v) for k, v in given.items()}}


def _one_or_per_layer(values: list) -> Any:
    """One value when all layers share it (the form the presets use), else one per layer."""
    return values[0] if all(v == values[0] for v in values) else values


def _read_v07_array(a: dict[str, Any], where: str) -> dict[str, Any]:
    layers = len(a["dilations"])
    kernels = a.get("kernel_sizes") or [a["kernel_size"]] * layers
    named = [_activation_spec(x, where) for x in (a["activation"] if isinstance(a["activation"], list) else [a["activation"]] * layers)]
    gating = a.get("gating_mode") or ["gated" if a.get("gated") else "none"] * layers
    secondary = [None if s is None else _activation_spec(s, where) for s in (a.get("secondary_activation") or [None] * layers)]
    head, head1x1_config, layer1x1_config = a["head"], a.get("head1x1") or {}, a.get("layer1x1") or {"active": True}
    unsupported = [
        name
        for name, active in (
            (f"a gating mode other than none/gated/blended ({sorted(set(gating))})", any(g not in ("none", "gated", "blended") for g in gating)),
            ("a grouped input mixer", a.get("groups_input_mixin", 1) != 1),
            ("a slimmable layer", bool(a.get("slimmable"))),
        )
        if active
    ]
    if unsupported:
        raise ModelFileError(where, f"uses {', '.join(unsupported)}, which ampcapture's WaveNet does not have", "render it in the NAM plugin")
    array = {
        "input_size": a["input_size"],
        "condition_size": a["condition_size"],
        "head_size": head["out_channels"],
        "channels": a["channels"],
        "kernel_size": _one_or_per_layer([int(k) for k in kernels]),
        "dilations": list(a["dilations"]),
        "activation": _one_or_per_layer(named),
        "gated": _one_or_per_layer([g == "gated" for g in gating] if "blended" not in gating else gating),
        "head_bias": bool(head.get("bias", True)),
        "head_kernel_size": int(head.get("kernel_size", 1)),
    }
    # NAM 0.13's layer options, kept only where they differ from the standard layer
    gates = [s or "Sigmoid" for g, s in zip(gating, secondary) if g != "none"]
    if any(s != "Sigmoid" for s in gates):
        array["secondary_activation"] = _one_or_per_layer([s or "Sigmoid" for s in secondary])
    if int(a.get("bottleneck", a["channels"])) != a["channels"]:
        array["bottleneck"] = int(a["bottleneck"])
    if head1x1_config.get("active", False):
        array["head1x1"] = int(head1x1_config["out_channels"])
    if not layer1x1_config.get("active", True):
        array["layer1x1"] = False
    film = {p: {"shift": bool(f.get("shift", True))} for p in FILM_POSITIONS if isinstance(f := a.get(f"{p}_film"), dict) and f.get("active")}
    if film:
        array["film"] = film
    return array
