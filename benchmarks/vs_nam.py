"""Our trainer against neural-amp-modeler's, on the same aligned capture and split, for the same
wall-clock budget on this machine. Both trained models are written as `.nam` files and rendered
by NAM's own loader over the whole capture; their ESRs on the train, validation and test
regions (the test region: playing neither trainer saw) are printed with our/NAM ratios and
written to result.json.

    python benchmarks/vs_nam.py [--capture demo] [--minutes 10] [--preset wavenet_standard | a2 | ...]
                                [--reuse-nam] [--nam-seed N] [--blocks N] [--test-curve] [--ours-only] [key=value ...]

`key=value` overrides our training configuration (e.g. `train.ema_decay=null`), which is how
the README's ablation table is made; `--reuse-nam` takes NAM's model from an earlier run with
the same capture, preset and budget instead of training it again. `--preset a2` trains NAM's A2
on both sides (NAM: its PackedWaveNet, both sizes in one run, each exported from its own best
checkpoint; ours: the SlimmableContainer) and reports every size's ESRs besides the largest's. `nam-full` always seeds torch
with 0; `--nam-seed N` trains NAM under another seed (kept in nam_seed<N>/), and with
`train.seed=N` on our side, repeated runs show each trainer's run-to-run spread: on a short,
hard test region one pair of runs says little. `--test-curve` also writes our every size's
validation and test ESR after each epoch, and the seconds since training began, to
ours/<overrides>/test_curve.csv (the weights validation sees, kept and rendered once training has
stopped, so the curve costs ours no steps): whether some epoch plays the test region better than
the one kept, and when (benchmarks/suite.py's time to quality).
`--ours-only` trains and renders ours alone: an ablation compared with our own runs of another
recipe needs no NAM run (result_<overrides>_ours_only.json, no ratios).

NAM (neural-amp-modeler 0.13.0, `nam-full` with the recipe its 0.13 trainer ships: Adam lr 0.004,
weight decay 3.17e-7, ExponentialLR 0.994 per epoch, MSE + 5e-4 MR-STFT, ny 8192, batch 16)
is installed into its own virtual environment, .benchmarks/nam-venv, the first time. A capture
is read from data/captures/<name>/ and aligned as the DAG does (once), then split afresh with
params.yaml's data.split (`--blocks N` sets data.split.blocks) into the run folder,
.benchmarks/vs_nam/<capture>/<preset>[_blocks<N>]/, where NAM's runs on that split are kept.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
import yaml

from ampcapture.audio.io import read_audio
from ampcapture.core.config import defaults, load_params, section
from ampcapture.core.config import preset as load_preset
from ampcapture.core.errors import AmpCaptureError
from ampcapture.core.files import write_json
from ampcapture.core.paths import Layout
from ampcapture.export.write import ExportSettings, export_checkpoint
from ampcapture.models.wavenet_spec import WaveNetSpec
from ampcapture.stages import align as align_stage
from ampcapture.stages import split as split_stage
from ampcapture.training.fit import train
from ampcapture.training.losses import esr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from devtools.nam_reference import NAM_VERSION, ensure_nam  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
NAM_FULL_SEEDED = """
import sys, torch
import nam.train.full  # seeds torch with 0 when imported
from nam.cli import nam_full
torch.manual_seed(int(sys.argv.pop(1)))
sys.exit(nam_full())
"""
WORK = ROOT / ".benchmarks"
REGIONS = ("train", "validation", "test")
RENDER_WITH_NAM = """
import json, sys, numpy as np, torch
from nam.models._from_nam import init_from_nam
x = torch.from_numpy(np.load(sys.argv[1])).float()
for model_path, out in zip(sys.argv[2::2], sys.argv[3::2]):
    data = json.load(open(model_path))
    # a SlimmableContainer (A2): NAM's loader reads its sizes one at a time; OUT gets the largest
    parts = [s["model"] for s in data["config"]["submodels"]] if data["architecture"] == "SlimmableContainer" else [data]
    for i, part in enumerate(parts):
        model = init_from_nam(part)
        model.eval()
        with torch.no_grad():
            y = model(x).numpy().astype(np.float32)
        if i == len(parts) - 1:
            np.save(out, y)
        if len(parts) > 1:
            np.save(out.replace(".npy", f".size{i}.npy"), y)
