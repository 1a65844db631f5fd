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

from ampcapture.audio.io import audio_info, read_audio
from ampcapture.capture.knobs import knob_inputs
from ampcapture.core.errors import AmpCaptureError, CaptureError
from ampcapture.core.files import atomic_path
from ampcapture.runtime.load import load_model

BLOCK = 65536  # frames read, rendered and written at a time: memory does not grow with the take
RATES = (8000, 384000)  # the input rates render takes (a header outside them is a damaged file)


def resample(x: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Polyphase resampling (Kaiser-windowed FIR) along the first axis."""
    if from_rate == to_rate:
        return x
    g = gcd(int(from_rate), int(to_rate))
    return resample_poly(x, int(to_rate) // g, int(from_rate) // g, axis=0)


class StreamResampler:
    """`resample` of a whole signal, given block by block: each block's output is what
    resample_poly gives those samples of the whole signal (its filter reaches `margin` input
    samples each way; blocks are cut where input and output samples line up)."""

    def __init__(self, from_rate: int, to_rate: int):
        g = gcd(int(from_rate), int(to_rate))
        self.up, self.down = int(to_rate) // g, int(from_rate) // g
        self.margin = -(-10 * max(self.up, self.down) // self.up) + 2  # resample_poly's half filter, in input samples
        self.buffer = np.zeros(0, np.float32)
        self.start = 0  # the input index of buffer[0], a multiple of `down`
        self.emitted = 0  # output samples given so far

    def push(self, x: np.ndarray, final: bool = False) -> np.ndarray:
        if self.up == self.down:
            return x
        self.buffer = np.concatenate([self.buffer, x])
        known = self.start + self.buffer.size
        end = -(-known * self.up // self.down) if final else max(self.emitted, (known - self.margin) * self.up // self.down)
        if end <= self.emitted:
            return np.zeros(0, np.float32)
        first = self.start * self.up // self.down
        out = resample_poly(self.buffer, self.up, self.down)[self.emitted - first : end - first].astype(np.float32)
        self.emitted = end
        keep = max(0, (self.emitted * self.down // self.up - self.margin) // self.down * self.down)
        self.buffer, self.start = self.buffer[keep - self.start :], keep
        return out


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
    length, channels, file format and sample format. The take streams through in blocks (a
    ramped render, below, holds it whole). `size` picks a container's submodel; `knobs`
    ({name: (start, end)}) sets a parametric checkpoint's knobs, held (start == end: the folded
    model, on the engine) or ramped across the file (the torch model, sample by sample)."""
    out_path = Path(out_path)
    for source, what in ((in_path, "input take"), (model_path, "model")):
        if out_path.exists() and Path(source).exists() and out_path.samefile(source):
            raise AmpCaptureError(out_path, f"is the {what} itself: rendering would overwrite it", "name a new output file, e.g. take_amp.wav")
    if out_path.is_dir():
        raise AmpCaptureError(out_path, "is a folder", f"name a file inside it, e.g. {out_path / 'take_amp.wav'}")
    knobs = knobs or {}
    model = load_model(model_path, size, {n: (a, a) for n, (a, _) in knobs.items()})
    info = audio_info(in_path)
    if not RATES[0] <= info.samplerate <= RATES[1]:
        raise AmpCaptureError(in_path, f"is at {info.samplerate} Hz", f"render audio at {RATES[0]} to {RATES[1]} Hz (export the take again)")
    if info.samplerate != model.sample_rate:
        warn(
            f"{in_path} is at {info.samplerate} Hz, the model at {model.sample_rate} Hz: resampling to the model's "
            "rate and back (record at the model's rate to skip this)"
        )
    if any(a != b for a, b in knobs.values()):
        play = _ramp_player(model, knobs, info)
    else:
        play = _stream_player(model, info)
    peak = 0.0
    with atomic_path(out_path) as tmp, Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task(f"rendering {Path(in_path).name}", total=info.frames)
        with sf.SoundFile(str(in_path)) as src, _writer(tmp, info, out_path) as dst:
            for block, y in play(src):
                peak = max(peak, float(np.max(np.abs(y))) if y.size else 0.0)
                dst.write(y[:, 0] if info.channels == 1 else y)
                bar.advance(task, block)
    if peak > 1.0 and not info.subtype.startswith(("FLOAT", "DOUBLE")):
        warn(
            f"the output peaks at {20 * np.log10(peak):+.1f} dBFS and clips in {info.subtype}: "
            "lower the input level or write a float WAV (OUT with 32-bit float input)"
        )
    return {
        **({} if model.submodel is None else {"submodel": model.submodel, "sizes": model.sizes}),
        "model": str(model.path),
        "input": str(in_path),
        "output": str(out_path),
        "sample_rate": info.samplerate,
        "model_sample_rate": model.sample_rate,
        "channels": info.channels,
        "seconds": info.frames / info.samplerate,
        "peak_db": 20 * np.log10(peak) if peak > 0 else None,
    }


def _writer(tmp: Path, info, out_path: Path) -> sf.SoundFile:
    """The output file, in the input's format and sample format."""
    try:
        return sf.SoundFile(str(tmp), "w", info.samplerate, info.channels, info.subtype, format=info.format)
    except (sf.LibsndfileError, ValueError, TypeError, RuntimeError) as exc:  # a format/subtype pair libsndfile cannot write
        raise AmpCaptureError(out_path, f"cannot write {info.format}/{info.subtype} ({exc})", "convert the input to WAV first") from exc


def _check_finite(block: np.ndarray, at: int, path: str, rate: int) -> None:
    bad = ~np.isfinite(block)
    if bad.any():
        first = at + int(np.argwhere(bad)[0][0])
        raise CaptureError(path, f"holds NaN/Inf samples (the first at {first / rate:.3f} s, sample {first})", "export the take again")


def _stream_player(model, info):
    """The take's blocks in, (frames read, as many rendered frames) out: one engine per channel,
    each from silence, resampled to the model's rate and back on the fly."""
    engines = [model.engine] + [model.engine.clone() for _ in range(info.channels - 1)]  # each settled on silence
    there = [StreamResampler(info.samplerate, model.sample_rate) for _ in engines]
    back = [StreamResampler(model.sample_rate, info.samplerate) for _ in engines]

    def play(src: sf.SoundFile):
        pending, read, written = np.zeros((0, info.channels), np.float32), 0, 0
        blocks = src.blocks(BLOCK, dtype="float32", always_2d=True)
        block = next(blocks, None)
        while block is not None:
            following = next(blocks, None)
            final = following is None
            _check_finite(block, read, info.name, info.samplerate)
            read += len(block)
            outs = [b.push(e.process(t.push(block[:, c], final)), final) for c, (e, t, b) in enumerate(zip(engines, there, back))]
            pending = np.concatenate([pending, np.stack(outs, axis=1)])
            if final:  # as long as the take (resampling there and back ends a few samples longer)
                pending = np.pad(pending, ((0, max(0, info.frames - written - len(pending))), (0, 0)))
            take = min(len(pending), info.frames - written)
            yield len(block), pending[:take]
            written, pending, block = written + take, pending[take:], following

    return play


def _ramp_player(model, knobs, info):
    """A parametric model with moving knobs: the take whole through its torch model."""
    ramped = model.parametric.parts[model.submodel or 0]

    def play(src: sf.SoundFile):
        audio = read_audio(info.name)
        channels = audio.samples.reshape(audio.frames, -1)
        x = resample(channels, audio.sample_rate, model.sample_rate).astype(np.float32)
        curve = knob_inputs(model.knob_ranges, knobs, x.shape[0])
        y = np.stack([_render_ramp(ramped, x[:, c], curve) for c in range(x.shape[1])], axis=1)
        y = resample(y, model.sample_rate, audio.sample_rate)[: audio.frames]
        yield audio.frames, np.pad(y, ((0, audio.frames - y.shape[0]), (0, 0))).astype(np.float32)

    return play


def _render_ramp(model, x: np.ndarray, knobs: np.ndarray) -> np.ndarray:
    """`x` through a parametric torch model whose knobs move (knobs: (n, frames)), from silence
    held at the first setting; a region at a time (AmpModel.evaluate)."""
    lead = model.pre_roll
    signal = torch.cat([torch.zeros(lead), torch.from_numpy(x)])
    curve = torch.from_numpy(knobs)
    curve = torch.cat([curve[:, :1].expand(-1, lead), curve], dim=1)
    with torch.no_grad():
        return model.evaluate(signal[None], curve[None])[0].numpy()
