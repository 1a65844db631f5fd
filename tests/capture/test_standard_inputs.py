"""NAM's standardized reamp inputs are recognized as NAM's trainer recognizes them (by the file's
md5, else by md5s of its samples), aligned on their blips and split on NAM's own regions.

The real files cannot be shipped: each test builds an input with a version's layout (its length,
blips, silence and twin validation copies where NAM's table puts them) and points the recognizer
at that file's checksums, the rest of the table entry being NAM's."""

import copy
import hashlib
import json

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import butter, sosfilt

from ampcapture.capture import standard_inputs
from ampcapture.capture.align import AlignSettings, align_capture, inspect
from ampcapture.capture.split import SplitSettings, split_capture
from ampcapture.core.config import defaults

from conftest import write_pair

LATENCY = 37
LENGTH_S = {"v3_0_0": 190.0, "v2_0_0": 191.0, "v1_1_1": 189.0, "proteus": 210.86}  # about the real files' lengths


def entry(name: str) -> dict:
    return copy.deepcopy(next(e for e in standard_inputs.load_table() if e["name"] == name))


def layout(e: dict, n: int, seed: int = 0) -> np.ndarray:
    """An input with `e`'s layout: band-limited noise at playing level, the first validation span
    copied into the others (twins), silence from the background to past the last blip, and the blips."""
    rng = np.random.default_rng(seed)
    x = 0.3 * sosfilt(butter(2, [80, 6000], "bandpass", fs=e["sample_rate"], output="sos"), rng.standard_normal(n))
    spans = [standard_inputs._span(v, n) for v in e["validation"]]
    for span in spans[1:]:
        x[span["start"] : span["end"]] = x[spans[0]["start"] : spans[0]["end"]]
    for blips, background in ((e["blips"], e["background"][0]), (e["end_blips"], None)):
        at = [standard_inputs._at(b, n) for b in blips]
        if at:  # silent from a quarter second before the background (or the first blip) to 250 ms after the last blip
            first = at[0] if background is None else min(at[0], standard_inputs._at(background, n))
            x[max(first - 12_000, 0) : at[-1] + 12_000] = 0.0
            x[at] = 0.5
    return x


def gear(x: np.ndarray, latency: int = LATENCY, seed: int = 1) -> np.ndarray:
    """A soft clipper behind a low-pass, `latency` samples late, with a -90 dB noise floor."""
    y = 0.6 * np.tanh(3.0 * sosfilt(butter(1, 8000, fs=48000, output="sos"), x))
    y = np.r_[np.zeros(latency), y[: y.size - latency]]
    return y + 10 ** (-90 / 20) * np.random.default_rng(seed).standard_normal(y.size)


def pointed_at(e: dict, wav, strong: bool = True) -> list[dict]:
    """The table with `e` alone, its checksums those of `wav` (the file's, or only its samples')."""
    n = sf.info(str(wav)).frames
    e["file_md5"] = standard_inputs._file_md5(wav) if strong else "0" * 32
    e["sample_md5"] = [[s, end, standard_inputs._samples_md5(wav, standard_inputs._span([s, end], n), 0)] for s, end, _ in e["sample_md5"]]
    return [e]


@pytest.fixture(scope="module")
def v3_capture(tmp_path_factory):
    e = entry("v3_0_0")
    x = layout(e, int(LENGTH_S["v3_0_0"] * 48000))
    folder = tmp_path_factory.mktemp("v3")
    inp, out = write_pair(folder, x, gear(x))
    return e, inp, out


def test_the_table_holds_nams_versions_in_nams_order_of_weak_matching():
    names = [e["name"] for e in standard_inputs.load_table()]
    assert names == ["v3_0_0", "v2_0_0", "v1_1_1", "v1_0_0", "proteus"]
    for e in standard_inputs.load_table():
        assert len(e["file_md5"]) == 32 and all(len(md5) == 32 for *_, md5 in e["sample_md5"])


def test_the_sample_checksum_is_nams_decoding_for_16_and_24_bit(tmp_path):
    """NAM hashes integer PCM / 2^(bits-1) as float64 (wavio); int32 / 2^31 gives the same bits."""
    x = np.random.default_rng(0).uniform(-0.9, 0.9, 4800)
    for subtype, bits, dtype in (("PCM_16", 16, "int16"), ("PCM_24", 24, "int32")):
        sf.write(str(tmp_path / "a.wav"), x, 48000, subtype=subtype)
        ints, _ = sf.read(str(tmp_path / "a.wav"), dtype=dtype)
        ints = ints >> 8 if bits == 24 else ints  # libsndfile left-justifies 24-bit samples in int32
        expected = hashlib.md5(ints.astype(np.float64) / 2.0 ** (bits - 1)).hexdigest()
        assert standard_inputs._samples_md5(tmp_path / "a.wav", {"start": 0, "end": 4800}, 0) == expected


