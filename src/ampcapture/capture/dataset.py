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
    drawn) and the split's regions in samples; for one setting of a capture set, also its name,
    its knob values (as on the gear, and normalized as models take them) and whether it is held
    out of training."""

    x: np.ndarray
    y: np.ndarray
    sample_rate: int
    regions: dict[str, list[list[int]]]
    name: str = ""
    values: dict[str, float] | None = None
    knobs: np.ndarray | None = None
    held_out: bool = False

    @classmethod
    def load(cls, split_json: str | Path) -> "Capture":
        """The capture (a capture set's first setting)."""
        return cls.load_all(split_json)[0]

    @classmethod
    def load_all(cls, split_json: str | Path) -> list["Capture"]:
        """The capture, or every setting of a capture set, in the manifest's order."""
        split_json = Path(split_json)
        if not split_json.is_file():
            raise CaptureError(split_json, "split not found", "run the split stage first (`dvc repro split`)")
        split = json.loads(split_json.read_text())
        regions = {name: split[name] for name in ("train", "validation", "test")}
        knobs = split.get("knobs")
        settings = split.get("settings") or [{"name": "", "audio": split["audio"]}]
        captures = []
        for s in settings:
            audio_dir = Path(s["audio"])
            (x, sample_rate), (y, _) = map_float_wav(audio_dir / "input.wav"), map_float_wav(audio_dir / "output.wav")
            normalized = None if knobs is None else np.array([(s["values"][n] - lo) / (hi - lo) for n, (lo, hi) in knobs.items()], np.float32)
            captures.append(cls(x, y, sample_rate, regions, s["name"], s.get("values"), normalized, bool(s.get("held_out", False))))
        return captures

    @property
    def knob_tensor(self) -> torch.Tensor | None:
        return None if self.knobs is None else torch.from_numpy(self.knobs)

    def segment(self, name: str, pre_roll: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The first span of a region with `pre_roll` samples of input before it, zero-padded
        where the file starts."""
        return self.segments(name, pre_roll)[0]

    def segments(self, name: str, pre_roll: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Every span of a region, each as `segment` gives it; for validation and test."""
        out = []
        for start, end in self.regions[name]:
            lead = max(start - pre_roll, 0)
            x = np.concatenate([np.zeros(pre_roll - (start - lead), np.float32), self.x[lead:end]])
            out.append((torch.from_numpy(x), torch.from_numpy(np.array(self.y[start:end]))))
        return out


def knob_ranges(split_json: str | Path) -> dict[str, list[float]] | None:
    """A capture set's knobs, {name: [low, high]} in the manifest's order; None for one capture."""
    return json.loads(Path(split_json).read_text()).get("knobs")


class RandomWindows(Dataset):
    """`len(self)` windows per epoch, drawn afresh each epoch from the `region` of every capture
    (every trained setting of a set), uniformly per sample; with knobs, (x, knobs, y)."""

    def __init__(self, captures: list[Capture], region: str, ny: int, pre_roll: int, seed: int = 0, length: int | None = None):
        """`length`: windows per epoch; by default as many as one capture's spans hold (samples /
        ny), so an epoch of a capture set is as long as one of a single capture."""
        self.captures, self.ny, self.pre_roll, self.seed, self.length = captures, ny, pre_roll, seed, length
        # Window starts (of the target) that keep input and target inside one span.
        self.spans = [(c, s + pre_roll, e - ny) for c, capture in enumerate(captures) for s, e in capture.regions[region] if e - ny >= s + pre_roll]
        if not self.spans:
            raise CaptureError("train.ny", f"no training region is longer than ny + pre_roll = {ny + pre_roll} samples", "lower ny, or record more audio")
        self.sizes = np.array([e - s + 1 for _, s, e in self.spans])
        self.epoch = 0

    def __len__(self) -> int:
        return self.length or max(int(self.sizes.sum()) // self.ny // len(self.captures), 1)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __getitem__(self, index: int) -> tuple[torch.Tensor, ...]:
        rng = np.random.default_rng((self.seed, self.epoch, index))
        span = rng.choice(len(self.spans), p=self.sizes / self.sizes.sum())
        c, first, _ = self.spans[span]
        start, capture = first + int(rng.integers(self.sizes[span])), self.captures[c]
        x = torch.from_numpy(np.array(capture.x[start - self.pre_roll : start + self.ny]))
        y = torch.from_numpy(np.array(capture.y[start : start + self.ny]))
        return (x, y) if capture.knobs is None else (x, capture.knob_tensor, y)