"""


def _nam_activation(layer) -> str | dict:
    """A layer's activation as NAM's config names it (gated and blended layers are pairings; a
    per-channel PReLU by its channel count, NAM's loader's way)."""
    activation = layer.activation.config()
    if isinstance(activation, dict) and "negative_slopes" in activation:
        activation = {"name": "PReLU", "num_parameters": len(activation["negative_slopes"])}
    if not layer.paired:
        return activation
    return {"name": "PairMultiply" if layer.gating == "gated" else "PairBlend", "primary": activation, "secondary": layer.secondary.config()}


def nam_wavenet_config(config: dict) -> dict:
    """Our WaveNet config as NAM's (0.13); NAM 0.13's layer options only where set, so that our
    presets read as NAM's own (our a2 as nam/train/_resources/config_model_packed.json's submodels)."""
    spec, arrays = WaveNetSpec.from_config(config), []
    for c in spec.arrays:
        pairs = [_nam_activation(layer) for layer in c.layers]
        array = {
            "input_size": c.input_size,
            "condition_size": c.condition_size,
            "channels": c.channels,
            "kernel_sizes": [layer.kernel_size for layer in c.layers],
            "dilations": [layer.dilation for layer in c.layers],
            "activation": pairs[0] if all(a == pairs[0] for a in pairs) else pairs,
            "gated": False,
            "head": {"out_channels": c.head_size, "kernel_size": c.head_kernel_size, "bias": c.head_bias},
        }
        if c.mid_channels != c.channels:
            array["bottleneck"] = c.mid_channels
        if c.head1x1:
            array["head_1x1_config"] = {"active": True, "out_channels": c.head1x1, "groups": 1}
        if not c.layer1x1:
            array["layer_1x1_config"] = {"active": False, "groups": 1}
        if c.films:
            array["film_params"] = {f"{p}_film": {"active": True, "shift": shift, "groups": 1} for p, shift in c.films}
        arrays.append(array)
    return {"layers_configs": arrays, "head_scale": spec.head_scale}


def nam_model_config(preset: dict) -> dict:
    """Our preset as NAM's model config (0.13), with the recipe NAM 0.13's trainer ships (the same
    for its WaveNets and its packed A2: nam/train/_resources/config_model_packed.json)."""
    if preset["architecture"] == "WaveNet":
        net = {"name": "WaveNet", "config": nam_wavenet_config(preset["config"])}
    elif preset["architecture"] == "SlimmableContainer" and all(s["architecture"] == "WaveNet" for s in preset["config"]["submodels"]):
        sizes = [{"name": f"size_{i}", "config": nam_wavenet_config(s["config"])} for i, s in enumerate(preset["config"]["submodels"])]
        net = {"name": "PackedWaveNet", "config": {"submodels": sizes, "export": {"container_max_values": "uniform"}}}
    elif preset["architecture"] == "LSTM" and not preset["config"].get("skip"):
        c = preset["config"]
        net = {"name": "LSTM", "config": {"hidden_size": c["hidden_size"], "num_layers": c["num_layers"], "train_burn_in": c["warmup"]}}
    else:
        raise SystemExit(f"{preset['name']}: NAM trains WaveNets and plain LSTMs, not this preset")
    return {
        "net": net,
        "loss": {"val_loss": "esr", "mrstft_weight": 5e-4},
        "optimizer": {"lr": 0.004, "weight_decay": 3.17e-7},
        "lr_scheduler": {"class": "ExponentialLR", "kwargs": {"gamma": 0.994}},
    }


def train_nam(python: Path, split: dict, preset: dict, minutes: float, seed: int, out: Path) -> dict:
    audio = ROOT / split["audio"]
    data = {
        "train": [{"start_samples": s, "stop_samples": e, "ny": 8192} for s, e in split["train"]],
        "validation": [{"start_samples": s, "stop_samples": e, "ny": None} for s, e in split["validation"]],
        "common": {"x_path": str(audio / "input.wav"), "y_path": str(audio / "output.wav"), "delay": 0, "require_input_pre_silence": None},
    }
    learning = {
        "train_dataloader": {"batch_size": 16, "shuffle": True, "pin_memory": False, "drop_last": True, "num_workers": 0},
        "val_dataloader": {},
        "trainer": {"accelerator": "cpu", "devices": 1, "max_epochs": 100000, "max_time": {"minutes": minutes}, "enable_progress_bar": False},
    }
    out.mkdir(parents=True, exist_ok=True)
    configs = []
    for name, config in (("data", data), ("model", nam_model_config(preset)), ("learning", learning)):
        configs.append(out / f"{name}.json")
        configs[-1].write_text(json.dumps(config, indent=1))
    started = time.perf_counter()
    subprocess.run([str(python), "-c", NAM_FULL_SEEDED, str(seed), *map(str, configs), str(out / "runs"), "--no-show", "--no-plots"], check=True)
    trained = {
        "model": str(max((out / "runs").glob("*/model.nam"), key=os.path.getmtime)),
        "wall_s": round(time.perf_counter() - started, 1),
        "budget_minutes": minutes,
        "seed": seed,
        "version": NAM_VERSION,
        "regions": {region: split[region] for region in REGIONS},
    }
    write_json(out / "trained.json", trained)
    return trained


def run_folder(capture: str, preset: str, blocks: int) -> Path:
    """Where both sides' runs on one capture, preset and split are kept (NAM's reused from there)."""
    return WORK / "vs_nam" / capture / (preset if blocks == 1 else f"{preset}_blocks{blocks}")


def benchmark_split(params: dict, capture: str, out: Path) -> tuple[dict, Path]:
    """(params, split.json): the capture aligned as the DAG aligns it (once), and split afresh
    into `out` with these data.split settings, which both trainers then share; the DAG's own
    split and reports are left as they are."""
    params = {**params, "capture": capture}
    if not Layout.of(params).aligned.is_dir():  # a capture copied into data/captures/<name>/
        align_stage.run(params)
    params["paths"] = {**params["paths"], "splits": str(out / "split"), "reports": str(out / "reports")}
    split_stage.run(params)
    return params, Layout.of(params).split_json


def reuse_nam(out: Path, minutes: float, regions: dict) -> dict:
    record = out / "trained.json"
    if not record.is_file():
        raise SystemExit(f"--reuse-nam: no earlier NAM run in {out}; run once without --reuse-nam")
    trained = json.loads(record.read_text())
    if trained["budget_minutes"] != minutes:
        raise SystemExit(f"--reuse-nam: the NAM model in {out} had {trained['budget_minutes']} minutes, not {minutes}")
    if trained.get("regions", regions) != regions:
        raise SystemExit(f"--reuse-nam: the NAM model in {out} was trained on another split of the capture; run once without --reuse-nam")
    return trained


def run_tag(overrides: list[str], nam_seed: int, ours_only: bool) -> str:
    """The name of a run's files (ours_<tag>.npy, result_<tag>.json, ours/<tag>/); an ours-only
    run's lie beside, not over, a paired run's of the same overrides."""
    tag = re.sub(r"[^A-Za-z0-9_.=-]+", "_", ",".join(overrides)) or "defaults"
    return tag + (f"_nam_seed{nam_seed}" if nam_seed else "") + ("_ours_only" if ours_only else "")


def set_key(cfg: dict, dotted: str, value) -> None:
    """Override one existing setting; `section` names a key params.yaml does not have."""
    section(cfg, dotted)
    *path, last = dotted.split(".")
    (section(cfg, ".".join(path)) if path else cfg)[last] = value


class EpochCurve(pl.Callback):
    """Every size's validation and test ESR after each epoch: the test region rendered with the
    weights validation sees (the run's own callbacks come first, so the weight average is already
    swapped in), the validation figures the run logged itself. A diagnostic of this benchmark:
    the test region steers nothing, and costs the run nothing either: each epoch's weights are
    copied (a small model's: kilobytes) and rendered once training has stopped, so the budget
    buys ours the steps it buys a user's run."""

    def __init__(self, path: Path):
        self.path, self.rows, self.weights, self.started = path, [], [], time.perf_counter()

    def on_fit_start(self, trainer, module) -> None:
        self.started = time.perf_counter()

    def on_validation_epoch_start(self, trainer, module) -> None:
        self.weights.append(weights_of(module))

    def on_validation_epoch_end(self, trainer, module) -> None:
        logged = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val_esr")}
        self.rows.append([trainer.current_epoch, trainer.global_step, logged, round(time.perf_counter() - self.started, 2)])

    def on_fit_end(self, trainer, module) -> None:
        current, training = weights_of(module), module.training
        test_region = next(iter(trainer.datamodule.test_dataloader()))
        module.eval()
        tests = []
        with torch.no_grad():
            for weights in self.weights:
                module.load_state_dict(weights)
                tests.append([float(v) for v in module.size_esrs(test_region)])
        module.load_state_dict(current)
        module.train(training)
        sizes = range(len(tests[0]) if tests else 1)
        header = ["epoch", "step", *(f"validation_esr_size{i}" for i in sizes), *(f"test_esr_size{i}" for i in sizes), "seconds"]
        rows = []
        for (epoch, step, logged, seconds), test in zip(self.rows, tests, strict=True):
            validation = [logged[f"val_esr_size{i}"] for i in sizes] if len(sizes) > 1 else [logged["val_esr"]]
            rows.append([epoch, step, *validation, *test, seconds])
        self.path.write_text("\n".join(",".join(map(str, row)) for row in [header, *rows]) + "\n")


def weights_of(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A copy of the module's weights as they are now."""
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def train_ours(params: dict, capture: str, preset: dict, minutes: float, overrides: list[str], out: Path, test_curve: bool = False) -> dict:
    cfg = copy.deepcopy({**params, "capture": capture, "model": preset, "run_name": preset["name"]})
    cfg["trainer"].update(max_minutes=minutes, max_epochs=100000, progress_bar=False)
    cfg["train"].update(early_stopping_patience=None, resume=False)
    cfg["logger"]["mlflow"] = False
    cfg["paths"]["models"] = str(out)
    for override in overrides:
        key, _, value = override.partition("=")
        set_key(cfg, key, yaml.safe_load(value))
    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    result = train(cfg, callbacks=[EpochCurve(out / "test_curve.csv")] if test_curve else (), replace=True)  # a benchmark re-run trains anew
    wall = round(time.perf_counter() - started, 1)
    nam = out / f"{preset['name']}.nam"
    export_checkpoint(result["checkpoint"], nam, defaults(ExportSettings, aidax=False, register=False))
    return {"model": str(nam), "checkpoint": result["checkpoint"], "wall_s": wall, "epochs": result["epochs"], "own_validation_esr": result["validation_esr"]}


def region_esr(prediction: np.ndarray, target: np.ndarray, spans: list[list[int]]) -> float:
    """ESR over all the spans of a region together, as training measures it (ampcapture.training.losses.esr)."""

    def pick(signal: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.concatenate([signal[s:e] for s, e in spans]).astype(np.float64))

    return float(esr(pick(prediction), pick(target)))


def input_levels(x: np.ndarray, spans: list[list[int]], sample_rate: int) -> list[float]:
    """The input's RMS level (dBFS) of each whole second of a region: at what dynamics a region's
    ESR is measured (a quiet test region and a loud validation region can rank models apart)."""
    seconds = [x[t : t + sample_rate] for s, e in spans for t in range(s, e - sample_rate + 1, sample_rate)]
    return [round(float(10 * np.log10(np.mean(np.square(c, dtype=np.float64)) + 1e-12)), 1) for c in seconds]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--capture", default="demo")
    parser.add_argument("--minutes", type=float, default=10.0, help="wall-clock training budget for each trainer")
    parser.add_argument("--preset", default="wavenet_standard", help="a WaveNet, A2 or NAM LSTM preset from conf/model/")
    parser.add_argument("--reuse-nam", action="store_true", help="take NAM's model from an earlier run of this budget")
    parser.add_argument("--nam-seed", type=int, default=0, help="torch seed of NAM's run (nam-full's own: 0)")
    parser.add_argument("--blocks", type=int, help="data.split.blocks of the split both sides share (default: params.yaml's)")
    parser.add_argument("--test-curve", action="store_true", help="also write our sizes' validation and test ESR after each epoch")
    parser.add_argument("--ours-only", action="store_true", help="train and render ours alone (an ablation screened against our own runs)")
    parser.add_argument("overrides", nargs="*", help="our training configuration's key=value overrides")
    args = parser.parse_args()
    os.chdir(ROOT)
    params = load_params()
    preset = load_preset(args.preset)
    if args.blocks is not None:
        params["data"]["split"]["blocks"] = args.blocks
    out = run_folder(args.capture, args.preset, params["data"]["split"]["blocks"])
    params, split_json = benchmark_split(params, args.capture, out)
    split = json.loads(split_json.read_text())
    nam_dir = out / ("nam" if args.nam_seed == 0 else f"nam_seed{args.nam_seed}")
    tag = run_tag(args.overrides, args.nam_seed, args.ours_only)
    python = ensure_nam()

    ours = train_ours(params, args.capture, preset, args.minutes, args.overrides, out / "ours" / tag, args.test_curve)
    regions = {region: split[region] for region in REGIONS}
    if args.ours_only:
        nam = None
    else:
        nam = reuse_nam(nam_dir, args.minutes, regions) if args.reuse_nam else train_nam(python, split, preset, args.minutes, args.nam_seed, nam_dir)
    sides = {"ours": ours} | ({"nam": nam} if nam else {})

    audio = ROOT / split["audio"]
    x, y = read_audio(audio / "input.wav").samples, read_audio(audio / "output.wav").samples
    np.save(out / "input.npy", x.astype(np.float32))
    predictions = {who: out / f"{who}_{tag}.npy" for who in sides}
    pairs = [str(path) for who in sides for path in (sides[who]["model"], predictions[who])]
    subprocess.run([str(python), "-c", RENDER_WITH_NAM, str(out / "input.npy"), *pairs], check=True)
    for who, record in sides.items():
        rendered = np.load(predictions[who])
        record.update({f"{region}_esr": region_esr(rendered, y, split[region]) for region in REGIONS})
        sizes = sorted(out.glob(f"{predictions[who].stem}.size*.npy"))  # an A2's sizes, smallest first
        if sizes:
            record["sizes"] = [{f"{region}_esr": region_esr(np.load(path), y, split[region]) for region in REGIONS} for path in sizes]
    result = {
        "capture": args.capture,
        "preset": args.preset,
        "budget_minutes": args.minutes,
        "overrides": args.overrides,
        "nam_seed": args.nam_seed,
        "split": str(split_json),
        "rendered_by": f"neural-amp-modeler {NAM_VERSION} (init_from_nam), whole capture",
        "ours": ours,
        "nam": nam,
        "input_dbfs_per_second": {region: input_levels(x, split[region], int(split["sample_rate"])) for region in ("validation", "test")},
    }
    if nam:
        result["ratio_ours_over_nam"] = {region: ours[f"{region}_esr"] / nam[f"{region}_esr"] for region in REGIONS}
    if nam and "sizes" in ours and "sizes" in nam:
        result["ratio_ours_over_nam_per_size"] = [{r: a[f"{r}_esr"] / b[f"{r}_esr"] for r in REGIONS} for a, b in zip(ours["sizes"], nam["sizes"])]
    write_json(out / ("result.json" if tag == "defaults" else f"result_{tag}.json"), result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    try:
        main()
    except AmpCaptureError as exc:
        raise SystemExit(f"error: {exc}") from None
