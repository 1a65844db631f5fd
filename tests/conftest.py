"""Shared helpers: a tiny standardized signal (seconds, not minutes), reamp pairs, and a tiny
demo project (signal through the virtual amp, aligned and split) to train on."""

from __future__ import annotations

import copy
import csv
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml

from ampcapture.audio.stimulus import StimulusSpec, generate, write_stimulus
from ampcapture.audio.virtual_amp import AmpSettings, render_demo_capture_set
from ampcapture.core.config import defaults, settings
from ampcapture.core.paths import Layout
from ampcapture.stages import align as align_stage
from ampcapture.stages import demo as demo_stage
from ampcapture.stages import split as split_stage
from ampcapture.stages import stimulus as stimulus_stage

SR = 48000
ROOT = Path(__file__).resolve().parents[1]
if os.environ.get("PYTEST_XDIST_WORKER"):  # `make test`: a worker per core, so one thread each
    torch.set_num_threads(1)

TINY = dict(
    silence_s=0.25, blip_spacing_s=0.25, validation_s=3.0, sweep_s=0.5, sweep_levels_db=[-18.0], noise_s=0.3, noise_levels_db=[-20.0], playing_s=3.0, test_s=3.0
)


def tiny_spec(**overrides) -> StimulusSpec:
    return defaults(StimulusSpec, **{**TINY, **overrides})


@pytest.fixture(scope="session")
def tiny_stimulus(tmp_path_factory) -> tuple[Path, np.ndarray, dict]:
    """The tiny standardized signal written to disk (24-bit, as users get it) with its sidecar."""
    path = tmp_path_factory.mktemp("signal") / "reamp_input.wav"
    sidecar = write_stimulus(path, tiny_spec())
    return path, sf.read(str(path), dtype="float64")[0], sidecar


@pytest.fixture(scope="session")
def tiny_params(tmp_path_factory) -> dict:
    """params.yaml with a few seconds of signal through the virtual amp, aligned and split, in a scratch folder."""
    root = tmp_path_factory.mktemp("project")
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["stimulus"].update(TINY)
    params["paths"] = {k: str(root / v) for k, v in params["paths"].items()}
    for stage in (stimulus_stage, demo_stage, align_stage, split_stage):
        stage.run(params)
    return params


@pytest.fixture(scope="session")
def tiny_knob_params(tiny_params, tmp_path_factory) -> dict:
    """tiny_params with capture=knobs: a capture set of the tiny signal through the virtual amp at
    drive 6, 18 (held out) and 30 dB, aligned and split."""
    params = copy.deepcopy(tiny_params)
    params["capture"] = "knobs"
    layout = Layout.of(params)
    render_demo_capture_set(layout.stimulus, layout.recording(), settings(AmpSettings, params), {"drive_db": [6.0, 18.0, 30.0]})
    for stage in (align_stage, split_stage):
        stage.run(params)
    return params


