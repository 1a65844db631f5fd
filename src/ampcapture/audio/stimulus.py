"""The standardized reamp input, and the sidecar JSON that says where each region lies.

Users play this file through their gear. Its layout lets the later stages work without
magic numbers: calibration blips at both ends give the latency and reveal a sample-rate
drift, a validation segment that appears twice measures how repeatable the recording is,
sweeps and noise bursts at several levels cover the spectrum and the dynamic range, and
guitar-like playing covers what the model will really be fed.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import ClassVar

import numpy as np

from ampcapture.audio import guitar
from ampcapture.audio.io import db_to_gain, write_audio
from ampcapture.core.errors import CaptureError, ConfigError
from ampcapture.core.files import write_json

SIGNAL_VERSION = 1


@dataclass
class StimulusSpec:
    """Durations in seconds and levels in dBFS; the defaults give about three minutes."""

    SECTION: ClassVar[str] = "stimulus"

    sample_rate: int
    seed: int
    silence_s: float
    blips: int
    blip_spacing_s: float
    blip_level_db: float
    validation_s: float
    sweep_s: float
    sweep_levels_db: list[float]
    noise_s: float
    noise_levels_db: list[float]
    playing_s: float
    test_s: float

    def __post_init__(self) -> None:
        if self.sample_rate not in (44100, 48000, 88200, 96000):
            raise ConfigError("stimulus.sample_rate", f"{self.sample_rate} Hz is not supported", "use 44100, 48000, 88200 or 96000")
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name.endswith("_s") and not value > 0:
                raise ConfigError(f"stimulus.{f.name}", f"must be a positive duration, got {value}", "set a number of seconds > 0")
        if self.blips < 1:
            raise ConfigError("stimulus.blips", f"needs at least one blip, got {self.blips}", "set stimulus.blips >= 1")
        for name in ("blip_level_db", "sweep_levels_db", "noise_levels_db"):
            levels = np.atleast_1d(getattr(self, name))
            if levels.size == 0 or np.any(levels > 0):
                raise ConfigError(f"stimulus.{name}", f"levels must be <= 0 dBFS, got {levels.tolist()}", "use levels in dBFS such as -6")


@dataclass
class Region:
    name: str
    kind: str  # silence | blips | validation | sweep | noise | playing | test
    start: int
    end: int


def generate(spec: StimulusSpec) -> tuple[np.ndarray, dict]:
    """Return the reamp input (float64, mono) and its sidecar dict. Deterministic in `spec`."""
    sr = spec.sample_rate
    parts: list[np.ndarray] = []
    regions: list[Region] = []
    blips: dict[str, list[int]] = {"start": [], "end": []}
    cursor = 0

    def add(name: str, kind: str, audio: np.ndarray) -> None:
        nonlocal cursor
        parts.append(audio)
        regions.append(Region(name, kind, cursor, cursor + audio.size))
        cursor += audio.size

    def silence(name: str, seconds: float) -> None:
        add(name, "silence", np.zeros(int(round(seconds * sr))))

    def blip_train(where: str) -> None:
        spacing = int(round(spec.blip_spacing_s * sr))
        audio = np.zeros(spec.blips * spacing)
        audio[::spacing] = db_to_gain(spec.blip_level_db)
        blips[where] = [cursor + k * spacing for k in range(spec.blips)]
        add(f"blips_{where}", "blips", audio)

    validation = guitar.render_notes(guitar.perform(spec.validation_s, spec.seed + 1), spec.validation_s, sr, spec.seed + 1)

    silence("silence_start", spec.silence_s)
    blip_train("start")
    silence("silence_before_validation_a", 2 * spec.silence_s)
    add("validation_a", "validation", validation)
    for k, level in enumerate(spec.sweep_levels_db):
        silence(f"silence_before_sweep_{k}", spec.silence_s / 2)
        add(f"sweep_{k}", "sweep", _log_sweep(spec.sweep_s, sr, level))
    rng = np.random.default_rng(spec.seed + 2)
    for k, level in enumerate(spec.noise_levels_db):
        silence(f"silence_before_noise_{k}", spec.silence_s / 2)
        add(f"noise_{k}", "noise", _noise_burst(spec.noise_s, sr, level, rng))
    silence("silence_before_playing", spec.silence_s)
    add("playing", "playing", guitar.render_notes(guitar.perform(spec.playing_s, spec.seed + 3), spec.playing_s, sr, spec.seed + 3))
    silence("silence_before_test", spec.silence_s)
    add("test", "test", guitar.render_notes(guitar.perform(spec.test_s, spec.seed + 4), spec.test_s, sr, spec.seed + 4))
    silence("silence_before_validation_b", 2 * spec.silence_s)
    add("validation_b", "validation", validation)
    silence("silence_before_blips_end", spec.silence_s)
    blip_train("end")
    silence("silence_end", spec.silence_s)

    audio = np.concatenate(parts)
    sidecar = {
        "version": SIGNAL_VERSION,
        "sample_rate": sr,
        "num_samples": int(audio.size),
        "duration_s": audio.size / sr,
        "spec": asdict(spec),
        "blips": blips,
        "regions": [asdict(r) for r in regions],
    }
    return audio, sidecar


def sidecar_path(wav_path: str | Path) -> Path:
    return Path(wav_path).with_suffix(".json")


def write_stimulus(path: str | Path, spec: StimulusSpec) -> dict:
    """Write the reamp input as 24-bit PCM (what interfaces play) plus its sidecar JSON."""
    audio, sidecar = generate(spec)
    write_audio(path, audio, spec.sample_rate, subtype="PCM_24")
    write_json(sidecar_path(path), sidecar)
    return sidecar


def read_sidecar(path: str | Path) -> dict:
    """The signal's sidecar, checked: a damaged one is an error naming it, not a traceback later."""
    path = Path(path)
    try:
        sidecar = json.loads(path.read_text())
        blips, regions = sidecar["blips"], sidecar["regions"]
        ok = (
            isinstance(sidecar["sample_rate"], int)
            and isinstance(sidecar["num_samples"], int)
            and all(isinstance(blips[k], list) and all(isinstance(b, int) for b in blips[k]) for k in ("start", "end"))
            and all(isinstance(r["start"], int) and isinstance(r["end"], int) and isinstance(r["kind"], str) for r in regions)
        )
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        ok, why = False, f"{type(exc).__name__}: {exc}"
    else:
        why = "a field has the wrong type"
    if not ok:
        raise CaptureError(
            path,
            f"is not a valid signal sidecar ({why})",
            "restore it from `ampcapture stimulus` (same seed and rate), or delete it to align this input like any recording, by cross-correlation",
        )
    return sidecar


def _log_sweep(seconds: float, sr: int, level_db: float) -> np.ndarray:
    """Exponential sine sweep from 20 Hz to 20 kHz (or 0.45·sr), with 10 ms fades."""
    n = int(round(seconds * sr))
    t = np.arange(n) / sr
    f1, f2 = 20.0, min(20000.0, 0.45 * sr)
    k = np.log(f2 / f1)
    phase = 2 * np.pi * f1 * seconds / k * (np.exp(t / seconds * k) - 1.0)
    return db_to_gain(level_db) * np.sin(phase) * _fades(n, sr)


def _noise_burst(seconds: float, sr: int, peak_db: float, rng: np.random.Generator) -> np.ndarray:
    """White noise scaled so its peak sits at `peak_db`."""
    n = int(round(seconds * sr))
    noise = rng.standard_normal(n) * _fades(n, sr)
    return db_to_gain(peak_db) * noise / np.max(np.abs(noise))


def _fades(n: int, sr: int) -> np.ndarray:
    ramp = min(n // 2, int(0.01 * sr))
    env = np.ones(n)
    if ramp:
        env[:ramp] = np.linspace(0, 1, ramp)
        env[-ramp:] = np.linspace(1, 0, ramp)
    return env
