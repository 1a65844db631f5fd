"""Latency is found exactly; every bad recording gets a message naming the file and a fix,
a non-zero exit, and leaves no output behind."""

import json

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import butter, sosfilt

from ampcapture.audio import guitar
from ampcapture.audio import io as audio_io
from ampcapture.audio.virtual_amp import AmpSettings, render
from ampcapture.capture.align import AlignSettings, align_capture, inspect
from ampcapture.cli import main as cli
from ampcapture.core.config import defaults
from ampcapture.core.errors import CaptureError

from conftest import SR, delayed, generate, tiny_spec, write_pair

LATENCIES = [0, 1, 37, 480, 4000]
GAINS = [0.05, 0.5, 2.0]  # -26 dB to +6 dB: the recording level is never the input's


@pytest.mark.parametrize("latency", LATENCIES)
def test_latency_from_blips_is_exact(tmp_path, tiny_stimulus, latency):
    path, x, _ = tiny_stimulus
    gain = GAINS[latency % 3]
    inp, out = write_pair(tmp_path, x, delayed(x, latency, gain, seed=latency))
    result = inspect(inp, out, defaults(AlignSettings), reference_wav=path)
    assert result.latency_method == "blips"
    assert result.latency_samples == latency
    assert not result.errors and not result.warnings


@pytest.mark.parametrize("latency", LATENCIES)
def test_latency_without_blips_is_exact(tmp_path, tiny_stimulus, latency):
    x = guitar.render_notes(guitar.perform(4.0, seed=11), 4.0, SR, seed=11)
    gain = GAINS[latency % 3]
    inp, out = write_pair(tmp_path, x, delayed(x, latency, gain, seed=latency))
    result = inspect(inp, out, defaults(AlignSettings), reference_wav=tiny_stimulus[0])
    assert result.latency_method == "cross_correlation"
    assert result.latency_samples == latency
    assert result.sidecar is None and not result.errors


def test_virtual_amp_latency_is_found_by_both_methods(tmp_path, tiny_stimulus):
    path, x, _ = tiny_stimulus
    settings = defaults(AmpSettings, seed=3)
    y = render(x, settings, SR, np.random.default_rng(0))
    inp, out = write_pair(tmp_path, x, y)
    by_blips = inspect(inp, out, defaults(AlignSettings), reference_wav=path)
    assert by_blips.latency_method == "blips" and by_blips.latency_samples == settings.latency_samples()
    # Without the sidecar (input not recognized), cross-correlation sees the amp's soft onset
    # (cabinet low-passes) and may land a sample late: the safety margin keeps alignment causal.
    by_xcorr = inspect(inp, out, defaults(AlignSettings), reference_wav=tmp_path / "missing.wav")
    assert by_xcorr.latency_method == "cross_correlation"
    assert 0 <= by_xcorr.latency_samples - settings.latency_samples() <= defaults(AlignSettings).safety_margin_samples


@pytest.mark.parametrize("latency", [0, 480])  # the output moved later (shift -2) and earlier (478)
@pytest.mark.parametrize("dropout", [False, True])
def test_block_by_block_scans_find_what_one_pass_finds(tmp_path, tiny_stimulus, monkeypatch, latency, dropout):
    path, x, _ = tiny_stimulus
    y = delayed(x, latency, 0.5)
    if dropout:
        y[60_500:61_700] = 0.0  # 25 ms, across a 1000-sample block boundary
    inp, out = write_pair(tmp_path, x, y)
    whole = inspect(inp, out, defaults(AlignSettings), reference_wav=path)
    monkeypatch.setattr(audio_io, "BLOCK", 1000)
    blocks = inspect(inp, out, defaults(AlignSettings), reference_wav=path)
    assert blocks.report() == whole.report()
    assert bool(whole.errors) == dropout and [c.name for c in whole.errors] == (["dropouts"] if dropout else [])
    if not dropout:
        assert all(np.array_equal(a, b) for a, b in zip(blocks.aligned, whole.aligned))
        shift, aligned = whole.shift_samples, whole.aligned[1]  # the latency less the safety margin
        expected = np.r_[y[shift:], np.zeros(shift)] if shift >= 0 else np.r_[np.zeros(-shift), y[:shift]]
        np.testing.assert_allclose(aligned, expected, atol=1e-6)  # 24-bit files


