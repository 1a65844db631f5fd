import json

import pytest
import soundfile as sf

from ampcapture.capture.align import AlignSettings, align_capture
from ampcapture.capture.split import SplitSettings, split_capture
from ampcapture.core.config import defaults
from ampcapture.core.errors import CaptureError, ConfigError

from conftest import delayed, write_pair


def _spans_overlap(a, b):
    return any(s1 < e2 and s2 < e1 for s1, e1 in a for s2, e2 in b)


def test_split_of_the_standardized_signal_follows_its_sidecar(tmp_path, tiny_stimulus):
    path, x, sidecar = tiny_stimulus
    inp, out = write_pair(tmp_path / "capture", x, delayed(x, 37, 0.5))
    align_capture(inp, out, tmp_path / "aligned", tmp_path / "reports" / "align.json", defaults(AlignSettings), reference_wav=path)
    report = split_capture(tmp_path / "aligned", tmp_path / "splits", tmp_path / "reports" / "split.json", defaults(SplitSettings), "t")
    split = json.loads((tmp_path / "splits" / "split.json").read_text())
    regions = {r["name"]: [r["start"], r["end"]] for r in sidecar["regions"]}
    assert split["method"] == report["method"] == "sidecar"
    assert split["validation"] == [regions["validation_a"]]
    assert split["test"] == [regions["test"]]
    assert regions["playing"] in split["train"] and regions["sweep_0"] in split["train"] and regions["noise_0"] in split["train"]
    # Neither copy of the validation segment nor the test segment is ever trained on.
    for held_out in ([regions["validation_a"]], [regions["validation_b"]], split["test"]):
        assert not _spans_overlap(split["train"], held_out)
    assert report["validation_s"] == pytest.approx(3.0) and report["test_s"] == pytest.approx(3.0)


def _split_recording(tmp_path, samples: int, **settings) -> tuple[dict, dict]:
    """(report, split.json) of an aligned recording of `samples` samples without a sidecar."""
    aligned = tmp_path / "aligned"
    aligned.mkdir()
    sf.write(str(aligned / "input.wav"), [0.1] * samples, 48000)
    report = split_capture(aligned, tmp_path / "splits", tmp_path / "split_report.json", defaults(SplitSettings, **settings))
    return report, json.loads((tmp_path / "splits" / "split.json").read_text())


def test_recording_without_sidecar_splits_by_fractions_in_one_tail_each(tmp_path):
    report, split = _split_recording(tmp_path, 1000, train_fraction=0.7, validation_fraction=0.2, min_region_s=0.001, blocks=1)
    assert report["method"] == "fractions"
    assert (split["train"], split["validation"], split["test"]) == ([[0, 700]], [[700, 900]], [[900, 1000]])


def test_blocks_put_the_fractions_in_every_part_of_the_recording(tmp_path):
    report, split = _split_recording(tmp_path, 1000, train_fraction=0.8, validation_fraction=0.1, min_region_s=0.001, blocks=4)
    assert split["train"] == [[0, 200], [250, 450], [500, 700], [750, 950]]
    assert split["validation"] == [[200, 225], [450, 475], [700, 725], [950, 975]]
    assert split["test"] == [[225, 250], [475, 500], [725, 750], [975, 1000]]
    assert report["regions"] == {"train": 4, "validation": 4, "test": 4}
    # together they tile the recording, once each
    assert sorted(span for spans in (split["train"], split["validation"], split["test"]) for span in spans)[0][0] == 0
    assert sum(e - s for r in ("train", "validation", "test") for s, e in split[r]) == 1000


@pytest.mark.parametrize("blocks", [0, -1, 65, 2.5, True])
def test_nonsense_blocks_are_refused(blocks):
    with pytest.raises(ConfigError, match="data.split.blocks"):
        defaults(SplitSettings, blocks=blocks)


@pytest.mark.parametrize("fractions", [(0.9, 0.2), (0.0, 0.1), (0.8, 0.0), (1.2, -0.3)])
def test_nonsense_fractions_are_refused(fractions):
    with pytest.raises(ConfigError, match="data.split"):
        defaults(SplitSettings, **dict(zip(("train_fraction", "validation_fraction"), fractions)))


def test_a_recording_too_short_to_split_is_refused_with_the_length_it_needs(tmp_path):
    with pytest.raises(CaptureError, match="validation 0.05 s, test 0.05 s; each needs at least 3 s") as error:
        _split_recording(tmp_path, 24000)  # half a second
    assert "record at least 30 s" in error.value.fix and not (tmp_path / "splits").exists() and not (tmp_path / "split_report.json").exists()


def test_split_without_aligned_audio_says_to_run_align(tmp_path):
    with pytest.raises(CaptureError, match="run the align stage"):
        split_capture(tmp_path / "nothing", tmp_path / "splits", tmp_path / "r.json", defaults(SplitSettings))
    assert not (tmp_path / "splits").exists()
