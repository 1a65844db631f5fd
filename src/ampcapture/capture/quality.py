"""What a recording's samples tell of how it was made, beyond its header: audio decoded from a
lossy codec (a WAV that was an MP3), flat-topped clipping below full scale (a limiter, a clipped
interface or plug-in, or a fuzz pedal on purpose), and low bit depth (8-bit, or as few levels).
Pure DSP on mono float32 arrays; `check` and the align stage turn each finding into a verdict."""

from __future__ import annotations

import numpy as np
from scipy.signal import welch

LOW_BIT_LEVELS = 256  # as many distinct levels as 8-bit audio has, or fewer
LEVEL_SAMPLES = 2**20  # samples looked at for the levels (spread over the file)
SPECTRUM_SECONDS = 60.0  # of audio, from the middle of the file, for the spectra
CLIFF_DB = 30.0  # a lossy codec's low-pass: the output falls this much within CLIFF_HZ...
CLIFF_HZ = 1000.0
INPUT_CLIFF_DB = 10.0  # ...where the input falls less than this
LOWEST_CUTOFF_HZ = 5000.0
HIGHEST_CUTOFF = 0.84  # of Nyquist (20.2 kHz at 48 kHz): above, resampling filters cut too
FLAT_TOP_FRACTION = 1e-4  # of the samples at one exact peak value: a flat top
CHUNK = 2**20  # samples scanned at a time (hours of audio, no full-size temporaries)


def distinct_levels(y: np.ndarray) -> int:
    """How many different sample values the recording uses (on up to LEVEL_SAMPLES of them)."""
    step = max(1, y.size // LEVEL_SAMPLES)
    return int(np.unique(y[::step]).size)


def lossy_cutoff(x: np.ndarray, y: np.ndarray, sample_rate: int) -> float | None:
    """The frequency (Hz) where the output's spectrum falls off a cliff that the input's does
    not (what an MP3, AAC or Vorbis encoder's low-pass leaves), or None."""
    span = int(min(SPECTRUM_SECONDS * sample_rate, x.size))
    start = (x.size - span) // 2
    if span < 8192:
        return None
    f, px = welch(x[start : start + span], sample_rate, nperseg=4096)
    _, py = welch(y[start : start + span], sample_rate, nperseg=4096)
    floor = 1e-30
    dx, dy = 10 * np.log10(px + floor), 10 * np.log10(py + floor)
    bins = int(round(CLIFF_HZ / (f[1] - f[0])))
    best, cutoff = CLIFF_DB, None
    for i in np.flatnonzero((f >= LOWEST_CUTOFF_HZ) & (f <= HIGHEST_CUTOFF * sample_rate / 2)):
        if i < bins or i + bins >= f.size:
            continue
        drop = np.median(dy[i - bins : i]) - np.median(dy[i : i + bins])
        if drop > best and np.median(dx[i - bins : i]) - np.median(dx[i : i + bins]) < INPUT_CLIFF_DB:
            best, cutoff = drop, float(f[i])
    return cutoff


def flat_tops(y: np.ndarray) -> list[tuple[float, int]]:
    """(level, samples) of each polarity whose peak value recurs on many samples: a waveform
    cut flat at that level. A natural peak is reached by a few samples only."""
    found = []
    for peak in (float(np.max(y)), float(np.min(y))):
        if peak == 0.0:
            continue
        tolerance = 1e-5 * abs(peak) + 2.0**-23  # a 24-bit step
        at_peak = sum(int(np.count_nonzero(np.abs(y[i : i + CHUNK] - peak) <= tolerance)) for i in range(0, y.size, CHUNK))
        if at_peak >= max(16, FLAT_TOP_FRACTION * y.size):
            found.append((peak, at_peak))
    return found
