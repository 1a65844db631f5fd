"""Model structure, size, causality and streaming."""

from pathlib import Path

import numpy as np
import pytest
import torch

from ampcapture.core.errors import ConfigError
from ampcapture.models import AmpModel, build_model
from ampcapture.models.wavenet import forward_with_conv1d
from ampcapture.models.wavenet_spec import KNOB_UNFOLDABLE_FILMS
from devtools import presets

from conftest import (
    CONDITION_DSP_WAVENET,
    FILM_WAVENET,
    KERNEL_PER_LAYER_WAVENET,
    LAYER_OPTIONS_WAVENET,
    POST_HEAD_WAVENET,
    PRELU_WAVENET,
    TINY_LSTM,
    TINY_WAVENET,
)

# conf/model/ as Hydra composes it (wavenet_custom's knobs resolved into its layers).
PRESETS = {name: presets.preset(name) for name in presets.NAMES}
# Parameter counts of neural-amp-modeler 0.13's presets: our weights map one-to-one onto theirs
# (the custom presets' defaults are NAM's standard WaveNet and small LSTM).
NAM_PARAMETERS = {
    "wavenet_standard": 13801,
    "wavenet_lite": 6553,
    "wavenet_feather": 3025,
    "wavenet_nano": 841,
    "lstm_small": 1265,
    "lstm_medium": 4577,
    "wavenet_custom": 13801,
    "lstm_custom": 1265,
}


def _model(name, **changes):
    preset = PRESETS[name]
    torch.manual_seed(0)
    return build_model(preset["architecture"], {**preset["config"], **changes}).eval()


def _tiny_wavenet(**layer_changes):
    layers = [
        dict(input_size=1, condition_size=1, channels=4, head_size=2, kernel_size=3, dilations=[1, 2, 4], activation="Tanh", gated=False, head_bias=False),
        dict(input_size=4, condition_size=1, channels=2, head_size=1, kernel_size=3, dilations=[8, 16], activation="Tanh", gated=False, head_bias=True),
    ]
    for layer in layers:
        layer.update(layer_changes)
    torch.manual_seed(0)
    return build_model("WaveNet", {"layers": layers, "head_scale": 0.5}).eval()


@pytest.mark.parametrize("name", list(NAM_PARAMETERS))
def test_presets_have_nams_sizes(name):
    model = _model(name)
    assert model.num_parameters() == NAM_PARAMETERS[name]
    assert model.receptive_field == (4093 if name.startswith("wavenet") else 1)
    assert 0 < model.macs_per_sample() <= model.num_parameters()


@pytest.mark.parametrize("name", list(PRESETS))
def test_output_length_and_causality(name):
    model = _model(name)
    rf = model.receptive_field
    x = torch.randn(2, rf + 499) * 0.3
    with torch.no_grad():
        y = model(x)
        assert y.shape == (2, 500)
        x2 = x.clone()
        x2[:, rf + 299 :] += 0.5  # change the input from output sample 300 on
        y2 = model(x2)
    assert torch.equal(y[:, :300], y2[:, :300])
    assert not torch.allclose(y[:, 300:], y2[:, 300:])


@pytest.mark.parametrize(
    "make",
    [
        lambda: _model("wavenet_nano"),
        lambda: _model("lstm_small"),
        lambda: _model("lstm_guitarml"),
        lambda: _tiny_wavenet(gated=True),
        lambda: _tiny_wavenet(activation="ReLU"),
    ],
    ids=["wavenet_nano", "lstm_small", "lstm_guitarml", "wavenet_gated", "wavenet_relu"],
)
def test_streaming_equals_whole_file(make):
    model = make()
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.uniform(-0.5, 0.5, 6000)).float()
    with torch.no_grad():
        whole = model.render(x)  # from silence: after the receptive field's zeros, or an LSTM's prewarm
    for _ in range(2):  # twice: reset must really forget the previous stream
        model.reset()
        pieces, start = [], 0
        while start < x.numel():
            size = int(rng.integers(1, 700))
            pieces.append(model.process(x[start : start + size]))
            start += size
        streamed = torch.cat(pieces)
        assert streamed.shape == whole.shape
        assert torch.max(torch.abs(streamed - whole)) <= 1e-5


