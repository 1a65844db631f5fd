"""The `.nam` file format (NAM's JSON model files): write ours, read anyone's.

A `.nam` holds `version`, `architecture`, `config`, `weights` (one flat list), `sample_rate`
and `metadata`. We write 0.7.0 by default (what neural-amp-modeler 0.13 writes, and the only
WaveNet layout its own loader still reads; NeuralAmpModelerCore reads it from 0.4.1), the 0.5
layout every NAM plugin reads on request, or with "oldest" the oldest of the two that holds
the model (0.5 unless it has what only 0.7 holds). We read both. What `config` and `weights`
hold is each architecture's own (`models.ARCHITECTURES`: `nam_config`, `read_nam`); this module
does what is the same for all: versions, metadata (loudness and gain as NAM computes them),
the checks of a file that is data from anywhere, and a SlimmableContainer's parts (what
neural-amp-modeler 0.13 exports for A2: several whole models of one capture, cheapest first,
each with the `max_value` of the plugin's size control up to which it plays; `submodel()` picks
one as NAM's plugin does).
"""

from __future__ import annotations

import datetime
import importlib.resources
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import torch

from ampcapture.core.errors import ModelFileError
from ampcapture.core.files import atomic_path
from ampcapture.formats import nam_limits as limits
from ampcapture.models import ARCHITECTURES, AmpModel

CONTAINER = "SlimmableContainer"
CURRENT_VERSION = "0.7.0"
LEGACY_VERSION = "0.5.4"
OLDEST = "oldest"
VERSIONS = {"0.7": CURRENT_VERSION, "0.7.0": CURRENT_VERSION, "0.5": LEGACY_VERSION, "0.5.4": LEGACY_VERSION, OLDEST: OLDEST}


# --- export: our model -> .nam dict ---------------------------------------------------------


def to_nam(model: AmpModel, metadata: dict[str, Any] | None = None, version: str = CURRENT_VERSION) -> dict[str, Any]:
    """The `.nam` dict of a model; metadata gets the date, loudness and gain added (a
    container's are its largest size's, and each size carries its own, as NAM writes them)."""
    date = _date()
    nam = nam_body(model, version, lambda part: {"date": date, "loudness": loudness(part), "gain": gain(part)})
    nam["metadata"] = {"date": date, "loudness": loudness(model), "gain": gain(model), **(metadata or {})}
    return nam


def nam_body(model: AmpModel, version: str = CURRENT_VERSION, part_metadata=None) -> dict[str, Any]:
    """Everything of a `.nam` but the metadata (of its parts, `part_metadata(part)` if given)."""
    if version not in VERSIONS:
        fix = "use 0.7 (current plugins), 0.5 (older plugins) or oldest (the oldest that holds the model)"
        raise ModelFileError("--nam-version", f"unknown .nam version {version!r}", fix)
    beyond = model.beyond_legacy()
    version = VERSIONS[version]
    if version == OLDEST:
        version = CURRENT_VERSION if beyond else LEGACY_VERSION
    elif version == LEGACY_VERSION and beyond:
        fix = "export it as 0.7 (NAM plugins from 0.4.1 read it), or with --nam-version oldest"
        raise ModelFileError("--nam-version", f"a .nam 0.5 cannot hold {' and '.join(beyond)}, which this model has", fix)

    def part(size: AmpModel) -> dict[str, Any]:
        body = nam_body(size, version)
        return body if part_metadata is None else {**body, "metadata": part_metadata(size)}

    return {
        "version": version,
        "metadata": {},
        "architecture": model.architecture,
        "config": model.nam_config(version, part),
        "weights": model.nam_file_weights().cpu().tolist(),
        "sample_rate": float(model.sample_rate),
    }


def beyond_legacy(model: AmpModel) -> list[str]:
    """What of the model only a .nam 0.7 holds (nothing: a 0.5 file holds it)."""
    return model.beyond_legacy()


def plugin_differences(model: AmpModel) -> list[str]:
    """What of a model the NAM plugin's engine (NeuralAmpModelerCore at daae2d0, 2026) renders
    otherwise than neural-amp-modeler 0.13, whose arithmetic ampcapture follows (found by
    rendering one-feature files with the core's `render` tool; README, "Which .nam files")."""
    return model.plugin_differences()


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


# --- import: .nam file -> a checked NamModel, our model -------------------------------------


