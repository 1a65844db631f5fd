"""The built-in virtual amp that renders the demo capture.

A documented nonlinear device with memory, so the whole pipeline runs on a fresh clone and
a small model cannot fit it perfectly. Signal chain, all causal:

1. input gain (`drive_db`) and a 30 Hz input coupling high-pass;
2. preamp triode-like stage: asymmetric soft clipping ``tanh(u + b) - tanh(b)`` whose bias
   ``b`` shifts with a 15 ms envelope of the positive half-waves (grid conduction: the
   stage's sound depends on what was just played);
3. 150 Hz interstage coupling high-pass, second gain stage with milder asymmetric clipping;
4. three-band tone stack: low shelf 120 Hz (`bass_db`), peak 700 Hz (`mid_db`), high shelf
   3 kHz (`treble_db`);
5. power amp with sag: gain falls with a 60 ms RMS envelope (`sag`), then soft saturation;
6. cabinet-like filter: 80 Hz high-pass, 110 Hz resonance, 2.5 kHz presence, low-passes at
   5 and 7 kHz;
7. then, outside the amp: latency of a whole number of samples, output level, noise floor.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import ClassVar

import numpy as np
import yaml
from rich.progress import Progress
from scipy.signal import lfilter, lfilter_zi

from ampcapture.audio.io import db_to_gain, read_audio, write_audio
from ampcapture.core.errors import ConfigError
from ampcapture.core.files import atomic_dir


@dataclass
class AmpSettings:
    """Knobs of the virtual amp and of the simulated recording chain."""

    SECTION: ClassVar[str] = "demo"

    drive_db: float
    bass_db: float
    mid_db: float
    treble_db: float
    sag: float
    output_level_db: float
    noise_floor_db: float
    max_latency_samples: int
    seed: int

    def __post_init__(self) -> None:
        if not 0 <= self.max_latency_samples <= 48000:
            raise ConfigError("demo.max_latency_samples", f"{self.max_latency_samples} is out of range", "use 0..48000 samples")
        if self.sag < 0:
            raise ConfigError("demo.sag", f"must be >= 0, got {self.sag}", "use 0 (no sag) to about 3")
        if self.output_level_db > 0:
            raise ConfigError("demo.output_level_db", f"{self.output_level_db} dBFS would clip", "use a level <= 0 dBFS")

    def latency_samples(self) -> int:
        """The latency the aligner must find; fixed by the seed, unknown to the aligner."""
        return int(np.random.default_rng(self.seed).integers(0, self.max_latency_samples + 1))


@dataclass
class KnobGrid:
    """The demo capture set's settings: each virtual-amp knob (an AmpSettings field) and its values;
    every combination is recorded (`render_demo_capture_set`)."""

    SECTION: ClassVar[str] = "demo_knobs"

    grid: dict[str, list[float]]


class _Filter:
    """A linear IIR filter that keeps its state between blocks."""

    def __init__(self, b, a):
        self.b, self.a = np.asarray(b, float), np.asarray(a, float)
        self.zi = lfilter_zi(self.b, self.a) * 0.0

    def __call__(self, x: np.ndarray) -> np.ndarray:
        y, self.zi = lfilter(self.b, self.a, x, zi=self.zi)
        return y


def _one_pole_lowpass(seconds: float, sr: int) -> _Filter:
    a = np.exp(-1.0 / (seconds * sr))
    return _Filter([1 - a], [1, -a])


def _one_pole_highpass(hz: float, sr: int) -> _Filter:
    r = np.exp(-2 * np.pi * hz / sr)
    return _Filter([(1 + r) / 2, -(1 + r) / 2], [1, -r])


def _biquad(kind: str, hz: float, sr: int, q: float = 0.707, gain_db: float = 0.0) -> _Filter:
    """RBJ audio-EQ-cookbook biquads."""
    w = 2 * np.pi * hz / sr
    cos, alpha = np.cos(w), np.sin(w) / (2 * q)
    amp = 10 ** (gain_db / 40)
    if kind == "lowpass":
        b, a = [(1 - cos) / 2, 1 - cos, (1 - cos) / 2], [1 + alpha, -2 * cos, 1 - alpha]
    elif kind == "highpass":
        b, a = [(1 + cos) / 2, -(1 + cos), (1 + cos) / 2], [1 + alpha, -2 * cos, 1 - alpha]
    elif kind == "peak":
        b = [1 + alpha * amp, -2 * cos, 1 - alpha * amp]
        a = [1 + alpha / amp, -2 * cos, 1 - alpha / amp]
    elif kind in ("lowshelf", "highshelf"):
        s = 1 if kind == "lowshelf" else -1
        sq = 2 * np.sqrt(amp) * alpha
        b = [amp * ((amp + 1) - s * (amp - 1) * cos + sq), 2 * s * amp * ((amp - 1) - s * (amp + 1) * cos), amp * ((amp + 1) - s * (amp - 1) * cos - sq)]
        a = [(amp + 1) + s * (amp - 1) * cos + sq, -2 * s * ((amp - 1) + s * (amp + 1) * cos), (amp + 1) + s * (amp - 1) * cos - sq]
    else:
        raise ValueError(kind)
    return _Filter(np.array(b) / a[0], np.array(a) / a[0])


class VirtualAmp:
    """Streaming implementation of the chain in the module docstring: `process` keeps state,
    so rendering block by block equals rendering the whole file at once."""

    def __init__(self, settings: AmpSettings, sample_rate: int):
        self.settings, self.sample_rate = settings, sample_rate
        self.reset()

    def reset(self) -> None:
        sr, s = self.sample_rate, self.settings
        self.input_hp = _one_pole_highpass(30.0, sr)
        self.grid_env = _one_pole_lowpass(0.015, sr)
        self.interstage_hp = _one_pole_highpass(150.0, sr)
        self.tone = [
            _biquad("lowshelf", 120, sr, gain_db=s.bass_db),
            _biquad("peak", 700, sr, q=0.8, gain_db=s.mid_db),
            _biquad("highshelf", 3000, sr, gain_db=s.treble_db),
        ]
        self.sag_env = _one_pole_lowpass(0.06, sr)
        self.cab = [
            _biquad("highpass", 80, sr),
            _biquad("peak", 110, sr, q=1.5, gain_db=4.0),
            _biquad("peak", 2500, sr, q=1.0, gain_db=3.0),
            _biquad("lowpass", 5000, sr),
            _biquad("lowpass", 7000, sr),
        ]

    def process(self, x: np.ndarray) -> np.ndarray:
        s = self.settings
        u = self.input_hp(db_to_gain(s.drive_db) * x)
        bias = 0.4 - 0.6 * self.grid_env(np.maximum(u, 0.0))
        u = np.tanh(u + bias) - np.tanh(bias)
        u = self.interstage_hp(u) * 4.0
        u = 0.8 * (np.tanh(u + 0.15) - np.tanh(0.15))
        for f in self.tone:
            u = f(u)
        rms = np.sqrt(np.maximum(self.sag_env(u * u), 0.0))
        u = np.tanh(1.5 * u / (1.0 + s.sag * rms))
        for f in self.cab:
            u = f(u)
        return u


def render(x: np.ndarray, settings: AmpSettings, sample_rate: int, rng: np.random.Generator, block_s: float = 1.0) -> np.ndarray:
    """Play `x` through the virtual amp and 'record' it: latency, output level, noise floor."""
    amp = VirtualAmp(settings, sample_rate)
    block = max(1, int(block_s * sample_rate))
    out = np.empty_like(x)
    with Progress(transient=True) as progress:
        task = progress.add_task("rendering through the virtual amp", total=x.size)
        for start in range(0, x.size, block):
            out[start : start + block] = amp.process(x[start : start + block])
            progress.advance(task, min(block, x.size - start))
    latency = settings.latency_samples()
    recorded = np.concatenate([np.zeros(latency), out[: x.size - latency]])
    recorded *= db_to_gain(settings.output_level_db) / max(np.max(np.abs(out)), 1e-12)
    recorded += db_to_gain(settings.noise_floor_db) * rng.standard_normal(x.size)
    return recorded


def render_demo_capture(stimulus_wav: str | Path, out_dir: str | Path, settings: AmpSettings) -> dict:
    """Write `input.wav` (the reamp signal as it was played) and `output.wav` (the recording)."""
    source = read_audio(stimulus_wav)
    x = source.samples if source.channels == 1 else source.samples[:, 0]
    y = render(x, settings, source.sample_rate, np.random.default_rng(settings.seed + 1))
    info = {"device": "ampcapture virtual amp", "settings": asdict(settings), "latency_samples": settings.latency_samples()}
    with atomic_dir(out_dir) as tmp:
        write_audio(tmp / "input.wav", x, source.sample_rate, subtype="PCM_24")
        write_audio(tmp / "output.wav", y, source.sample_rate, subtype="PCM_24")
        (tmp / "device.json").write_text(json.dumps(info, indent=2) + "\n")
    return info


def render_demo_capture_set(stimulus_wav: str | Path, out_dir: str | Path, settings: AmpSettings, grid: dict[str, list[float]]) -> dict:
    """A capture set (`capture.knobs`): the reamp input through the virtual amp at every setting
    of `grid` ({AmpSettings field: values}, e.g. {"drive_db": [6, 18, 30]}), one output per
    setting, and its captures.yaml. The setting nearest the middle of every knob's range is held
    out, the usual test of how a parametric model interpolates."""
    unknown = [k for k in grid if k not in asdict(settings) or k in ("max_latency_samples", "seed")]
    if unknown or not grid or any(len(v) < 2 for v in grid.values()):
        raise ConfigError("--knob", f"{unknown[0] if unknown else grid!r} is not a grid of amp settings", "give e.g. drive_db=6,18,30 (two values or more)")
    source = read_audio(stimulus_wav)
    x = source.samples if source.channels == 1 else source.samples[:, 0]
    names = list(grid)
    combos = list(itertools.product(*(sorted(grid[n]) for n in names)))
    middle = [(min(grid[n]) + max(grid[n])) / 2 for n in names]
    spans = [max(grid[n]) - min(grid[n]) for n in names]
    held = min(combos, key=lambda c: sum(((v - m) / s) ** 2 for v, m, s in zip(c, middle, spans)))
    recordings = []
    with atomic_dir(out_dir) as tmp:
        write_audio(tmp / "input.wav", x, source.sample_rate, subtype="PCM_24")
        for combo in combos:
            values = dict(zip(names, (float(v) for v in combo)))
            file = "_".join(f"{n}{v:g}" for n, v in values.items()) + ".wav"
            y = render(x, replace(settings, **values), source.sample_rate, np.random.default_rng(settings.seed + 1))
            write_audio(tmp / file, y, source.sample_rate, subtype="PCM_24")
            recordings.append({"file": file, **values, **({"held_out": True} if combo == held else {})})
        manifest = {"knobs": {n: [float(min(grid[n])), float(max(grid[n]))] for n in names}, "recordings": recordings}
        header = "# A capture set: ampcapture's virtual amp at every setting of a grid.\n"
        (tmp / "captures.yaml").write_text(header + yaml.safe_dump(manifest, sort_keys=False))
        info = {"device": "ampcapture virtual amp", "settings": asdict(settings), "grid": grid, "latency_samples": settings.latency_samples()}
        (tmp / "device.json").write_text(json.dumps(info, indent=2) + "\n")
    return info
