"""Audio file I/O (soundfile) with user-facing errors; audio is written all or nothing (core.files)."""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.io import wavfile

from ampcapture.core.errors import CaptureError
from ampcapture.core.files import atomic_path


@dataclass
class Audio:
    """Samples as float64, shape (frames,) for mono or (frames, channels)."""

    samples: np.ndarray
    sample_rate: int
    path: Path
    subtype: str

    @property
    def channels(self) -> int:
        return 1 if self.samples.ndim == 1 else self.samples.shape[1]

    @property
    def frames(self) -> int:
        return self.samples.shape[0]


BLOCK = 1 << 20  # samples per block when reading or scanning hours of audio


def audio_info(path: str | os.PathLike):
    """soundfile's info (rate, channels, frames, subtype) of a readable, non-empty audio file."""
    path = Path(path)
    if not path.is_file():
        raise CaptureError(path, "file not found", "check the path, or `dvc pull`/`dvc add` the recording")
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, ValueError) as exc:
        raise _unreadable(path, exc) from exc
    if info.frames == 0:
        raise CaptureError(path, "the file holds no audio samples", "export the recording again")
    return info


def read_audio(path: str | os.PathLike) -> Audio:
    """Read any format libsndfile knows; a missing or corrupt file becomes a CaptureError."""
    path = Path(path)
    info = audio_info(path)
    try:
        samples, sample_rate = sf.read(str(path), dtype="float64", always_2d=False)
    except (sf.LibsndfileError, RuntimeError, ValueError) as exc:
        raise _unreadable(path, exc) from exc
    if samples.shape[0] == 0:
        raise CaptureError(path, "the file holds no audio samples", "export the recording again")
    bad = ~np.isfinite(samples)
    if bad.any():
        _refuse_nonfinite(path, int(bad.sum()), int(np.argwhere(bad)[0][0]), int(sample_rate))
    return Audio(samples, int(sample_rate), path, info.subtype)


def read_channel(path: str | os.PathLike, channel: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """One channel as float32, read block by block, and every channel's peak (to name a live
    one when the chosen channel is silent): a 2-hour take costs 1.4 GB, where read_audio takes
    2.8 (5.5 in stereo)."""
    path = Path(path)
    info = audio_info(path)
    samples = np.empty(info.frames, np.float32)
    peaks = np.zeros(info.channels)
    bad, first_bad, pos = 0, -1, 0
    try:
        with sf.SoundFile(str(path)) as f:
            for block in f.blocks(BLOCK, dtype="float32", always_2d=True, frames=info.frames):
                finite = np.isfinite(block).all(axis=1)
                if not finite.all():
                    if not bad:
                        first_bad = pos + int(np.argmin(finite))
                    bad += int(np.count_nonzero(~np.isfinite(block)))
                    block = np.where(np.isfinite(block), block, 0.0)
                peaks = np.maximum(peaks, np.abs(block).max(axis=0))
                samples[pos : pos + len(block)] = block[:, channel]
                pos += len(block)
    except (sf.LibsndfileError, RuntimeError, ValueError) as exc:
        raise _unreadable(path, exc) from exc
    if bad:
        _refuse_nonfinite(path, bad, first_bad, info.samplerate)
    return samples[:pos], peaks


def _unreadable(path: Path, exc: Exception) -> CaptureError:
    return CaptureError(path, f"cannot read this file as audio ({exc})", "export it again as a WAV (24-bit PCM or 32-bit float) from your recording software")


def _refuse_nonfinite(path: Path, count: int, first: int, sample_rate: int) -> None:
    raise CaptureError(
        path,
        f"holds {count} NaN/Inf samples (the first at {first / sample_rate:.3f} s, sample {first})",
        "export the recording again; check the plug-ins on the recorded track",
    )


def map_float_wav(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """A float32 WAV we wrote (aligned audio), memory-mapped: training draws windows
    from hours of audio without loading them."""
    path = Path(path)
    audio_info(path)
    with warnings.catch_warnings():  # soundfile's PEAK chunk, in float WAVs not written here
        warnings.simplefilter("ignore", wavfile.WavFileWarning)
        sample_rate, samples = wavfile.read(path, mmap=True)
    if samples.dtype != np.float32 or samples.ndim != 1:
        raise CaptureError(
            path, f"is {samples.dtype} with shape {samples.shape}, not the mono float32 the align stage writes", "run the align stage again (`dvc repro align`)"
        )
    return samples, int(sample_rate)


def write_audio(path: str | os.PathLike, samples: np.ndarray, sample_rate: int, subtype: str = "FLOAT") -> None:
    """Write a WAV atomically (temp file then rename) so no half-written file is ever left.

    Float WAVs go through scipy: libsndfile stamps a time-dependent PEAK chunk into them,
    which would make every run's bytes (and so DVC's hashes) differ.
    """
    path = Path(path)
    with atomic_path(path) as tmp:
        if subtype == "FLOAT":
            wavfile.write(tmp, int(sample_rate), np.asarray(samples, dtype=np.float32))
        else:
            sf.write(str(tmp), np.asarray(samples, dtype=np.float32), int(sample_rate), subtype=subtype, format="WAV")


def db_to_gain(db: float) -> float:
    return float(10.0 ** (db / 20.0))


def peak_db(x: np.ndarray) -> float:
    peak = max(float(x.max()), -float(x.min())) if x.size else 0.0  # no |x| copy of hours of audio
    return 20.0 * np.log10(peak) if peak > 0 else float("-inf")
