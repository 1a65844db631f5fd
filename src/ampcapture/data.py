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

from .audio import read_audio
from .errors import CaptureError


@dataclass
class Capture:
    """Aligned input/output audio (float32 tensors) and the split's regions in samples."""

    x: torch.Tensor
    y: torch.Tensor
    sample_rate: int
    regions: dict[str, list[list[int]]]

    @classmethod
    def load(cls, split_json: str | Path) -> "Capture":
        split_json = Path(split_json)
        if not split_json.is_file():
            raise CaptureError(split_json, "split not found", "run the split stage first (`dvc repro split`)")
        split = json.loads(split_json.read_text())
        audio_dir = Path(split["audio"])
        x, y = read_audio(audio_dir / "input.wav"), read_audio(audio_dir / "output.wav")
        regions = {name: split[name] for name in ("train", "validation", "test")}
        return cls(torch.from_numpy(x.samples).float(), torch.from_numpy(y.samples).float(), x.sample_rate, regions)

    def segment(self, name: str, pre_roll: int) -> tuple[torch.Tensor, torch.Tensor]:
        """A whole region (the first of its kind) with `pre_roll` samples of input before it,
        zero-padded where the file starts; for validation and test."""
        start, end = self.regions[name][0]
        lead = self.x[max(start - pre_roll, 0) : start]
        x = torch.cat([torch.zeros(pre_roll - lead.numel()), lead, self.x[start:end]])
        return x, self.y[start:end]


class RandomWindows(Dataset):
    """`len(self)` windows per epoch, drawn afresh each epoch from the regions, uniformly per sample."""

    def __init__(self, capture: Capture, spans: list[list[int]], ny: int, pre_roll: int, seed: int = 0,
                 length: int | None = None):
        """`length`: windows per epoch; by default as many as the spans hold (samples / ny)."""
        self.capture, self.ny, self.pre_roll, self.seed, self.length = capture, ny, pre_roll, seed, length
        # Window starts (of the target) that keep input and target inside one span.
        self.spans = [(s + pre_roll, e - ny) for s, e in spans if e - ny >= s + pre_roll]
        if not self.spans:
            raise CaptureError("train.ny", f"no training region is longer than ny + pre_roll = {ny + pre_roll} samples",
                               "lower ny, or record more audio")
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
        x = self.capture.x[start - self.pre_roll : start + self.ny]
        return x, self.capture.y[start : start + self.ny]
