"""Render audio through a model file: `ampcapture render MODEL IN.wav OUT.wav`."""

from __future__ import annotations

from math import gcd
from pathlib import Path
from typing import Callable

import numpy as np
import soundfile as sf
import torch
from rich.progress import Progress
from scipy.signal import resample_poly

from ampcapture.audio.io import read_audio
from ampcapture.capture.knobs import knob_inputs
from ampcapture.core.errors import AmpCaptureError
from ampcapture.core.files import atomic_path
from ampcapture.runtime.load import load_model

CHUNK = 48000  # samples per progress step


def resample(x: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Polyphase resampling (Kaiser-windowed FIR) along the first axis."""
    if from_rate == to_rate:
        return x
    g = gcd(int(from_rate), int(to_rate))
    return resample_poly(x, int(to_rate) // g, int(from_rate) // g, axis=0)


def render_file(
    model_path: str | Path,
    in_path: str | Path,
    out_path: str | Path,
    progress: bool = True,
    warn: Callable[[str], None] = print,
    size: float | None = None,
    knobs: dict[str, tuple[float, float]] | None = None,
) -> dict:
    """Each channel goes through the model from silence; the output keeps the input's rate,
    length, channels, file format and sample format. `size` picks a container's submodel;
    `knobs` ({name: (start, end)}) sets a parametric checkpoint's knobs, held (start == end: the
    folded model, on the engine) or ramped across the file (the torch model, sample by sample)."""
    out_path = Path(out_path)
    for source, what in ((in_path, "input take"), (model_path, "model")):
        if out_path.exists() and Path(source).exists() and out_path.samefile(source):
            raise AmpCaptureError(out_path, f"is the {what} itself: rendering would overwrite it", "name a new output file, e.g. take_amp.wav")
    if out_path.is_dir():
        raise AmpCaptureError(out_path, "is a folder", f"name a file inside it, e.g. {out_path / 'take_amp.wav'}")
    knobs = knobs or {}
    model = load_model(model_path, size, {n: (a, a) for n, (a, _) in knobs.items()})
    ramped = None
    if any(a != b for a, b in knobs.values()):
        ramped = model.parametric if model.submodel is None else model.parametric.sizes[model.submodel]
    audio = read_audio(in_path)
    info = sf.info(str(audio.path))
    if audio.sample_rate != model.sample_rate:
        warn(
            f"{audio.path} is at {audio.sample_rate} Hz, the model at {model.sample_rate} Hz: resampling to the model's "
            "rate and back (record at the model's rate to skip this)"
        )
    channels = audio.samples.reshape(audio.frames, -1)
    x = resample(channels, audio.sample_rate, model.sample_rate).astype(np.float32)
    y = np.empty_like(x)
    curve = None if ramped is None else knob_inputs(model.knob_ranges, knobs, x.shape[0])
    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task(f"rendering {audio.path.name}", total=x.size)
        for c in range(x.shape[1]):
            if ramped is not None:
                y[:, c] = _render_ramp(ramped, x[:, c], curve)
                bar.advance(task, x.shape[0])
                continue
            model.engine.reset()
            for start in range(0, x.shape[0], CHUNK):
                y[start : start + CHUNK, c] = model.engine.process(x[start : start + CHUNK, c])
                bar.advance(task, min(CHUNK, x.shape[0] - start))
    y = resample(y, model.sample_rate, audio.sample_rate)[: audio.frames]
    if y.shape[0] < audio.frames:
        y = np.pad(y, ((0, audio.frames - y.shape[0]), (0, 0)))
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    if peak > 1.0 and not info.subtype.startswith(("FLOAT", "DOUBLE")):
        warn(
            f"the output peaks at {20 * np.log10(peak):+.1f} dBFS and clips in {info.subtype}: "
            "lower the input level or write a float WAV (OUT with 32-bit float input)"
        )
    samples = y[:, 0] if audio.channels == 1 else y
    try:
        with atomic_path(out_path) as tmp:
            sf.write(str(tmp), samples, audio.sample_rate, subtype=info.subtype, format=info.format)
    except (sf.LibsndfileError, ValueError, TypeError) as exc:
        raise AmpCaptureError(out_path, f"cannot write {info.format}/{info.subtype} ({exc})", "convert the input to WAV first") from exc
    return {
        **({} if model.submodel is None else {"submodel": model.submodel, "sizes": model.sizes}),
        "model": str(model.path),
        "input": str(audio.path),
        "output": str(out_path),
        "sample_rate": audio.sample_rate,
        "model_sample_rate": model.sample_rate,
        "channels": audio.channels,
        "seconds": audio.frames / audio.sample_rate,
        "peak_db": 20 * np.log10(peak) if peak > 0 else None,
    }


def _render_ramp(model, x: np.ndarray, knobs: np.ndarray) -> np.ndarray:
    """`x` through a parametric torch model whose knobs move (knobs: (n, frames)), from silence
    held at the first setting; a region at a time (AmpModel.evaluate)."""
    lead = model.pre_roll
    signal = torch.cat([torch.zeros(lead), torch.from_numpy(x)])
    curve = torch.from_numpy(knobs)
    curve = torch.cat([curve[:, :1].expand(-1, lead), curve], dim=1)
    with torch.no_grad():
        return model.evaluate(signal[None], curve[None])[0].numpy()
