import json

import numpy as np
import pytest
import soundfile as sf

from ampcapture.audio.stimulus import StimulusSpec, generate
from ampcapture.cli import main as cli
from ampcapture.core.config import defaults
from ampcapture.core.errors import ConfigError

from conftest import tiny_spec


def test_signal_is_deterministic_and_seeded():
    a, side_a = generate(tiny_spec())
    b, side_b = generate(tiny_spec())
    c, _ = generate(tiny_spec(seed=1))
    assert np.array_equal(a, b) and side_a == side_b
    assert not np.array_equal(a, c)


def test_default_signal_is_about_three_minutes_and_covers_every_region():
    audio, sidecar = generate(defaults(StimulusSpec))
    assert 170 <= sidecar["duration_s"] <= 190
    kinds = {r["kind"] for r in sidecar["regions"]}
    assert kinds == {"silence", "blips", "validation", "sweep", "noise", "playing", "test"}
    assert np.max(np.abs(audio)) < 1.0


def test_sidecar_matches_audio(tiny_stimulus):
    path, audio, sidecar = tiny_stimulus
    regions = sidecar["regions"]
    assert sidecar["num_samples"] == audio.size == sf.info(str(path)).frames
    assert json.loads(path.with_suffix(".json").read_text()) == sidecar
    # Regions tile the file without gaps or overlaps.
    assert regions[0]["start"] == 0 and regions[-1]["end"] == audio.size
    assert all(r["end"] == s["start"] for r, s in zip(regions, regions[1:]))
    for r in regions:
        seg = audio[r["start"] : r["end"]]
        if r["kind"] == "silence":
            assert not seg.any(), r["name"]
        else:
            assert np.max(np.abs(seg)) > 1e-3, r["name"]
    # Blips are single impulses exactly where the sidecar says, nothing else in their region.
    for where in ("start", "end"):
        region = next(r for r in regions if r["name"] == f"blips_{where}")
        seg = audio[region["start"] : region["end"]]
        assert (np.flatnonzero(seg) + region["start"]).tolist() == sidecar["blips"][where]
    # The validation segment appears twice, identical, each preceded by silence.
    twins = [i for i, r in enumerate(regions) if r["kind"] == "validation"]
    a, b = (audio[regions[i]["start"] : regions[i]["end"]] for i in twins)
    assert len(twins) == 2 and np.array_equal(a, b)
    assert all(regions[i - 1]["kind"] == "silence" for i in twins)
    # Sweep and noise levels are what the spec says (peak in dBFS, within the 24-bit step).
    sweep = next(r for r in regions if r["kind"] == "sweep")
    peak = 20 * np.log10(np.max(np.abs(audio[sweep["start"] : sweep["end"]])))
    assert peak == pytest.approx(-18.0, abs=0.05)


def test_cli_writes_44k1_signal(tmp_path):
    out = tmp_path / "sig.wav"
    assert cli(["stimulus", str(out), "--sample-rate", "44100"]) == 0
    info = sf.info(str(out))
    sidecar = json.loads(out.with_suffix(".json").read_text())
    assert info.samplerate == 44100 and sidecar["sample_rate"] == 44100 and sidecar["num_samples"] == info.frames
    assert sidecar["blips"]["start"][1] - sidecar["blips"]["start"][0] == round(0.5 * 44100)


@pytest.mark.parametrize("bad", [dict(sample_rate=22050), dict(playing_s=0), dict(blips=0), dict(sweep_levels_db=[3.0])])
def test_nonsense_signal_spec_is_refused(bad):
    with pytest.raises(ConfigError):
        tiny_spec(**bad)
