"""Hostile model and audio files: each of the reported ones refused by name before anything is
allocated, a few hundred fuzzed ones (devtools/fuzz.py) ending in a clear error or a render,
never a traceback, a hang or gigabytes of memory; and a render that streams (its memory does
not grow with the take, and it plays what the whole take rendered at once plays)."""

from __future__ import annotations

import copy
import json
import tracemalloc

import numpy as np
import pytest
import soundfile as sf
import torch

from ampcapture.audio.guitar import playing
from ampcapture.cli import main as cli
from ampcapture.core.errors import ModelFileError
from ampcapture.formats.checkpoint import load_checkpoint
from ampcapture.runtime.load import load_model
from ampcapture.runtime.render import StreamResampler, render_file, resample
from devtools.fuzz import fuzz, seed_models, seed_wav

SR = 48000


@pytest.fixture(scope="module")
def seeds():
    return seed_models()


def _with(data: dict, path: tuple, value) -> dict:
    data = copy.deepcopy(data)
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return data


@pytest.mark.parametrize(
    "seed, path, value, message",
    [
        ("wavenet", ("config", "layers", 0, "dilations", 0), 10**8, "has a dilation 100000000: it must be a whole number from 1 to 65536"),
        ("wavenet", ("config", "layers", 0, "dilations"), [65536] * 8, "samples (limit 262144: 5.5 s at 48 kHz)"),
        ("wavenet", ("config", "layers", 0, "channels"), 10**6, "has channels 1000000"),
        ("wavenet", ("sample_rate",), -48000, "has sample_rate -48000: a model's rate is a number from 8000 to 384000 Hz"),
        ("wavenet", ("sample_rate",), 1e9, "has sample_rate 1000000000.0"),
        ("wavenet", ("sample_rate",), 1, "has sample_rate 1:"),
        ("wavenet", ("version",), "banana", "has version 'banana', which is no NAM file version"),
        ("wavenet", ("version",), "9.9.9", "was written by a newer NAM (9.9); ampcapture reads up to 0.7"),
        ("lstm", ("config", "hidden_size"), 10**5, "has hidden_size 100000"),
        ("container", ("config", "submodels", 0, "model", "config", "layers", 0, "channels"), 10**4, "(submodels[0]) (layers[0]): has channels 10000"),
        ("wavenet", ("metadata",), True, "metadata that is not a mapping"),
    ],
    ids=[
        "dilation-1e8",
        "receptive-field",
        "channels",
        "rate-negative",
        "rate-1e9",
        "rate-1",
        "version-banana",
        "version-newer",
        "hidden",
        "container",
        "metadata",
    ],
)
def test_a_hostile_nam_is_refused_by_name_before_anything_is_allocated(seeds, tmp_path, capsys, seed, path, value, message):
    bad = tmp_path / "bad.nam"
    bad.write_text(json.dumps(_with(seeds[seed], path, value)))
    wav = seed_wav(tmp_path)
    assert cli(["render", str(bad), str(wav), str(tmp_path / "out.wav"), "--no-progress"]) == 1
    said = " ".join(capsys.readouterr().err.split())
    assert message in said and str(bad) in said and "Traceback" not in said, said
    assert not (tmp_path / "out.wav").exists()


def test_json_nested_200000_deep_is_refused(tmp_path):
    bad = tmp_path / "deep.nam"
    bad.write_text("[" * 200_000 + "]" * 200_000)
    with pytest.raises(ModelFileError, match="nests its JSON more than 32 levels deep"):
        load_model(bad)


def test_a_checkpoint_asking_for_a_huge_model_is_refused_before_it_is_built(tmp_path):
    layer = {"input_size": 1, "condition_size": 1, "head_size": 1, "channels": 10**6, "kernel_size": 3, "dilations": [1], "activation": "Tanh", "gated": False}
    hp = {"architecture": "WaveNet", "config": {"layers": [{**layer, "head_bias": True}], "head_scale": 0.02}, "sample_rate": 48000}
    torch.save({"state_dict": {}, "hyper_parameters": hp}, tmp_path / "huge.ckpt")
    with pytest.raises(ModelFileError, match="has channels 1000000"):
        load_checkpoint(tmp_path / "huge.ckpt")


def test_fuzzed_models_and_wavs_end_in_a_clear_error_or_a_render(tmp_path):
    tally = fuzz(tmp_path, cases=160, seed=1)
    assert tally.failures == [], "\n".join(tally.failures[:20])
    assert tally.outcomes["error"] > 100 and tally.outcomes["played"] > 10  # both outcomes exercised
    assert tally.max_rss_mb < 2048


def test_the_stream_resampler_gives_what_resampling_the_whole_signal_gives():
    rng = np.random.default_rng(0)
    for rates in ((44100, 48000), (48000, 44100), (96000, 48000), (22050, 48000)):
        x = rng.standard_normal(150_001).astype(np.float32)
        stream, cut, parts = StreamResampler(*rates), 0, []
        while cut < x.size:
            step = int(rng.integers(1, 40_000))
            parts.append(stream.push(x[cut : cut + step], final=cut + step >= x.size))
            cut += step
        np.testing.assert_allclose(np.concatenate(parts), resample(x, *rates).astype(np.float32), atol=1e-6)


def test_a_render_streams_and_plays_what_the_whole_take_plays(seeds, tmp_path):
    model = tmp_path / "m.nam"
    model.write_text(json.dumps(seeds["wavenet"]))
    loaded = load_model(model)
    peaks = {}
    for seconds in (2, 24):
        take = np.stack([playing(seconds, 44100, 1), playing(seconds, 44100, 2)], axis=1).astype(np.float32)
        sf.write(tmp_path / "in.wav", take, 44100, subtype="FLOAT")
        tracemalloc.start()
        render_file(model, tmp_path / "in.wav", tmp_path / "out.wav", progress=False, warn=lambda _: None)
        peaks[seconds] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peaks[24] < 1.3 * peaks[2], peaks  # 12x the take, about the same memory
    out, rate = sf.read(tmp_path / "out.wav", dtype="float32")
    whole = [resample(loaded.engine.render(resample(take[:, c], 44100, SR).astype(np.float32)), SR, 44100)[: len(take)] for c in range(2)]
    assert rate == 44100 and out.shape == take.shape
    np.testing.assert_allclose(out, np.stack(whole, axis=1), atol=1e-5)
