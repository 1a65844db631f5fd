"""DVC stage `align`: check the capture, measure its latency, write the aligned pair and align.json."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..align import AlignSettings, align_capture
from ..config import section, settings
from . import console, signal_wav


def run(params: dict[str, Any]) -> None:
    capture = str(section(params, "capture"))
    capture_dir = Path(section(params, "paths.captures")) / capture
    report = align_capture(capture_dir / "input.wav", capture_dir / "output.wav",
                           Path(section(params, "paths.aligned")) / capture,
                           Path(section(params, "paths.reports")) / capture / "align.json",
                           settings(AlignSettings, params, "data.align"), capture, reference_wav=signal_wav(params))
    for warning in report["warnings"]:
        console.print(f"[yellow]warning:[/] {warning}")
    console.print(f"aligned {capture}: latency {report['latency_samples']} samples ({report['latency_method']})")
