"""The `.nam` file format (NAM's JSON model files): write ours, read anyone's.

A `.nam` holds `version`, `architecture`, `config`, `weights` (one flat list), `sample_rate`
and `metadata`. We write 0.7.0 by default (what neural-amp-modeler 0.13 writes, and the only
WaveNet layout its own loader still reads; NeuralAmpModelerCore reads it from 0.4.1), the 0.5
layout every NAM plugin reads on request, or with "oldest" the oldest of the two that holds
the model (0.5 unless it has what only 0.7 holds). We read both. Weights are in NAM's order:
per WaveNet array the input rechannel, per layer the dilated conv (weight, bias), the input
mixer and the 1x1 layer conv, then the head rechannel, and `head_scale` last; per LSTM layer
[W_ih | W_hh], b_ih + b_hh, initial hidden and cell state, then the linear head. Grouped
convolutions (NAM 0.13) are read as the equivalent dense weights. A WaveNet's condition DSP
(NAM 0.13) is a whole `.nam` dict in its config; read, its config joins ours and its weights
follow ours in one list.

A `SlimmableContainer` (what neural-amp-modeler 0.13 exports for A2) holds several whole models
of one capture, cheapest first, each with the `max_value` of the plugin's size control up to
which it plays; `submodel()` picks one as NAM's plugin does.
"""

from __future__ import annotations

import datetime
import importlib.resources
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import torch

from ampcapture.core.errors import ModelFileError
from ampcapture.core.files import atomic_path
from ampcapture.formats import nam_limits as limits
from ampcapture.models import LSTM, AmpModel, SlimmableContainer, WaveNet, build_model
from ampcapture.models.layout import (
    ACTIVATION_PARAMETERS,
    ACTIVATIONS,
    FILM_POSITIONS,
    activation_name,
    activation_specs,
    activations,
    bottleneck,
    films,
    gating_modes,
    has_layer1x1,
    head1x1,
    head_kernel_size,
    kernel_sizes,
    lstm_layout,
    secondary_activations,
    wavenet_blocks,
    wavenet_weight_count,
)

CONTAINER = "SlimmableContainer"
CURRENT_VERSION = "0.7.0"
LEGACY_VERSION = "0.5.4"
OLDEST = "oldest"
VERSIONS = {"0.7": CURRENT_VERSION, "0.7.0": CURRENT_VERSION, "0.5": LEGACY_VERSION, "0.5.4": LEGACY_VERSION, OLDEST: OLDEST}


# --- export: our model -> .nam dict ---------------------------------------------------------


def to_nam(model: AmpModel, metadata: dict[str, Any] | None = None, version: str = CURRENT_VERSION) -> dict[str, Any]:
    """The `.nam` dict of a model; metadata gets the date, loudness and gain added (a
    container's are its largest size's, and each size carries its own, as NAM writes them)."""
    nam = nam_body(model, version)
    nam["metadata"] = {"date": _date(), "loudness": loudness(model), "gain": gain(model), **(metadata or {})}
    if isinstance(model, SlimmableContainer):
        for entry, size in zip(nam["config"]["submodels"], model.sizes):
            entry["model"]["metadata"] = {"date": nam["metadata"]["date"], "loudness": loudness(size), "gain": gain(size)}
    return nam


def nam_body(model: AmpModel, version: str = CURRENT_VERSION) -> dict[str, Any]:
    """Everything of a `.nam` but the metadata."""
    if version not in VERSIONS:
        fix = "use 0.7 (current plugins), 0.5 (older plugins) or oldest (the oldest that holds the model)"
        raise ModelFileError("--nam-version", f"unknown .nam version {version!r}", fix)
    beyond = beyond_legacy(model)
    version = VERSIONS[version]
    if version == OLDEST:
        version = CURRENT_VERSION if beyond else LEGACY_VERSION
    elif version == LEGACY_VERSION and beyond:
        fix = "export it as 0.7 (NAM plugins from 0.4.1 read it), or with --nam-version oldest"
        raise ModelFileError("--nam-version", f"a .nam 0.5 cannot hold {' and '.join(beyond)}, which this model has", fix)
    if isinstance(model, SlimmableContainer):
        submodels = [{"max_value": v, "model": nam_body(size, version)} for v, size in zip(model.max_values, model.sizes)]
        config = {"submodels": submodels}
        return {"version": version, "metadata": {}, "architecture": CONTAINER, "config": config, "weights": [], "sample_rate": float(model.sample_rate)}
    if isinstance(model, WaveNet):
        architecture = "WaveNet"
        config = _wavenet_config(model, version)
    elif isinstance(model, LSTM):
        if model.skip:
            raise ModelFileError(
                "model",
                "this LSTM adds its input to its output (GuitarML's skip), which .nam cannot express",
                "export it for AIDA-X (--aidax), or train lstm_small / lstm_medium for the NAM plugin",
            )
        architecture, config = "LSTM", {"input_size": 1, "hidden_size": model.hidden_size, "num_layers": model.num_layers}
    else:
        raise ModelFileError("model", f"{type(model).__name__} has no .nam layout", "export a WaveNet or an LSTM")
    return {
        "version": version,
        "metadata": {},
        "architecture": architecture,
        "config": config,
        "weights": _own_weights(model).cpu().tolist(),
        "sample_rate": float(model.sample_rate),
    }


