"""Our trainer against neural-amp-modeler's, on the same aligned capture, for the same
wall-clock budget on this machine; both models then render the same validation region and
their validation ESRs (computed here, the same way for both) are printed with their ratio.

    python benchmarks/vs_nam.py [--capture demo] [--minutes 10] [--preset wavenet_standard]

NAM (neural-amp-modeler 0.13.0, its `nam-full` trainer with its current defaults: Adam lr 0.004,
weight decay 3.17e-7, ExponentialLR 0.994, ESR validation, 5e-4 MR-STFT) is installed into its
own virtual environment, .benchmarks/nam-venv, the first time. Needs the DAG's `split` outputs
(`make demo` or `dvc repro split`).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from ampcapture.audio import write_json
from ampcapture.config import load_params
from ampcapture.data import Capture
from ampcapture.losses import esr
from ampcapture.nam_reference import NAM_VERSION, ensure_nam
from ampcapture.training import AmpModule, train

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / ".benchmarks"
RENDER_WITH_NAM = """
import json, sys, numpy as np, torch
from nam.models._from_nam import init_from_nam
model = init_from_nam(json.load(open(sys.argv[1])))
model.eval()
with torch.no_grad():
    y = model(torch.from_numpy(np.load(sys.argv[2])).float()).numpy()
np.save(sys.argv[3], y)
"""


def nam_model_config(preset: dict) -> dict:
    """Our preset in NAM's own WaveNet config shape (0.13)."""
    arrays = [{"input_size": c["input_size"], "condition_size": c["condition_size"], "channels": c["channels"],
               "head": {"out_channels": c["head_size"], "kernel_size": 1, "bias": c["head_bias"]},
               "kernel_sizes": [c["kernel_size"]] * len(c["dilations"]), "dilations": c["dilations"],
               "activation": c["activation"], "gated": c["gated"]} for c in preset["config"]["layers"]]
    return {"net": {"name": "WaveNet", "config": {"layers_configs": arrays, "head_scale": preset["config"]["head_scale"]}},
            "loss": {"val_loss": "esr", "mrstft_weight": 5e-4},
            "optimizer": {"lr": 0.004, "weight_decay": 3.17e-7},
            "lr_scheduler": {"class": "ExponentialLR", "kwargs": {"gamma": 0.994}}}


def train_nam(python: Path, split: dict, preset: dict, minutes: float, out: Path) -> tuple[Path, float]:
    audio = ROOT / split["audio"]
    data = {"train": [{"start_samples": s, "stop_samples": e, "ny": 8192} for s, e in split["train"]],
            "validation": {"start_samples": split["validation"][0][0], "stop_samples": split["validation"][0][1], "ny": None},
            "common": {"x_path": str(audio / "input.wav"), "y_path": str(audio / "output.wav"), "delay": 0,
                       "require_input_pre_silence": None}}
    learning = {"train_dataloader": {"batch_size": 16, "shuffle": True, "pin_memory": False, "drop_last": True,
                                     "num_workers": 0},
                "val_dataloader": {},
                "trainer": {"accelerator": "cpu", "devices": 1, "max_epochs": 100000,
                            "max_time": {"minutes": minutes}, "enable_progress_bar": False}}
    out.mkdir(parents=True, exist_ok=True)
    configs = []
    for name, config in (("data", data), ("model", nam_model_config(preset)), ("learning", learning)):
        configs.append(out / f"{name}.json")
        configs[-1].write_text(json.dumps(config, indent=1))
    started = time.perf_counter()
    subprocess.run([str(python.parent / "nam-full"), *map(str, configs), str(out / "runs"), "--no-show", "--no-plots"],
                   check=True)
    elapsed = time.perf_counter() - started
    return max((out / "runs").glob("*/model.nam"), key=os.path.getmtime), elapsed


def train_ours(params: dict, preset: dict, minutes: float, out: Path) -> tuple[Path, float]:
    cfg = {**params, "model": preset, "run_name": preset["name"],
           "trainer": {**params["trainer"], "max_minutes": minutes, "max_epochs": 100000, "progress_bar": False},
           "train": {**params["train"], "early_stopping_patience": None, "resume": False},
           "logger": {**params["logger"], "mlflow": False},
           "paths": {**params["paths"], "models": str(out)}}
    started = time.perf_counter()
    result = train(cfg)
    return Path(result["checkpoint"]), time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--capture", default="demo")
    parser.add_argument("--minutes", type=float, default=10.0, help="wall-clock training budget for each trainer")
    parser.add_argument("--preset", default="wavenet_standard", help="a WaveNet preset from conf/model/")
    args = parser.parse_args()
    os.chdir(ROOT)
    params = load_params()
    preset = yaml.safe_load((ROOT / "conf" / "model" / f"{args.preset}.yaml").read_text())
    split_json = Path(params["paths"]["splits"]) / args.capture / "split.json"
    split = json.loads(split_json.read_text())
    capture = Capture.load(split_json)
    out = WORK / "vs_nam" / args.capture / args.preset
    python = ensure_nam()

    ours_ckpt, ours_s = train_ours(params, preset, args.minutes, out / "ours")
    nam_file, nam_s = train_nam(python, split, preset, args.minutes, out / "nam")

    module = AmpModule.load_from_checkpoint(ours_ckpt, map_location="cpu").eval()
    x, y = capture.segment("validation", module.pre_roll)
    with torch.no_grad():
        ours = module(x.unsqueeze(0)).squeeze(0)
    np.save(out / "validation_input.npy", x.numpy())
    subprocess.run([str(python), "-c", RENDER_WITH_NAM, str(nam_file), str(out / "validation_input.npy"),
                    str(out / "nam_prediction.npy")], check=True)
    nam = torch.from_numpy(np.load(out / "nam_prediction.npy")).float()[-y.numel():]
    result = {"capture": args.capture, "preset": args.preset, "budget_minutes": args.minutes,
              "ours": {"validation_esr": float(esr(ours, y)), "wall_s": round(ours_s, 1), "checkpoint": str(ours_ckpt)},
              "nam": {"validation_esr": float(esr(nam, y)), "wall_s": round(nam_s, 1), "model": str(nam_file),
                      "version": NAM_VERSION}}
    result["esr_ratio_ours_over_nam"] = result["ours"]["validation_esr"] / result["nam"]["validation_esr"]
    write_json(out / "result.json", result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
