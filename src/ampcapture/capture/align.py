"""Check a reamp recording and align its output to its input.

Misalignment is the most common reason a capture trains badly (NAM users see the loss
stuck near 0.75), so the latency is measured, not assumed: from the calibration blips when
the input is the standardized signal, otherwise from the impulse response estimated by
regularized deconvolution of the output by the input, confirmed by the plain cross-correlation
(or set by hand: `data.align.latency_samples`). Every problem found is a check with a
verdict, a message naming the file and a fix; `inspect` collects them, `align_capture`
writes outputs only when no check failed.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import ClassVar

import numpy as np

from ampcapture.audio import io as audio_io
from ampcapture.audio import stimulus
from ampcapture.audio.io import audio_info, peak_db, read_audio, read_channel, write_audio
from ampcapture.capture import quality
from ampcapture.capture.knobs import MANIFEST, CaptureSet
from ampcapture.capture.split import SplitSettings, regions_of, too_short
from ampcapture.capture.standard_inputs import recognize
from ampcapture.core.config import defaults
from ampcapture.core.errors import CaptureError, ConfigError
from ampcapture.core.files import atomic_dir, write_json


@dataclass
class AlignSettings:
    SECTION: ClassVar[str] = "data.align"

    expected_sample_rate: int | None
    channel: int
    length_tolerance_s: float
    min_latency_samples: int
    max_latency_samples: int
    safety_margin_samples: int
    blip_noise_factor: float
    blip_relative_threshold: float
    blip_agreement_samples: int
    drift_tolerance_samples: int
    xcorr_window_s: float
    xcorr_relative_threshold: float
    xcorr_agreement_samples: int
    latency_samples: int | None
    silence_threshold_db: float
    clip_level: float
    max_clipped_samples: int
    repeatability_esr_warn: float
    max_lead_samples: int
    linear_fit_esr_max: float | None
    dropout_ms: float
    dc_warn: float
    dc_error: float

    def __post_init__(self) -> None:
        if self.min_latency_samples > 0 or self.max_latency_samples <= 0:
            raise ConfigError(
                "data.align.min/max_latency_samples",
                f"search range [{self.min_latency_samples}, {self.max_latency_samples}] must contain 0",
                "use min_latency_samples <= 0 < max_latency_samples",
            )
        for name in ("length_tolerance_s", "xcorr_window_s", "blip_noise_factor"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"data.align.{name}", f"must be > 0, got {getattr(self, name)}", "set a positive value")
        if self.safety_margin_samples < 0 or self.channel < 0 or self.xcorr_agreement_samples < 0:
            raise ConfigError("data.align", "safety_margin_samples, channel and xcorr_agreement_samples must be >= 0", "fix the negative value")


ONSET_REACH = 64  # samples before the response's peak where its onset may be (a cabinet's rise; a dark input's smear)

LOSSY = {
    "MPEG_LAYER_I",
    "MPEG_LAYER_II",
    "MPEG_LAYER_III",
    "VORBIS",
    "OPUS",
    "GSM610",
    "G721_32",
    "G723_24",
    "G723_40",
    "IMA_ADPCM",
    "MS_ADPCM",
    "VOX_ADPCM",
    "NMS_ADPCM_16",
    "NMS_ADPCM_24",
    "NMS_ADPCM_32",
    "ULAW",
    "ALAW",
}


@dataclass
class Check:
    name: str
    verdict: str  # ok | warning | error | skipped
    value: object = None
    message: str = ""
    fix: str = ""
    file: str = ""


@dataclass
class Inspection:
    """Everything `inspect` learned; `aligned` holds the aligned pair when there is no error."""

    input_path: str
    output_path: str
    checks: list[Check] = field(default_factory=list)
    sample_rate: int | None = None
    latency_samples: int | None = None
    latency_method: str | None = None
    shift_samples: int | None = None
    sidecar: dict | None = None
    aligned: tuple[np.ndarray, np.ndarray] | None = None

    def add(self, name: str, verdict: str, value=None, message: str = "", fix: str = "", file: Path | str = "") -> Check:
        check = Check(name, verdict, value, message, fix, str(file))
        self.checks.append(check)
        return check

    @property
    def errors(self) -> list[Check]:
        return [c for c in self.checks if c.verdict == "error"]

    @property
    def warnings(self) -> list[Check]:
        return [c for c in self.checks if c.verdict == "warning"]

    def report(self, capture: str | None = None) -> dict:
        n = None if self.aligned is None else int(self.aligned[0].size)
        return {
            "capture": capture,
            "input": self.input_path,
            "output": self.output_path,
            "ok": not self.errors,
            "sample_rate": self.sample_rate,
            "num_samples": n,
            "duration_s": None if n is None else n / self.sample_rate,
            "latency_samples": self.latency_samples,
            "latency_method": self.latency_method,
            "alignment_shift_samples": self.shift_samples,
            "standardized_signal": self.sidecar is not None,
            "standard_input": None if self.sidecar is None else self.sidecar.get("standard"),
            "checks": {c.name: {"verdict": c.verdict, "value": c.value, "message": c.message} for c in self.checks},
            "warnings": [_describe(c) for c in self.warnings],
            "errors": [_describe(c) for c in self.errors],
        }


def _describe(c: Check) -> str:
    text = f"{c.file}: {c.message}" if c.file else c.message
    return f"{text} (fix: {c.fix})" if c.fix else text


def inspect(
    input_path: str | Path, output_path: str | Path, settings: AlignSettings, reference_wav: str | Path | None = None, split: SplitSettings | None = None
) -> Inspection:
    """Run every check on a reamp pair and, if none fails, align the output to the input.

    `reference_wav` is the standardized reamp signal (with its sidecar beside it) that the
    input may be a copy of; without it the standard signal is regenerated at the input's
    rate to compare against. With `split`, a capture too short to split is an error too.
    """
    result = Inspection(str(input_path), str(output_path))
    standard = recognize(input_path, settings.channel)
    if standard is not None:
        result.add("standard_input", "ok", standard.name, standard.describe(), file=input_path)
        if settings.expected_sample_rate:  # Proteus' file is 44.1 kHz, whatever this project's rate
            settings = replace(settings, expected_sample_rate=standard.sample_rate)
    pair = _read_pair(result, Path(input_path), Path(output_path), settings)
    if pair is None:
        return result
    x, y = pair
    sr = result.sample_rate
    try:
        result.sidecar = standard.sidecar() if standard is not None else _identify_signal(x, sr, Path(input_path), reference_wav)
    except CaptureError as exc:  # a damaged sidecar beside the input
        result.add("sidecar", "error", False, exc.problem, exc.fix, exc.where)
        return result
    if split is not None:
        method, regions = regions_of(result.sidecar, x.size, split)
        short = too_short(regions, sr, x.size, split, method)
        result.add("length_for_split", "error" if short else "ok", round(x.size / sr, 2), *(short or ()), file=output_path if short else "")
    if _find_latency(result, x, y, settings) is None:
        return result
    shift = result.latency_samples - settings.safety_margin_samples
    result.shift_samples = shift
    y_aligned = _shift_in_place(y, shift)
    if result.sidecar is not None and "standard" in result.sidecar:  # NAM's v3 validates to its last sample: not on the zeros shifted in
        result.sidecar = _regions_within(result.sidecar, y.size - max(shift, 0))
    dst = slice(max(-shift, 0), y.size - max(shift, 0))
    _check_same_take(result, x[dst], y_aligned[dst], settings)  # dst: where the shifted output has samples
    _check_repeatability(result, y_aligned, settings)
    if not result.errors:
        result.aligned = (x, y_aligned)
    return result


def _regions_within(sidecar: dict, end: int) -> dict:
    """The sidecar with its regions cut at `end` (where the aligned output still has audio)."""
    regions = [{**r, "end": min(r["end"], end)} for r in sidecar["regions"] if r["start"] < end]
    return {**sidecar, "regions": regions}


def _shift_in_place(y: np.ndarray, shift: int) -> np.ndarray:
    """y moved `shift` samples earlier (later if negative), zero-filled, block by block in its
    own memory: a second copy of a 2-hour take would not fit."""
    n, k = y.size, abs(shift)
    if shift > 0:
        for b in _blocks(n - k):
            y[b] = y[b.start + k : b.stop + k]
        y[n - k :] = 0
    elif shift < 0:
        for b in reversed(_blocks(n - k)):
            y[b.start + k : b.stop + k] = y[b]
        y[:k] = 0
    return y


def _read_pair(result: Inspection, in_path: Path, out_path: Path, settings: AlignSettings):
    """Reading, format and level checks. Returns mono float32 (x, y) of equal length, or None.
    Formats, rates and channels are checked from the headers before any audio is read."""
    infos = {}
    for role, path in (("input", in_path), ("output", out_path)):
        try:
            infos[role] = audio_info(path)
        except CaptureError as exc:
            result.add(f"{role}_readable", "error", False, exc.problem, exc.fix, path)
    if result.errors:
        return None
    i_in, i_out = infos["input"], infos["output"]
    for (role, path), info in zip((("input", in_path), ("output", out_path)), (i_in, i_out)):
        if info.subtype in LOSSY:
            result.add(
                "codec",
                "error",
                info.subtype,
                f"holds lossy-compressed audio ({info.subtype}), whatever its name says: the codec's delay, low-pass and artifacts are not the gear",
                "export the recording again as WAV (24-bit PCM or 32-bit float), straight from the recording software",
                path,
            )
    same_file = in_path.resolve() == out_path.resolve()
    if same_file:
        result.add("same_take", "error", None, "is the input itself (the same file)", "give the recording of the gear's output as the second file", out_path)
    if result.errors:
        return None

    rate_fix = "record the output at the input's sample rate (set your audio interface / DAW project to {} Hz) or resample the file"
    if i_in.samplerate != i_out.samplerate:
        result.add(
            "sample_rate",
            "error",
            i_out.samplerate,
            f"sample rate is {i_out.samplerate} Hz but {in_path.name} is {i_in.samplerate} Hz",
            rate_fix.format(i_in.samplerate),
            out_path,
        )
        return None
    if settings.expected_sample_rate and i_in.samplerate != settings.expected_sample_rate:
        result.add(
            "sample_rate",
            "error",
            i_in.samplerate,
            f"sample rate is {i_in.samplerate} Hz but this capture expects {settings.expected_sample_rate} Hz",
            f"reamp with the signal made at {settings.expected_sample_rate} Hz, or set data.align.expected_sample_rate={i_in.samplerate}",
            in_path,
        )
        return None
    result.sample_rate = sr = int(i_in.samplerate)

    mono, peaks = {}, {}
    for (role, path), info in zip((("input", in_path), ("output", out_path)), (i_in, i_out)):
        if info.channels > 1 and settings.channel >= info.channels:
            result.add(
                f"{role}_channels",
                "error",
                info.channels,
                f"has {info.channels} channels, no channel {settings.channel + 1}",
                f"use --channel (check) or data.align.channel (the DAG) between 0 and {info.channels - 1}",
                path,
            )
            return None
        try:
            mono[role], peaks[role] = read_channel(path, settings.channel if info.channels > 1 else 0)
        except CaptureError as exc:
            result.add(f"{role}_readable", "error", False, exc.problem, exc.fix, path)
            continue
        result.add(f"{role}_readable", "ok", True, f"{info.subtype}, {info.channels} ch", file=path)
        if info.channels > 1:
            result.add(
                f"{role}_channels",
                "warning",
                info.channels,
                f"has {info.channels} channels; using channel {settings.channel + 1} only (data.align.channel={settings.channel})",
                "export a mono file, or pick the channel with --channel (check) or data.align.channel (the DAG)",
                path,
            )
    if result.errors:
        return None
    x, y = mono["input"], mono["output"]
    if x.size == y.size and _identical(x, y):
        result.add(
            "same_take", "error", None, "is the input itself (an identical copy)", "give the recording of the gear's output as the second file", out_path
        )
        return None
    result.add("sample_rate", "ok", sr)

    diff = y.size - x.size
    tolerance = int(settings.length_tolerance_s * sr)
    if abs(diff) > tolerance:
        longer = "longer" if diff > 0 else "shorter"
        fix = "record the whole reamp input from start to end and trim extra silence, or raise data.align.length_tolerance_s"
        wide = replace(settings, min_latency_samples=0, max_latency_samples=diff + settings.max_latency_samples)
        found = _deconvolution_latency(_spectra(x, y, sr, wide), wide) if diff > 0 else None
        late = found[0] if found else 0
        if late > settings.max_latency_samples:  # recording started before the playback
            fix = (
                f"it starts {late / sr:.2f} s late (recorded before the input began to play): trim the first "
                f"{max(late - sr // 20, 0) / sr:.2f} s of {out_path.name} (50 ms less, so the gear's own latency stays), and check again"
            )
        result.add(
            "length", "error", diff, f"is {abs(diff) / sr:.2f} s {longer} than {in_path.name} (tolerance {settings.length_tolerance_s} s)", fix, out_path
        )
        return None
    if diff:
        result.add(
            "length",
            "warning",
            diff,
            f"is {abs(diff)} samples {'longer' if diff > 0 else 'shorter'} than {in_path.name}; both trimmed to the shorter",
            "export the recording with exactly the input's length",
            out_path,
        )
    else:
        result.add("length", "ok", 0)
    n = min(x.size, y.size)
    x, y = x[:n], y[:n]

    for role, path, s in (("input", in_path, x), ("output", out_path, y)):
        level = peak_db(s)
        if level < settings.silence_threshold_db:
            fix = (
                "check the routing: the gear's output must reach the recorded track, and the gear must be on"
                if role == "output"
                else "use the reamp input file that was played through the gear"
            )
            live = [c for c, peak in enumerate(peaks[role]) if len(peaks[role]) > 1 and peak >= 10 ** (settings.silence_threshold_db / 20)]
            if live:
                fix = (
                    f"the channel chosen (index {settings.channel}) is silent, index {live[0]} is not: use --channel "
                    f"{live[0]} (check) or data.align.channel={live[0]} (the DAG)"
                )
            result.add(f"{role}_silence", "error", level, f"is silent (peak {level:.1f} dBFS, threshold {settings.silence_threshold_db} dBFS)", fix, path)
        else:
            result.add(f"{role}_silence", "ok", round(level, 2))
    if result.errors:
        return None
    for role, path, s, info in (("input", in_path, x, i_in), ("output", out_path, y, i_out)):
        levels = quality.distinct_levels(s)
        if info.subtype in ("PCM_U8", "PCM_S8") or levels <= quality.LOW_BIT_LEVELS:
            result.add(
                f"{role}_bit_depth",
                "error",
                levels,
                f"uses only {levels} distinct sample values ({info.subtype}): 8-bit audio or coarser, whose quantization noise a model would learn",
                "record and export at 24-bit (or 16-bit), the level peaking around -6 dBFS",
                path,
            )
    if result.errors:  # (a coarse recording's repeated values would pass for dropouts and flat tops)
        return None
    clipped = sum(int(np.count_nonzero(np.abs(y[b]) >= settings.clip_level)) for b in _blocks(y.size))
    if clipped > settings.max_clipped_samples:
        result.add(
            "clipping",
            "error",
            clipped,
            f"has {clipped} samples at full scale (clipped)",
            "lower the recording level (interface input gain or the gear's output) by a few dB and record again",
            out_path,
        )
    elif tops := quality.flat_tops(y):
        level, count = max(tops, key=lambda t: t[1])
        result.add(
            "clipping",
            "warning",
            count,
            f"is cut flat at {20 * np.log10(abs(level)):.1f} dBFS ({count} samples at exactly {level:+.4f}): a limiter, or an interface or "
            "plug-in clipping below full scale; or a fuzz or clipper that does this on purpose",
            "unless the gear clips this hard itself, find the stage that clips (interface gain, a limiter on the track), lower it and record again",
            out_path,
        )
    else:
        result.add("clipping", "ok", clipped)
    cutoff = quality.lossy_cutoff(x, y, sr)
    if cutoff is not None:
        result.add(
            "lossy_decoded",
            "error",
            round(cutoff),
            f"has no sound above {cutoff / 1000:.1f} kHz where the input has: it was decoded from a lossy codec (MP3, AAC, Vorbis), "
            "whose low-pass and artifacts are not the gear",
            "export the recording again as WAV (24-bit PCM or 32-bit float) straight from the recording software, never through MP3 or AAC",
            out_path,
        )
    else:
        result.add("lossy_decoded", "ok", None)
    return None if result.errors else (x, y)


def _blocks(n: int) -> list[slice]:
    """Slices that cover n samples block by block: scans of hours of audio without full-size temporaries."""
    return [slice(start, min(start + audio_io.BLOCK, n)) for start in range(0, n, audio_io.BLOCK)]


def _identical(a: np.ndarray, b: np.ndarray) -> bool:
    return all(np.array_equal(a[s], b[s]) for s in _blocks(a.size))


def _identify_signal(x: np.ndarray, sr: int, in_path: Path, reference_wav) -> dict | None:
    """The sidecar of the standardized signal if the input is a copy of it, else None."""
    beside = stimulus.sidecar_path(in_path)
    if beside.is_file():
        sidecar = stimulus.read_sidecar(beside)
        if sidecar.get("sample_rate") == sr and abs(sidecar.get("num_samples", -1) - x.size) <= sr:
            return sidecar
    ref = read_audio(reference_wav) if reference_wav is not None and Path(reference_wav).is_file() else None
    if ref is not None and ref.sample_rate == sr:
        ref_x, sidecar = ref.samples, stimulus.read_sidecar(stimulus.sidecar_path(reference_wav))
    else:  # e.g. a 44.1 kHz capture of `ampcapture stimulus --sample-rate 44100` in a 48 kHz project
        ref_x, sidecar = stimulus.generate(defaults(stimulus.StimulusSpec, sample_rate=sr))
    n = min(ref_x.size, x.size)
    if abs(ref_x.size - x.size) > sr or n == 0:
        return None
    a, b = ref_x[:n], x[:n]
    similarity = float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))
    return sidecar if similarity > 0.999 else None


def _find_latency(result: Inspection, x: np.ndarray, y: np.ndarray, settings: AlignSettings) -> int | None:
    """The setting if given, else from the blips, else the deconvolution's onset once the plain
    cross-correlation confirms it."""
    sr = result.sample_rate
    out_file = result.output_path
    how = None
    if settings.latency_samples is not None:
        if abs(settings.latency_samples) >= y.size:
            result.add(
                "latency",
                "error",
                settings.latency_samples,
                f"data.align.latency_samples={settings.latency_samples} is longer than the recording ({y.size} samples)",
                "set the gear's latency in samples, or null to measure it",
                out_file,
            )
            return None
        result.latency_samples, result.latency_method = settings.latency_samples, "data.align.latency_samples"
    elif result.sidecar is not None:
        blips = result.sidecar["blips"]
        background = result.sidecar.get("background") or [0, blips["start"][0] + settings.min_latency_samples]
        start = _blip_latencies(y, blips["start"], background, settings)
        end = _blip_latencies(y, blips["end"], background, settings)
        if start:
            latency = int(np.median(start))
            result.latency_samples, result.latency_method = latency, "blips"
            spread = max(start) - min(start)
            if spread > settings.blip_agreement_samples:
                result.add(
                    "blip_agreement",
                    "warning",
                    start,
                    f"the start blips disagree by {spread} samples: {start}",
                    "check for dropouts or a noise gate/effect on the recording",
                    out_file,
                )
            else:
                result.add("blip_agreement", "ok", start)
            if end:
                drift = int(np.median(end)) - latency
                seconds = (blips["end"][0] - blips["start"][0]) / sr
                if abs(drift) > settings.drift_tolerance_samples:
                    result.add(
                        "drift",
                        "error",
                        drift,
                        f"the end blips arrive {drift:+d} samples off the start blips over {seconds:.0f} s "
                        f"({drift / (seconds * sr) * 1e6:+.0f} ppm): the recording ran at another sample rate than the playback",
                        "play and record on one interface with one clock at one sample rate, and do not resample either file",
                        out_file,
                    )
                else:
                    result.add("drift", "ok", drift)
            elif not blips["end"]:
                result.add("drift", "skipped", None, "this input has no end blips to time sample-rate drift by")
            else:
                result.add(
                    "drift",
                    "warning",
                    None,
                    "no response to the end blips, so sample-rate drift was not checked",
                    "record until the end of the reamp input",
                    out_file,
                )
        else:
            result.add(
                "blips",
                "warning",
                None,
                "no response to the calibration blips; latency found by cross-correlation instead",
                "check that nothing (a noise gate, a fade) removes the blips at the start of the recording",
                out_file,
            )
    if result.latency_samples is None:
        spectra = _spectra(x, y, sr, settings)  # both estimates read the same spectra
        found = _deconvolution_latency(spectra, settings)
        if found is None:
            result.add(
                "latency",
                "error",
                None,
                f"no consistent delay found between input and output within [{settings.min_latency_samples}, {settings.max_latency_samples}] samples",
                "make sure the output is the recording of this very input; widen data.align.max_latency_samples if the delay is larger",
                out_file,
            )
            return None
        onset, peak = found
        plain = _plain_xcorr_peak(spectra, settings)
        if abs(plain - peak) > settings.xcorr_agreement_samples:
            result.add(
                "latency",
                "error",
                [onset, plain],
                f"is uncertain: the impulse response (deconvolution) starts at {onset} samples but the plain cross-"
                f"correlation peaks at {plain}; without the signal's blips no latency can be trusted when they disagree",
                "reamp with the standardized signal (`ampcapture stimulus`), whose blips give the latency exactly, or set it "
                "by hand: data.align.latency_samples=N (the DAG) or --latency N (check)",
                out_file,
            )
            return None
        result.latency_samples, result.latency_method = onset, "cross_correlation"
        how = f"cross_correlation (response peak at {peak}, plain cross-correlation peak at {plain})"
    latency = result.latency_samples
    if latency < -settings.max_lead_samples:
        result.add(
            "latency",
            "error",
            latency,
            f"comes {-latency} samples ({-latency / sr * 1000:.1f} ms) *before* the input "
            f"(found by {result.latency_method}): gear cannot answer before it is played, so this is not the recording "
            "of this input as it is",
            "check that the first file is what was played into the gear and the second its recording: not swapped, not reversed, the same take",
            out_file,
        )
        return None
    result.add("latency", "ok", latency, f"{latency} samples ({latency / sr * 1000:.2f} ms), from {how or result.latency_method}")
    return latency


def _blip_latencies(y: np.ndarray, blips: list[int], silence: list[int], settings: AlignSettings) -> list[int]:
    """Onset of the response to each blip: the first sample that rises above both the
    background (the recording during `silence`, [start, end): our signal's is before its first
    blip, NAM's inputs name theirs) and a fraction of the response's peak."""
    background = y[silence[0] : max(silence[1], silence[0] + 1)]
    dc = float(np.median(background))
    noise = float(np.max(np.abs(background - dc)))
    found = []
    for b in blips:
        lo, hi = max(b + settings.min_latency_samples, 0), min(b + settings.max_latency_samples + 1, y.size)
        if hi - lo <= 0:
            continue
        window = np.abs(y[lo:hi] - dc)
        peak = float(window.max())
        if peak <= settings.blip_noise_factor * noise:
            continue
        threshold = max(settings.blip_noise_factor * noise, settings.blip_relative_threshold * peak)
        found.append(int(lo + np.argmax(window > threshold) - b))
    return found


def _spectra(x: np.ndarray, y: np.ndarray, sr: int, settings: AlignSettings):
    """Spectra of the first xcorr_window_s of input and output, zero-padded for linear correlation."""
    n = min(x.size, int(settings.xcorr_window_s * sr))
    size = 1 << int(np.ceil(np.log2(2 * n)))
    return np.fft.rfft(x[:n], size), np.fft.rfft(y[:n], size), size


def _deconvolution_latency(spectra, settings: AlignSettings) -> tuple[int, int] | None:
    """(onset, peak) of the impulse response estimated by regularized deconvolution (whitened
    cross-correlation), or None when no lag stands out.

    A guitar's DI has little above a few kHz, so the estimate is the true response smeared by
    the input's own band limit (sinc-like ringing several samples before the peak). The onset is
    therefore found by deconvolving that smear (CLEAN: take the largest component near the
    peak, subtract the input's resolution kernel there, repeat) and taking the earliest
    component that stands out of both the peak and the noise of a nonlinear device's fit.
    """
    spec_x, spec_y, size = spectra
    power = np.abs(spec_x) ** 2
    regularized = power + 1e-3 * power.mean()
    h = np.fft.irfft(spec_y * np.conj(spec_x) / regularized, size)
    kernel = np.fft.irfft(power / regularized, size)  # the estimate a pure delay of 0 gives
    lags = np.arange(settings.min_latency_samples, settings.max_latency_samples + 1)
    mag = np.abs(h[lags % size])
    peak, floor = float(mag.max()), float(np.median(mag))
    if peak < 20.0 * floor:  # no lag stands out: not a recording of this input
        return None
    peak_lag = int(lags[np.argmax(mag)])
    near = lags[(lags >= peak_lag - ONSET_REACH) & (lags <= peak_lag + ONSET_REACH)]
    residual = h[near % size]
    threshold = max(settings.xcorr_relative_threshold * peak, 6.0 * floor)
    onset = peak_lag
    for _ in range(32):
        i = int(np.argmax(np.abs(residual)))
        if abs(residual[i]) < threshold:
            break
        onset = min(onset, int(near[i]))
        residual = residual - residual[i] * kernel[(near - near[i]) % size]
    return onset, peak_lag


def _plain_xcorr_peak(spectra, settings: AlignSettings) -> int:
    """Lag of the largest plain (unwhitened) cross-correlation, of either polarity: an estimate
    independent of the deconvolution's whitening, to confirm it."""
    spec_x, spec_y, size = spectra
    r = np.fft.irfft(spec_y * np.conj(spec_x), size)
    lags = np.arange(settings.min_latency_samples, settings.max_latency_samples + 1)
    return int(lags[np.argmax(np.abs(r[lags % size]))])


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


def _check_same_take(result: Inspection, x: np.ndarray, y_aligned: np.ndarray, settings: AlignSettings) -> None:
    """Is the aligned output plausibly this input through some gear? DC offset, digital dropouts
    while the input plays, and how much of the output a linear fit of the input explains.
    `x` and `y_aligned` cover only the samples where the shifted output has audio."""
    out_file, sr = result.output_path, result.sample_rate
    dc = float(np.mean(y_aligned, dtype=np.float64))
    verdict = "error" if abs(dc) > settings.dc_error else "warning" if abs(dc) > settings.dc_warn else "ok"
    result.add(
        "dc_offset",
        verdict,
        round(dc, 4),
        *(
            ()
            if verdict == "ok"
            else (
                f"has a DC offset of {dc:+.3f} full scale: amps and pedals put out none, so the interface, a plug-in or a faulty cable added it",
                "remove the DC at its source (or with a high-pass below 10 Hz) and export again",
                out_file,
            )
        ),
    )

    playing = 10 ** (settings.silence_threshold_db / 20)
    gaps = [(s, e) for s, e in _flat_runs(y_aligned, max(2, int(settings.dropout_ms * 1e-3 * sr))) if np.max(np.abs(x[s : e + 1])) > playing]
    if gaps:
        s, e = gaps[0]
        result.add(
            "dropouts",
            "error",
            len(gaps),
            f"goes flat for {(e - s) / sr * 1000:.1f} ms at {s / sr:.3f} s while the "
            f"input plays ({len(gaps)} such dropout(s)): a buffer underrun or a cut in the recording",
            "record again with a larger audio buffer, and nothing else running",
            out_file,
        )
    else:
        result.add("dropouts", "ok", 0)

    if settings.linear_fit_esr_max is not None:
        esr = linear_fit_esr(x, y_aligned)
        if esr > settings.linear_fit_esr_max:
            result.add(
                "same_take",
                "error",
                round(esr, 4),
                f"is not explained by the input: a linear fit of it leaves ESR "
                f"{esr:.3f} (a recording of this input leaves 0.1–0.7 even through hard clipping): another take, a "
                "reversed or an unrelated file",
                "pair the input with the recording made while it played; for gear that "
                "truly keeps nothing of its input's waveform (an octave fuzz), set data.align.linear_fit_esr_max=null",
                out_file,
            )
        else:
            result.add("same_take", "ok", round(esr, 4))


def _flat_runs(y: np.ndarray, min_length: int) -> list[tuple[int, int]]:
    """(start, end) of every stretch where y[start..end] holds one value, end - start >=
    min_length: digital silence or a stuck buffer. Scanned block by block."""
    runs, open_start = [], None
    for b in _blocks(y.size - 1):
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


def _check_repeatability(result: Inspection, y_aligned: np.ndarray, settings: AlignSettings) -> None:
    """ESR between the two recorded copies of the validation segment: a noisy or drifting
    (time-varying) recording caps how good any model can get."""
    twins = [r for r in (result.sidecar or {}).get("regions", []) if r["kind"] == "validation"]
    if len(twins) != 2 or twins[1]["end"] > y_aligned.size:
        result.add("repeatability", "skipped", None, "no twin validation segments in this input")
        return
    m = min(t["end"] - t["start"] for t in twins)  # one copy may end where the shifted output does
    a = y_aligned[twins[0]["start"] : twins[0]["start"] + m]
    b = y_aligned[twins[1]["start"] : twins[1]["start"] + m]
    esr = float(np.sum((a - b) ** 2) / max(np.sum(a**2), 1e-20))
    test = "NAM's replicate test" if "standard" in result.sidecar else "the null test"
    if esr > settings.repeatability_esr_warn:
        result.add(
            "repeatability",
            "warning",
            esr,
            f"the two recorded copies of the validation segment differ (ESR {esr:.4f} > {settings.repeatability_esr_warn}, {test}): "
            "the recording is noisy, a time-based effect (delay, reverb, chorus) is on, or the gear changed while recording; "
            "models cannot get better than this",
            "reduce noise (gate off, shorter cables, lower gain), let tube gear warm up, do not touch the knobs while recording",
            result.output_path,
        )
    else:
        result.add("repeatability", "ok", esr)


def align_capture(input_path, output_path, out_dir, report_path, settings: AlignSettings, capture: str | None = None, reference_wav=None) -> dict:
    """Check and align a capture; write aligned WAVs (+ the signal's sidecar) and the report.

    Raises CaptureError listing every failed check; nothing is written in that case.
    """
    result = inspect(input_path, output_path, settings, reference_wav)
    report = result.report(capture)
    if result.errors:
        first = result.errors[0]
        problems = "\n".join(f"  - {_describe(c)}" for c in result.errors)
        raise CaptureError(first.file or output_path, f"the capture failed {len(result.errors)} check(s):\n{problems}", first.fix)
    x, y = result.aligned
    with atomic_dir(out_dir) as tmp:
        write_audio(tmp / "input.wav", x, result.sample_rate)
        write_audio(tmp / "output.wav", y, result.sample_rate)
        if result.sidecar is not None:
            write_json(tmp / "input.json", result.sidecar)
        write_json(report_path, report)
    return report


def inspect_capture_set(
    folder, settings: AlignSettings, reference_wav=None, split: SplitSettings | None = None
) -> tuple[CaptureSet, dict[str, Inspection], list[str]]:
    """Every check on every recording of a set against its one input, and that they agree on the
    latency (within `drift_tolerance_samples`): the set, each setting's inspection, and the
    problems (one line each, naming the file and the fix)."""
    folder = Path(folder)
    capture_set = CaptureSet.load(folder)
    if capture_set is None:
        raise CaptureError(folder / MANIFEST, "not found", "a capture set needs its manifest")
    results, problems = {}, []
    for s in capture_set.settings:
        path = folder / s.file
        if not path.is_file():
            problems.append(f"{path}: not found (fix: record it, or remove it from {MANIFEST})")
            continue
        result = inspect(folder / "input.wav", path, settings, reference_wav, split)
        problems += [_describe(c) for c in result.errors]
        results[s.name] = result
    latencies = {s: r.latency_samples for s, r in results.items() if r.latency_samples is not None}
    typical = int(np.median(list(latencies.values()))) if latencies else 0
    for s in capture_set.settings:
        if s.name in latencies and abs(latencies[s.name] - typical) > settings.drift_tolerance_samples:
            problems.append(
                f"{folder / s.file}: latency {latencies[s.name]} samples where the others' is {typical}"
                " (fix: record every setting through the same gear and interface in one session, or re-record it)"
            )
    return capture_set, results, problems


def align_capture_set(folder, out_dir, report_path, settings: AlignSettings, capture: str | None = None, reference_wav=None) -> dict:
    """Check and align every recording of a set against its one input; write each aligned pair
    to out_dir/<setting>/ and the set's manifest (captures.json) beside them, all or nothing.

    Raises CaptureError naming every recording that failed a check, or whose latency differs from
    the others' (`inspect_capture_set`)."""
    capture_set, results, problems = inspect_capture_set(folder, settings, reference_wav)
    if problems:
        lines = "\n".join(f"  - {p}" for p in problems)
        raise CaptureError(folder, f"the capture set failed {len(problems)} check(s):\n{lines}", "see each problem's fix")
    reports = {name: r.report(capture) for name, r in results.items()}
    first = next(iter(reports.values()))
    report = {
        "capture": capture,
        "knobs": capture_set.describe()["knobs"],
        "latency_samples": first["latency_samples"],
        "latency_method": first["latency_method"],
        "warnings": [f"{name}: {w}" for name, rep in reports.items() for w in rep["warnings"]],
        "recordings": reports,
    }
    with atomic_dir(out_dir) as tmp:
        for s in capture_set.settings:
            result = results[s.name]
            x, y = result.aligned
            write_audio(tmp / s.name / "input.wav", x, result.sample_rate)
            write_audio(tmp / s.name / "output.wav", y, result.sample_rate)
            if result.sidecar is not None:
                write_json(tmp / s.name / "input.json", result.sidecar)
        manifest = [{"name": s.name, "file": s.file, "values": s.values, "held_out": s.held_out} for s in capture_set.settings]
        write_json(tmp / "captures.json", {**capture_set.describe(), "settings": manifest})
        write_json(report_path, report)
    return report
