"""DVC stage `align`: check the capture, measure its latency, write the aligned pair and align.json."""

from __future__ import annotations

from typing import Any

from ampcapture.capture.align import AlignSettings, align_capture
from ampcapture.core.config import settings
from ampcapture.core.paths import Layout
from ampcapture.stages import console


def run(params: dict[str, Any]) -> None:
    layout = Layout.of(params)
    report = align_capture(
        layout.recording() / "input.wav",
        layout.recording() / "output.wav",
        layout.aligned,
        layout.report("align"),
        settings(AlignSettings, params),
        layout.capture,
        reference_wav=layout.stimulus,
    )
    for warning in report["warnings"]:
        console.print(f"[yellow]warning:[/] {warning}")
    console.print(f"aligned {layout.capture}: latency {report['latency_samples']} samples ({report['latency_method']})")