def _own_weights(model: AmpModel) -> torch.Tensor:
    """A model's weights but its condition DSP's, which the file keeps in the config."""
    weights = model.nam_weights()
    return weights[: wavenet_weight_count(model.layers_config, model.post_head_config)] if isinstance(model, WaveNet) else weights


def beyond_legacy(model: AmpModel) -> list[str]:
    """What of the model only a .nam 0.7 holds (nothing: a 0.5 file holds it)."""
    if isinstance(model, SlimmableContainer):
        return list(dict.fromkeys(["several sizes (a SlimmableContainer)"] + [what for size in model.sizes for what in beyond_legacy(size)]))
    if not isinstance(model, WaveNet):
        return []
    beyond = {
        "one kernel size per layer": any(len(set(kernel_sizes(c))) > 1 for c in model.layers_config),
        "a head kernel wider than 1": any(head_kernel_size(c) > 1 for c in model.layers_config),
        "activations that differ between layers": any(len(set(activations(c))) > 1 for c in model.layers_config),
        "gating that differs between layers": any(len(set(gating_modes(c))) > 1 for c in model.layers_config),
        "blended layers (PairBlend)": any("blended" in gating_modes(c) for c in model.layers_config),
        "a gate other than Sigmoid": any(s != "Sigmoid" for c in model.layers_config for g, s in zip(gating_modes(c), secondary_activations(c)) if g != "none"),
        "a bottleneck": any(bottleneck(c) != c["channels"] for c in model.layers_config),
        "a head 1x1": any(head1x1(c) for c in model.layers_config),
        "layers without a 1x1": any(not has_layer1x1(c) for c in model.layers_config),
        "FiLM conditioning": any(films(c) for c in model.layers_config),
        "activation parameters": any(
            isinstance(a, dict) for c in model.layers_config for k in ("activation", "secondary_activation") for a in activation_specs(c, k)
        ),
        "a post-head": model.post_head_config is not None,
        "a condition DSP": model.condition_dsp is not None,
    }
    return [what for what, has in beyond.items() if has]


def plugin_differences(model: AmpModel) -> list[str]:
    """What of a model the NAM plugin's engine (NeuralAmpModelerCore at daae2d0, 2026) renders
    otherwise than neural-amp-modeler 0.13, whose arithmetic ampcapture follows (found by
    rendering one-feature files with the core's `render` tool; README, "Which .nam files")."""
    if isinstance(model, SlimmableContainer):
        return list(dict.fromkeys(what for size in model.sizes for what in plugin_differences(size)))
    if not isinstance(model, WaveNet):
        return []
    arrays = model.layers_config + (model.condition_dsp.layers_config if model.condition_dsp is not None else [])
    specs = [a for c in arrays for k in ("activation", "secondary_activation") for a in activation_specs(c, k)]
    plain_or_gated = [g != "blended" for c in arrays for g in gating_modes(c) if "layer1x1_post" in films(c)]
    differs = {
        "layers without a 1x1 (the core's residual leaves out their activations)": any(not has_layer1x1(c) for c in arrays),
        "a Hardtanh with bounds other than -1 and 1 (the core's ignores them)": any(
            isinstance(a, dict) and activation_name(a) == "Hardtanh" and (a.get("min_val", -1.0), a.get("max_val", 1.0)) != (-1.0, 1.0) for a in specs
        ),
        "a PReLU with one slope for several channels (the core reads a slope per channel)": any(
            activation_name(a) == "PReLU" and not (isinstance(a, dict) and "negative_slopes" in a) for a in specs
        ),
        "FiLM after the layer 1x1 of a plain or gated layer (the core applies it in blended layers only)": any(plain_or_gated),
        "Softsigmoid (the core has no such activation and refuses the file)": any(activation_name(a) == "Softsigmoid" for a in specs),
    }
    return [what for what, has in differs.items() if has]