def test_an_ordinary_recording_is_no_standard_input(v3_capture):
    _, _, out = v3_capture
    assert standard_inputs.recognize(out) is None


@pytest.mark.parametrize("strong", [True, False])
def test_a_v3_capture_is_aligned_on_its_blips_and_split_on_nams_regions(tmp_path, v3_capture, monkeypatch, strong):
    e, inp, out = v3_capture
    monkeypatch.setattr(standard_inputs, "load_table", lambda path=None: pointed_at(copy.deepcopy(e), inp, strong))
    report = align_capture(inp, out, tmp_path / "aligned", tmp_path / "align.json", defaults(AlignSettings), "v3")
    assert report["standard_input"] == {"name": "v3_0_0", "version": "3.0.0", "match": "strong" if strong else "weak"}
    assert report["latency_method"] == "blips" and report["latency_samples"] == LATENCY
    checks = report["checks"]
    assert checks["standard_input"]["verdict"] == "ok" and "v3_0_0" in checks["standard_input"]["message"]
    assert checks["repeatability"]["verdict"] == "ok" and checks["repeatability"]["value"] < 1e-4  # NAM's null test: the noise floor
    assert report["warnings"] == []

    split = tmp_path / "split"
    settings = defaults(SplitSettings)
    split_report = split_capture(tmp_path / "aligned", split, tmp_path / "split_report.json", settings, "v3")
    assert split_report["method"] == "nam_v3_0_0"
    regions = json.loads((split / "split.json").read_text())
    n, shift = regions["num_samples"], report["alignment_shift_samples"]
    # NAM validates on the last 9 s (less the samples the alignment shifted in) and trains from 10 s to there
    assert regions["validation"] == [[n - 432_000, n - shift]]
    train, test = regions["train"], regions["test"]
    assert train[0][0] == 480_000 and test[-1][1] == n - 432_000
    assert len(train) == len(test) == settings.blocks
    seconds = {k: sum(b - a for a, b in regions[k]) / 48000 for k in ("train", "test")}
    share = 1 - settings.train_fraction - settings.validation_fraction
    assert seconds["test"] / (seconds["train"] + seconds["test"]) == pytest.approx(share, abs=1e-4)
    spans = sorted(train + test)  # train and test tile NAM's training region, nothing overlaps the validation twins
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))


def test_a_v3_capture_whose_twins_differ_fails_nams_replicate_test(tmp_path, v3_capture, monkeypatch):
    e, inp, out = v3_capture
    monkeypatch.setattr(standard_inputs, "load_table", lambda path=None: pointed_at(copy.deepcopy(e), inp))
    y, _ = sf.read(str(out))
    y[:432_000] *= 1.15  # the gear changed while recording: the first copy 1.2 dB louder
    changed = tmp_path / "changed.wav"
    sf.write(str(changed), y, 48000, subtype="PCM_24")
    result = inspect(inp, changed, defaults(AlignSettings))
    repeatability = next(c for c in result.checks if c.name == "repeatability")
    assert repeatability.verdict == "warning" and repeatability.value > 0.01
    assert "NAM's replicate test" in repeatability.message and repeatability.file == str(changed)


@pytest.mark.parametrize("name", ["v2_0_0", "v1_1_1", "proteus"])
def test_the_older_inputs_and_proteus_are_recognized_aligned_and_split(tmp_path, monkeypatch, name):
    e = entry(name)
    sr = e["sample_rate"]
    x = layout(e, int(LENGTH_S[name] * sr), seed=2)
    inp, out = write_pair(tmp_path, x, gear(x), sr=sr)
    monkeypatch.setattr(standard_inputs, "load_table", lambda path=None: pointed_at(copy.deepcopy(e), inp, strong=False))
    result = inspect(inp, out, defaults(AlignSettings), split=defaults(SplitSettings))  # the project expects 48 kHz
    assert not result.errors, result.report()["errors"]
    assert result.sidecar["standard"]["name"] == name and result.sample_rate == sr
    assert result.latency_method == "blips" and result.latency_samples == LATENCY
    checks = {c.name: c for c in result.checks}
    assert checks["drift"].verdict == ("ok" if e["end_blips"] else "skipped")  # only v2 has end blips to time drift by
    assert checks["repeatability"].verdict == ("ok" if len(e["validation"]) == 2 else "skipped")
