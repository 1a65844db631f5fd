"""Causal, streamable amp models whose weights map one-to-one onto NAM's `.nam` layouts."""

from __future__ import annotations

from typing import Any

from ampcapture.core.errors import ConfigError
from ampcapture.models.base import AmpModel
from ampcapture.models.container import SlimmableContainer
from ampcapture.models.lstm import LSTM
from ampcapture.models.wavenet import WaveNet

ARCHITECTURES: dict[str, type[AmpModel]] = {"WaveNet": WaveNet, "LSTM": LSTM, "SlimmableContainer": SlimmableContainer}


def build_model(architecture: str, config: dict[str, Any], sample_rate: int = 48000) -> AmpModel:
    """Instantiate a model from a preset's `architecture` and `config` (see conf/model/)."""
    if architecture not in ARCHITECTURES:
        raise ConfigError("model.architecture", f"unknown architecture {architecture!r}", f"use one of {sorted(ARCHITECTURES)}")
    try:
        return ARCHITECTURES[architecture](**config, sample_rate=sample_rate)
    except TypeError as exc:
        raise ConfigError("model.config", f"does not fit {architecture} ({exc})", "compare with the presets in conf/model/") from exc


__all__ = ["AmpModel", "LSTM", "WaveNet", "SlimmableContainer", "build_model", "ARCHITECTURES"]