def _wavenet_config(model: WaveNet, version: str) -> dict[str, Any]:
    arrays = []
    for c in model.layers_config:
        c = {"activation": "Tanh", "gated": False, "head_bias": True, **c}
        acts, gates = activations(c), gating_modes(c)
        if version == LEGACY_VERSION:
            arrays.append(
                {
                    **{k: c[k] for k in ("input_size", "condition_size", "head_size", "channels", "dilations", "head_bias")},
                    **{"kernel_size": kernel_sizes(c)[0], "activation": acts[0], "gated": gates[0] == "gated"},
                }
            )
            continue
        h1, film = head1x1(c), films(c)
        arrays.append(
            {
                "input_size": c["input_size"],
                "condition_size": c["condition_size"],
                "head": {"out_channels": c["head_size"], "kernel_size": head_kernel_size(c), "bias": c["head_bias"]},
                "channels": c["channels"],
                "kernel_sizes": kernel_sizes(c),
                "dilations": list(c["dilations"]),
                "activation": [_activation_export(a) for a in activation_specs(c)],
                "bottleneck": bottleneck(c),
                "head1x1": {"active": bool(h1), "out_channels": h1 or 1, "groups": 1},
                "layer1x1": {"active": has_layer1x1(c), "groups": 1},
                "groups_input": 1,
                "groups_input_mixin": 1,
                **{f"{p}_film": {"active": p in film, "shift": film.get(p, True), "groups": 1} for p in FILM_POSITIONS},
                "gating_mode": gates,
                "secondary_activation": [None if g == "none" else _activation_export(sa) for g, sa in zip(gates, activation_specs(c, "secondary_activation"))],
                "slimmable": None,
            }
        )
    post_head = model.post_head_config  # its activation as a name: NAM's loader reads no {"type": ...} there
    head = None if post_head is None else {**post_head, "kernel_sizes": list(post_head["kernel_sizes"])}
    config = {"layers": arrays, "head": head, "head_scale": model.head_scale}
    if model.condition_dsp is not None:  # a whole .nam of its own, as NAM writes it
        dsp = model.condition_dsp
        weights = dsp.nam_weights().cpu().tolist()
        config["condition_dsp"] = {"version": version, "metadata": {}, "architecture": "WaveNet", "config": _wavenet_config(dsp, version), "weights": weights}
        config["condition_dsp"]["sample_rate"] = float(model.sample_rate)
    return config


def _activation_export(activation: str | dict[str, Any]) -> dict[str, Any]:
    """An activation as NAM 0.7 writes a layer's: {"type": name, parameters...}."""
    return {"type": activation_name(activation), **({k: v for k, v in activation.items() if k != "name"} if isinstance(activation, dict) else {})}


def _date() -> dict[str, int]:
    t = datetime.datetime.now()
    return {"year": t.year, "month": t.month, "day": t.day, "hour": t.hour, "minute": t.minute, "second": t.second}


# --- loudness and gain, as NAM computes them -------------------------------------------------


def _loudness_input() -> np.ndarray:
    """NAM's standard 1 s input (see resources/NOTICE)."""
    with importlib.resources.as_file(importlib.resources.files("ampcapture") / "resources/nam_loudness_input.wav") as path:
        return sf.read(str(path), dtype="float32")[0]


def loudness(model: AmpModel, gain_factor: float = 1.0, db: bool = True) -> float:
    """RMS of the model's output for the standard input (dBFS): the plugin levels models by it."""
    with torch.no_grad():
        y = model.eval().render(torch.from_numpy((gain_factor * _loudness_input()).astype(np.float32))).double().numpy()
    rms = float(np.sqrt(np.mean(y**2)))
    return 20.0 * np.log10(rms) if db else rms


