"""What a recording's samples tell of how it was made, beyond its header: audio decoded from a
lossy codec (a WAV that was an MP3), flat-topped clipping below full scale (a limiter, a clipped
interface or plug-in, or a fuzz pedal on purpose), low bit depth (8-bit, or as few levels),
digital dropouts, and how much of the output a linear filter of the input explains. Pure DSP on
mono float32 arrays, scanned block by block; `check` and the align stage turn each finding into
a verdict."""

from __future__ import annotations

import numpy as np
from scipy.signal import welch

from ampcapture.audio.io import BLOCK

LOW_BIT_LEVELS = 256  # as many distinct levels as 8-bit audio has, or fewer
LEVEL_SAMPLES = 2**20  # samples looked at for the levels (spread over the file)
SPECTRUM_SECONDS = 60.0  # of audio, from the middle of the file, for the spectra
CLIFF_DB = 30.0  # a lossy codec's low-pass: the output falls this much within CLIFF_HZ...
CLIFF_HZ = 1000.0
INPUT_CLIFF_DB = 10.0  # ...where the input falls less than this
LOWEST_CUTOFF_HZ = 5000.0
HIGHEST_CUTOFF = 0.84  # of Nyquist (20.2 kHz at 48 kHz): above, resampling filters cut too
FLAT_TOP_FRACTION = 1e-4  # of the samples at one exact peak value: a flat top


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
        at_peak = sum(int(np.count_nonzero(np.abs(y[b] - peak) <= tolerance)) for b in blocks(y.size))
        if at_peak >= max(16, FLAT_TOP_FRACTION * y.size):
            found.append((peak, at_peak))
    return found


def blocks(n: int) -> list[slice]:
    """Slices that cover n samples block by block: scans of hours of audio without full-size temporaries."""
    return [slice(start, min(start + BLOCK, n)) for start in range(0, n, BLOCK)]


def identical(a: np.ndarray, b: np.ndarray) -> bool:
    return all(np.array_equal(a[s], b[s]) for s in blocks(a.size))


def linear_fit_esr(x: np.ndarray, y: np.ndarray, taps: int = 64, rows: int = 100_000) -> float:
    """ESR left when the aligned output is fitted by a linear filter of the input (least squares,
    `taps` long, on `rows` samples spread over the file). A recording of this input leaves
    0.1–0.7 even through hard clipping; another take, a reversed or unrelated file about 1.0."""
    windows = np.lib.stride_tricks.sliding_window_view(x, taps)[:, ::-1]
    picked = np.arange(0, windows.shape[0], max(1, windows.shape[0] // rows))
    a, b = windows[picked].astype(np.float64), y[taps - 1 :][picked].astype(np.float64)
    a, b = a - a.mean(axis=0), b - b.mean()  # a DC offset has its own check
    gram = a.T @ a  # normal equations: ~50x faster than an SVD least squares, as exact for a plausibility figure
    weights = np.linalg.solve(gram + 1e-9 * np.trace(gram) / taps * np.eye(taps), a.T @ b)
    return float(np.sum((b - a @ weights) ** 2) / max(np.sum(b**2), 1e-20))


def flat_runs(y: np.ndarray, min_length: int) -> list[tuple[int, int]]:
    """(start, end) of every stretch where y[start..end] holds one value, end - start >=
    min_length: digital silence or a stuck buffer."""
    runs, open_start = [], None
    for b in blocks(y.size - 1):
        still = np.diff(y[b.start : b.stop + 1]) == 0  # still[i]: y[i + 1] == y[i]
        edges = np.diff(still.astype(np.int8), prepend=0, append=0)
        starts, ends = np.flatnonzero(edges == 1) + b.start, np.flatnonzero(edges == -1) + b.start
        if open_start is not None:  # a run that reached the previous block's end
            if starts.size and starts[0] == b.start:
                starts[0] = open_start
            else:
                runs.append((open_start, b.start))
            open_start = None
        if ends.size and ends[-1] == b.stop:
            open_start, starts, ends = int(starts[-1]), starts[:-1], ends[:-1]
        runs.extend((int(s), int(e)) for s, e in zip(starts, ends))
    if open_start is not None:
        runs.append((open_start, y.size - 1))
    return [(s, e) for s, e in runs if e - s >= min_length]
