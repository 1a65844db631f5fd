"""The capture suite: ours against neural-amp-modeler 0.13's trainer on every capture of the
suite, several seeds a side, one preset, the same wall-clock budget each (benchmarks/vs_nam.py
per run: both models rendered by NAM's own loader). One table, reports/suite/<preset>.md and
.json: per capture, each side's test ESR per seed, mean and median, the ratios, how much each
side overfits (test ESR / train ESR), ours/NAM test ESR by input level (the test region's
quiet, medium and loud half-seconds), and the minutes ours needs to reach NAM's mean test ESR (the
epoch validation would keep, from ours' per-epoch test curve: the test audio steers nothing),
how many of ours' epochs were set back by a loss spike (validation ESR over twice its best so far),
and each side's optimizer steps (ours' from its curve, NAM's from the per-epoch checkpoint its
trainer keeps): the same minutes buy each side different steps, and a machine fewer than another.

    python benchmarks/suite.py [--preset wavenet_standard | a2] [--minutes 10] [--seeds 3] [--first-seed 0]
                               [--captures C ...] [--blocks N] [--label NAME] [--report-only]
                               [--ours-only --baseline LABEL] [key=value ...]

Captures: every one under ../shared/captures/ (input.wav and output.wav; linked into
data/captures/<name>/, never committed), the circuits of benchmarks/suite_captures.yaml (built
once with ../shared/devcapture/ into .benchmarks/captures/<name>/, where ngspice and fluidsynth
are installed) and the demo amp at drive 30 dB (`demo_drive30`, rendered from the stimulus when missing). `key=value` overrides our recipe: an ablation row
(`--label` names it in the table). Resumable: each run's figures are kept in
.benchmarks/suite/<preset>/<label>/, a killed suite goes on with the runs it has, and NAM's
runs are trained once per capture, seed and budget and reused by every ablation. Ideas are
screened with `--minutes 3 --seeds 1`; the full protocol (10 minutes, 3 seeds) confirms them.
`--ours-only` trains ours alone (half the machine time of a pair): an ablation's table then sets
ours' test ESR beside that of the `--baseline` label's runs of the same captures and seeds (read
from its report), which is the comparison that decides a recipe; NAM's side is not retrained.
Below it, the paired table again (the README's "Quality" table), ours against the NAM runs
that the baseline's runs of the same seeds were paired with: a recipe that wins becomes the
default with its table, no run repeated.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import yaml

from ampcapture.core.config import load_params

sys.path.insert(0, str(Path(__file__).resolve().parent))
from vs_nam import run_folder, run_tag  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "captures"
DEVCAPTURE = ROOT.parent / "shared" / "devcapture" / "build.sh"
CIRCUITS = yaml.safe_load((ROOT / "benchmarks" / "suite_captures.yaml").read_text())
WORK = ROOT / ".benchmarks"
DEMO_DRIVE = "demo_drive30"
LEVELS = ("quiet", "medium", "loud")


def default_captures() -> list[str]:
    shared = sorted(p.name for p in SHARED.iterdir() if (p / "input.wav").is_file() and (p / "output.wav").is_file()) if SHARED.is_dir() else []
    made = [name for name in CIRCUITS if (WORK / "captures" / name / "output.wav").is_file() or can_build()]
    skipped = sorted(set(CIRCUITS) - set(made))
    if skipped:
        print(f"left out {', '.join(skipped)}: to build it, apt-get install ngspice fluidsynth fluid-soundfont-gm", file=sys.stderr)
    return [*shared, *made, DEMO_DRIVE]


def can_build() -> bool:
    return DEVCAPTURE.is_file() and all(shutil.which(tool) for tool in ("ngspice", "fluidsynth"))


def build_circuit(name: str) -> Path:
    """.benchmarks/captures/<name>/ of a circuit of suite_captures.yaml, built the first time."""
    out, recipe = WORK / "captures" / name, CIRCUITS[name]
    if not (out / "output.wav").is_file():
        if not can_build():
            raise SystemExit(f"{name}: building it needs {DEVCAPTURE} and Debian's ngspice, fluidsynth and fluid-soundfont-gm")
        print(f"building {name} from {recipe['circuit']} (a few minutes)", file=sys.stderr, flush=True)
        args = [str(ROOT / recipe["circuit"]), str(recipe["volts"]), str(recipe["seed"]), str(recipe["bpm"]), str(recipe["program"])]
        subprocess.run(["bash", str(DEVCAPTURE), str(out), *args], check=True, env={**os.environ, "PY": sys.executable}, stdout=subprocess.DEVNULL)
    return out


def ensure_capture(name: str) -> None:
    """data/captures/<name>/ for vs_nam.py: the shared capture's files linked, a circuit of
    suite_captures.yaml built and linked, or the demo amp at drive 30 rendered."""
    folder = ROOT / "data" / "captures" / name
    if (folder / "output.wav").is_file():
        return
    source = SHARED / name if (SHARED / name).is_dir() else build_circuit(name) if name in CIRCUITS else None
    folder.mkdir(parents=True, exist_ok=True)
    if source is not None:
        for file in ("input.wav", "output.wav"):
            (folder / file).symlink_to(source / file)
        return
    if name != DEMO_DRIVE:
        raise SystemExit(f"{name}: not in {SHARED}, benchmarks/suite_captures.yaml or {DEMO_DRIVE}; put its input.wav and output.wav in {folder}")
    stimulus = ROOT / "data" / "stimulus" / "reamp_input.wav"
    ampcapture = [sys.executable, "-m", "ampcapture.cli"]
    if not stimulus.is_file():
        subprocess.run([*ampcapture, "stimulus", str(stimulus)], check=True)
    subprocess.run([*ampcapture, "demo", str(stimulus), str(folder), "--drive-db", "30"], check=True)


def run_once(capture: str, preset: str, minutes: float, seed: int, blocks: int, overrides: list[str], ours_only: bool = False) -> dict:
    """One vs_nam.py run (NAM's model reused when this capture, split, seed and budget has one;
    none trained with `ours_only`)."""
    out = run_folder(capture, preset, blocks)
    nam = out / ("nam" if seed == 0 else f"nam_seed{seed}") / "trained.json"
    reuse = nam.is_file() and json.loads(nam.read_text())["budget_minutes"] == minutes
    side = ["--ours-only"] if ours_only else ["--reuse-nam"] if reuse else []
    command = [sys.executable, str(ROOT / "benchmarks" / "vs_nam.py"), "--capture", capture, "--preset", preset, "--minutes", str(minutes)]
    command += ["--blocks", str(blocks), "--nam-seed", str(seed), "--test-curve", *side, f"train.seed={seed}", *overrides]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    tag = run_tag([f"train.seed={seed}", *overrides], seed, ours_only)
    result = json.loads((out / f"result_{tag}.json").read_text())
    result["levels"] = level_ratios(ROOT / result["split"], {"ours": out / f"ours_{tag}.npy"} | ({} if ours_only else {"nam": out / f"nam_{tag}.npy"}))
    result["curve"] = read_curve(out / "ours" / tag / "test_curve.csv")
    return result


def level_spans(split_json: Path) -> tuple[np.ndarray, list[list[tuple[int, int]]]]:
    """The recording, and the test region's half-seconds split into quiet, medium and loud
    thirds by the input's RMS (half a second, so that every span of an interleaved split counts)."""
    split = json.loads(split_json.read_text())
    audio, half = ROOT / split["audio"], int(split["sample_rate"]) // 2
    x, y = (sf.read(audio / f"{name}.wav", dtype="float64")[0] for name in ("input", "output"))
    pieces = [(t, t + half) for s, e in split["test"] for t in range(s, e - half + 1, half)]
    level = np.array([np.mean(np.square(x[a:b])) for a, b in pieces])
    return y, [[pieces[i] for i in picks] for picks in np.array_split(np.argsort(level), 3)]


