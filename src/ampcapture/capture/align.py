"""Check a reamp recording and align its output to its input.

Misalignment is the most common reason a capture trains badly (NAM users see the loss
stuck near 0.75), so the latency is measured, not assumed: from the calibration blips when
the input is the standardized signal, otherwise from the impulse response estimated by
regularized deconvolution of the output by the input, confirmed by the plain cross-correlation
(or set by hand: `data.align.latency_samples`). Every problem found is a check with a
verdict, a message naming the file and a fix (`capture.checks`); `inspect` runs them in order
(the files' own checks in `capture.recording`, the latency's DSP in `capture.latency`), and
`align_capture` writes outputs only when no check failed.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from ampcapture.audio import stimulus
from ampcapture.audio.io import read_audio, write_audio
from ampcapture.capture import quality
from ampcapture.capture.checks import AlignSettings, Inspection, Stop
from ampcapture.capture.knobs import MANIFEST, CaptureSet
from ampcapture.capture.latency import blip_latencies, deconvolution_latency, plain_xcorr_peak, spectra
from ampcapture.capture.recording import read_pair
from ampcapture.capture.split import SplitSettings, regions_of, too_short
from ampcapture.capture.standard_inputs import recognize
from ampcapture.core.config import defaults
from ampcapture.core.errors import CaptureError
from ampcapture.core.files import atomic_dir, write_json

__all__ = ["AlignSettings", "Inspection", "inspect", "align_capture", "inspect_capture_set", "align_capture_set"]


def inspect(
    input_path: str | Path, output_path: str | Path, settings: AlignSettings, reference_wav: str | Path | None = None, split: SplitSettings | None = None
) -> Inspection:
    """Run every check on a reamp pair and, if none fails, align the output to the input.

    `reference_wav` is the standardized reamp signal (with its sidecar beside it) that the
    input may be a copy of; without it the standard signal is regenerated at the input's
    rate to compare against. With `split`, a capture too short to split is an error too.
    """
    result = Inspection(str(input_path), str(output_path))
    try:
        _inspect(result, Path(input_path), Path(output_path), settings, reference_wav, split)
    except Stop:
        pass
    return result


def _inspect(result: Inspection, input_path: Path, output_path: Path, settings: AlignSettings, reference_wav, split: SplitSettings | None) -> None:
    standard = recognize(input_path, settings.channel)
    if standard is not None:
        result.add("standard_input", "ok", standard.name, standard.describe(), file=input_path)
        if settings.expected_sample_rate:  # Proteus' file is 44.1 kHz, whatever this project's rate
            settings = replace(settings, expected_sample_rate=standard.sample_rate)
    x, y = read_pair(result, input_path, output_path, settings)
    sr = result.sample_rate
    try:
        result.sidecar = standard.sidecar() if standard is not None else _identify_signal(x, sr, input_path, reference_wav)
    except CaptureError as exc:  # a damaged sidecar beside the input
        result.fail("sidecar", False, exc.problem, exc.fix, exc.where)
    if split is not None:
        method, regions = regions_of(result.sidecar, x.size, split)
        short = too_short(regions, sr, x.size, split, method)
        result.add("length_for_split", "error" if short else "ok", round(x.size / sr, 2), *(short or ()), file=output_path if short else "")
    _find_latency(result, x, y, settings)
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


def _regions_within(sidecar: dict, end: int) -> dict:
    """The sidecar with its regions cut at `end` (where the aligned output still has audio)."""
    regions = [{**r, "end": min(r["end"], end)} for r in sidecar["regions"] if r["start"] < end]
    return {**sidecar, "regions": regions}


def _shift_in_place(y: np.ndarray, shift: int) -> np.ndarray:
    """y moved `shift` samples earlier (later if negative), zero-filled, block by block in its
    own memory: a second copy of a 2-hour take would not fit."""
    n, k = y.size, abs(shift)
    if shift > 0:
        for b in quality.blocks(n - k):
            y[b] = y[b.start + k : b.stop + k]
        y[n - k :] = 0
    elif shift < 0:
        for b in reversed(quality.blocks(n - k)):
            y[b.start + k : b.stop + k] = y[b]
        y[:k] = 0
    return y


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


def _find_latency(result: Inspection, x: np.ndarray, y: np.ndarray, settings: AlignSettings) -> None:
    """result.latency_samples: the setting if given, else from the blips, else the
    deconvolution's onset once the plain cross-correlation confirms it; `Stop` when none can be trusted."""
    sr, out_file, how = result.sample_rate, result.output_path, None
    if settings.latency_samples is not None:
        if abs(settings.latency_samples) >= y.size:
            result.fail(
                "latency",
                settings.latency_samples,
                f"data.align.latency_samples={settings.latency_samples} is longer than the recording ({y.size} samples)",
                "set the gear's latency in samples, or null to measure it",
                out_file,
            )
        result.latency_samples, result.latency_method = settings.latency_samples, "data.align.latency_samples"
    elif result.sidecar is not None:
        _latency_from_blips(result, y, settings)
    if result.latency_samples is None:
        how = _latency_from_response(result, x, y, settings)
    latency = result.latency_samples
    if latency < -settings.max_lead_samples:
        result.fail(
            "latency",
            latency,
            f"comes {-latency} samples ({-latency / sr * 1000:.1f} ms) *before* the input "
            f"(found by {result.latency_method}): gear cannot answer before it is played, so this is not the recording "
            "of this input as it is",
            "check that the first file is what was played into the gear and the second its recording: not swapped, not reversed, the same take",
            out_file,
        )
    result.add("latency", "ok", latency, f"{latency} samples ({latency / sr * 1000:.2f} ms), from {how or result.latency_method}")


