"""The DAG's stages as functions of the composed config (params.yaml). `pipelines/*.py` are
one-line entry points into `main`, so DVC runs exactly this code."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Callable

import yaml
from rich.console import Console

from .align import AlignSettings, align_capture
from .audio import atomic_dir, write_json
from .config import load_params, section, settings
from .errors import AmpCaptureError, user_error
from .signal import SignalSpec, write_signal
from .split import SplitSettings, split_capture
from .virtual_amp import AmpSettings, render_demo_capture

SIGNAL_NAME = "reamp_input.wav"
SWEEP_RUNS = "sweep"  # the DAG's sweep trains its trials in models/<capture>/sweep/ (conf/hparams_search/dag.yaml)
FINAL_RUN = "final"   # and the final fit in models/<capture>/final/
console = Console(stderr=True)


def signal_wav(params: dict[str, Any]) -> Path:
    return Path(section(params, "paths.signal")) / SIGNAL_NAME


def run_signal(params: dict[str, Any]) -> None:
    spec = settings(SignalSpec, params, "signal")
    sidecar = write_signal(signal_wav(params), spec)
    console.print(f"wrote {signal_wav(params)} ({sidecar['duration_s']:.1f} s at {spec.sample_rate} Hz) and its sidecar")


def run_demo(params: dict[str, Any]) -> None:
    amp = settings(AmpSettings, params, "demo")
    out = Path(section(params, "paths.captures")) / "demo"
    info = render_demo_capture(signal_wav(params), out, amp)
    console.print(f"wrote {out}/input.wav and output.wav (virtual amp, hidden latency {info['latency_samples']} samples)")


def run_align(params: dict[str, Any]) -> None:
    capture = str(section(params, "capture"))
    capture_dir = Path(section(params, "paths.captures")) / capture
    report = align_capture(capture_dir / "input.wav", capture_dir / "output.wav",
                           Path(section(params, "paths.aligned")) / capture,
                           Path(section(params, "paths.reports")) / capture / "align.json",
                           settings(AlignSettings, params, "data.align"), capture, reference_wav=signal_wav(params))
    for warning in report["warnings"]:
        console.print(f"[yellow]warning:[/] {warning}")
    console.print(f"aligned {capture}: latency {report['latency_samples']} samples ({report['latency_method']})")


def run_split(params: dict[str, Any]) -> None:
    capture = str(section(params, "capture"))
    report = split_capture(Path(section(params, "paths.aligned")) / capture, Path(section(params, "paths.splits")) / capture,
                           Path(section(params, "paths.reports")) / capture / "split.json",
                           settings(SplitSettings, params, "data.split"), capture)
    console.print(f"split {capture} by {report['method']}: train {report['train_s']} s, "
                  f"validation {report['validation_s']} s, test {report['test_s']} s")


def train_from_hydra(cfg) -> float:
    """The Hydra app's body (pipelines/train.py): train, print the figures, return the validation ESR."""
    from omegaconf import OmegaConf

    from .training import TrainingInterrupted, train

    try:
        try:
            result = train(OmegaConf.to_container(cfg, resolve=True), say=console.print)
        except OSError as exc:
            raise user_error(exc) from exc
    except TrainingInterrupted as exc:  # stops a sweep too; its re-run resumes this trial
        console.print(f"[yellow]stopped:[/] {exc}", highlight=False)
        raise SystemExit(130) from exc
    except AmpCaptureError as exc:
        console.print(f"[red]error:[/] {exc}", highlight=False)
        if cfg.get("sweep") and cfg.sweep.get("trial_id") is not None:
            raise  # a sweep's trial: the sweeper records it as failed and goes on
        raise SystemExit(1) from exc
    console.print(f"{result['capture']}/{result['run_name']}: validation ESR {result['validation_esr']:.5f}, "
                  f"test ESR {result['test_esr']:.5f} after {result['epochs']} epochs -> {result['checkpoint']}")
    return result["validation_esr"]


