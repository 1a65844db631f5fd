"""Capture sets: one reamp input recorded through the gear at several knob settings (GuitarML's
Proteus flow), the data of a parametric model.

`data/captures/<name>/` holds `input.wav` and a manifest, `captures.yaml`:

    knobs:                    # name: [low, high], as written on the gear
      gain: [0, 10]
      tone: [0, 10]
    recordings:               # one output per setting; held_out: never trained on
      - {file: gain0_tone5.wav, gain: 0, tone: 5}
      - {file: gain5_tone5.wav, gain: 5, tone: 5, held_out: true}
      - {file: gain10_tone5.wav, gain: 10, tone: 5}

Every recording is checked and aligned as a single capture would be (`capture.align`), and they
must agree on the latency. Models take the knob values normalized to [0, 1] over each knob's
range (`knob_inputs`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from ampcapture.core.errors import CaptureError
from ampcapture.core.paths import checked_name

MANIFEST = "captures.yaml"


@dataclass(frozen=True)
class Setting:
    """One recording of the set: its file, its knob values (as on the gear) and whether it is
    held out of training to test how the model interpolates."""

    file: str
    values: dict[str, float]
    held_out: bool

    @property
    def name(self) -> str:
        """A folder name for its aligned pair: the file's stem, made safe."""
        return re.sub(r"[^A-Za-z0-9_.-]", "_", Path(self.file).stem)


@dataclass(frozen=True)
class CaptureSet:
    knobs: dict[str, tuple[float, float]]
    settings: list[Setting]

    @classmethod
    def load(cls, folder: str | Path) -> "CaptureSet | None":
        """The set described by `folder`/captures.yaml; None for a single capture (no manifest)."""
        path = Path(folder) / MANIFEST
        if not path.is_file():
            return None
        try:
            spec = yaml.safe_load(path.read_text())
        except yaml.YAMLError as exc:
            raise CaptureError(path, f"is not valid YAML ({exc})", "see the format in the README's 'Parametric captures'") from exc
        return cls.parse(spec, path)

    @classmethod
    def parse(cls, spec, where: str | Path) -> "CaptureSet":
        fix = "give knobs: {name: [low, high]} and recordings: [{file, <knob>: value, ...}] (README, 'Parametric captures')"
        if not isinstance(spec, dict) or not isinstance(spec.get("knobs"), dict) or not isinstance(spec.get("recordings"), list):
            raise CaptureError(where, "needs a `knobs` mapping and a `recordings` list", fix)
        knobs = {}
        for name, span in spec["knobs"].items():
            if not (isinstance(span, list) and len(span) == 2 and all(isinstance(v, (int, float)) for v in span) and span[0] < span[1]):
                raise CaptureError(where, f"knob {name!r} has range {span!r}", "give [low, high] with low < high, e.g. [0, 10]")
            knobs[str(name)] = (float(span[0]), float(span[1]))
        if not knobs:
            raise CaptureError(where, "names no knob", fix)
        settings = []
        for i, rec in enumerate(spec["recordings"]):
            if not isinstance(rec, dict) or not isinstance(rec.get("file"), str):
                raise CaptureError(where, f"recordings[{i}] is {rec!r}", fix)
            extra = set(rec) - {"file", "held_out", *knobs}
            missing = set(knobs) - set(rec)
            if extra or missing:
                problem = f"recordings[{i}] ({rec['file']}) " + (f"has unknown key(s) {sorted(extra)}" if extra else f"lacks knob(s) {sorted(missing)}")
                raise CaptureError(where, problem, f"give exactly file, held_out (optional) and the knobs {sorted(knobs)}")
            values = {}
            for name, (low, high) in knobs.items():
                v = rec[name]
                if not isinstance(v, (int, float)) or not low <= v <= high:
                    raise CaptureError(where, f"{rec['file']}: {name} = {v!r} is outside its range [{low:g}, {high:g}]", "fix the value or the knob's range")
                values[name] = float(v)
            checked_name(f"{where}: recordings[{i}].file", rec["file"])  # a file beside the manifest, never elsewhere
            settings.append(Setting(rec["file"], values, bool(rec.get("held_out", False))))
        names = [s.name for s in settings]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        same = [(a.file, b.file) for i, a in enumerate(settings) for b in settings[i + 1 :] if a.values == b.values]
        if duplicates or same:
            problem = f"lists {duplicates[0]!r} twice" if duplicates else f"{same[0][0]} and {same[0][1]} have the same knob values"
            raise CaptureError(where, problem, "give each setting one recording")
        if sum(not s.held_out for s in settings) < 2:
            raise CaptureError(where, "leaves fewer than two settings to train on", "record more settings, or hold fewer out")
        return cls(knobs, settings)

    def describe(self) -> dict:
        """What split.json and a checkpoint keep of the set."""
        return {"knobs": {n: list(r) for n, r in self.knobs.items()}}


def knob_inputs(ranges: dict[str, list[float]] | None, given: dict[str, tuple[float, float]], frames: int | None = None) -> np.ndarray | None:
    """What a parametric model with knobs `ranges` ({name: [low, high]}) takes for the knob
    settings `given` ({name: (start, end)} in the gear's units; start == end: held): (n,) values
    in [0, 1] when every knob is held, else (n, frames) ramping linearly from start to end. None
    for a model without knobs. Names every knob missing, unknown or out of range."""
    if not ranges:
        if given:
            raise CaptureError("--knob", "this model has no knobs", "leave --knob out (knobs come from training on a capture set)")
        return None
    unknown, missing = sorted(set(given) - set(ranges)), [n for n in ranges if n not in given]
    if unknown or missing:
        problem = f"this model has no knob {unknown[0]!r}" if unknown else f"knob(s) {', '.join(missing)} not given"
        raise CaptureError("--knob", problem, "give every knob: " + " ".join(f"--knob {n}=<{lo:g}..{hi:g}>" for n, (lo, hi) in ranges.items()))
    values = []
    for name, (low, high) in ranges.items():
        start, end = given[name]
        if not (low <= start <= high and low <= end <= high):
            given_text = f"{start:g}" if start == end else f"{start:g}:{end:g}"
            raise CaptureError("--knob", f"{name} = {given_text} is outside [{low:g}, {high:g}]", "the model knows only the range it was trained on")
        values.append(((start - low) / (high - low), (end - low) / (high - low)))
    if all(a == b for a, b in values):
        return np.array([a for a, _ in values], np.float32)
    if frames is None:
        raise CaptureError("--knob", "a knob ramp (start:end) plays only in `ampcapture render`", "give one value per knob")
    return np.stack([np.linspace(a, b, frames, dtype=np.float32) for a, b in values])