TINY_WAVENET = {
    "name": "wavenet_tiny",
    "architecture": "WaveNet",
    "config": {
        "head_scale": 0.02,
        "layers": [
            {
                "input_size": 1,
                "condition_size": 1,
                "channels": 4,
                "head_size": 1,
                "kernel_size": 3,
                "dilations": [1, 2, 4, 8],
                "activation": "Tanh",
                "gated": False,
                "head_bias": True,
            }
        ],
    },
}
# A2's shape in small (one kernel size per layer, 1 and 15 included, LeakyReLU, one array, a
# head of several taps), and what else NAM 0.13's files set per layer: activation and gating.
KERNEL_PER_LAYER_WAVENET = {
    "head_scale": 0.5,
    "layers": [
        dict(
            input_size=1,
            condition_size=1,
            channels=3,
            head_size=1,
            kernel_size=[6, 2, 15, 1],
            dilations=[1, 3, 1, 13],
            activation=["LeakyReLU", "Tanh", "LeakyReLU", "SiLU"],
            gated=[False, True, False, False],
            head_bias=True,
            head_kernel_size=5,
        )
    ],
}
# NAM 0.13's layer options: a bottleneck, a head 1x1, blended and Tanh-gated layers, then layers
# without a 1x1 (the head sum enters the second array through the first's 3-channel head).
LAYER_OPTIONS_WAVENET = {
    "head_scale": 0.1,
    "layers": [
        dict(
            input_size=1,
            condition_size=1,
            channels=4,
            head_size=3,
            kernel_size=3,
            dilations=[1, 2, 4],
            bottleneck=2,
            head1x1=5,
            activation=["Tanh", "Softsign", "ReLU"],
            gated=["blended", "gated", "none"],
            secondary_activation=["Sigmoid", "Tanh", "Sigmoid"],
        ),
        dict(
            input_size=4,
            condition_size=1,
            channels=3,
            head_size=1,
            kernel_size=2,
            dilations=[8, 16, 1],
            layer1x1=False,
            head_kernel_size=2,
            gated="blended",
            secondary_activation="Hardtanh",
        ),
    ],
}
# NAM 0.13's FiLM at each of its eight positions, with and without a shift, in gated, plain and
# blended layers (a bottleneck and a head 1x1 in the first array, for the positions after them).
FILM_WAVENET = {
    "head_scale": 0.1,
    "layers": [
        dict(
            input_size=1,
            condition_size=1,
            channels=4,
            head_size=3,
            kernel_size=3,
            dilations=[1, 2],
            bottleneck=3,
            head1x1=2,
            gated=["gated", "none"],
            film={"conv_pre": {"shift": True}, "input_mixin_pre": {}, "activation_post": {"shift": False}, "layer1x1_post": None}
            | {"head1x1_post": {"shift": False}},
        ),
        dict(
            input_size=4,
            condition_size=1,
            channels=3,
            head_size=1,
            kernel_size=2,
            dilations=[4, 8],
            activation="Softsign",
            gated="blended",
            film={"conv_post": {"shift": False}, "input_mixin_post": {}, "activation_pre": {}},
        ),
    ],
}
# NAM 0.13's post-head: after head_scale, blocks of an activation and a convolution (taps of
# their own) take the last array's 2-channel head to the output.
POST_HEAD_WAVENET = {
    "head_scale": 0.3,
    "post_head": {"channels": 3, "activation": "Softsign", "out_channels": 1, "kernel_sizes": [3, 1, 2]},
    "layers": [dict(input_size=1, condition_size=1, channels=4, head_size=2, kernel_size=3, dilations=[1, 2, 4], activation="Tanh", gated=False)],
}
# Activations with parameters of their own (NAM's defaults otherwise)...
ACTIVATION_PARAMETERS_WAVENET = {
    "head_scale": 0.1,
    "layers": [
        dict(
            input_size=1,
            condition_size=1,
            channels=3,
            head_size=1,
            kernel_size=3,
            dilations=[1, 2, 4],
            activation=[
                {"name": "LeakyReLU", "negative_slope": 0.2},
                {"name": "Hardtanh", "min_val": -0.5, "max_val": 0.7},
                {"name": "LeakyHardtanh", "min_val": -0.3, "max_val": 0.6, "min_slope": 0.05, "max_slope": 0.1},
            ],
        )
    ],
}
# ... and PReLU, one slope or one per channel, and a gate with parameters: what neural-amp-modeler
# 0.13's loader cannot read back (it drops PReLU's slopes, and takes no pairing of such activations).
PRELU_WAVENET = {
    "head_scale": 0.1,
    "layers": [
        dict(
            input_size=1,
            condition_size=1,
            channels=3,
            head_size=1,
            kernel_size=3,
            dilations=[1, 2, 4],
            activation=[{"name": "PReLU", "negative_slopes": [0.1, -0.2, 0.3]}, "PReLU", {"name": "LeakyReLU", "negative_slope": 0.3}],
            gated=[False, False, True],
            secondary_activation={"name": "Hardtanh", "min_val": 0.0, "max_val": 1.0},
        )
    ],
}
# NAM 0.13's condition DSP: a small WaveNet's two output channels condition the layers (FiLM
# included) instead of the input sample.
CONDITION_DSP_WAVENET = {
    "head_scale": 0.3,
    "condition_dsp": {
        "head_scale": 0.5,
        "layers": [dict(input_size=1, condition_size=1, channels=3, head_size=2, kernel_size=3, dilations=[1, 4], activation="Tanh")],
    },
    "layers": [
        dict(
            input_size=1,
            condition_size=2,
            channels=4,
            head_size=1,
            kernel_size=2,
            dilations=[1, 2, 8],
            activation="Tanh",
            gated=[False, True, False],
            film={"conv_pre": {}, "input_mixin_pre": {"shift": False}},
        )
    ],
}
# NAM's A2 in small: two sizes of one WaveNet (2 and 4 channels, a 3-tap head) trained together.
TINY_CONTAINER = {
    "name": "container_tiny",
    "architecture": "SlimmableContainer",
    "config": {
        "submodels": [
            {"architecture": "WaveNet", "config": {"head_scale": 0.02, "layers": [{**tiny_layer, "channels": channels, "head_kernel_size": 3}]}}
            for tiny_layer in TINY_WAVENET["config"]["layers"]
            for channels in (2, 4)
        ]
    },
}
TINY_LSTM = {
    "name": "lstm_tiny",
    "architecture": "LSTM",
    "config": {"hidden_size": 4, "num_layers": 1, "warmup": 64, "skip": False, "trainable_initial_state": True},
}


