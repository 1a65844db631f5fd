"""What `train.calibrate_offset` did on a suite's runs, paired: each exported model's test ESR
against the same model with the offset it removed added back (its output before calibration),
over the whole test region and over its quiet third (where an offset is heard).

    python benchmarks/calibration_effect.py [--preset wavenet_standard] [--label calib10]

Reads the suite's records (.benchmarks/suite/<preset>/<label>/) and the runs they name; trains nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from suite import WORK, level_spans, run_tag, span_esr  # noqa: E402
from vs_nam import run_folder  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="wavenet_standard")
    parser.add_argument("--label", default="calib10")
    args = parser.parse_args()
    print("| capture, seed | offset removed | test ESR calibrated / before | ratio | quiet third: calibrated / before | ratio |")
    print("|---|---|---|---|---|---|")
    for record in sorted((WORK / "suite" / args.preset / args.label).glob("*.json")):
        run = json.loads(record.read_text())
        seed = int(record.stem.rsplit("_seed", 1)[1])
        tag = run_tag(seed, run["overrides_given"])
        out = run_folder(run["capture"], args.preset, run.get("blocks", 1))
        offset = json.loads(next((out / "ours" / tag).rglob("metrics.json")).read_text())["output_offset"]
        y, thirds = level_spans(Path(run["split"]))
        test = [tuple(span) for span in json.loads(Path(run["split"]).read_text())["test"]]
        calibrated = np.load(out / f"ours_{tag}.npy").astype(np.float64)
        before = calibrated + offset
        whole = [span_esr(p, y, test) for p in (calibrated, before)]
        quiet = [span_esr(p, y, thirds[0]) for p in (calibrated, before)]
        print(
            f"| {run['capture']}, {seed} | {offset:.2e} | {whole[0]:.4g} / {whole[1]:.4g} | {whole[0] / whole[1]:.3f} "
            f"| {quiet[0]:.4g} / {quiet[1]:.4g} | {quiet[0] / quiet[1]:.2f} |"
        )


if __name__ == "__main__":
    main()
