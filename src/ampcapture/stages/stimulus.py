"""DVC stage `signal`: the standardized reamp input and its sidecar."""

from __future__ import annotations

from typing import Any

from ampcapture.audio.stimulus import StimulusSpec, write_stimulus
from ampcapture.core.config import settings
from ampcapture.core.paths import Layout
from ampcapture.stages import console


def run(params: dict[str, Any]) -> None:
    spec, path = settings(StimulusSpec, params), Layout.of(params).stimulus
    sidecar = write_stimulus(path, spec)
    console.print(f"wrote {path} ({sidecar['duration_s']:.1f} s at {spec.sample_rate} Hz) and its sidecar")