@pytest.mark.parametrize(
    "make",
    [
        lambda: _model("wavenet_nano"),
        lambda: _tiny_wavenet(gated=True),
        lambda: _tiny_wavenet(activation="LeakyReLU", kernel_size=2),
        lambda: build_model("WaveNet", KERNEL_PER_LAYER_WAVENET).eval(),
        lambda: _tiny_wavenet(gated="blended", secondary_activation="Tanh", bottleneck=2),
        lambda: build_model("WaveNet", LAYER_OPTIONS_WAVENET).eval(),
        lambda: build_model("WaveNet", FILM_WAVENET).eval(),
        lambda: build_model("WaveNet", POST_HEAD_WAVENET).eval(),
        lambda: build_model("WaveNet", PRELU_WAVENET).eval(),
        lambda: build_model("WaveNet", CONDITION_DSP_WAVENET).eval(),
    ],
    ids=["wavenet_nano", "wavenet_gated", "wavenet_leaky_kernel2", "wavenet_kernel_per_layer", "wavenet_blended_bottleneck", "wavenet_layer_options"]
    + ["wavenet_film", "wavenet_post_head", "wavenet_prelu", "wavenet_condition_dsp"],
)
def test_wavenet_forward_and_gradients_equal_plain_convolutions(make):
    model = make().double().train()
    x = torch.randn(3, model.receptive_field + 700, dtype=torch.float64) * 0.4
    target = torch.randn(3, 701, dtype=torch.float64)
    outputs, grads = [], []
    for forward in (model, lambda x: forward_with_conv1d(model, x)):
        inputs = x.clone().requires_grad_()
        y = forward(inputs)
        loss = ((y - target) ** 2).mean()
        outputs.append(y.detach())
        wrt = [inputs, *model.parameters()]
        # the last layer's 1x1 feeds only the unused residual stream: no gradient, or zeros
        grads.append([torch.zeros_like(w) if g is None else g for w, g in zip(wrt, torch.autograd.grad(loss, wrt, allow_unused=True))])
    assert torch.allclose(outputs[0], outputs[1], rtol=0, atol=1e-12)
    for ours, reference in zip(*grads):
        assert torch.allclose(ours, reference, rtol=1e-9, atol=1e-12)
    assert sum(g.abs().sum() for g in grads[0]) > 0


