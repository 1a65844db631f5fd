"""DVC stage `align`: check the capture (or every recording of a capture set), measure its latency,
write the aligned pair(s) and align.json."""

from __future__ import annotations

from typing import Any

from ampcapture.capture.align import AlignSettings, align_capture, align_capture_set
from ampcapture.capture.knobs import CaptureSet
from ampcapture.core.config import settings
from ampcapture.core.paths import Layout
from ampcapture.stages import console


def run(params: dict[str, Any]) -> None:
    layout = Layout.of(params)
    folder, align_settings = layout.recording(), settings(AlignSettings, params)
    if CaptureSet.load(folder) is not None:  # a capture set: every knob setting's recording
        report = align_capture_set(folder, layout.aligned, layout.report("align"), align_settings, layout.capture, reference_wav=layout.stimulus)
    else:
        report = align_capture(
            folder / "input.wav", folder / "output.wav", layout.aligned, layout.report("align"), align_settings, layout.capture, reference_wav=layout.stimulus
        )
    for warning in report["warnings"]:
        console.print(f"[yellow]warning:[/] {warning}")
    console.print(f"aligned {layout.capture}: latency {report['latency_samples']} samples ({report['latency_method']})")