def _latency_from_blips(result: Inspection, y: np.ndarray, settings: AlignSettings) -> None:
    """The median onset of the responses to the start blips, whether they agree, and the drift
    the end blips show (a recording at another clock); a warning and no latency without responses."""
    out_file, blips = result.output_path, result.sidecar["blips"]
    background = result.sidecar.get("background") or [0, blips["start"][0] + settings.min_latency_samples]
    start, end = (blip_latencies(y, blips[which], background, settings) for which in ("start", "end"))
    if not start:
        result.add(
            "blips",
            "warning",
            None,
            "no response to the calibration blips; latency found by cross-correlation instead",
            "check that nothing (a noise gate, a fade) removes the blips at the start of the recording",
            out_file,
        )
        return
    latency = int(np.median(start))
    result.latency_samples, result.latency_method = latency, "blips"
    spread = max(start) - min(start)
    if spread > settings.blip_agreement_samples:
        message = f"the start blips disagree by {spread} samples: {start}"
        result.add("blip_agreement", "warning", start, message, "check for dropouts or a noise gate/effect on the recording", out_file)
    else:
        result.add("blip_agreement", "ok", start)
    if not end:
        if not blips["end"]:
            result.add("drift", "skipped", None, "this input has no end blips to time sample-rate drift by")
        else:
            message = "no response to the end blips, so sample-rate drift was not checked"
            result.add("drift", "warning", None, message, "record until the end of the reamp input", out_file)
        return
    drift = int(np.median(end)) - latency
    seconds = (blips["end"][0] - blips["start"][0]) / result.sample_rate
    if abs(drift) > settings.drift_tolerance_samples:
        result.add(
            "drift",
            "error",
            drift,
            f"the end blips arrive {drift:+d} samples off the start blips over {seconds:.0f} s "
            f"({drift / (seconds * result.sample_rate) * 1e6:+.0f} ppm): the recording ran at another sample rate than the playback",
            "play and record on one interface with one clock at one sample rate, and do not resample either file",
            out_file,
        )
    else:
        result.add("drift", "ok", drift)


def _latency_from_response(result: Inspection, x: np.ndarray, y: np.ndarray, settings: AlignSettings) -> str:
    """The impulse response's onset, if the plain cross-correlation's peak confirms it; returns how it was found."""
    both = spectra(x, y, result.sample_rate, settings)  # both estimates read the same spectra
    found = deconvolution_latency(both, settings)
    if found is None:
        result.fail(
            "latency",
            None,
            f"no consistent delay found between input and output within [{settings.min_latency_samples}, {settings.max_latency_samples}] samples",
            "make sure the output is the recording of this very input; widen data.align.max_latency_samples if the delay is larger",
            result.output_path,
        )
    onset, peak = found
    plain = plain_xcorr_peak(both, settings)
    if abs(plain - peak) > settings.xcorr_agreement_samples:
        result.fail(
            "latency",
            [onset, plain],
            f"is uncertain: the impulse response (deconvolution) starts at {onset} samples but the plain cross-"
            f"correlation peaks at {plain}; without the signal's blips no latency can be trusted when they disagree",
            "reamp with the standardized signal (`ampcapture stimulus`), whose blips give the latency exactly, or set it "
            "by hand: data.align.latency_samples=N (the DAG) or --latency N (check)",
            result.output_path,
        )
    result.latency_samples, result.latency_method = onset, "cross_correlation"
    return f"cross_correlation (response peak at {peak}, plain cross-correlation peak at {plain})"


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
    gaps = [(s, e) for s, e in quality.flat_runs(y_aligned, max(2, int(settings.dropout_ms * 1e-3 * sr))) if np.max(np.abs(x[s : e + 1])) > playing]
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
        esr = quality.linear_fit_esr(x, y_aligned)
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
        problems = "\n".join(f"  - {c.describe()}" for c in result.errors)
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
        problems += [c.describe() for c in result.errors]
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
