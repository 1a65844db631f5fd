"""Fine-tuning a model you already have against training from scratch, at a short budget: the
same capture, split and wall-clock minutes, several seeds; ours from random weights, and ours
started from a `.nam` file (`train.init_from`), by default the model NAM's own trainer made of
the same circuit at another gain (the capture suite's run of spice_twostage, fine-tuned on
spice_twostage_crunch). Test ESR (the capture's test region, rendered by our engine from each
exported `.nam`) per seed and the mean, in reports/fine_tune/<capture>.md and .json.

    python benchmarks/fine_tune.py [--capture spice_twostage_crunch] [--start MODEL.nam]
                                   [--minutes 1] [--seeds 2] [key=value ...]

`--start` defaults to NAM's 3-minute model of spice_twostage that `benchmarks/suite.py --minutes
3` trains (NAM's runs are kept in .benchmarks/vs_nam/); `key=value` overrides the fine-tuning
rows' training (e.g. `train.lr=0.002`, a smaller step for weights that already play).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

from ampcapture.audio.io import read_audio
from ampcapture.core.config import load_params
from ampcapture.core.config import preset as load_preset
from ampcapture.runtime.load import load_model

sys.path.insert(0, str(Path(__file__).resolve().parent))
from suite import ensure_capture  # noqa: E402
from vs_nam import WORK, benchmark_split, region_esr, run_folder, train_ours  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_START = WORK / "vs_nam" / "spice_twostage" / "wavenet_standard" / "nam" / "trained.json"


def default_start() -> Path:
    if not DEFAULT_START.is_file():
        raise SystemExit(
            f"no NAM model of spice_twostage in {DEFAULT_START.parent}: run `python benchmarks/suite.py --minutes 3 --seeds 1 "
            "--captures spice_twostage` first, or give --start MODEL.nam"
        )
    return Path(json.loads(DEFAULT_START.read_text())["model"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--capture", default="spice_twostage_crunch")
    parser.add_argument("--start", type=Path, help="the .nam to fine-tune (default: NAM's model of spice_twostage from the suite)")
    parser.add_argument("--minutes", type=float, default=1.0)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("overrides", nargs="*", help="the fine-tuning rows' key=value overrides")
    args = parser.parse_args()
    os.chdir(ROOT)
    start = (args.start or default_start()).resolve()
    ensure_capture(args.capture)
    params = load_params()
    preset = load_preset("wavenet_standard")
    out = run_folder(args.capture, preset["name"], params["data"]["split"]["blocks"]) / "fine_tune"
    params, split_json = benchmark_split(params, args.capture, out)
    split = json.loads(split_json.read_text())
    audio = ROOT / split["audio"]
    x, y = read_audio(audio / "input.wav").samples, read_audio(audio / "output.wav").samples

    def test_esr(nam: Path) -> float:
        return region_esr(load_model(nam).engine.render(x), y, split["test"])

    rows = {"from scratch": [], f"from {start.name}": [], "the start, as it is": [test_esr(start)]}
    for seed in range(args.seeds):
        for row, overrides in (("from scratch", []), (f"from {start.name}", [f"train.init_from={start}", *args.overrides])):
            tag = "scratch" if not overrides else "fine_tuned"
            ours = train_ours(params, args.capture, preset, args.minutes, [f"train.seed={seed}", *overrides], out / f"{tag}_seed{seed}")
            rows[row].append(test_esr(Path(ours["model"])))
            print(f"{row}, seed {seed}: test ESR {rows[row][-1]:.4g} after {ours['epochs']} epochs", flush=True)
    scratch = statistics.mean(rows["from scratch"])
    lines = [
        f"# Fine-tuning against training from scratch: {args.capture}, {args.minutes:g} minutes, wavenet_standard",
        "",
        f"`python benchmarks/fine_tune.py --capture {args.capture} --minutes {args.minutes:g} --seeds {args.seeds}"
        + (f" --start {args.start}" if args.start else "")
        + "".join(f" {o}" for o in args.overrides)
        + f"` (start: `{start.relative_to(ROOT) if start.is_relative_to(ROOT) else start}`)",
        "",
        "| our training | test ESR per seed | mean | mean / from scratch |",
        "|---|---|---|---|",
    ]
    for row, values in rows.items():
        mean = statistics.mean(values)
        lines.append(f"| {row} | {' / '.join(f'{v:.4g}' for v in values)} | {mean:.4g} | {mean / scratch:.2f} |")
    reports = ROOT / "reports" / "fine_tune"
    reports.mkdir(parents=True, exist_ok=True)
    (reports / f"{args.capture}.md").write_text("\n".join(lines) + "\n")
    summary = {"capture": args.capture, "start": str(start), "minutes": args.minutes, "overrides": args.overrides, "test_esr": rows}
    (reports / f"{args.capture}.json").write_text(json.dumps(summary, indent=1) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
