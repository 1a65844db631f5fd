"""Train / validation / test regions of an aligned capture.

With the standardized signal the sidecar decides: validation is the first copy of the twin
segment (the second copy is never trained on either), test is the playing segment the model
never sees, and training gets the sweeps, the noise bursts and the long playing segment.
NAM's standardized inputs (`standard_inputs`) keep NAM's training and validation regions; they
have no test region, so the test is held out of the training region, the same share of each of
`blocks` parts of it as the fractions' test share.
Any other recording is split by time fractions from config: train, then validation, then test,
either once over the whole recording (`blocks: 1`: a contiguous tail each) or within each of
`blocks` equal parts of it, so that validation and test sample the whole performance (its quiet
and its loud playing alike) and the epoch kept is chosen on playing like the test's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import soundfile as sf

from ampcapture.audio import stimulus
from ampcapture.core.errors import CaptureError, ConfigError
from ampcapture.core.files import atomic_dir, write_json

TRAIN_KINDS = ("sweep", "noise", "playing")
MAX_BLOCKS = 64


@dataclass
class SplitSettings:
    SECTION: ClassVar[str] = "data.split"

    train_fraction: float
    validation_fraction: float
    min_region_s: float
    blocks: int

    def __post_init__(self) -> None:
        t, v = self.train_fraction, self.validation_fraction
        if not (0 < t < 1 and 0 < v < 1 and t + v < 1):
            raise ConfigError(
                "data.split",
                f"train_fraction={t}, validation_fraction={v} leave no room for all three splits",
                "use fractions > 0 with train_fraction + validation_fraction < 1 (the rest is the test split)",
            )
        if isinstance(self.blocks, bool) or not isinstance(self.blocks, int) or not 1 <= self.blocks <= MAX_BLOCKS:
            problem = f"must be a whole number from 1 to {MAX_BLOCKS}, got {self.blocks!r}"
            raise ConfigError("data.split.blocks", problem, "1 (one contiguous tail each) or e.g. 8")
        if not self.min_region_s > 0:
            raise ConfigError("data.split.min_region_s", f"must be > 0, got {self.min_region_s}", "e.g. 3.0 (seconds)")


def regions_from_sidecar(sidecar: dict, num_samples: int) -> dict[str, list[list[int]]]:
    def spans(predicate) -> list[list[int]]:
        return [[r["start"], r["end"]] for r in sidecar["regions"] if predicate(r) and r["end"] <= num_samples]

    validation = spans(lambda r: r["kind"] == "validation")[:1]
    return {
        "train": spans(lambda r: r["kind"] in TRAIN_KINDS),
        "validation": validation,
        "test": spans(lambda r: r["kind"] == "test"),
    }


def regions_from_fractions(num_samples: int, settings: SplitSettings) -> dict[str, list[list[int]]]:
    """Each of `blocks` equal parts: train, then validation, then test, by the fractions."""
    regions: dict[str, list[list[int]]] = {"train": [], "validation": [], "test": []}
    for block in range(settings.blocks):
        start, end = round(num_samples * block / settings.blocks), round(num_samples * (block + 1) / settings.blocks)
        a = start + round((end - start) * settings.train_fraction)
        b = start + round((end - start) * (settings.train_fraction + settings.validation_fraction))
        regions["train"].append([start, a])
        regions["validation"].append([a, b])
        regions["test"].append([b, end])
    return regions


def test_held_out(train: list[list[int]], settings: SplitSettings) -> dict[str, list[list[int]]]:
    """Train and test from training spans: each span in `blocks` parts, each part's last
    (1 - train_fraction - validation_fraction) its test share."""
    share = 1 - settings.train_fraction - settings.validation_fraction
    regions: dict[str, list[list[int]]] = {"train": [], "test": []}
    for start, end in train:
        for block in range(settings.blocks):
            a, b = start + round((end - start) * block / settings.blocks), start + round((end - start) * (block + 1) / settings.blocks)
            cut = b - round((b - a) * share)
            regions["train"].append([a, cut])
            regions["test"].append([cut, b])
    return regions


def regions_of(sidecar: dict | None, num_samples: int, settings: SplitSettings) -> tuple[str, dict[str, list[list[int]]]]:
    """(method, regions): the sidecar's regions for a standardized signal (ours, or NAM's with
    its test held out of training), else the fractions'."""
    if sidecar is None:
        return "fractions", regions_from_fractions(num_samples, settings)
    regions = regions_from_sidecar(sidecar, num_samples)
    if "standard" not in sidecar:
        return "sidecar", regions
    return f"nam_{sidecar['standard']['name']}", {**regions, **test_held_out(regions["train"], settings)}


