"""What a listener and a reviewer look at after training: a target-vs-prediction plot
(waveform zoom, spectrum, error over time) and short audio clips of the test region; for a
parametric model, its test ESR against each knob."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from scipy import signal as dsp

from ampcapture.audio.io import write_audio
from ampcapture.core.files import atomic_path

EPS = 1e-12


def _db(power: np.ndarray) -> np.ndarray:
    return 10 * np.log10(power + EPS)


def comparison_plot(target: np.ndarray, prediction: np.ndarray, sample_rate: int, path: Path, title: str) -> None:
    """Three panels: the loudest 20 ms, the spectra (Welch) with the error's, and the error's
    level against the target's over time (50 ms RMS)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    error = target - prediction
    fig, (wave, spectrum, level) = plt.subplots(3, 1, figsize=(10, 10), constrained_layout=True)
    fig.suptitle(title)

    zoom = int(0.02 * sample_rate)
    centre = int(np.argmax(np.abs(target)))
    start = int(np.clip(centre - zoom // 2, 0, max(target.size - zoom, 0)))
    t_ms = 1000 * np.arange(start, start + zoom) / sample_rate
    wave.plot(t_ms, target[start : start + zoom], label="target (amp)")
    wave.plot(t_ms, prediction[start : start + zoom], "--", label="prediction (model)")
    wave.set(xlabel="time (ms)", ylabel="amplitude", title="loudest 20 ms")
    wave.legend(loc="upper right")

    nperseg = min(4096, target.size)
    for data, label in ((target, "target"), (prediction, "prediction"), (error, "error")):
        freqs, power = dsp.welch(data, sample_rate, nperseg=nperseg)
        spectrum.semilogx(freqs[1:], _db(power[1:]), label=label)
    spectrum.set(xlabel="frequency (Hz)", ylabel="power (dB/Hz)", title="spectrum")
    spectrum.legend(loc="lower left")

    hop = max(int(0.05 * sample_rate), 1)
    frames = target.size // hop
    rms = lambda x: _db(np.mean(x[: frames * hop].reshape(frames, hop) ** 2, axis=1))  # noqa: E731
    t_s = np.arange(frames) * hop / sample_rate
    level.plot(t_s, rms(target), label="target")
    level.plot(t_s, rms(error), label="error")
    level.set(xlabel="time (s)", ylabel="level (dB)", title="error level over time (50 ms RMS)")
    level.legend(loc="lower right")

    with atomic_path(Path(path)) as tmp:
        fig.savefig(tmp, format="png", dpi=80)
    plt.close(fig)


def knob_plot(settings: list[tuple[dict[str, float], float, bool]], path: Path, title: str) -> None:
    """A parametric model's test ESR against each knob: one panel per knob, a point per setting
    ((values, test ESR, held out)), the held-out settings marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(settings[0][0])
    fig, axes = plt.subplots(1, len(names), figsize=(5 * len(names), 4), constrained_layout=True, squeeze=False)
    fig.suptitle(title)
    for name, ax in zip(names, axes[0]):
        for held_out, style, label in ((False, "o", "trained setting"), (True, "X", "held-out setting")):
            points = [(values[name], error) for values, error, held in settings if held == held_out]
            if points:
                ax.semilogy(*zip(*points), style, markersize=9, label=label)
        ax.set(xlabel=name, ylabel="test ESR", title=f"test ESR against {name}")
        ax.legend()
    with atomic_path(Path(path)) as tmp:
        fig.savefig(tmp, format="png", dpi=80)
    plt.close(fig)


def audio_clips(x: np.ndarray, target: np.ndarray, prediction: np.ndarray, sample_rate: int, folder: Path, seconds: float) -> list[Path]:
    """The first `seconds` of input, target and prediction as float WAVs."""
    n = min(int(seconds * sample_rate), target.size)
    paths = []
    for name, data in (("input", x), ("target", target), ("prediction", prediction)):
        path = Path(folder) / f"{name}.wav"
        write_audio(path, data[:n], sample_rate)
        paths.append(path)
    return paths


def test_artifacts(model, capture, title: str, folder: Path, clip_seconds: float) -> dict[str, list[Path]]:
    """What a finished run shows of its test region: the comparison plot and (clip_seconds > 0)
    clips of input, target and prediction, written into `folder` by artifact folder. Of a capture
    set, `capture` is one setting (the run shows a held-out one)."""
    x, target = capture.segment("test", model.pre_roll)
    knobs = None if capture.knobs is None else capture.knob_tensor.unsqueeze(0)
    with torch.no_grad():
        prediction = model.eval().evaluate(x.unsqueeze(0), knobs).squeeze(0).numpy()
    target, dry = target.numpy(), x[model.pre_roll :].numpy()
    plot = Path(folder) / "comparison.png"
    comparison_plot(target, prediction, capture.sample_rate, plot, title)
    clips = audio_clips(dry, target, prediction, capture.sample_rate, Path(folder), clip_seconds) if clip_seconds else []
    return {"plots": [plot], "audio": clips}
