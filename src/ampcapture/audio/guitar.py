"""Guitar-like DI playing from plucked-string (Karplus-Strong) synthesis.

The model has to learn how the amp reacts to real playing: note attacks, ringing chords,
palm-muted chugs, soft and hard picking, the low E string up to the high frets. A synthetic
performance covers all of that deterministically, so the reamp signal needs no recordings.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

# Standard tuning, low E to high E, as MIDI note numbers.
OPEN_STRINGS = (40, 45, 50, 55, 59, 64)
HIGHEST_FRET = 22

# Chord shapes: fret per string (low E first), None = string not played.
CHORDS = {
    "E": (0, 2, 2, 1, 0, 0),
    "Em": (0, 2, 2, 0, 0, 0),
    "A": (None, 0, 2, 2, 2, 0),
    "Am": (None, 0, 2, 2, 1, 0),
    "D": (None, None, 0, 2, 3, 2),
    "G": (3, 2, 0, 0, 0, 3),
    "C": (None, 3, 2, 0, 1, 0),
    "F": (1, 3, 3, 2, 1, 1),
    "Bm7": (None, 2, 4, 2, 3, 2),
}


@dataclass(frozen=True)
class Note:
    """One plucked string: start time (s), MIDI pitch, velocity 0..1, ring time (s), palm-muted."""

    start: float
    pitch: float
    velocity: float
    duration: float
    muted: bool = False


def midi_to_hz(pitch: float) -> float:
    return 440.0 * 2.0 ** ((pitch - 69.0) / 12.0)


def pluck(note: Note, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """Synthesize one plucked string with an extended Karplus-Strong loop.

    The loop is a delay of one period with a two-tap averaging low-pass; it runs one period
    at a time as a vector operation, since a period only depends on the one before it.
    """
    f0 = midi_to_hz(note.pitch)
    period = max(int(round(sample_rate / f0 - 0.5)), 2)
    n = int(note.duration * sample_rate)
    # Harder picking is brighter: less low-pass on the noise burst that excites the string.
    brightness = 0.15 + 0.8 * note.velocity
    burst = rng.uniform(-1.0, 1.0, period)
    burst = lfilter([brightness], [1.0, -(1.0 - brightness)], burst)
    # Picking position (fraction of the string) makes a comb in the excitation.
    pick = int(period * rng.uniform(0.08, 0.3))
    burst[pick:] -= burst[:-pick].copy() if pick else 0.0
    burst *= note.velocity / (np.max(np.abs(burst)) + 1e-12)

    t60 = 0.12 if note.muted else np.clip(3.5 * (110.0 / f0) ** 0.4, 0.6, 5.0)
    loop_gain = 10.0 ** (-3.0 / (t60 * f0))
    # A palm mute also darkens the string: weight the loop filter towards the older sample.
    tap = 0.35 if note.muted else 0.5

    y = np.zeros(n + period + 1)
    y[period + 1 : period + 1 + period] = burst[: min(period, n)]
    for start in range(period + 1, n + period + 1, period):
        stop = min(start + period, n + period + 1)
        width = stop - start
        prev = y[start - period : start - period + width]
        prev_older = y[start - period - 1 : start - period - 1 + width]
        y[start:stop] += loop_gain * (tap * prev + (1.0 - tap) * prev_older)
    out = y[period + 1 :]
    # Release: a short fade so a stopped note does not click.
    fade = min(n, int(0.01 * sample_rate))
    if fade:
        out[-fade:] *= np.linspace(1.0, 0.0, fade)
    return out


def render_notes(notes: list[Note], duration_s: float, sample_rate: int, seed: int) -> np.ndarray:
    """Mix notes into a DI-like track: pickup high-pass and roll-off, peaks near -6 dBFS."""
    rng = np.random.default_rng(seed)
    total = int(round(duration_s * sample_rate))
    track = np.zeros(total)
    for note in notes:
        start = int(note.start * sample_rate)
        if start >= total:
            continue
        wave = pluck(note, sample_rate, rng)[: total - start]
        track[start : start + wave.size] += wave
    # Pickup: gentle 1st-order low-pass near 5 kHz, DC blocker.
    a = np.exp(-2 * np.pi * 5000.0 / sample_rate)
    track = lfilter([1 - a], [1, -a], track)
    r = np.exp(-2 * np.pi * 20.0 / sample_rate)
    track = lfilter([1, -1], [1, -r], track)
    peak = np.max(np.abs(track))
    if peak > 0:
        track *= 0.5 / peak
    # Fade the edges so a segment starts and ends in silence.
    edge = min(total // 4, int(0.02 * sample_rate))
    if edge:
        track[:edge] *= np.linspace(0, 1, edge)
        track[-edge:] *= np.linspace(1, 0, edge)
    return track


def perform(duration_s: float, seed: int) -> list[Note]:
    """A deterministic performance mixing strummed chords, single-note lines, palm-muted chugs
    and arpeggios, at tempos from 90 to 150 bpm and dynamics from soft to hard."""
    rng = np.random.default_rng(seed)
    notes: list[Note] = []
    t = 0.0
    styles = (_strums, _lead_line, _chugs, _arpeggio)
    while t < duration_s:
        style = styles[int(rng.integers(len(styles)))]
        beat = 60.0 / rng.uniform(90, 150)
        bars = int(rng.integers(1, 3))
        # Dynamics: each phrase ramps between two picking strengths (crescendo or decrescendo).
        dyn = rng.uniform(0.1, 1.0, 2)
        phrase = style(t, bars * 4 * beat, beat, dyn, rng)
        notes.extend(n for n in phrase if n.start < duration_s)
        t += bars * 4 * beat + rng.uniform(0.0, 0.3)
    return notes


def _velocity(dyn: np.ndarray, frac: float, rng: np.random.Generator) -> float:
    return float(np.clip(dyn[0] + (dyn[1] - dyn[0]) * frac + rng.normal(0, 0.05), 0.05, 1.0))


def _random_chord(rng: np.random.Generator, max_capo: int) -> tuple[list[tuple[int, int]], int]:
    """A chord shape moved up the neck: the (string, fret) pairs played, and the capo fret."""
    names = list(CHORDS)
    shape = CHORDS[names[int(rng.integers(len(names)))]]
    capo = int(rng.integers(0, max_capo))
    return [(s, f) for s, f in enumerate(shape) if f is not None], capo


def _strums(t0: float, length: float, beat: float, dyn, rng) -> list[Note]:
    notes = []
    t = 0.0
    while t < length:
        strings, capo = _random_chord(rng, 8)
        down = rng.random() < 0.7
        vel = _velocity(dyn, t / length, rng)
        if not down:
            strings = strings[::-1]
        gap = rng.uniform(0.004, 0.015)  # time between strings within one strum
        ring = beat * float(rng.choice([0.5, 1.0, 2.0]))
        for k, (s, fret) in enumerate(strings):
            notes.append(Note(t0 + t + k * gap, OPEN_STRINGS[s] + fret + capo, vel, ring + 0.3))
        t += ring
    return notes


def _lead_line(t0: float, length: float, beat: float, dyn, rng) -> list[Note]:
    notes = []
    scale = np.array([0, 2, 3, 5, 7, 8, 10])  # natural minor
    root = OPEN_STRINGS[0] + int(rng.integers(0, 12))
    degree = int(rng.integers(0, 14))
    t = 0.0
    while t < length:
        degree = int(np.clip(degree + rng.integers(-2, 3), 0, 27))
        pitch = root + 12 * (degree // 7) + scale[degree % 7]
        pitch = min(pitch, OPEN_STRINGS[-1] + HIGHEST_FRET)
        step = beat * float(rng.choice([0.25, 0.5, 0.5, 1.0]))
        bend = float(rng.choice([0.0, 0.0, 0.0, 0.5, 1.0]))  # pitch held a little sharp
        notes.append(Note(t0 + t, pitch + bend, _velocity(dyn, t / length, rng), step * 1.5 + 0.1))
        t += step
    return notes


def _chugs(t0: float, length: float, beat: float, dyn, rng) -> list[Note]:
    notes = []
    fret = int(rng.integers(0, 8))
    sub = float(rng.choice([0.5, 0.25]))  # eighths or sixteenths
    t = 0.0
    while t < length:
        accent = rng.random() < 0.2
        vel = _velocity(dyn, t / length, rng)
        if accent:  # an open power chord between the chugs
            for k, s in enumerate((0, 1, 2)):
                notes.append(Note(t0 + t + k * 0.006, OPEN_STRINGS[s] + fret + (2 if s else 0), min(1.0, vel + 0.2), beat))
            t += beat
            continue
        for k, s in enumerate((0, 1)):
            notes.append(Note(t0 + t + k * 0.004, OPEN_STRINGS[s] + fret + 2 * s, vel, beat * sub, muted=True))
        t += beat * sub
    return notes


def _arpeggio(t0: float, length: float, beat: float, dyn, rng) -> list[Note]:
    notes = []
    t = 0.0
    while t < length:
        strings, capo = _random_chord(rng, 10)
        order = strings + strings[-2:0:-1]
        step = beat * 0.5
        for k, (s, fret) in enumerate(order):
            if t + k * step >= length:
                break
            notes.append(Note(t0 + t + k * step, OPEN_STRINGS[s] + fret + capo, _velocity(dyn, t / length, rng), beat * 3))
        t += len(order) * step
    return notes


def playing(seconds: float, sample_rate: int, seed: int = 0) -> np.ndarray:
    """A stretch of the project's guitar-like playing at peak 0.5: audio for checks and benchmarks."""
    x = render_notes(perform(seconds, seed), seconds, sample_rate, seed)
    return (0.5 * x / max(float(np.max(np.abs(x))), 1e-9)).astype(np.float32)