def span_esr(prediction: np.ndarray, y: np.ndarray, spans: list[tuple[int, int]]) -> float:
    target = np.concatenate([y[a:b] for a, b in spans])
    error = np.concatenate([prediction[a:b] for a, b in spans]) - target
    return float(np.sum(error**2) / np.sum(target**2))


def level_ratios(split_json: Path, renders: dict[str, Path]) -> dict[str, dict[str, float]]:
    """Each side's test ESR over the test region's quiet, medium and loud thirds."""
    y, thirds = level_spans(split_json)
    figures = {}
    for who, path in renders.items():
        prediction = np.load(path).astype(np.float64)
        figures[who] = {name: span_esr(prediction, y, spans) for name, spans in zip(LEVELS, thirds)}
    return figures


def read_curve(path: Path) -> list[dict[str, float]]:
    with open(path) as f:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]


def validation_column(curve: list[dict[str, float]]) -> str | None:
    """The curve's validation ESR column (an A2's: its largest size's); None without one."""
    return max((k for k in curve[0] if k.startswith("validation_esr")), default=None) if curve else None


def minutes_to(curve: list[dict[str, float]], target: float) -> float | None:
    """When the epoch validation keeps (the best so far) first plays the test region at `target` or better."""
    size = validation_column(curve)
    if size is None or "seconds" not in curve[0]:
        return None
    best = None
    for row in curve:
        if best is None or row[size] < best[size]:
            best = row
        if best[size.replace("validation", "test")] <= target:
            return row["seconds"] / 60
    return None


