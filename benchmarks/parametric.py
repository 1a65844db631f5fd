"""One parametric model against one model per knob setting, at equal total budget, on a capture
set (default: the demo set, the virtual amp at drive 6/18/30 dB x treble -4/2/8 dB).

The parametric model trains on every setting but the held-out one(s) for `--minutes`; each
separate model trains on its one setting for `--minutes` / (number of trained settings). Both are
scored on each setting's test region (playing no trainer saw); the held-out setting, which only
the parametric model can play, tests how it interpolates. Prints the table and the issue's
targets, writes .benchmarks/parametric/<capture>/result.json.

    python benchmarks/parametric.py                       # wavenet_standard, 20 minutes
    python benchmarks/parametric.py --preset lstm_small --minutes 10
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ampcapture.core.config import load_params  # noqa: E402
from ampcapture.core.files import write_json  # noqa: E402
from ampcapture.core.paths import Layout  # noqa: E402
from ampcapture.stages import align as align_stage  # noqa: E402
from ampcapture.stages import demo_knobs as demo_knobs_stage  # noqa: E402
from ampcapture.stages import split as split_stage  # noqa: E402
from ampcapture.stages import stimulus as stimulus_stage  # noqa: E402
from ampcapture.training.fit import train  # noqa: E402
from devtools import presets  # noqa: E402


def prepare(params: dict) -> dict:
    """The capture set aligned and split (the demo set rendered first if it is missing)."""
    layout = Layout.of(params)
    if params["capture"] == "demo_knobs" and not (layout.recording() / "captures.yaml").is_file():
        if not layout.stimulus.is_file():
            stimulus_stage.run(params)
        demo_knobs_stage.run(params)
    if not layout.split_json.is_file():
        align_stage.run(params)
        split_stage.run(params)
    return json.loads(layout.split_json.read_text())


def fit(params: dict, capture: str, preset: dict, minutes: float, out: Path, splits: Path) -> dict:
    cfg = copy.deepcopy({**params, "capture": capture, "model": preset, "run_name": preset["name"]})
    cfg["trainer"].update(max_minutes=minutes, max_epochs=100000, progress_bar=False)
    cfg["train"].update(early_stopping_patience=None, resume=False)
    cfg["logger"]["mlflow"] = False
    cfg["paths"].update(models=str(out), splits=str(splits))
    return train(cfg, replace=True)  # a benchmark re-run trains anew


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--capture", default="demo_knobs", help="a capture set in data/captures/ (default: the demo set)")
    parser.add_argument("--preset", default="wavenet_standard", help="a WaveNet or LSTM preset from conf/model/")
    parser.add_argument("--minutes", type=float, default=20.0, help="total training budget of each side")
    args = parser.parse_args()

    params = {**load_params(ROOT / "params.yaml"), "capture": args.capture}
    params["paths"] = {k: str(ROOT / v) for k, v in params["paths"].items()}
    split = prepare(params)
    if "settings" not in split:
        raise SystemExit(f"{args.capture} is a single capture, not a capture set (README, 'Parametric captures')")
    out = ROOT / ".benchmarks" / "parametric" / args.capture
    trained = [s for s in split["settings"] if not s["held_out"]]
    preset = presets.preset(args.preset)

    parametric = fit(params, args.capture, preset, args.minutes, out / "parametric", Path(params["paths"]["splits"]))
    separate = {}
    for s in trained:  # each setting as a single capture: its own split.json over the same regions
        name = f"{args.capture}__{s['name']}"
        single = {k: v for k, v in split.items() if k not in ("knobs", "settings")} | {"capture": name, "audio": s["audio"]}
        write_json(out / "splits" / name / "split.json", single)
        separate[s["name"]] = fit(params, name, preset, args.minutes / len(trained), out / "separate", out / "splits")

    rows = []
    for s in split["settings"]:
        ours = parametric["settings"][s["name"]]["test_esr"]
        alone = separate[s["name"]]["test_esr"] if s["name"] in separate else None
        rows.append({"setting": s["name"], "values": s["values"], "held_out": s["held_out"], "parametric_test_esr": ours, "separate_test_esr": alone})
    mean_trained = sum(r["parametric_test_esr"] for r in rows if not r["held_out"]) / len(trained)
    mean_separate = sum(r["separate_test_esr"] for r in rows if not r["held_out"]) / len(trained)
    held = [r["parametric_test_esr"] for r in rows if r["held_out"]]
    result = {
        "capture": args.capture,
        "preset": args.preset,
        "budget_minutes": args.minutes,
        "parametric_epochs": parametric["epochs"],
        "separate_epochs": {k: v["epochs"] for k, v in separate.items()},
        "settings": rows,
        "mean_trained_parametric": mean_trained,
        "mean_trained_separate": mean_separate,
        "heldout_esr": max(held) if held else None,
        "heldout_over_trained": max(held) / mean_trained if held else None,
        "parametric_over_separate": mean_trained / mean_separate,
    }
    write_json(out / "result.json", result)
    print(f"{args.preset} on {args.capture}, {args.minutes:g} minutes each side (separate: {args.minutes / len(trained):.2g} min per setting)")
    print(f"{'setting':28} {'parametric':>11} {'separate':>9}")
    for r in rows:
        alone = "held out" if r["separate_test_esr"] is None else f"{r['separate_test_esr']:.4f}"
        print(f"{r['setting']:28} {r['parametric_test_esr']:11.4f} {alone:>9}")
    print(f"mean over trained settings: parametric {mean_trained:.4f}, separate {mean_separate:.4f} (ratio {result['parametric_over_separate']:.2f})")
    if held:
        print(f"held-out ESR {result['heldout_esr']:.4f} = {result['heldout_over_trained']:.2f}x the trained mean (targets: <= 1.5x and <= 0.02)")
    print(f"wrote {out / 'result.json'}")


if __name__ == "__main__":
    main()
