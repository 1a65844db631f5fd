"""NAM's standardized reamp inputs (v1_0_0, v1_1_1, v2_0_0, v3_0_0, GuitarML's Proteus file),
recognized the way neural-amp-modeler's trainer recognizes them.

Most guitarists capture with one of these files, not ours. Recognized, a capture made with one
is aligned on its calibration blips and split on NAM's own regions, so that the validation ESR
we show is measured on the audio NAM's trainer validates on, and the twin validation copies of
v2 and v3 get NAM's replicate (null) test. The table (resources/nam_standard_inputs.json, one
entry a version) is data copied from NAM 0.13's `nam/train/core.py`: a strong match is the
file's md5, a weak match the md5 of spans of its samples as NAM decodes them (so a copy with
another header or tags still matches). The files themselves cannot be shipped here.

The result is a sidecar in the schema of our own signal's (`audio.stimulus`): blips, the
background to measure their onset against, and regions. NAM's training region becomes the
"playing" region and its validation region(s) "validation" (the one NAM validates on first,
its twin after). NAM's inputs have no test region: `split` holds one out of the training region.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

TABLE = "resources/nam_standard_inputs.json"


@dataclass(frozen=True)
class StandardInput:
    """One table entry, matched against one file: which NAM input it is, and how it matched."""

    entry: dict
    match: str  # strong (the file's bytes) | weak (its samples)
    num_samples: int

    @property
    def name(self) -> str:
        return self.entry["name"]

    @property
    def sample_rate(self) -> int:
        return int(self.entry["sample_rate"])

    def describe(self) -> str:
        return f"NAM's standardized input {self.name} (version {self.entry['version']}, {self.match} match: {_MATCHES[self.match]})"

    def sidecar(self) -> dict:
        """Blips, background and regions in absolute samples of this input."""
        n = self.num_samples
        validations = [_span(v, n) for v in self.entry["validation"]]
        regions = [{"name": "train", "kind": "playing", **_span(self.entry["train"], n)}]
        regions += [{"name": f"validation_{k}", "kind": "validation", **span} for k, span in enumerate(validations)]
        return {
            "version": f"nam-{self.entry['version']}",
            "standard": {"name": self.name, "version": self.entry["version"], "match": self.match},
            "sample_rate": self.sample_rate,
            "num_samples": n,
            "duration_s": n / self.sample_rate,
            "blips": {"start": [_at(b, n) for b in self.entry["blips"]], "end": [_at(b, n) for b in self.entry["end_blips"]]},
            "background": [_at(b, n) for b in self.entry["background"]],
            "regions": regions,
        }


_MATCHES = {"strong": "the very file", "weak": "its audio, in another file"}


def load_table(path: str | Path | None = None) -> list[dict]:
    """The recognition table's entries, in NAM's order of weak matching (newest first, Proteus last:
    its match is the most permissive)."""
    if path is not None:
        return json.loads(Path(path).read_text())["inputs"]
    return json.loads((importlib.resources.files("ampcapture") / TABLE).read_text())["inputs"]


def recognize(path: str | Path, channel: int = 0, table: list[dict] | None = None) -> StandardInput | None:
    """The NAM input this file is (by its bytes, else by its samples), or None for any other."""
    table = load_table() if table is None else table
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, OSError):
        return None  # unreadable: the format checks say why
    n = int(info.frames)
    digest = _file_md5(path)
    for entry in table:
        if entry["file_md5"] == digest and info.samplerate == entry["sample_rate"]:
            return StandardInput(entry, "strong", n)
    if not info.subtype.startswith("PCM_") or info.subtype == "PCM_U8":
        return None  # NAM decodes integer PCM only; its files are 24-bit
    channel = channel if channel < info.channels else 0
    for entry in table:
        if info.samplerate == entry["sample_rate"] and all(_samples_md5(path, _span([s, e], n), channel) == md5 for s, e, md5 in entry["sample_md5"]):
            return StandardInput(entry, "weak", n)
    return None


def _at(position: int | None, n: int) -> int:
    """A table position as an absolute sample: negative counts from the end, None is the end."""
    if position is None:
        return n
    return position + n if position < 0 else position


def _span(pair: list, n: int) -> dict:
    return {"start": _at(pair[0], n), "end": _at(pair[1], n)}


def _file_md5(path: str | Path) -> str:
    md5 = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            md5.update(block)
    return md5.hexdigest()


def _samples_md5(path: str | Path, span: dict, channel: int) -> str | None:
    """md5 of the samples NAM decodes: integer PCM / 2^(bits-1) as float64 (exact from int32 / 2^31)."""
    if not 0 <= span["start"] < span["end"]:
        return None
    frames, _ = sf.read(str(path), start=span["start"], stop=span["end"], dtype="int32", always_2d=True)
    if frames.shape[0] != span["end"] - span["start"]:
        return None
    return hashlib.md5(np.ascontiguousarray(frames[:, channel] / 2.0**31)).hexdigest()