def gain(model: AmpModel) -> float:
    """0 (clean, output grows with input) .. 1 (full compression): the area under the
    output-level-vs-input-level curve between a straight line and a square."""
    levels = np.array([loudness(model, g, db=False) for g in np.linspace(0.0, 1.0, 11)])
    square = levels[-1] * len(levels)
    triangle = 0.5 * square
    return float(np.clip((levels.sum() - triangle) / (square - triangle), 0.0, 1.0))


# --- import: .nam file -> normalized dict, our model, or an engine -----------------------------


def read_nam(path: str | os.PathLike) -> dict[str, Any]:
    """Read and check a `.nam` file; its config comes back in our model's (0.5-like) form."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(path, "file not found", "check the path (a .nam file or a .ckpt checkpoint)")
    limits.check_file_size(path, path.stat().st_size)
    try:
        data = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(path, f"is not a .nam file (not valid JSON: {exc})", "export the model again (`ampcapture export`), or re-download it") from exc
    except RecursionError:
        raise ModelFileError(path, f"nests its JSON more than {limits.MAX_DEPTH} levels deep", "the file is damaged; export it again") from None
    limits.check_depth(data, path)
    return read_nam_dict(data, path)


def read_nam_dict(data: Any, where: str | os.PathLike, outputs: int = 1) -> dict[str, Any]:
    """A `.nam` dict read and checked (see `read_nam`); `outputs`: the channels the model must
    output (a condition DSP's: as many as the layers it conditions take). A value of the wrong
    type anywhere (a file is data from anywhere) is a ModelFileError, never a traceback."""
    if not isinstance(data, dict) or not {"architecture", "config", "weights"} <= set(data):
        raise ModelFileError(where, "is not a .nam model (needs architecture, config and weights)", "export the model again")
    if not isinstance(data.get("metadata") or {}, dict):
        raise ModelFileError(where, "has metadata that is not a mapping", "the file is damaged; export it again")
    limits.check_version(data.get("version"), where)
    try:
        return _read_nam_dict(data, where, outputs)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError) as exc:
        name = str(data["architecture"])[:40]
        raise ModelFileError(where, f"has a broken {name} config or weights ({str(exc)[:200] or type(exc).__name__})", "export the model again") from None


def _read_nam_dict(data: dict[str, Any], where: str | os.PathLike, outputs: int) -> dict[str, Any]:
    sample_rate = limits.checked_sample_rate(data.get("sample_rate"), where)
    architecture = data["architecture"]
    if architecture == CONTAINER:
        return _read_container(data, where)
    groups: list[dict[str, int]] = []
    if architecture == "WaveNet":
        config, groups = _read_wavenet_config(data["config"], where)
        limits.check_wavenet(config, where)
    elif architecture == "LSTM":
        config = {k: data["config"][k] for k in ("hidden_size", "num_layers")}
        limits.check_lstm(config, where)
        if data["config"].get("input_size", 1) != 1:
            raise ModelFileError(where, "has a conditioned LSTM (input_size > 1, knobs)", "use a model without knob inputs")
    else:
        raise ModelFileError(where, f"architecture {str(architecture)[:40]!r} is not supported", f"use a WaveNet, LSTM or {CONTAINER} .nam")
    if not isinstance(data["weights"], list):
        raise ModelFileError(where, "has weights that are not a list of numbers", "the file is damaged; export it again")
    with np.errstate(over="ignore"):  # a number beyond float32 becomes inf, refused below by index
        weights = np.asarray(data["weights"], dtype=np.float32)
    if weights.ndim != 1:
        raise ModelFileError(where, "has weights that are not a flat list of numbers", "the file is damaged; export it again")
    if any(g != 1 for array in groups for g in array.values()):
        weights = _ungrouped(config, groups, weights, where)
    bad = ~np.isfinite(weights)
    if bad.any():  # one NaN weight turns every output sample into NaN (or full-scale DC in PCM)
        raise ModelFileError(
            where,
            f"{int(bad.sum())} of its {weights.size} weights are NaN or infinite (the first at index {int(np.argmax(bad))})",
            "the file is damaged; export it again from its checkpoint",
        )
    result = {
        "version": str(data.get("version", "")),
        "architecture": architecture,
        "config": config,
        "weights": weights,
        "sample_rate": float(sample_rate),
        "metadata": data.get("metadata") or {},
    }
    expected = (
        wavenet_weight_count(config["layers"], config.get("post_head"))
        if architecture == "WaveNet"
        else lstm_layout(config["hidden_size"], config["num_layers"])[3]
    )
    if weights.size != expected:
        raise ModelFileError(where, f"weights do not fit the config: it needs {expected}, the file has {weights.size}", "the file is damaged; export it again")
    if architecture != "WaveNet":
        return result
    produced = config["post_head"]["out_channels"] if "post_head" in config else config["layers"][-1]["head_size"]
    if produced != outputs:
        raise ModelFileError(where, f"outputs {produced} channels where {outputs} are needed", "use a model with one output (a mono amp)")
    dsp = data["config"].get("condition_dsp")
    conditions = {a["condition_size"] for a in config["layers"]}
    if dsp is not None:  # its config joins ours, its weights follow ours
        if not isinstance(dsp, dict) or dsp.get("architecture") != "WaveNet" or (dsp.get("config") or {}).get("condition_dsp") or len(conditions) > 1:
            why = "has a condition DSP that is not a WaveNet without a condition DSP of its own, or layers with different condition sizes"
            raise ModelFileError(where, why, "render it in the NAM plugin")
        dsp = read_nam_dict({"sample_rate": sample_rate, **dsp}, f"{where} (condition_dsp)", outputs=conditions.pop())
        result["config"]["condition_dsp"] = dsp["config"]
        result["weights"] = np.concatenate([weights, dsp["weights"]])
    return result


def _read_container(data: dict[str, Any], where) -> dict[str, Any]:
    """A SlimmableContainer: its submodels read one by one, checked as NAM's core checks them."""
    entries = (data.get("config") or {}).get("submodels") if isinstance(data.get("config"), dict) else None
    if (
        not isinstance(entries, list)
        or not entries
        or not all(isinstance(e, dict) and isinstance(e.get("max_value"), (int, float)) and "model" in e for e in entries)
    ):
        raise ModelFileError(where, f"is a {CONTAINER} without a list of submodels ({{max_value, model}} each)", "export the model again")
    submodels = []
    for i, entry in enumerate(entries):
        model = entry["model"]
        if isinstance(model, dict) and model.get("architecture") == CONTAINER:
            raise ModelFileError(f"{where} (submodels[{i}])", f"nests a {CONTAINER} in a {CONTAINER}", "give each size one WaveNet or LSTM")
        if isinstance(model, dict) and "sample_rate" not in model and data.get("sample_rate"):
            model = {**model, "sample_rate": data["sample_rate"]}
        submodels.append({"max_value": float(entry["max_value"]), "model": read_nam_dict(model, f"{where} (submodels[{i}])")})
    limits = [s["max_value"] for s in submodels]
    if any(b <= a for a, b in zip(limits, limits[1:])) or limits[-1] < 1.0:
        raise ModelFileError(where, f"has submodel max_values {limits}: they must rise and the last reach 1.0", "export the model again")
    rates = {s["model"]["sample_rate"] for s in submodels}
    if len(rates) > 1:
        raise ModelFileError(where, f"has submodels at different sample rates {sorted(rates)}", "export the sizes of one capture together")
    return {
        "version": str(data.get("version", "")),
        "architecture": CONTAINER,
        "config": {"submodels": submodels},
        "weights": np.zeros(0, np.float32),
        "sample_rate": rates.pop(),
        "metadata": data.get("metadata") or {},
    }


def submodel(nam: dict[str, Any], size: float | None = None) -> tuple[dict[str, Any], int | None]:
    """The model a read `.nam` plays at the plugin's size control `size` (0..1; None: the
    largest, the plugin's default): for a container the first submodel whose max_value exceeds
    `size`, as NeuralAmpModelerCore picks; returns (model, its index, None if not a container)."""
    if nam["architecture"] != CONTAINER:
        if size is not None:
            raise ModelFileError("--size", f"this {nam['architecture']} model has one size", f"--size picks a submodel of a {CONTAINER} (e.g. an A2 model)")
        return nam, None
    submodels = nam["config"]["submodels"]
    if size is None:
        return submodels[-1]["model"], len(submodels) - 1
    if not 0.0 <= size <= 1.0:
        steps = [s["max_value"] for s in submodels]
        raise ModelFileError("--size", f"{size} is outside 0..1", f"give the size control's value; this model's steps end at {steps}")
    index = next((i for i, s in enumerate(submodels) if size < s["max_value"]), len(submodels) - 1)
    return submodels[index]["model"], index


def _read_wavenet_config(config: dict[str, Any], where) -> tuple[dict[str, Any], list[dict[str, int]]]:
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
        for name in activations(a) + secondary_activations(a):
            if name not in ACTIVATIONS:
                raise ModelFileError(here, f"activation {name!r} is not supported (ampcapture has {', '.join(ACTIVATIONS)})", "render it in the NAM plugin")
        for spec in activation_specs(a) + activation_specs(a, "secondary_activation"):
            if isinstance(spec, dict) and len(spec.get("negative_slopes", [None] * bottleneck(a))) != bottleneck(a):
                raise ModelFileError(
                    here, f"has {len(spec['negative_slopes'])} PReLU slopes for {bottleneck(a)} channels", "the file is damaged; export it again"
                )
        if a["condition_size"] != 1 and config.get("condition_dsp") is None:
            raise ModelFileError(here, "has a conditioned WaveNet (condition_size > 1, knobs)", "use a model without knob inputs")
    result = {"layers": arrays, "head_scale": float(config["head_scale"])}
    if config.get("head") is not None:
        result["post_head"] = _read_post_head(config["head"], f"{where} (head)")
    return result, groups


def _read_post_head(head: dict[str, Any], where: str) -> dict[str, Any]:
    """NAM 0.13's post-head (its `head`: blocks of activation and convolution after head_scale)."""
    activation = _activation_spec(head["activation"], where)
    if activation_name(activation) not in ACTIVATIONS or (isinstance(activation, dict) and "negative_slopes" in activation):
        raise ModelFileError(where, f"activation {activation!r} is not supported (ampcapture has {', '.join(ACTIVATIONS)})", "render it in the NAM plugin")
    return {
        "channels": int(head["channels"]),
        "activation": activation,
        "out_channels": int(head["out_channels"]),
        "kernel_sizes": [int(k) for k in head["kernel_sizes"]],
    }


def _ungrouped(config: dict[str, Any], groups: list[dict[str, int]], weights: np.ndarray, where) -> np.ndarray:
    """The weights of grouped convolutions as the dense ones our model and engine hold (zero
    between groups): the same outputs, in NAM's weight order (`wavenet_blocks`)."""
    parts, i = [], 0
    for block in wavenet_blocks(config["layers"], config.get("post_head")):
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
        raise ModelFileError(
            where,
            f"uses {', '.join(unsupported)}, which ampcapture's WaveNet does not have",
            "render it in the NAM plugin",
        )
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


def to_model(nam: dict[str, Any], size: float | None = None) -> AmpModel:
    """Our torch model holding a read `.nam`'s weights (to render, fine-tune or compare); of a
    container, the submodel played at `size` (see `submodel`), or all of them (a
    SlimmableContainer, which renders as its largest) when no size is given."""
    if nam["architecture"] != CONTAINER or size is not None:
        nam, _ = submodel(nam, size)
    model = build_model(*_model_spec(nam), sample_rate=int(round(nam["sample_rate"])))
    model.load_nam_weights(torch.cat([torch.from_numpy(part["weights"]) for part in _parts(nam)]))
    return model.eval()


def _parts(nam: dict[str, Any]) -> list[dict[str, Any]]:
    return [s["model"] for s in nam["config"]["submodels"]] if nam["architecture"] == CONTAINER else [nam]


def _model_spec(nam: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(architecture, config) that build_model() turns into the model a read `.nam` holds."""
    if nam["architecture"] == CONTAINER:
        sizes = [dict(zip(("architecture", "config"), _model_spec(part))) for part in _parts(nam)]
        return CONTAINER, {"submodels": sizes, "max_values": [s["max_value"] for s in nam["config"]["submodels"]]}
    if nam["architecture"] == "WaveNet":
        return "WaveNet", {k: v for k, v in nam["config"].items() if k in ("layers", "head_scale", "post_head", "condition_dsp")}
    return "LSTM", {"hidden_size": nam["config"]["hidden_size"], "num_layers": nam["config"]["num_layers"]}


def write_nam(path: str | os.PathLike, nam: dict[str, Any]) -> None:
    with atomic_path(Path(path)) as tmp:
        tmp.write_text(json.dumps(nam))
