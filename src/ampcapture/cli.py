"""The `ampcapture` command: make the reamp signal, render the demo capture, check a capture,
export a trained model, render audio through a model, benchmark a model's real-time factor."""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from ampcapture.audio.stimulus import StimulusSpec, sidecar_path, write_stimulus
from ampcapture.audio.virtual_amp import AmpSettings, render_demo_capture, render_demo_capture_set
from ampcapture.capture.align import AlignSettings, inspect, inspect_capture_set
from ampcapture.capture.split import SplitSettings
from ampcapture.core.config import defaults
from ampcapture.core.errors import AmpCaptureError, user_error
from ampcapture.core.files import write_json
from ampcapture.export.write import USER_FIELDS, ExportSettings, export_checkpoint
from ampcapture.runtime.bench import BenchSettings, benchmark, plot, print_benchmark
from ampcapture.runtime.render import render_file
from ampcapture.tracking import LoggerSettings

SIZE_HELP = "of a model with several sizes (NAM's A2, a SlimmableContainer): the plugin's size control, 0..1 (default: the largest)"

VERDICT_STYLE = {"ok": "green", "warning": "yellow", "error": "bold red", "skipped": "dim"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ampcapture", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser("stimulus", help="write the standardized reamp input (WAV + sidecar JSON)")
    p.add_argument("out", help="output WAV, e.g. reamp_input.wav")
    p.add_argument("--sample-rate", type=int, help="44100, 48000, 88200 or 96000 (default: stimulus.sample_rate in conf/)")
    p.add_argument("--seed", type=int, help="(default: stimulus.seed in conf/)")

    p = commands.add_parser("demo", help="render a reamp input through the built-in virtual amp")
    p.add_argument("stimulus", help="reamp input WAV (from `ampcapture stimulus`)")
    p.add_argument("out_dir", help="folder for input.wav and output.wav")
    p.add_argument("--seed", type=int, help="fixes the hidden latency and the noise (default: demo.seed in conf/)")
    p.add_argument("--drive-db", type=float, help="(default: demo.drive_db in conf/)")
    p.add_argument(
        "--knob",
        action="append",
        default=[],
        metavar="SETTING=V1,V2,...",
        help="render a capture set instead: the amp at every value of this setting (e.g. drive_db=6,18,30; repeat for a grid)",
    )

    p = commands.add_parser("check", help="check a reamp recording (or a capture set): formats, levels, latency, drift, repeatability")
    p.add_argument("input", help="the DI / reamp input WAV that was played through the gear, or a capture set's folder (with captures.yaml)")
    p.add_argument("output", nargs="?", help="the recording of the gear's output (none for a capture set)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument(
        "--expected-sample-rate", type=int, help="error if the files are at another rate; 0 accepts any (default: data.align.expected_sample_rate in conf/)"
    )
    p.add_argument("--reference", help="the standardized reamp signal the input may be a copy of (default: regenerated)")
    p.add_argument("--channel", type=int, help="the channel of a stereo file to use, from 0 (default: data.align.channel in conf/)")
    p.add_argument("--latency", type=int, help="the gear's latency in samples, when it cannot be measured (default: data.align.latency_samples in conf/)")

    p = commands.add_parser("export", help="write a checkpoint as .nam (NAM plugin) and, for LSTMs, AIDA-X JSON")
    p.add_argument("checkpoint", help="a training checkpoint, e.g. models/<capture>/final/best.ckpt")
    p.add_argument("-o", "--out", required=True, help="the .nam file to write")
    p.add_argument(
        "--nam-version",
        choices=["0.7", "0.5", "oldest"],
        help="0.7: NAM plugins from 0.4.1; 0.5: every plugin; oldest: 0.5 if it holds the model, else 0.7 (default: export.nam_version in conf/)",
    )
    p.add_argument("--aidax", help="AIDA-X JSON to write for an LSTM (default: OUT with .aidax.json)")
    p.add_argument("--no-aidax", action="store_true", help="do not write the AIDA-X JSON")
    p.add_argument("--align-report", help="reports/<capture>/align.json, for the latency and checks metadata")
    p.add_argument("--register", action="store_true", help="add a version to the capture's model in the MLflow registry")
    p.add_argument("--knob", action="append", default=[], metavar="NAME=VALUE", help="a parametric model's knob setting to write (repeat for each knob)")
    p.add_argument(
        "--grid", action="append", default=[], metavar="NAME=V1,V2,...", help="write one file per value of this knob (OUT_<name><value>.nam); repeat for a grid"
    )
    for name in USER_FIELDS:
        p.add_argument(f"--{name.replace('_', '-')}", help=f"metadata: {name}")

    p = commands.add_parser("render", help="render a WAV through a model (.nam or .ckpt)")
    p.add_argument("model", help="a .nam file (ours or NAM's) or a .ckpt checkpoint")
    p.add_argument("input", help="input audio (any rate, mono or stereo)")
    p.add_argument("output", help="output file (written in the input's format)")
    p.add_argument("--size", type=float, help=SIZE_HELP)
    p.add_argument(
        "--knob", action="append", default=[], metavar="NAME=VALUE", help="a parametric model's knob: held (gain=6) or ramped across the file (gain=0:10)"
    )
    p.add_argument("--no-progress", action="store_true")

    p = commands.add_parser("bench", help="real-time factor of a model, offline and streaming, one thread")
    p.add_argument("model", help="a .nam file or a .ckpt checkpoint")
    p.add_argument("--json", help="also write the report to this JSON file")
    p.add_argument("--plot", help="also write the RTF-vs-buffer plot to this PNG")
    p.add_argument("--offline-seconds", type=float, help="(default: bench.offline_seconds in conf/)")
    p.add_argument("--stream-seconds", type=float, help="(default: bench.stream_seconds in conf/)")
    p.add_argument("--buffers", type=int, nargs="+", help="(default: bench.buffer_sizes in conf/)")
    p.add_argument("--runs", type=int, help="(default: bench.runs in conf/)")
    p.add_argument("--size", type=float, help=SIZE_HELP)
    p.add_argument("--knob", action="append", default=[], metavar="NAME=VALUE", help="a parametric model's knob setting (repeat for each knob)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console = Console()
    try:
        if args.command == "stimulus":
            spec = defaults(StimulusSpec, **given(sample_rate=args.sample_rate, seed=args.seed))
            sidecar = write_stimulus(args.out, spec)
            console.print(f"wrote {args.out} ({sidecar['duration_s']:.1f} s at {spec.sample_rate} Hz) and {sidecar_path(args.out)}")
        elif args.command == "demo":
            amp = defaults(AmpSettings, **given(seed=args.seed, drive_db=args.drive_db))
            if args.knob:
                grid = {name: list(values) for name, values in knob_lists(args.knob).items()}
                info = render_demo_capture_set(args.stimulus, args.out_dir, amp, grid)
                console.print(f"wrote {args.out_dir}/input.wav, captures.yaml and one recording per setting (hidden latency {info['latency_samples']} samples)")
            else:
                info = render_demo_capture(args.stimulus, args.out_dir, amp)
                console.print(f"wrote {args.out_dir}/input.wav and output.wav (hidden latency {info['latency_samples']} samples)")
        elif args.command == "check":
            return _check(args, console)
        elif args.command == "export":
            _export(args, console)
        elif args.command == "render":
            info = render_file(
                args.model,
                args.input,
                args.output,
                progress=not args.no_progress,
                warn=_warn,
                size=args.size,
                knobs=knob_settings(args.knob, ramps=True),
            )
            played = "" if "submodel" not in info else f", submodel {info['submodel'] + 1} of {len(info['sizes'])}"
            console.print(f"wrote {info['output']} ({info['seconds']:.1f} s, {info['channels']} ch, {info['sample_rate']} Hz{played})")
        elif args.command == "bench":
            _bench(args, console)
    except (AmpCaptureError, OSError) as exc:
        Console(stderr=True).print(f"[red]error:[/] {user_error(exc)}", highlight=False, soft_wrap=True)  # a path stays one line to copy
        return 1
    return 0


def _warn(message: str) -> None:
    Console(stderr=True).print(f"[yellow]warning:[/] {message}", highlight=False, soft_wrap=True)


def given(**options):
    """The options given on the command line (the others keep conf/'s values)."""
    return {k: v for k, v in options.items() if v is not None}


def knob_settings(specs: list[str], ramps: bool = False) -> dict[str, tuple[float, float]]:
    """--knob NAME=VALUE (or NAME=START:END where `ramps`) -> {name: (start, end)}."""
    settings = {}
    for spec in specs:
        name, _, value = spec.partition("=")
        try:
            start, _, end = value.partition(":") if ramps else (value, "", "")
            settings[name.strip()] = (float(start), float(end or start))
        except ValueError:
            raise AmpCaptureError("--knob", f"{spec!r} is not NAME=VALUE" + (" or NAME=START:END" if ramps else ""), "e.g. --knob gain=6") from None
    return settings


def knob_lists(specs: list[str]) -> dict[str, list[float]]:
    """--grid / --knob NAME=V1,V2,... -> {name: [values]}."""
    lists = {}
    for spec in specs:
        name, _, values = spec.partition("=")
        try:
            lists[name.strip()] = [float(v) for v in values.split(",")]
        except ValueError:
            raise AmpCaptureError("--grid", f"{spec!r} is not NAME=V1,V2,...", "e.g. --grid gain=0,2.5,5,7.5,10") from None
    return lists


def _export(args, console: Console) -> None:
    """One file, or with --grid one per setting of the grid (the other knobs held by --knob)."""
    held = {name: start for name, (start, _) in knob_settings(args.knob).items()}
    grid = knob_lists(args.grid)
    if not grid:
        return _export_one(args, console, Path(args.out), held)
    for combo in itertools.product(*grid.values()):
        setting = dict(zip(grid, combo))
        tag = "_".join(f"{name}{value:g}" for name, value in setting.items())
        out = Path(args.out)
        aidax = Path(args.aidax).with_name(f"{Path(args.aidax).stem}_{tag}.json") if args.aidax else None
        _export_one(args, console, out.with_name(f"{out.stem}_{tag}{out.suffix}"), {**held, **setting}, aidax)


def _export_one(args, console: Console, out: Path, knobs: dict[str, float], aidax: Path | None = None) -> None:
    settings = defaults(ExportSettings, **given(nam_version=args.nam_version), aidax=not args.no_aidax, register=args.register)
    user = {name: getattr(args, name) for name in USER_FIELDS}
    report = export_checkpoint(
        args.checkpoint,
        out,
        settings,
        user=user,
        align_report=args.align_report,
        aidax_out=aidax or args.aidax,
        tracking=defaults(LoggerSettings) if args.register else None,
        knobs=knobs,
    )
    if report["nam"]:
        console.print(
            f"wrote {report['nam']} (.nam {report['nam_version']}, loudness {report['loudness']:.1f} dB, "
            f"gain {report['gain']:.2f}; renders within {report['nam_max_abs_difference']:.1e} of the checkpoint)"
        )
    for what in report.get("plugin_differences") or []:
        _warn(f"the NAM plugin's engine renders {what} otherwise than NAM's trainer and ampcapture")
    if report["aidax"]:
        console.print(f"wrote {report['aidax']} (AIDA-X)")
    if report.get("registered"):
        console.print(f"registered {report['registered']['name']} version {report['registered']['version']} in MLflow")


def _bench(args, console: Console) -> None:
    settings = defaults(
        BenchSettings, **given(offline_seconds=args.offline_seconds, stream_seconds=args.stream_seconds, buffer_sizes=args.buffers, runs=args.runs)
    )
    report = benchmark(args.model, settings, size=args.size, knobs=knob_settings(args.knob))
    title = Path(args.model).name
    if "submodel" in report:
        title += f" (submodel {report['submodel'] + 1} of {len(report['sizes'])})"
    if args.json:
        write_json(args.json, report)
    if args.plot:
        plot(report, args.plot, title)
    print_benchmark(report, console, title)


def _check(args, console: Console) -> int:
    overrides = given(channel=args.channel, latency_samples=args.latency)
    if args.expected_sample_rate is not None:
        overrides["expected_sample_rate"] = args.expected_sample_rate or None
    settings = defaults(AlignSettings, **overrides)
    if Path(args.input).is_dir():
        return _check_set(args, settings, console)
    if args.output is None:
        raise AmpCaptureError(args.input, "no output recording given", "ampcapture check INPUT.wav OUTPUT.wav, or ampcapture check CAPTURE_SET_FOLDER")
    result = inspect(args.input, args.output, settings, args.reference, defaults(SplitSettings))
    report = result.report()
    if args.json:
        print(json.dumps(report, indent=2, default=str))
        return 1 if result.errors else 0
    table = Table(title=f"{args.input} -> {args.output}")
    for column in ("check", "verdict", "value", "details"):
        table.add_column(column)
    for c in result.checks:
        value = "" if c.value is None else (f"{c.value:.3g}" if isinstance(c.value, float) else str(c.value))
        details = f"{c.message}\nfix: {c.fix}" if c.fix else c.message
        table.add_row(c.name, f"[{VERDICT_STYLE[c.verdict]}]{c.verdict}[/]", value, details)
    console.print(table)
    if result.errors:
        console.print(f"[bold red]{len(result.errors)} error(s):[/] this capture cannot be used as it is.")
        for line in report["errors"]:
            console.print(f"  - {line}", highlight=False)
        return 1
    console.print(f"[green]usable[/]: latency {result.latency_samples} samples ({result.latency_method}), {len(result.warnings)} warning(s)")
    return 0


def _check_set(args, settings: AlignSettings, console: Console) -> int:
    """A capture set: each recording's latency and verdicts, then every problem."""
    capture_set, results, problems = inspect_capture_set(args.input, settings, args.reference, defaults(SplitSettings))
    if args.json:
        print(json.dumps({"recordings": {n: r.report() for n, r in results.items()}, "errors": problems}, indent=2, default=str))
        return 1 if problems else 0
    table = Table(title=f"{args.input} ({len(capture_set.settings)} recordings)")
    for column in ("recording", "knobs", "latency", "warnings", "errors"):
        table.add_column(column)
    for s in capture_set.settings:
        r = results.get(s.name)
        knobs = ", ".join(f"{k}={v:g}" for k, v in s.values.items()) + (" (held out)" if s.held_out else "")
        figures = ("-", "-", "not found") if r is None else (str(r.latency_samples), str(len(r.warnings)), str(len(r.errors)))
        table.add_row(s.file, knobs, *figures)
    console.print(table)
    if problems:
        console.print(f"[bold red]{len(problems)} error(s):[/] this capture set cannot be used as it is.")
        for line in problems:
            console.print(f"  - {line}", highlight=False)
        return 1
    console.print(f"[green]usable[/]: {len(results)} recordings, latency {next(iter(results.values())).latency_samples} samples")
    return 0


if __name__ == "__main__":
    sys.exit(main())
