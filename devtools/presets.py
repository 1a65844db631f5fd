"""The model presets of conf/model/, resolved as Hydra composes them (wavenet_custom's knobs
filled into its layers), and models built from them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from omegaconf import OmegaConf

from ampcapture.models import build_model

ROOT = Path(__file__).resolve().parents[1]
PRESET_DIR = ROOT / "conf" / "model"
NAMES = sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


def preset(name: str) -> dict[str, Any]:
    """conf/model/<name>.yaml resolved: {"name", "architecture", "config"}."""
    node = OmegaConf.create({"model": OmegaConf.load(PRESET_DIR / f"{name}.yaml")}).model
    return OmegaConf.to_container(node, resolve=True)


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