def _dark_di(seconds: float = 4.0) -> np.ndarray:
    """Guitar DI as pickups and cable deliver it: little above a few kHz (4th-order low-pass at
    2.5 kHz), so any latency estimate is smeared over several samples."""
    return _filter("lowpass", 2500, 4)(guitar.render_notes(guitar.perform(seconds, seed=11), seconds, SR, seed=11))


def _filter(kind: str, hz: float, order: int = 1):
    return lambda x: sosfilt(butter(order, hz, kind, fs=SR, output="sos"), x)


def _tube_stage(drive_db: float, polarity: float = -1.0):
    """A cold-biased triode-like stage: coupling cap, asymmetric clipping, coupling cap, Miller
    low-pass; inverting, as one tube stage is."""

    def stage(x):
        v = _filter("highpass", 15)(x) * 10 ** (drive_db / 20) + 0.3
        clipped = np.where(v > 0, np.tanh(v), 0.3 * np.tanh(v / 0.3)) - np.tanh(0.3)
        return polarity * _filter("lowpass", 12000)(_filter("highpass", 20)(clipped))

    return stage


DEVICES = {  # long low-frequency tails, both polarities, soft onsets, clippers from clean to fuzz
    "coupling_cap_15hz": _filter("highpass", 15),
    "coupling_cap_15hz_inverted": lambda x: -_filter("highpass", 15)(x),
    "highpass_80hz_2nd_order_inverted": lambda x: -_filter("highpass", 80, 2)(x),
    "tone_lowpass_3khz_2nd_order": _filter("lowpass", 3000, 2),
    "tube_stage_6db": _tube_stage(6),
    "tube_stage_20db": _tube_stage(20),
    "tube_stage_35db_noninverted": _tube_stage(35, polarity=1.0),
    "tube_stage_50db": _tube_stage(50),
}


@pytest.mark.parametrize("device", DEVICES)
def test_latency_without_blips_is_within_two_samples_for_a_family_of_devices(tmp_path, tiny_stimulus, device):
    x = _dark_di()
    y = DEVICES[device](x)
    y *= 0.5 / np.max(np.abs(y))
    for latency in (0, 1, 480, 2000):
        result = inspect(*write_pair(tmp_path / str(latency), x, delayed(y, latency)), defaults(AlignSettings), reference_wav=tiny_stimulus[0])
        assert not result.errors, result.report()["errors"]
        assert result.latency_method == "cross_correlation"
        assert abs(result.latency_samples - latency) <= 2, (latency, result.latency_samples)


