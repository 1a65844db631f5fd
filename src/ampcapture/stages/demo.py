"""DVC stage `demo`: the signal through the built-in virtual amp, as data/captures/demo/."""

from __future__ import annotations

from typing import Any

from ampcapture.audio.virtual_amp import AmpSettings, render_demo_capture
from ampcapture.core.config import settings
from ampcapture.core.paths import Layout
from ampcapture.stages import console


def run(params: dict[str, Any]) -> None:
    layout = Layout.of(params)
    out = layout.recording("demo")
    info = render_demo_capture(layout.stimulus, out, settings(AmpSettings, params))
    console.print(f"wrote {out}/input.wav and output.wav (virtual amp, hidden latency {info['latency_samples']} samples)")
