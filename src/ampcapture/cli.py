"""The `ampcapture` command: make the reamp signal, render the demo capture, check a capture."""

from __future__ import annotations

import argparse
import json
import sys

from rich.console import Console
from rich.table import Table

from .align import AlignSettings, inspect
from .errors import AmpCaptureError
from .signal import SignalSpec, sidecar_path, write_signal
from .virtual_amp import AmpSettings, render_demo_capture

VERDICT_STYLE = {"ok": "green", "warning": "yellow", "error": "bold red", "skipped": "dim"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ampcapture", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser("signal", help="write the standardized reamp input (WAV + sidecar JSON)")
    p.add_argument("out", help="output WAV, e.g. reamp_input.wav")
    p.add_argument("--sample-rate", type=int, default=48000, help="44100, 48000 (default), 88200 or 96000")
    p.add_argument("--seed", type=int, default=0)

    p = commands.add_parser("demo", help="render a reamp input through the built-in virtual amp")
    p.add_argument("signal", help="reamp input WAV (from `ampcapture signal`)")
    p.add_argument("out_dir", help="folder for input.wav and output.wav")
    p.add_argument("--seed", type=int, default=AmpSettings.seed, help="fixes the hidden latency and the noise")
    p.add_argument("--drive-db", type=float, default=AmpSettings.drive_db)

    p = commands.add_parser("check", help="check a reamp recording: formats, levels, latency, drift, repeatability")
    p.add_argument("input", help="the DI / reamp input WAV that was played through the gear")
    p.add_argument("output", help="the recording of the gear's output")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--expected-sample-rate", type=int, default=AlignSettings.expected_sample_rate,
                   help="error if the files are at another rate; 0 accepts any (default %(default)s)")
    p.add_argument("--reference", help="the standardized reamp signal the input may be a copy of (default: regenerated)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console = Console()
    try:
        if args.command == "signal":
            sidecar = write_signal(args.out, SignalSpec(sample_rate=args.sample_rate, seed=args.seed))
            console.print(f"wrote {args.out} ({sidecar['duration_s']:.1f} s at {args.sample_rate} Hz) and {sidecar_path(args.out)}")
        elif args.command == "demo":
            info = render_demo_capture(args.signal, args.out_dir, AmpSettings(seed=args.seed, drive_db=args.drive_db))
            console.print(f"wrote {args.out_dir}/input.wav and output.wav (hidden latency {info['latency_samples']} samples)")
        elif args.command == "check":
            return _check(args, console)
    except AmpCaptureError as exc:
        Console(stderr=True).print(f"[red]error:[/] {exc}", highlight=False)
        return 1
    return 0


def _check(args, console: Console) -> int:
    settings = AlignSettings(expected_sample_rate=args.expected_sample_rate or None)
    result = inspect(args.input, args.output, settings, args.reference)
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


if __name__ == "__main__":
    sys.exit(main())