def test_an_unconfirmed_latency_is_an_error_until_set_by_hand(tmp_path, tiny_stimulus, capsys):
    # The lows arrive 900 samples after the highs (a crossover with a delayed woofer): the
    # whitened estimate follows the highs, the plain cross-correlation the bass-heavy lows.
    x = _dark_di()
    y = delayed(_filter("lowpass", 300, 2)(x), 900) + 0.3 * delayed(_filter("highpass", 300, 2)(x), 7)
    inp, out = write_pair(tmp_path, x, y)
    assert cli(["check", str(inp), str(out), "--reference", str(tiny_stimulus[0])]) == 1
    text = " ".join(capsys.readouterr().out.split())
    assert "is uncertain" in text and "data.align.latency_samples" in text and "--latency N" in text
    assert cli(["check", str(inp), str(out), "--reference", str(tiny_stimulus[0]), "--latency", "7", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)  # the latency settled; left: 4 s are too short to split
    assert report["latency_samples"] == 7 and report["latency_method"] == "data.align.latency_samples"
    assert [e for e in report["errors"] if "too short" in e or "each needs at least" in e] == report["errors"] != []


@pytest.mark.parametrize("drive_db", [0.0, 18.0, 40.0])
def test_real_gear_passes_the_same_take_checks_at_any_drive(tmp_path, tiny_stimulus, drive_db):
    path, x, _ = tiny_stimulus
    y = render(x, defaults(AmpSettings, seed=3, drive_db=drive_db), SR, np.random.default_rng(0))
    result = inspect(*write_pair(tmp_path, x, y), defaults(AlignSettings), reference_wav=path)
    assert not result.errors and not result.warnings
    fit = next(c for c in result.checks if c.name == "same_take")
    assert fit.value < 0.8  # far from the ~1.0 of another take, even clipping hard


def test_standard_signal_at_another_rate_is_recognized(tmp_path, tiny_stimulus):
    from ampcapture.audio.stimulus import StimulusSpec, generate

    x, sidecar = generate(defaults(StimulusSpec, sample_rate=44100))
    inp, out = write_pair(tmp_path, x, delayed(x, 480, 0.5), sr=44100)
    # The project's reference is the 48 kHz tiny signal: the input is matched by regenerating at 44.1 kHz.
    result = inspect(inp, out, defaults(AlignSettings, expected_sample_rate=44100), reference_wav=tiny_stimulus[0])
    assert result.sidecar == sidecar and result.latency_method == "blips" and result.latency_samples == 480


def test_aligned_output_lines_up_with_input(tmp_path, tiny_stimulus):
    path, x, _ = tiny_stimulus
    inp, out = write_pair(tmp_path, x, delayed(x, 480, 0.5, noise_db=-120))
    report = align_capture(inp, out, tmp_path / "aligned", tmp_path / "report.json", defaults(AlignSettings), "t", reference_wav=path)
    assert report["latency_samples"] == 480 and report["alignment_shift_samples"] == 478
    xa = sf.read(str(tmp_path / "aligned" / "input.wav"))[0]
    ya = sf.read(str(tmp_path / "aligned" / "output.wav"))[0]
    margin = defaults(AlignSettings).safety_margin_samples
    # With the safety margin the output trails the input by exactly that many samples.
    assert np.allclose(ya[margin : 20000 + margin], 0.5 * xa[:20000], atol=1e-5)
    assert json.loads((tmp_path / "report.json").read_text())["latency_samples"] == 480
    assert (tmp_path / "aligned" / "input.json").is_file()  # the sidecar travels with the audio


def test_stereo_uses_one_channel_with_a_warning(tmp_path, tiny_stimulus):
    path, x, _ = tiny_stimulus
    y = delayed(x, 37, 0.5)
    inp, out = write_pair(tmp_path, x, np.stack([y, 0.1 * y], axis=1))
    result = inspect(inp, out, defaults(AlignSettings), reference_wav=path)
    assert result.latency_samples == 37 and not result.errors
    warning = next(c for c in result.warnings if c.name == "output_channels")
    assert "channel 1" in warning.message and "output.wav" in warning.file


def test_a_silent_left_channel_is_named_and_check_takes_the_other(tmp_path, tiny_stimulus, capsys):
    path, x, _ = tiny_stimulus
    inp, out = write_pair(tmp_path, x, np.stack([np.zeros(x.size), delayed(x, 37, 0.5)], axis=1))
    assert cli(["check", str(inp), str(out), "--reference", str(path)]) == 1
    assert "use --channel 1 (check) or data.align.channel=1" in " ".join(capsys.readouterr().out.split())
    assert cli(["check", str(inp), str(out), "--reference", str(path), "--channel", "1"]) == 0
    assert "latency 37 samples" in capsys.readouterr().out


def test_small_length_difference_is_trimmed_with_a_warning(tmp_path, tiny_stimulus):
    path, x, _ = tiny_stimulus
    y = np.concatenate([delayed(x, 37, 0.5), np.zeros(1000)])
    inp, out = write_pair(tmp_path, x, y)
    result = inspect(inp, out, defaults(AlignSettings), reference_wav=path)
    assert not result.errors and result.aligned[1].size == x.size
    assert [c.name for c in result.warnings] == ["length"]


def test_noisy_twin_segments_warn_about_repeatability(tmp_path, tiny_stimulus):
    path, x, sidecar = tiny_stimulus
    y = delayed(x, 37, 0.5)
    twin_b = [r for r in sidecar["regions"] if r["name"] == "validation_b"][0]
    y[twin_b["start"] + 37 : twin_b["end"] + 37] *= 1.3  # the gear got louder during the recording
    inp, out = write_pair(tmp_path, x, y)
    result = inspect(inp, out, defaults(AlignSettings), reference_wav=path)
    assert not result.errors
    check = next(c for c in result.checks if c.name == "repeatability")
    assert check.verdict == "warning" and check.value == pytest.approx(0.09, rel=0.01)


def _corrupt(tmp_path, x, y):
    inp, out = write_pair(tmp_path, x, y)
    out.write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt garbage" + bytes(100))
    return inp, out


def _resampled(tmp_path, x, y):
    return write_pair(tmp_path, x, y, out_sr=44100)


def _not_expected_rate(tmp_path, x, y):
    return write_pair(tmp_path, x, y, sr=44100)


def _nan(tmp_path, x, y):
    y = y.copy()
    y[5000:5010] = np.nan
    return write_pair(tmp_path, x, y, subtype="FLOAT")


def _silent(tmp_path, x, y):
    return write_pair(tmp_path, x, 1e-5 * np.random.default_rng(0).standard_normal(x.size))


def _clipped(tmp_path, x, y):
    return write_pair(tmp_path, x, np.clip(8 * y, -1, 1))


def _too_long(tmp_path, x, y):
    return write_pair(tmp_path, x, np.concatenate([y, np.zeros(3 * SR)]))


def _starts_late(tmp_path, x, y):  # the recording began 5 s before the playback
    return write_pair(tmp_path, x, np.concatenate([1e-4 * np.random.default_rng(2).standard_normal(5 * SR), y]))


def _drift(tmp_path, x, y):
    # A clock slip: 12 extra samples in the middle, so the end blips arrive late.
    mid = y.size // 2
    return write_pair(tmp_path, x, np.concatenate([y[:mid], np.zeros(12), y[mid:]])[: y.size])


def _unrelated(tmp_path, x, y):
    return write_pair(tmp_path, 0.5 * x, 0.3 * np.random.default_rng(1).uniform(-1, 1, x.size))


def _missing(tmp_path, x, y):
    inp, out = write_pair(tmp_path, x, y)
    out.unlink()
    return inp, out


def _swapped(tmp_path, x, y):
    return write_pair(tmp_path, y, x)


def _reversed(tmp_path, x, y):
    return write_pair(tmp_path, x, y[::-1].copy())


def _same_file(tmp_path, x, y):
    inp, _ = write_pair(tmp_path, x, y)
    return inp, inp


def _identical_copy(tmp_path, x, y):
    return write_pair(tmp_path, x, x)


def _mp3_named_wav(tmp_path, x, y):
    inp, out = write_pair(tmp_path, x, y)
    sf.write(str(tmp_path / "take.mp3"), y, SR, format="MP3")
    (tmp_path / "take.mp3").replace(out)
    return inp, out


def _mp3_decoded(tmp_path, x, y):
    inp, out = write_pair(tmp_path, x, y)
    sf.write(str(tmp_path / "take.mp3"), y, SR, format="MP3")
    sf.write(str(out), sf.read(str(tmp_path / "take.mp3"), dtype="float32")[0][: y.size], SR, subtype="PCM_24")  # decoded back to WAV
    return inp, out


def _eight_bit(tmp_path, x, y):
    return write_pair(tmp_path, x, y, subtype="PCM_U8")


def _few_levels(tmp_path, x, y):
    return write_pair(tmp_path, x, np.round(y * 60) / 60)  # a few dozen levels, in a 24-bit file


def _dropout(tmp_path, x, y):
    y = y.copy()
    y[y.size // 2 : y.size // 2 + SR // 50] = 0.0  # 20 ms of a buffer underrun, mid-playing
    return write_pair(tmp_path, x, y)


def _dc_offset(tmp_path, x, y):
    return write_pair(tmp_path, x, y + 0.3, subtype="FLOAT")


def _another_take_after_the_count_in(tmp_path, x, y):
    # the blips line up (latency 37), but all between them is another performance
    blips = generate(tiny_spec())[1]["blips"]
    y = y.copy()
    middle = slice(max(blips["start"]) + SR // 20, min(blips["end"]) - SR // 20)
    other = 0.3 * guitar.render_notes(guitar.perform(2.0, seed=12), 2.0, SR, seed=12)
    y[middle] = np.resize(other, y[middle].size) + 1e-4 * np.random.default_rng(0).standard_normal(y[middle].size)
    return write_pair(tmp_path, x, y)


def _broken_sidecar(tmp_path, x, y):
    inp, out = write_pair(tmp_path, x, y)
    inp.with_suffix(".json").write_text('{"version": 1, "blips": ')  # cut short
    return inp, out


BAD = {
    "corrupt": (_corrupt, "output.wav", "cannot read"),
    "missing": (_missing, "output.wav", "not found"),
    "sample_rates_differ": (_resampled, "output.wav", "44100 Hz but input.wav is 48000 Hz"),
    "unexpected_sample_rate": (_not_expected_rate, "input.wav", "expects 48000 Hz"),
    "nan": (_nan, "output.wav", "NaN/Inf"),
    "silent_output": (_silent, "output.wav", "is silent"),
    "clipped_output": (_clipped, "output.wav", "samples at full scale"),
    "lengths_differ": (_too_long, "output.wav", "longer than input.wav"),
    "starts_late": (_starts_late, "output.wav", "it starts 5.00 s late"),
    "sample_rate_drift": (_drift, "output.wav", "+12 samples off the start blips"),
    "no_latency": (_unrelated, "output.wav", "no consistent delay"),
    "broken_sidecar": (_broken_sidecar, "input.json", "not a valid signal sidecar"),
    "swapped": (_swapped, "output.wav", "samples (0.8 ms) *before* the input"),
    "time_reversed": (_reversed, "output.wav", "*before* the input"),
    "same_file": (_same_file, "input.wav", "is the input itself (the same file)"),
    "identical_copy": (_identical_copy, "output.wav", "is the input itself (an identical copy)"),
    "mp3_named_wav": (_mp3_named_wav, "output.wav", "lossy-compressed audio (MPEG_LAYER_III)"),
    "mp3_decoded": (_mp3_decoded, "output.wav", "decoded from a lossy codec"),
    "eight_bit": (_eight_bit, "output.wav", "8-bit audio or coarser"),
    "few_levels": (_few_levels, "output.wav", "8-bit audio or coarser"),
    "dropout": (_dropout, "output.wav", "goes flat for 20.0 ms"),
    "dc_offset": (_dc_offset, "output.wav", "DC offset of +0.300"),
    "another_take": (_another_take_after_the_count_in, "output.wav", "is not explained by the input"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_capture_is_refused_by_check_and_align(tmp_path, tiny_stimulus, capsys, case):
    make, file_name, problem = BAD[case]
    path, x, _ = tiny_stimulus
    inp, out = make(tmp_path / "capture", x, delayed(x, 37, 0.5))

    assert cli(["check", str(inp), str(out), "--reference", str(path)]) != 0
    printed = capsys.readouterr().out
    assert problem in " ".join(printed.split()) and "fix" in printed

    assert cli(["check", str(inp), str(out), "--reference", str(path), "--json"]) != 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False and any(file_name in e and problem in e and "fix:" in e for e in report["errors"])

    with pytest.raises(CaptureError) as err:
        align_capture(inp, out, tmp_path / "aligned", tmp_path / "reports" / "align.json", defaults(AlignSettings), reference_wav=path)
    assert file_name in str(err.value) and problem in str(err.value) and "fix" in str(err.value)
    assert not (tmp_path / "aligned").exists() and not (tmp_path / "reports").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["capture"]  # no temp files left either


def test_clipping_below_full_scale_is_a_warning_that_names_the_level(tmp_path, tiny_stimulus):
    path, x, _ = tiny_stimulus
    y = delayed(x, 37, 1.8)  # peaks at -0.9 dBFS
    inp, out = write_pair(tmp_path, x, np.clip(y, -0.5, 0.5))  # a limiter, or a fuzz, at half scale
    result = inspect(inp, out, defaults(AlignSettings), reference_wav=path)
    (warning,) = [c for c in result.warnings if c.name == "clipping"]
    assert "cut flat at -6.0 dBFS" in warning.message and "on purpose" in warning.message and not result.errors
    inp, out = write_pair(tmp_path, x, y)  # the same playing unclipped: no warning
    assert not [c for c in inspect(inp, out, defaults(AlignSettings), reference_wav=path).warnings if c.name == "clipping"]


def test_a_capture_too_short_to_split_is_refused_with_the_length_it_needs(tmp_path, tiny_stimulus, capsys):
    x = guitar.render_notes(guitar.perform(0.5, seed=3), 0.5, SR, seed=3)  # half a second, no sidecar
    inp, out = write_pair(tmp_path, x, delayed(x, 37, 0.5))
    assert cli(["check", str(inp), str(out), "--reference", str(tiny_stimulus[0]), "--json"]) == 1
    (error,) = [e for e in json.loads(capsys.readouterr().out)["errors"] if "split" in e]
    assert "is 0.5 s long" in error and "validation 0.05 s, test 0.05 s" in error and "at least 3 s" in error and "record at least 30 s" in error


def test_check_passes_a_good_capture(tmp_path, tiny_stimulus, capsys):
    path, x, _ = tiny_stimulus
    inp, out = write_pair(tmp_path, x, delayed(x, 480, 0.5))
    assert cli(["check", str(inp), str(out), "--reference", str(path)]) == 0
    assert "latency 480 samples (blips)" in capsys.readouterr().out
