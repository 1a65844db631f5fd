"""A sweep's trials on two local workers against one, and a worker killed mid-trial (issue 15's
targets), on this machine: `python benchmarks/scale_out.py`.

The same study four times, each in a scratch folder with its own Optuna store and MLflow
database, the capture's split shared (the DAG's: `make demo` first for the demo):
1. one worker: the sweeper runs the trials one after another, each with every core (torch's
   default threads), as `-m` does without a launcher;
2. one worker, each trial with `trainer.threads` = cores / 2, as each trial of 3 has;
3. two workers: `hydra/launcher=joblib`, two trials side by side, `trainer.threads` = cores / 2
   so they don't fight, Optuna's journal file as the shared store;
4. as 3, with one worker killed (SIGKILL) once a trial has written its first checkpoint.
The trials are the same in every run (a brute-force sampler over `--lrs`, fixed epochs, no
pruning, no early stop). Prints the wall times, the ratios of 3 to 1 and to 2 (target <= 0.6), and for every
run whether Optuna and MLflow hold the same trials with the same results (target: no trial
lost, the counts agree). Writes .benchmarks/scale_out/result.json.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import mlflow  # noqa: E402
import optuna  # noqa: E402

from ampcapture.core.config import load_params  # noqa: E402
from ampcapture.core.files import write_json  # noqa: E402
from ampcapture.core.paths import Layout  # noqa: E402
from ampcapture.studies import open_storage  # noqa: E402
from ampcapture.sweep.study import INTERRUPTED  # noqa: E402
from devtools.servers import joblib_workers  # noqa: E402

STUDY = "scale_out"


def sweep_command(args, folder: Path, splits: Path, *overrides: str) -> list[str]:
    lrs = ", ".join(str(lr) for lr in args.lrs)
    return [
        sys.executable,
        str(ROOT / "pipelines/train.py"),
        "-m",
        "hydra/sweeper=optuna",
        f"capture={args.capture}",
        f"model={args.model}",
        f"paths.splits={splits}",
        f"paths.models={folder / 'models'}",
        f"paths.reports={folder / 'reports'}",
        f"hydra.sweep.dir={folder / 'multirun'}",
        f"hydra.sweeper.study_name={STUDY}",
        f"hydra.sweeper.n_trials={len(args.lrs)}",
        f"hydra.sweeper.storage=journal:///{folder / 'optuna.log'}",
        "hydra.sweeper.sampler._target_=optuna.samplers.BruteForceSampler",
        "hydra.sweeper.pruner=null",
        f"train.lr=choice({lrs})",
        f"train.windows_per_epoch={args.windows}",
        "train.early_stopping_patience=null",
        f"trainer.max_epochs={args.epochs}",
        "trainer.max_minutes=null",
        "trainer.progress_bar=false",
        "logger.clip_seconds=0",
        *overrides,
    ]


def run_sweep(args, folder: Path, splits: Path, overrides: list[str], kill: bool = False) -> dict:
    """One sweep in `folder`; with `kill`, SIGKILL a worker once a trial has a checkpoint."""
    folder.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    killed = None
    start = time.perf_counter()
    with open(folder / "sweep.log", "w") as log:
        sweep = subprocess.Popen(sweep_command(args, folder, splits, *overrides), cwd=folder, stdout=log, stderr=subprocess.STDOUT, env=env)
        while kill and killed is None and sweep.poll() is None:
            if list((folder / "models" / args.capture / STUDY).glob("trial_*/last.ckpt")) and (workers := joblib_workers(sweep)):
                killed = workers[0]
                killed.send_signal(signal.SIGKILL)
            time.sleep(0.05)
        code = sweep.wait()
    seconds = time.perf_counter() - start
    if code != 0:
        raise SystemExit(f"the sweep in {folder} failed: {(folder / 'sweep.log').read_text()[-3000:]}")
    return {"seconds": seconds, "killed_pid": killed.pid if killed else None, **accounting(folder, args.capture)}


def accounting(folder: Path, capture: str) -> dict:
    """The study's trials against MLflow's runs: counted trials, lost attempts, and whether every
    counted trial has exactly one MLflow run with its result."""
    trials = optuna.load_study(study_name=STUDY, storage=open_storage(f"journal:///{folder / 'optuna.log'}")).trials
    counted = [t for t in trials if not t.user_attrs.get(INTERRUPTED)]
    client = mlflow.MlflowClient(f"sqlite:///{folder / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name(capture).experiment_id])
    (parent,) = [r for r in runs if r.data.tags.get("sweep") == "study"]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    in_optuna = sorted((t.number, t.params["train.lr"], round(t.value, 7)) for t in counted if t.state.name == "COMPLETE")
    durations = [t.duration.total_seconds() for t in trials if t.duration]
    in_mlflow = sorted(
        (int(r.data.tags["optuna.trial"]), float(r.data.params["train.lr"]), round(r.data.metrics["validation_esr"], 7))
        for r in children
        if "validation_esr" in r.data.metrics
    )
    return {
        "trials": len(counted),
        "complete": sum(t.state.name == "COMPLETE" for t in counted),
        "lost_attempts_requeued": len(trials) - len(counted),
        "mlflow_child_runs": len(children),
        "mlflow_runs_left_running": sum(r.info.status == "RUNNING" for r in children),
        "optuna_and_mlflow_agree": in_optuna == in_mlflow and len(children) == len(counted),
        "results": in_optuna,
        "trial_seconds": durations,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--capture", default="demo", help="a split capture (default: the demo)")
    parser.add_argument("--model", default="wavenet_lite")
    parser.add_argument("--lrs", type=float, nargs="+", default=[0.002, 0.004, 0.008, 0.016], help="one trial per learning rate")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--windows", type=int, default=128, help="training windows per epoch")
    args = parser.parse_args()

    params = load_params(ROOT / "params.yaml")
    params["capture"] = args.capture
    params["paths"] = {k: str(ROOT / v) for k, v in params["paths"].items()}
    layout = Layout.of(params)
    if not layout.split_json.is_file():
        raise SystemExit(f"{layout.split_json} not found: split the capture first (`dvc repro split`, or `make demo` for the demo)")
    cores = os.cpu_count() or 2
    half = f"trainer.threads={max(cores // 2, 1)}"
    two = ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "hydra.sweeper.n_jobs=2", half]
    with tempfile.TemporaryDirectory(prefix="scale_out-") as tmp:
        one_worker = run_sweep(args, Path(tmp) / "one", layout.splits.parent, [])
        one_worker_half = run_sweep(args, Path(tmp) / "one_half", layout.splits.parent, [half])
        two_workers = run_sweep(args, Path(tmp) / "two", layout.splits.parent, two)
        killed = run_sweep(args, Path(tmp) / "killed", layout.splits.parent, two, kill=True)
    result = {"capture": args.capture, "model": args.model, "cores": cores, "one_worker": one_worker, "one_worker_half_threads": one_worker_half}
    result.update(two_workers=two_workers, worker_killed=killed)
    result["two_over_one"] = two_workers["seconds"] / one_worker["seconds"]
    result["two_over_one_half_threads"] = two_workers["seconds"] / one_worker_half["seconds"]
    write_json(ROOT / ".benchmarks/scale_out/result.json", result)

    print(f"{len(args.lrs)} trials of {args.model} on {args.capture}, {args.epochs} epochs of {args.windows} windows each, {cores} cores")
    print(f"  one worker, {cores} threads a trial:   {one_worker['seconds']:7.1f} s")
    print(f"  one worker, {max(cores // 2, 1)} thread(s) a trial:  {one_worker_half['seconds']:7.1f} s")
    print(
        f"  two workers, {max(cores // 2, 1)} thread(s) each:  {two_workers['seconds']:7.1f} s   ratio {result['two_over_one']:.2f} to one worker at "
        f"{cores} threads, {result['two_over_one_half_threads']:.2f} at {max(cores // 2, 1)} (target <= 0.6)"
    )
    by_lr = lambda run: sorted(tuple(r[1:]) for r in run["results"])  # noqa: E731  (lr, validation ESR)
    print(f"  same trials, same validation ESRs in every run: {by_lr(one_worker) == by_lr(one_worker_half) == by_lr(two_workers) == by_lr(killed)}")
    for name, run in (("one worker", one_worker), ("one worker, fewer threads", one_worker_half), ("two workers", two_workers)):
        print(f"  {name}: each trial's wall time in Optuna " + ", ".join(f"{s:.1f}" for s in run["trial_seconds"]) + " s")
    for name, run in (("one worker", one_worker), ("one worker, fewer threads", one_worker_half), ("two workers", two_workers), ("worker killed", killed)):
        print(
            f"  {name}: {run['trials']} trials ({run['complete']} complete), {run['lost_attempts_requeued']} lost attempts re-queued, "
            f"{run['mlflow_child_runs']} MLflow runs ({run['mlflow_runs_left_running']} left running); "
            f"Optuna and MLflow agree: {run['optuna_and_mlflow_agree']}"
        )


if __name__ == "__main__":
    main()