def test_wavenet_trains_under_mixed_precision():
    model = _tiny_wavenet().train()
    x = torch.randn(2, model.receptive_field + 99)
    reference = model(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = model(x)
        y.float().square().mean().backward()
    assert torch.equal(y, reference)
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_guitarml_variant_adds_the_input_and_has_no_trainable_state():
    model = _model("lstm_guitarml")
    names = {n for n, _ in model.named_parameters()}
    assert "initial_hidden" not in names and "initial_cell" not in names
    with torch.no_grad():
        for p in model.head.parameters():
            p.zero_()
        x = torch.randn(1, 100)
        assert torch.allclose(model(x), x)


@pytest.mark.parametrize(
    "architecture,config,where",
    [
        ("Transformer", {}, "model.architecture"),
        ("LSTM", {"hidden_size": 0}, "model.config"),
        ("LSTM", {"hiden_size": 16}, "model.config"),
        ("WaveNet", {"layers": []}, "model.config.layers"),
    ],
)
def test_bad_model_config_is_refused(architecture, config, where):
    with pytest.raises(ConfigError) as err:
        build_model(architecture, config)
    assert err.value.where == where


def test_model_is_selected_by_hydra_override(tmp_path):
    from ampcapture.core.config import compose, load_params

    root = Path(__file__).resolve().parents[2]
    compose(root / "conf", tmp_path / "params.yaml", ["model=lstm_small"])
    model = load_params(tmp_path / "params.yaml")["model"]
    assert build_model(model["architecture"], model["config"]).num_parameters() == NAM_PARAMETERS["lstm_small"]


def test_bad_wavenet_layers_name_the_array():
    with pytest.raises(ConfigError, match="activation"):
        _tiny_wavenet(activation="Swishy")
    bad_options = {
        "secondary_activation": dict(gated=True, secondary_activation="Swishy"),
        "gated": dict(gated="mixed"),
        "layer1x1": dict(layer1x1=False, bottleneck=1),
        "bottleneck": dict(bottleneck=0),
        "film": dict(film={"conv_middle": {}}),
        "film.head1x1_post": dict(film={"head1x1_post": {}}),
        "activation": dict(activation={"name": "PReLU", "negative_slopes": [0.1]}),
        "takes no 'slope'": dict(gated=True, secondary_activation={"name": "Sigmoid", "slope": 2}),
    }
    with pytest.raises(ConfigError, match="post_head") as err:
        build_model("WaveNet", {**POST_HEAD_WAVENET, "post_head": {**POST_HEAD_WAVENET["post_head"], "kernel_sizes": []}})
    with pytest.raises(ConfigError, match=r"condition_size \[2\]"):
        _tiny_wavenet(condition_size=2)
    with pytest.raises(ConfigError, match="add a post_head"):
        build_model("WaveNet", {"layers": POST_HEAD_WAVENET["layers"]})
    for key, changes in bad_options.items():
        with pytest.raises(ConfigError) as err:
            _tiny_wavenet(**changes)
        assert err.value.where.startswith("model.config.layers[0]") and key in f"{err.value.where} {err.value}", key
    layers = PRESETS["wavenet_standard"]["config"]["layers"]
    broken = [layers[0], {**layers[1], "channels": 5}]
    with pytest.raises(ConfigError) as err:
        build_model("WaveNet", {"layers": broken})
    assert err.value.where == "model.config.layers[1]"


@pytest.mark.parametrize("model", [TINY_WAVENET, TINY_LSTM], ids=["wavenet", "lstm"])
def test_evaluating_a_region_in_chunks_gives_the_numbers_of_one_pass(monkeypatch, model):
    module = build_model(model["architecture"], model["config"]).eval()
    x = 0.3 * torch.randn(1, module.pre_roll + 1000, generator=torch.Generator().manual_seed(0))
    monkeypatch.setattr(AmpModel, "eval_chunk", 97)  # so hours of audio never need one pass's activations
    with torch.no_grad():
        torch.testing.assert_close(module.evaluate(x), module.predict(x), rtol=0, atol=1e-6)


# the FiLMs a knob setting folds through (the others scale the knobs' share by the signal: refused)
FOLDABLE_FILM_WAVENET = {
    **FILM_WAVENET,
    "layers": [{**c, "film": {p: v for p, v in c["film"].items() if p not in KNOB_UNFOLDABLE_FILMS}} for c in FILM_WAVENET["layers"]],
}
KNOB_MODELS = {
    "wavenet": lambda: build_model("WaveNet", {**TINY_WAVENET["config"], "knobs": 2}),
    "wavenet_film": lambda: build_model("WaveNet", {**FOLDABLE_FILM_WAVENET, "knobs": 2}),
    "wavenet_layer_options": lambda: build_model("WaveNet", {**LAYER_OPTIONS_WAVENET, "knobs": 2}),
    "lstm": lambda: build_model("LSTM", {**TINY_LSTM["config"], "num_layers": 2, "knobs": 2}),
    "container": lambda: build_model("SlimmableContainer", {"submodels": [{"architecture": "WaveNet", "config": TINY_WAVENET["config"]}] * 2, "knobs": 2}),
}


@pytest.mark.parametrize("make", KNOB_MODELS.values(), ids=KNOB_MODELS.keys())
def test_a_knob_setting_folds_into_an_ordinary_model_that_plays_the_same(make):
    torch.manual_seed(0)
    model = make().eval()
    for p in model.parameters():  # knob weights large enough that a wrong fold shows
        p.data.add_(0.2 * torch.randn_like(p))
    x = torch.randn(3, model.pre_roll + 600) * 0.4
    knobs = torch.rand(3, 2)
    with torch.no_grad():
        held = model.predict(x, knobs)
        assert torch.equal(model.predict(x, knobs[..., None].expand(-1, -1, x.shape[1])), held)  # held == a constant curve
        assert (held[0] - model.predict(x, knobs.flip(0))[2]).abs().max() > 1e-3  # the knobs matter
        for b in range(3):
            plain = model.at_knobs(knobs[b])
            # every 1x1 of the condition (and the LSTM's first layer) loses its two knob columns
            conditioned = ("input_mixer.weight", "weight_ih_l0")
            knob_weights = [p for n, p in model.named_parameters() if n.endswith(conditioned) or (".films." in n and n.endswith(".weight"))]
            assert plain.knobs == 0 and plain.num_parameters() == model.num_parameters() - sum(2 * p.shape[0] for p in knob_weights)
            assert (plain.predict(x[b : b + 1])[0] - held[b]).abs().max() <= 1e-6
            assert (plain.render(x[b]) - model.render(x[b], knobs[b])).abs().max() <= 1e-6


def test_knobs_are_refused_where_they_do_not_fit():
    plain, knobbed = build_model("WaveNet", TINY_WAVENET["config"]), build_model("LSTM", {**TINY_LSTM["config"], "knobs": 1})
    x = torch.zeros(1, plain.pre_roll + 10)
    with pytest.raises(ValueError, match="takes 0 knob value"):
        plain.predict(x, torch.zeros(1, 1))
    with pytest.raises(ValueError, match="takes 1 knob value"):
        knobbed.predict(torch.zeros(1, knobbed.pre_roll + 10))
    with pytest.raises(NotImplementedError, match="no knobs to fold"):
        plain.at_knobs(torch.zeros(1))
    with pytest.raises(ConfigError, match="condition_dsp"):
        build_model("WaveNet", {**CONDITION_DSP_WAVENET, "knobs": 1})
    with pytest.raises(ConfigError, match="conv_post FiLM"):
        build_model("WaveNet", {**FILM_WAVENET, "knobs": 1})


def test_knob_wavenet_gradients_equal_plain_convolutions():
    model = build_model("WaveNet", {**TINY_WAVENET["config"], "knobs": 2}).double().train()
    x = torch.randn(3, model.receptive_field + 300, dtype=torch.float64) * 0.4
    knobs, target = torch.rand(3, 2, dtype=torch.float64), torch.randn(3, 301, dtype=torch.float64)
    grads = []
    for forward in (lambda x: model(x, knobs), lambda x: forward_with_conv1d(model, x, knobs)):
        loss = ((forward(x) - target) ** 2).mean()
        wrt = list(model.parameters())
        grads.append([torch.zeros_like(w) if g is None else g for w, g in zip(wrt, torch.autograd.grad(loss, wrt, allow_unused=True))])
    for ours, reference in zip(*grads):
        assert torch.allclose(ours, reference, rtol=1e-9, atol=1e-12)
    mixer = model.arrays[0].layers[0].input_mixer.weight
    assert grads[0][[p is mixer for p in model.parameters()].index(True)][:, 1:].abs().sum() > 0  # the knob columns learn
