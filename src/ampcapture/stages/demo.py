"""DVC stage `demo`: the signal through the built-in virtual amp, as data/captures/demo/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..config import section, settings
from ..virtual_amp import AmpSettings, render_demo_capture
from . import console, signal_wav


def run(params: dict[str, Any]) -> None:
    amp = settings(AmpSettings, params, "demo")
    out = Path(section(params, "paths.captures")) / "demo"
    info = render_demo_capture(signal_wav(params), out, amp)
    console.print(f"wrote {out}/input.wav and output.wav (virtual amp, hidden latency {info['latency_samples']} samples)")