def run_final_fit(params: dict[str, Any]) -> None:
    """The DAG's `train`: the sweep's best configuration (its trial's config.yaml) trained for
    dag.train_minutes into models/<capture>/final/, starting from that trial's weights when
    dag.warm_start is set. Interrupted, it resumes like any training."""
    from .training import RunPaths, train

    capture = str(section(params, "capture"))
    best = RunPaths.of(section(params, "paths.models"), capture, f"{SWEEP_RUNS}/best")  # the sweeper's copy of its best trial
    if not best.config.is_file():
        raise AmpCaptureError(best.root, "holds no sweep result", "run the sweep stage first (`dvc repro sweep`)")
    cfg = yaml.safe_load(best.config.read_text())
    cfg.update(run_name=FINAL_RUN, sweep={key: None for key in cfg.get("sweep") or {}})
    cfg["trainer"].update(max_minutes=section(params, "dag.train_minutes"), progress_bar=False)
    cfg["train"]["init_from"] = str(best.best) if section(params, "dag.warm_start") else None
    result = train(cfg, say=console.print)
    console.print(f"final fit of {capture}: validation ESR {result['validation_esr']:.5f}, test ESR {result['test_esr']:.5f} "
                  f"after {result['epochs']} epochs -> {result['checkpoint']}")


def run_export(params: dict[str, Any]) -> None:
    """The candidate with the lowest validation ESR (the final fit or a sweep trial) as
    models/<capture>/<capture>.nam (+ aidax/), reported with the whole selection and registered."""
    from .export import ExportSettings, export_checkpoint
    from .selection import choose, gather
    from .tracking import LoggerSettings

    capture = str(section(params, "capture"))
    models, reports = Path(section(params, "paths.models")) / capture, Path(section(params, "paths.reports")) / capture
    sweep_report = reports / "sweep.json"
    if not sweep_report.is_file():
        raise AmpCaptureError(sweep_report, "not found", "run the sweep and train stages first (`dvc repro`)")
    selection = choose(gather(section(params, "paths.models"), capture, FINAL_RUN, json.loads(sweep_report.read_text())))
    values = dict(section(params, "export"))
    user = values.pop("metadata", None) or {}
    export_settings = settings(ExportSettings, {"export": values}, "export")
    logger = settings(LoggerSettings, params, "logger")
    with atomic_dir(models / "aidax") as aidax_dir:
        report = export_checkpoint(selection["checkpoint"], models / f"{capture}.nam", export_settings, user=user,
                                   align_report=reports / "align.json", aidax_out=aidax_dir / f"{capture}.json",
                                   tracking=logger, capture=capture, selection=selection)
        if report["aidax"] is None:
            (aidax_dir / "README.txt").write_text(
                f"No AIDA-X model: {report.get('aidax_note') or 'AIDA-X loads LSTM models; this capture is a ' + report['architecture']}.\n"
                "Train an LSTM (model=lstm_small or lstm_guitarml) to get one.\n")
        else:
            report["aidax"] = str(models / "aidax" / f"{capture}.json")
    write_json(reports / "export.json", report)
    console.print(f"chose {selection['reason']}")
    console.print(f"exported {capture}: {report['nam']} (loudness {report['loudness']:.1f} dB, gain {report['gain']:.2f})"
                  + (f", MLflow model {capture} v{report['registered']['version']}" if report.get("registered") else ""))


def run_benchmark(params: dict[str, Any]) -> None:
    """Real-time factor of the exported .nam: reports/<capture>/benchmark.json and plots/<capture>/benchmark.png."""
    from .bench import BenchSettings, benchmark, plot
    from .cli import print_benchmark
    from .tracking import LoggerSettings, log_benchmark

    capture = str(section(params, "capture"))
    model = Path(section(params, "paths.models")) / capture / f"{capture}.nam"
    report_path = Path(section(params, "paths.reports")) / capture / "benchmark.json"
    plot_path = Path(section(params, "paths.plots")) / capture / "benchmark.png"
    report = benchmark(model, settings(BenchSettings, params, "bench"), progress=False)
    plot(report, plot_path, capture)
    write_json(report_path, report)
    export = Path(section(params, "paths.reports")) / capture / "export.json"
    registered = (json.loads(export.read_text()).get("registered") or {}) if export.is_file() else {}
    log_benchmark(settings(LoggerSettings, params, "logger"), registered.get("run_id"), report, [report_path, plot_path])
    print_benchmark(report, console, str(model))


STAGES: dict[str, Callable[[dict[str, Any]], None]] = {
    "signal": run_signal, "demo": run_demo, "align": run_align, "split": run_split, "train": run_final_fit,
    "export": run_export,
    "benchmark": run_benchmark,
}


def main(stage: str, params_path: str = "params.yaml") -> int:
    """Run one stage; a user-facing error prints as a message (no traceback) and exits 1."""
    try:
        STAGES[stage](load_params(params_path))
    except (AmpCaptureError, OSError) as exc:
        console.print(f"[red]error:[/] {user_error(exc)}", highlight=False)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1]))
