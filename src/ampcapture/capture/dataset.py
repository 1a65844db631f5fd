"""Training data from an aligned, split capture.

Every example is an input window of `pre_roll + ny` samples and the target's last `ny`
samples: the pre-roll is the receptive field - 1 for a WaveNet (so every output sample sees
its full history) and the warm-up for an LSTM (state settles before the loss counts).
Windows never straddle two regions, so no example glues unrelated audio together.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from ampcapture.audio.io import map_float_wav
from ampcapture.core.errors import CaptureError


@dataclass
class Capture:
    """Aligned input/output audio (float32, memory-mapped: hours of audio cost only the windows
    drawn) and the split's regions in samples."""

    x: np.ndarray
    y: np.ndarray
    sample_rate: int
    regions: dict[str, list[list[int]]]

    @classmethod
    def load(cls, split_json: str | Path) -> "Capture":
        split_json = Path(split_json)
        if not split_json.is_file():
            raise CaptureError(split_json, "split not found", "run the split stage first (`dvc repro split`)")
        split = json.loads(split_json.read_text())
        audio_dir = Path(split["audio"])
        (x, sample_rate), (y, _) = map_float_wav(audio_dir / "input.wav"), map_float_wav(audio_dir / "output.wav")
        regions = {name: split[name] for name in ("train", "validation", "test")}
        return cls(x, y, sample_rate, regions)

    def segment(self, name: str, pre_roll: int) -> tuple[torch.Tensor, torch.Tensor]:
        """A whole region (the first of its kind) with `pre_roll` samples of input before it,
        zero-padded where the file starts; for validation and test."""
        start, end = self.regions[name][0]
        lead = max(start - pre_roll, 0)
        x = np.concatenate([np.zeros(pre_roll - (start - lead), np.float32), self.x[lead:end]])
        return torch.from_numpy(x), torch.from_numpy(np.array(self.y[start:end]))


class RandomWindows(Dataset):
    """`len(self)` windows per epoch, drawn afresh each epoch from the regions, uniformly per sample."""

    def __init__(self, capture: Capture, spans: list[list[int]], ny: int, pre_roll: int, seed: int = 0, length: int | None = None):
        """`length`: windows per epoch; by default as many as the spans hold (samples / ny)."""
        self.capture, self.ny, self.pre_roll, self.seed, self.length = capture, ny, pre_roll, seed, length
        # Window starts (of the target) that keep input and target inside one span.
        self.spans = [(s + pre_roll, e - ny) for s, e in spans if e - ny >= s + pre_roll]
        if not self.spans:
            raise CaptureError("train.ny", f"no training region is longer than ny + pre_roll = {ny + pre_roll} samples", "lower ny, or record more audio")
        self.sizes = np.array([e - s + 1 for s, e in self.spans])
        self.epoch = 0

    def __len__(self) -> int:
        return self.length or max(int(self.sizes.sum()) // self.ny, 1)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng((self.seed, self.epoch, index))
        span = rng.choice(len(self.spans), p=self.sizes / self.sizes.sum())
        start = self.spans[span][0] + int(rng.integers(self.sizes[span]))
        x = np.array(self.capture.x[start - self.pre_roll : start + self.ny])
        return torch.from_numpy(x), torch.from_numpy(np.array(self.capture.y[start : start + self.ny]))
