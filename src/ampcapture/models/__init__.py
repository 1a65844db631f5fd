"""Causal, streamable amp models whose weights map one-to-one onto NAM's `.nam` layouts: each
architecture a class with its spec and its `.nam` layout (models.base.AmpModel), listed here."""

from __future__ import annotations

from typing import Any

from ampcapture.core.errors import ConfigError
from ampcapture.models.base import AmpModel
from ampcapture.models.container import SlimmableContainer
from ampcapture.models.linear import Linear
from ampcapture.models.lstm import LSTM
from ampcapture.models.wavenet import WaveNet

# Every architecture, by the name presets and .nam files give it: adding one is its module here and a line below.
ARCHITECTURES: dict[str, type[AmpModel]] = {model.architecture: model for model in (WaveNet, LSTM, SlimmableContainer, Linear)}


def build_model(architecture: str, config: dict[str, Any], sample_rate: int = 48000) -> AmpModel:
    """Instantiate a model from a preset's `architecture` and `config` (see conf/model/)."""
    if architecture not in ARCHITECTURES:
        raise ConfigError("model.architecture", f"unknown architecture {architecture!r}", f"use one of {sorted(ARCHITECTURES)}")
    model = ARCHITECTURES[architecture]
    try:
        spec = model.Spec.from_config(config)
    except (TypeError, KeyError) as exc:
        raise ConfigError("model.config", f"does not fit {architecture} ({exc})", "compare with the presets in conf/model/") from exc
    return model(spec, sample_rate)


__all__ = ["AmpModel", "LSTM", "WaveNet", "SlimmableContainer", "build_model", "ARCHITECTURES"]