def training_cfg(params: dict, tmp_path: Path, monkeypatch, model: dict = TINY_WAVENET, epochs: int = 3) -> dict:
    """A training config on a tiny capture (or capture set): short epochs, MLflow in the test's
    folder; the kept model as its epoch left it (no output offset removed: the tests of which
    epoch is kept compare with the epochs' logged figures; test_calibration.py trains with it)."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    cfg = copy.deepcopy(params)
    cfg["paths"]["models"] = str(tmp_path / "models")
    cfg["model"] = copy.deepcopy(model)
    cfg["train"].update(ny=1024, batch_size=4, windows_per_epoch=8, lr=0.01, calibrate_offset=False)
    cfg["trainer"].update(max_epochs=epochs, progress_bar=False)
    cfg["logger"].update(clip_seconds=0.5)
    return cfg


@pytest.fixture
def cfg(tiny_params, tmp_path, monkeypatch) -> dict:
    """A training config on the tiny demo capture: a 4-channel WaveNet, 3 short epochs, MLflow in the test's folder."""
    return training_cfg(tiny_params, tmp_path, monkeypatch)


def amp_module(architecture: str, config: dict, knobs: dict | None = None, sample_rate: int = SR):
    """The LightningModule of a model with the default loss and training settings, untrained."""
    from dataclasses import asdict

    from ampcapture.training.losses import LossSettings
    from ampcapture.training.module import AmpModule
    from ampcapture.training.settings import TrainSettings

    return AmpModule(architecture, config, sample_rate, asdict(defaults(LossSettings)), asdict(defaults(TrainSettings)), knobs=knobs)


def esr_curve(result: dict) -> list[dict[str, float]]:
    """A training run's per-epoch esr_curve.csv, as numbers."""
    with open(Path(result["checkpoint"]).parent / "esr_curve.csv") as f:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]


def interrupt_at_epoch(monkeypatch, epoch: int) -> None:
    """Make training raise Ctrl+C as `epoch` starts (what a user's interrupt does)."""
    from ampcapture.training.module import AmpModule

    start_epoch = AmpModule.on_train_epoch_start

    def ctrl_c(self):
        start_epoch(self)
        if self.current_epoch == epoch:
            raise KeyboardInterrupt

    monkeypatch.setattr(AmpModule, "on_train_epoch_start", ctrl_c)


def torch_render(model, x: np.ndarray) -> np.ndarray:
    """What a torch model plays for `x` from silence (AmpModel.render), as numpy."""
    with torch.no_grad():
        return model.render(torch.from_numpy(x)).numpy()


def delayed(x: np.ndarray, latency: int, gain: float = 1.0, noise_db: float = -80.0, seed: int = 0) -> np.ndarray:
    """What a linear device with `latency` samples of delay, a gain and a noise floor records."""
    y = np.concatenate([np.zeros(latency), x[: x.size - latency]]) * gain
    return y + 10 ** (noise_db / 20) * np.random.default_rng(seed).standard_normal(x.size)


def write_pair(folder: Path, x: np.ndarray, y: np.ndarray, sr: int = SR, out_sr: int | None = None, subtype: str = "PCM_24") -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    sf.write(str(folder / "input.wav"), x, sr, subtype=subtype)
    sf.write(str(folder / "output.wav"), y, out_sr or sr, subtype=subtype)
    return folder / "input.wav", folder / "output.wav"


def as_plain_user() -> list[str]:
    """A command prefix under which folder permissions hold: root ignores them, so as root the
    command runs without the capabilities that override them (util-linux's setpriv)."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("runs as root and setpriv (util-linux) is missing, so a read-only folder cannot be made")
    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]


def read_only_folder(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o555)
    return path


__all__ = [
    "as_plain_user",
    "read_only_folder",
    "SR",
    "TINY_LSTM",
    "TINY_WAVENET",
    "tiny_spec",
    "delayed",
    "write_pair",
    "generate",
    "esr_curve",
    "interrupt_at_epoch",
    "torch_render",
]