def setbacks(curve: list[dict[str, float]], factor: float = 2.0) -> int:
    """Epochs whose validation ESR is over `factor` times the lowest before them: the training's
    loss spikes, each costing the epochs it takes to get back (the kept model is the best so far)."""
    size = validation_column(curve)
    if size is None:
        return 0
    lowest, count = float("inf"), 0
    for row in curve:
        count += row[size] > factor * lowest
        lowest = min(lowest, row[size])
    return count


def ours_steps(run: dict) -> int | None:
    """Ours' optimizer steps: the last step of its per-epoch curve (None in a curve without steps)."""
    return int(run["curve"][-1]["step"]) if run["curve"] and "step" in run["curve"][-1] else None


def nam_steps(run: dict) -> int | None:
    """NAM's optimizer steps: the global step of the newest per-epoch checkpoint its trainer keeps
    beside the model (lightning_logs/*/checkpoints/checkpoint_epoch_<epoch>.ckpt), read as weights
    only; None once that folder is gone."""
    found = sorted((Path(run["nam"]["model"]).parent / "lightning_logs").glob("*/checkpoints/checkpoint_epoch_*.ckpt"))
    return int(torch.load(found[-1], map_location="cpu", weights_only=True)["global_step"]) if found else None


def ours_figures(capture: str, seeds: list[int], runs: list[dict]) -> dict:
    """What a row says of ours alone, paired with NAM or not."""
    ours = [r["ours"]["test_esr"] for r in runs]
    return {
        "capture": capture,
        "seeds": len(runs),
        "seed_numbers": seeds,
        "ours_test_esr": ours,
        "ours_mean": statistics.mean(ours),
        "ours_median": statistics.median(ours),
        "gap_test_over_train": {"ours": statistics.mean(r["ours"]["test_esr"] / r["ours"]["train_esr"] for r in runs)},
        "ours_setbacks": [setbacks(r["curve"]) for r in runs],
        "ours_epochs": [r["ours"]["epochs"] for r in runs],
        "ours_steps": [ours_steps(r) for r in runs],
    }


def slowest_to(runs: list[dict], target: float) -> float | None:
    """The most minutes any run needed to reach `target` (None if one never did)."""
    reached = [minutes_to(r["curve"], target) for r in runs]
    return None if None in reached else max(reached)


def summarize(capture: str, seeds: list[int], runs: list[dict]) -> dict:
    row = ours_figures(capture, seeds, runs)
    nam = [r["nam"]["test_esr"] for r in runs]
    row["gap_test_over_train"]["nam"] = statistics.mean(r["nam"]["test_esr"] / r["nam"]["train_esr"] for r in runs)
    row |= {
        "nam_test_esr": nam,
        "nam_mean": statistics.mean(nam),
        "nam_median": statistics.median(nam),
        "ratio_of_means": row["ours_mean"] / statistics.mean(nam),
        "ratio_of_medians": row["ours_median"] / statistics.median(nam),
        "ratio_by_level": {name: statistics.mean(r["levels"]["ours"][name] / r["levels"]["nam"][name] for r in runs) for name in LEVELS},
        "minutes_to_nam_mean": slowest_to(runs, statistics.mean(nam)),
        "nam_steps": [nam_steps(r) for r in runs],
    }
    if all("sizes" in r["ours"] and "sizes" in r["nam"] for r in runs):  # an A2: every size's ratio of means
        count = len(runs[0]["ours"]["sizes"])
        row["ratio_of_means_per_size"] = [
            statistics.mean(r["ours"]["sizes"][i]["test_esr"] for r in runs) / statistics.mean(r["nam"]["sizes"][i]["test_esr"] for r in runs)
            for i in range(count)
        ]
    return row


