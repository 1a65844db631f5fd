"""DVC stage `signal`: the standardized reamp input and its sidecar."""

from __future__ import annotations

from typing import Any

from ..config import settings
from ..signal import SignalSpec, write_signal
from . import console, signal_wav


def run(params: dict[str, Any]) -> None:
    spec = settings(SignalSpec, params, "signal")
    sidecar = write_signal(signal_wav(params), spec)
    console.print(f"wrote {signal_wav(params)} ({sidecar['duration_s']:.1f} s at {spec.sample_rate} Hz) and its sidecar")
