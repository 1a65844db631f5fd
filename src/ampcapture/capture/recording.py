"""The checks of a reamp pair's files before alignment: readable, no lossy codec, not the same
file, one sample rate (the one expected), the channel asked for, lengths that agree, not
silent, enough bit depth, no clipping, not decoded from a lossy codec. Headers are checked
before any audio is read; each failure is a check naming the file and the fix (`capture.checks`)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from ampcapture.audio.io import audio_info, peak_db, read_channel
from ampcapture.capture import quality
from ampcapture.capture.checks import AlignSettings, Inspection
from ampcapture.capture.latency import deconvolution_latency, spectra
from ampcapture.core.errors import CaptureError

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
SAME_TAKE_FIX = "give the recording of the gear's output as the second file"


def read_pair(result: Inspection, in_path: Path, out_path: Path, settings: AlignSettings) -> tuple[np.ndarray, np.ndarray]:
    """Mono float32 (x, y) of equal length, every check above passed; `Stop` once one fails."""
    infos = _check_headers(result, in_path, out_path, settings)
    x, y, peaks = _read_mono(result, (in_path, out_path), infos, settings)
    x, y = _check_length(result, x, y, in_path, out_path, settings)
    for role, path, s in (("input", in_path, x), ("output", out_path, y)):
        _check_silence(result, role, path, s, peaks[role], settings)
    result.stop_if_failed()
    for role, path, s, info in (("input", in_path, x, infos[0]), ("output", out_path, y, infos[1])):
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
    result.stop_if_failed()  # (a coarse recording's repeated values would pass for dropouts and flat tops)
    _check_clipping(result, y, out_path, settings)
    _check_lossy_decoding(result, x, y, out_path)
    result.stop_if_failed()
    return x, y


def _check_headers(result: Inspection, in_path: Path, out_path: Path, settings: AlignSettings) -> tuple:
    """Both headers: readable, no lossy codec, not one file twice, one sample rate, the one expected."""
    infos = {}
    for role, path in (("input", in_path), ("output", out_path)):
        try:
            infos[role] = audio_info(path)
        except CaptureError as exc:
            result.add(f"{role}_readable", "error", False, exc.problem, exc.fix, path)
    result.stop_if_failed()
    i_in, i_out = infos["input"], infos["output"]
    for path, info in ((in_path, i_in), (out_path, i_out)):
        if info.subtype in LOSSY:
            result.add(
                "codec",
                "error",
                info.subtype,
                f"holds lossy-compressed audio ({info.subtype}), whatever its name says: the codec's delay, low-pass and artifacts are not the gear",
                "export the recording again as WAV (24-bit PCM or 32-bit float), straight from the recording software",
                path,
            )
    if in_path.resolve() == out_path.resolve():
        result.add("same_take", "error", None, "is the input itself (the same file)", SAME_TAKE_FIX, out_path)
    result.stop_if_failed()
    rate_fix = "record the output at the input's sample rate (set your audio interface / DAW project to {} Hz) or resample the file"
    if i_in.samplerate != i_out.samplerate:
        message = f"sample rate is {i_out.samplerate} Hz but {in_path.name} is {i_in.samplerate} Hz"
        result.fail("sample_rate", i_out.samplerate, message, rate_fix.format(i_in.samplerate), out_path)
    if settings.expected_sample_rate and i_in.samplerate != settings.expected_sample_rate:
        result.fail(
            "sample_rate",
            i_in.samplerate,
            f"sample rate is {i_in.samplerate} Hz but this capture expects {settings.expected_sample_rate} Hz",
            f"reamp with the signal made at {settings.expected_sample_rate} Hz, or set data.align.expected_sample_rate={i_in.samplerate}",
            in_path,
        )
    result.sample_rate = int(i_in.samplerate)
    return i_in, i_out


def _read_mono(result: Inspection, paths: tuple[Path, Path], infos: tuple, settings: AlignSettings):
    """(x, y, each file's channel peaks): the channel asked for of each file, not an identical copy."""
    mono, peaks = {}, {}
    for role, path, info in zip(("input", "output"), paths, infos):
        if info.channels > 1 and settings.channel >= info.channels:
            result.fail(
                f"{role}_channels",
                info.channels,
                f"has {info.channels} channels, no channel {settings.channel + 1}",
                f"use --channel (check) or data.align.channel (the DAG) between 0 and {info.channels - 1}",
                path,
            )
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
    result.stop_if_failed()
    x, y = mono["input"], mono["output"]
    if x.size == y.size and quality.identical(x, y):
        result.fail("same_take", None, "is the input itself (an identical copy)", SAME_TAKE_FIX, paths[1])
    result.add("sample_rate", "ok", result.sample_rate)
    return x, y, peaks


def _check_length(result: Inspection, x: np.ndarray, y: np.ndarray, in_path: Path, out_path: Path, settings: AlignSettings):
    """Both trimmed to the shorter when they differ by less than the tolerance; an error that
    says how late the recording started when the output is much longer."""
    sr, diff = result.sample_rate, y.size - x.size
    if abs(diff) > int(settings.length_tolerance_s * sr):
        longer = "longer" if diff > 0 else "shorter"
        fix = "record the whole reamp input from start to end and trim extra silence, or raise data.align.length_tolerance_s"
        wide = replace(settings, min_latency_samples=0, max_latency_samples=diff + settings.max_latency_samples)
        found = deconvolution_latency(spectra(x, y, sr, wide), wide) if diff > 0 else None
        late = found[0] if found else 0
        if late > settings.max_latency_samples:  # recording started before the playback
            fix = (
                f"it starts {late / sr:.2f} s late (recorded before the input began to play): trim the first "
                f"{max(late - sr // 20, 0) / sr:.2f} s of {out_path.name} (50 ms less, so the gear's own latency stays), and check again"
            )
        message = f"is {abs(diff) / sr:.2f} s {longer} than {in_path.name} (tolerance {settings.length_tolerance_s} s)"
        result.fail("length", diff, message, fix, out_path)
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
    return x[:n], y[:n]


def _check_silence(result: Inspection, role: str, path: Path, s: np.ndarray, peaks: list[float], settings: AlignSettings) -> None:
    """A silent file is an error; of a stereo file whose chosen channel is silent, the fix names a live one."""
    level = peak_db(s)
    if level >= settings.silence_threshold_db:
        result.add(f"{role}_silence", "ok", round(level, 2))
        return
    fix = (
        "check the routing: the gear's output must reach the recorded track, and the gear must be on"
        if role == "output"
        else "use the reamp input file that was played through the gear"
    )
    live = [c for c, peak in enumerate(peaks) if len(peaks) > 1 and peak >= 10 ** (settings.silence_threshold_db / 20)]
    if live:
        fix = (
            f"the channel chosen (index {settings.channel}) is silent, index {live[0]} is not: use --channel "
            f"{live[0]} (check) or data.align.channel={live[0]} (the DAG)"
        )
    result.add(f"{role}_silence", "error", level, f"is silent (peak {level:.1f} dBFS, threshold {settings.silence_threshold_db} dBFS)", fix, path)


def _check_clipping(result: Inspection, y: np.ndarray, out_path: Path, settings: AlignSettings) -> None:
    """Samples at full scale are an error; a waveform cut flat below it a warning (a fuzz may do that on purpose)."""
    clipped = sum(int(np.count_nonzero(np.abs(y[b]) >= settings.clip_level)) for b in quality.blocks(y.size))
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


def _check_lossy_decoding(result: Inspection, x: np.ndarray, y: np.ndarray, out_path: Path) -> None:
    cutoff = quality.lossy_cutoff(x, y, result.sample_rate)
    if cutoff is None:
        result.add("lossy_decoded", "ok", None)
        return
    result.add(
        "lossy_decoded",
        "error",
        round(cutoff),
        f"has no sound above {cutoff / 1000:.1f} kHz where the input has: it was decoded from a lossy codec (MP3, AAC, Vorbis), "
        "whose low-pass and artifacts are not the gear",
        "export the recording again as WAV (24-bit PCM or 32-bit float) straight from the recording software, never through MP3 or AAC",
        out_path,
    )