def summarize_ours(capture: str, seeds: list[int], runs: list[dict], baseline: dict | None) -> dict:
    """An ours-only row (no NAM run): ours' test ESR per seed against the baseline recipe's runs
    of the same capture and seeds, from that recipe's suite report, where it has them, and
    against the NAM runs of those seeds that the baseline was paired with."""
    row = ours_figures(capture, seeds, runs)
    base = (baseline or {}).get(capture)
    if base and all(seed in base["seed_numbers"] for seed in seeds):
        pick = [base["seed_numbers"].index(seed) for seed in seeds]
        row["baseline_test_esr"] = [base["ours_test_esr"][i] for i in pick]
        row["baseline_setbacks"] = [base["ours_setbacks"][i] for i in pick] if "ours_setbacks" in base else None
        row["ratio_to_baseline"] = row["ours_mean"] / statistics.mean(row["baseline_test_esr"])
        if "nam_test_esr" in base:
            row["baseline_nam_test_esr"] = [base["nam_test_esr"][i] for i in pick]
            row["ratio_to_nam"] = row["ours_mean"] / statistics.mean(row["baseline_nam_test_esr"])
            row["minutes_to_nam_mean"] = slowest_to(runs, statistics.mean(row["baseline_nam_test_esr"]))
    return row


def read_baseline(preset: str, label: str) -> dict[str, dict]:
    """Another recipe's suite rows by capture (reports/suite/<preset>[_<label>].json); a row
    written before rows named their seeds holds seeds 0, 1, ... in order (the suite's own order)."""
    path = ROOT / "reports" / "suite" / (f"{preset}.json" if label == "defaults" else f"{preset}_{label}.json")
    if not path.is_file():
        raise SystemExit(f"--baseline {label}: no {path.relative_to(ROOT)}; run the suite with --label {label} first")
    rows = json.loads(path.read_text())["captures"]
    return {row["capture"]: {"seed_numbers": list(range(row["seeds"])), **row} for row in rows}


def record_path(preset: str, label: str, capture: str, minutes: float, seed: int) -> Path:
    """Where one run's figures are kept (what a killed suite resumes from)."""
    return WORK / "suite" / preset / label / f"{capture}_m{minutes:g}_seed{seed}.json"


def paired_with_baseline(run: dict, preset: str, baseline: str, minutes: float, seed: int) -> dict | None:
    """An ours-only run paired with the NAM run that the baseline's run of the same capture, seed,
    split and budget was paired with (NAM's runs are one per capture, seed and budget, the same
    for every recipe), from the baseline's kept record; None where it has none."""
    record = record_path(preset, baseline, run["capture"], minutes, seed)
    base = json.loads(record.read_text()) if record.is_file() else {}
    if not base.get("nam") or base.get("split") != run.get("split") or base.get("blocks") != run.get("blocks"):
        return None
    return run | {"nam": base["nam"], "levels": {"ours": run["levels"]["ours"], "nam": base["levels"]["nam"]}}


