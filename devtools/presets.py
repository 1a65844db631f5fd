"""The model presets of conf/model/ (as the configuration holds them: core.config.preset), and
models with random weights built from them."""

from __future__ import annotations

from typing import Any

import torch

from ampcapture.core.config import preset, preset_names
from ampcapture.models import build_model

NAMES = preset_names()
__all__ = ["NAMES", "preset", "preset_model", "random_model"]


def random_model(architecture: str, config: dict[str, Any], seed: int = 0, sample_rate: int = 48000):
    """A model with random weights of a trained model's scale (biases and mixers too)."""
    torch.manual_seed(seed)
    model = build_model(architecture, config, sample_rate).eval()
    for p in model.parameters():
        p.data.add_(0.1 * torch.randn_like(p))
    return model


def preset_model(name: str, seed: int = 0):
    """A preset with random weights of a trained model's scale."""
    p = preset(name)
    return random_model(p["architecture"], p["config"], seed)