@dataclass
class NamModel:
    """A `.nam` read and checked: its architecture and spec (models.ARCHITECTURES), its weights
    (float32, in NAM's order; of a WaveNet with a condition DSP, the DSP's after its own), the
    file's sample rate, metadata and version; a SlimmableContainer's sizes as `parts`, each with
    the value of the plugin's size control up to which it plays."""

    architecture: str
    spec: Any
    weights: np.ndarray
    sample_rate: float
    metadata: dict[str, Any] = field(default_factory=dict)
    version: str = ""
    parts: list[tuple[float, NamModel]] = field(default_factory=list)


def read_nam(path: str | os.PathLike) -> NamModel:
    """Read and check a `.nam` file."""
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


def read_nam_dict(data: Any, where: str | os.PathLike, outputs: int = 1) -> NamModel:
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


def _read_nam_dict(data: dict[str, Any], where: str | os.PathLike, outputs: int) -> NamModel:
    sample_rate = limits.checked_sample_rate(data.get("sample_rate"), where)
    architecture = data["architecture"]
    if not isinstance(architecture, str) or architecture not in ARCHITECTURES:
        names = ", ".join(ARCHITECTURES)
        raise ModelFileError(where, f"architecture {str(architecture)[:40]!r} is not supported", f"use a .nam of one of {names}")
    weights = _weights(data["weights"], where)
    spec, weights, parts = ARCHITECTURES[architecture].read_nam(data, where, outputs, weights, read_nam_dict)
    version, metadata = str(data.get("version", "")), data.get("metadata") or {}
    return NamModel(architecture, spec, weights, parts[0][1].sample_rate if parts else sample_rate, metadata, version, parts)


def _weights(weights: Any, where) -> np.ndarray:
    """The file's weights as float32, every one finite."""
    if not isinstance(weights, list):
        raise ModelFileError(where, "has weights that are not a list of numbers", "the file is damaged; export it again")
    with np.errstate(over="ignore"):  # a number beyond float32 becomes inf, refused below by index
        weights = np.asarray(weights, dtype=np.float32)
    if weights.ndim != 1:
        raise ModelFileError(where, "has weights that are not a flat list of numbers", "the file is damaged; export it again")
    bad = ~np.isfinite(weights)
    if bad.any():  # one NaN weight turns every output sample into NaN (or full-scale DC in PCM)
        raise ModelFileError(
            where,
            f"{int(bad.sum())} of its {weights.size} weights are NaN or infinite (the first at index {int(np.argmax(bad))})",
            "the file is damaged; export it again from its checkpoint",
        )
    return weights


def submodel(nam: NamModel, size: float | None = None) -> tuple[NamModel, int | None]:
    """The model a read `.nam` plays at the plugin's size control `size` (0..1; None: the
    largest, the plugin's default): of a container the first part whose max_value exceeds
    `size`, as NeuralAmpModelerCore picks; returns (model, its index, None if not a container)."""
    if not nam.parts:
        if size is not None:
            raise ModelFileError("--size", f"this {nam.architecture} model has one size", f"--size picks a submodel of a {CONTAINER} (e.g. an A2 model)")
        return nam, None
    if size is None:
        return nam.parts[-1][1], len(nam.parts) - 1
    if not 0.0 <= size <= 1.0:
        steps = [v for v, _ in nam.parts]
        raise ModelFileError("--size", f"{size} is outside 0..1", f"give the size control's value; this model's steps end at {steps}")
    index = next((i for i, (v, _) in enumerate(nam.parts) if size < v), len(nam.parts) - 1)
    return nam.parts[index][1], index


def to_model(nam: NamModel, size: float | None = None) -> AmpModel:
    """Our torch model holding a read `.nam`'s weights (to render, fine-tune or compare); of a
    container, the part played at `size` (see `submodel`), or all of them (a SlimmableContainer,
    which renders as its largest) when no size is given."""
    if not nam.parts or size is not None:
        nam, _ = submodel(nam, size)
    model = ARCHITECTURES[nam.architecture](nam.spec, int(round(nam.sample_rate)))
    weights = [part.weights for _, part in nam.parts] if nam.parts else [nam.weights]
    model.load_nam_weights(torch.cat([torch.from_numpy(w) for w in weights]))
    return model.eval()


def write_nam(path: str | os.PathLike, nam: dict[str, Any]) -> None:
    with atomic_path(Path(path)) as tmp:
        tmp.write_text(json.dumps(nam))