def too_short(regions: dict[str, list[list[int]]], sample_rate: int, num_samples: int, settings: SplitSettings, method: str) -> tuple[str, str] | None:
    """(problem, fix) when the validation or test region is shorter than min_region_s: too
    little unseen playing to choose the kept epoch on, or to measure the model by."""
    seconds = {name: sum(e - s for s, e in regions[name]) / sample_rate for name in ("validation", "test")}
    short = {name: s for name, s in seconds.items() if s < settings.min_region_s}
    if not short:
        return None
    told = ", ".join(f"{name} {s:.2f} s" for name, s in short.items())
    problem = f"is {num_samples / sample_rate:.1f} s long: split, it leaves {told}; each needs at least {settings.min_region_s:g} s"
    if method == "fractions":
        needed = settings.min_region_s / min(settings.validation_fraction, 1 - settings.train_fraction - settings.validation_fraction)
        return problem, f"record at least {needed:.0f} s of playing (or play the whole standardized reamp input through the gear)"
    return problem, "record the whole standardized reamp input through the gear, from start to end"


def split_capture(aligned_dir: str | Path, out_dir: str | Path, report_path: str | Path, settings: SplitSettings, capture: str | None = None) -> dict:
    """Write `split.json` (regions in samples of the aligned audio) and the split report."""
    aligned_dir = Path(aligned_dir)
    manifest = aligned_dir / "captures.json"
    capture_set = json.loads(manifest.read_text()) if manifest.is_file() else None
    # a capture set's recordings share one input, so one set of regions holds for all of them
    first = aligned_dir / capture_set["settings"][0]["name"] if capture_set else aligned_dir
    wav = first / "input.wav"
    if not wav.is_file():
        raise CaptureError(wav, "aligned audio not found", "run the align stage first (`dvc repro align`)")
    info = sf.info(str(wav))
    sr, n = int(info.samplerate), int(info.frames)
    if capture_set:
        n = min(int(sf.info(str(aligned_dir / s["name"] / "output.wav")).frames) for s in capture_set["settings"])
    sidecar_file = stimulus.sidecar_path(wav)
    method, regions = regions_of(stimulus.read_sidecar(sidecar_file) if sidecar_file.is_file() else None, n, settings)
    for name, spans in regions.items():
        if not spans:
            raise CaptureError(sidecar_file, f"no {name} region fits in the aligned audio", "record the whole reamp input")
    if (short := too_short(regions, sr, n, settings, method)) is not None:
        raise CaptureError(wav, *short)
    split = {"capture": capture, "method": method, "sample_rate": sr, "num_samples": n, "audio": str(first), **regions}
    seconds = {f"{name}_s": round(sum(e - s for s, e in spans) / sr, 3) for name, spans in regions.items()}
    report = {"capture": capture, "method": method, **seconds, "regions": {k: len(v) for k, v in regions.items()}}
    if capture_set:
        # every setting keeps the same regions; the held-out ones are never trained on at all
        settings = [{**s, "audio": str(aligned_dir / s["name"])} for s in capture_set["settings"]]
        split.update(knobs=capture_set["knobs"], settings=settings)
        report.update(settings=len(settings), held_out=[s["name"] for s in settings if s["held_out"]])
    with atomic_dir(out_dir) as tmp:
        write_json(tmp / "split.json", split)
        write_json(report_path, report)
    return report
