"""DVC stage `demo_knobs`: the signal through the virtual amp at every setting of a grid, as the
capture set data/captures/demo_knobs/ (input.wav, one recording per setting, captures.yaml)."""

from __future__ import annotations

from typing import Any

from ampcapture.audio.virtual_amp import AmpSettings, KnobGrid, render_demo_capture_set
from ampcapture.core.config import settings
from ampcapture.core.paths import Layout
from ampcapture.stages import console


def run(params: dict[str, Any]) -> None:
    layout = Layout.of(params)
    out = layout.recording("demo_knobs")
    grid = settings(KnobGrid, params).grid
    info = render_demo_capture_set(layout.stimulus, out, settings(AmpSettings, params), grid)
    console.print(f"wrote {out}: {len(list(out.glob('*.wav'))) - 1} recordings and captures.yaml (hidden latency {info['latency_samples']} samples)")