def ours_table(rows: list[dict], args: argparse.Namespace, blocks: int) -> str:
    base_name = args.baseline or "baseline"
    lines = [
        f"# {args.preset}, {args.label}: ours alone, against {args.baseline or 'no baseline'}, {args.minutes:g} minutes a run",
        "",
        f"`python benchmarks/suite.py {command_options(args, blocks)}`",
        "",
        f"| capture | seeds | ours test ESR | {base_name} test ESR, same seeds | mean ours/{base_name} | test/train ours | epochs "
        f"| steps | setback epochs, ours against {base_name} | mean ours/NAM ({base_name}'s NAM runs) | minutes to NAM's mean |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    values = lambda items: " / ".join(f"{v:.4g}" for v in items)  # noqa: E731
    minutes = lambda r: "-" if "ratio_to_nam" not in r else "not within the budget" if r["minutes_to_nam_mean"] is None else f"{r['minutes_to_nam_mean']:.1f}"  # noqa: E731
    for r in rows:
        base, ratio, nam = r.get("baseline_test_esr"), r.get("ratio_to_baseline"), r.get("ratio_to_nam")
        backs = " / ".join(map(str, r["ours_setbacks"])) + (f" against {' / '.join(map(str, r['baseline_setbacks']))}" if r.get("baseline_setbacks") else "")
        lines.append(
            f"| {r['capture']} | {', '.join(map(str, r['seed_numbers']))} | {values(r['ours_test_esr'])} | {values(base) if base else '-'} "
            f"| {'-' if ratio is None else f'{ratio:.2f}'} | {r['gap_test_over_train']['ours']:.2f} | {' / '.join(map(str, r['ours_epochs']))} "
            f"| {steps(r['ours_steps'])} | {backs} "
            f"| {'-' if nam is None else f'{nam:.2f}'} | {minutes(r)} |"
        )
    ratios, nams = ([r[key] for r in rows if key in r] for key in ("ratio_to_baseline", "ratio_to_nam"))
    if ratios:
        lines += ["", f"Mean over the captures of the mean ratio to {args.baseline}: {statistics.mean(ratios):.2f}"]
        lines[-1] += f"; to NAM: {statistics.mean(nams):.2f}." if nams else "."
    return "\n".join(lines) + "\n"


def steps(counts: list[int | None]) -> str:
    """A row's optimizer steps per seed ("-" where a run's are unknown)."""
    return " / ".join("-" if n is None else str(n) for n in counts) or "-"


def command_options(args: argparse.Namespace, blocks: int) -> str:
    """The command line that makes (and resumes) a table."""
    options = f"--preset {args.preset} --minutes {args.minutes:g} --seeds {args.seeds} --blocks {blocks} --label {args.label}"
    options += f" --first-seed {args.first_seed}" if args.first_seed else ""
    options += " --ours-only" if args.ours_only else ""
    options += f" --baseline {args.baseline}" if args.ours_only and args.baseline else ""
    return " ".join([options, *args.overrides])


def table(rows: list[dict], args: argparse.Namespace, blocks: int) -> str:
    """The paired table; of an ours-only suite, against its baseline's NAM runs (below its own table)."""
    if args.ours_only:
        lines = [f"## {args.preset}, {args.label}: ours against the NAM runs {args.baseline}'s runs were paired with, same seeds", ""]
    else:
        lines = [f"# {args.preset}, {args.label}: ours against neural-amp-modeler 0.13, {args.minutes:g} minutes a side", ""]
        lines += [f"`python benchmarks/suite.py {command_options(args, blocks)}`", ""]
    lines += [
        "| capture | ours test ESR | NAM test ESR | mean ours/NAM | median ours/NAM | test/train ours | test/train NAM "
        "| ours/NAM quiet, medium, loud | minutes to NAM's mean | ours' epochs over 2x its best so far | steps, ours; NAM |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        seeds = lambda values: " / ".join(f"{v:.4g}" for v in values)  # noqa: E731
        level = ", ".join(f"{r['ratio_by_level'][n]:.2f}" for n in LEVELS)
        reached = "not within the budget" if r["minutes_to_nam_mean"] is None else f"{r['minutes_to_nam_mean']:.1f}"
        per_size = r.get("ratio_of_means_per_size")
        ratio = f"{r['ratio_of_means']:.2f}" + (f" (sizes {', '.join(f'{v:.2f}' for v in per_size)})" if per_size else "")
        gap = r["gap_test_over_train"]
        lines.append(
            f"| {r['capture']} | {seeds(r['ours_test_esr'])} | {seeds(r['nam_test_esr'])} | {ratio} | {r['ratio_of_medians']:.2f} "
            f"| {gap['ours']:.2f} | {gap['nam']:.2f} | {level} | {reached} | {' / '.join(map(str, r['ours_setbacks']))} "
            f"| {steps(r['ours_steps'])}; {steps(r['nam_steps'])} |"
        )
    if rows:
        lines += ["", f"Mean over the captures of the mean ratio: {statistics.mean(r['ratio_of_means'] for r in rows):.2f}."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="wavenet_standard")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--captures", nargs="+", help="(default: every capture in ../shared/captures and demo_drive30)")
    parser.add_argument("--blocks", type=int, help="data.split.blocks of the split both sides share (default: params.yaml's)")
    parser.add_argument("--label", default="defaults", help="the row's name: the recipe as configured, or an ablation")
    parser.add_argument("--first-seed", type=int, default=0, help="run seeds first-seed, ..., first-seed + seeds - 1")
    parser.add_argument("--ours-only", action="store_true", help="train ours alone, no NAM run: an ablation against --baseline")
    parser.add_argument("--baseline", help="with --ours-only: the label whose suite report ours is compared with (default: none)")
    parser.add_argument("--report-only", action="store_true", help="rewrite the table from the runs kept; run nothing")
    parser.add_argument("overrides", nargs="*", help="our training configuration's key=value overrides")
    args = parser.parse_args()
    captures = args.captures or default_captures()
    blocks = args.blocks if args.blocks is not None else load_params()["data"]["split"]["blocks"]
    jobs = [(c, s) for c in captures for s in range(args.first_seed, args.first_seed + args.seeds)]
    records = {job: record_path(args.preset, args.label, job[0], args.minutes, job[1]) for job in jobs}
    done = {job: kept for job, record in records.items() if (kept := kept_run(record, args.overrides, blocks, args.ours_only))}
    report = write_reports(done, captures, args, blocks)
    if args.report_only:
        print(report)
        return
    started = time.monotonic()
    for count, (capture, seed) in enumerate(jobs, 1):
        if (capture, seed) not in done:
            ensure_capture(capture)
            result = run_once(capture, args.preset, args.minutes, seed, blocks, args.overrides, args.ours_only)
            result |= {"overrides_given": args.overrides, "blocks": blocks, "ours_only": args.ours_only}
            records[capture, seed].parent.mkdir(parents=True, exist_ok=True)
            records[capture, seed].write_text(json.dumps(result, indent=1))
            done[capture, seed] = result
            report = write_reports(done, captures, args, blocks)
        result = done[capture, seed]
        print(
            f"[{count}/{len(jobs)}] {capture} seed {seed}: test ESR ours {result['ours']['test_esr']:.4g}"
            + (f", NAM {result['nam']['test_esr']:.4g} " if result["nam"] else " ")
            + f"({time.monotonic() - started:.0f} s)",
            flush=True,
        )
    print(report)


def kept_run(record: Path, overrides: list[str], blocks: int, ours_only: bool) -> dict | None:
    """A run's kept figures, if it was made with these overrides, this split and NAM's side or not."""
    if not record.is_file():
        return None
    kept = json.loads(record.read_text())
    same = kept.get("overrides_given") == overrides and kept.get("blocks", 1) == blocks and kept.get("ours_only", False) == ours_only
    return kept if same else None


def write_reports(done: dict[tuple[str, int], dict], captures: list[str], args: argparse.Namespace, blocks: int) -> str:
    """reports/suite/<preset>[_<label>].md and .json from the runs done so far (those a killed
    suite kept included), rewritten after every run: a suite stopped halfway leaves a table of
    what it has, saying how much is missing."""
    seeds = {c: [s for s in range(args.first_seed, args.first_seed + args.seeds) if (c, s) in done] for c in captures}
    paired_rows = []
    if args.ours_only:
        baseline = read_baseline(args.preset, args.baseline) if args.baseline else None
        rows = [summarize_ours(c, seeds[c], [done[c, s] for s in seeds[c]], baseline) for c in captures if seeds[c]]
        for c in captures if args.baseline else []:
            pairs = {s: paired_with_baseline(done[c, s], args.preset, args.baseline, args.minutes, s) for s in seeds[c]}
            pairs = {s: run for s, run in pairs.items() if run is not None}
            paired_rows += [summarize(c, list(pairs), list(pairs.values()))] if pairs else []
    else:
        rows = [summarize(c, seeds[c], [done[c, s] for s in seeds[c]]) for c in captures if seeds[c]]
    pending = len(captures) * args.seeds - sum(map(len, seeds.values()))
    reports = ROOT / "reports" / "suite"
    reports.mkdir(parents=True, exist_ok=True)
    name = args.preset if args.label == "defaults" else f"{args.preset}_{args.label}"
    summary = {"preset": args.preset, "label": args.label, "minutes": args.minutes, "blocks": blocks, "overrides": args.overrides}
    summary |= {"ours_only": args.ours_only, "baseline": args.baseline if args.ours_only else None}
    summary |= {"runs_pending": pending, "captures": rows} | ({"paired_with_baseline_nam": paired_rows} if paired_rows else {})
    (reports / f"{name}.json").write_text(json.dumps(summary, indent=1))
    if args.ours_only:
        text = ours_table(rows, args, blocks) + (f"\n{table(paired_rows, args, blocks)}" if paired_rows else "")
    else:
        text = table(rows, args, blocks)
    if pending:
        text += f"\nPartial: {pending} of the {len(captures) * args.seeds} runs are still to come (the command above resumes).\n"
    (reports / f"{name}.md").write_text(text)
    return text


if __name__ == "__main__":
    main()
