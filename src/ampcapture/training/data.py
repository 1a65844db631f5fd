"""The data module: random windows of the train regions for training, each whole validation
and test region as one example to evaluate (one per setting of a capture set)."""

from __future__ import annotations

from pathlib import Path

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from ampcapture.capture.dataset import Capture, RandomWindows
from ampcapture.core.errors import CaptureError
from ampcapture.training.settings import TrainSettings

MIN_FIELDS = 10  # a validation or test region spans at least this many of the model's receptive fields


def check_regions(captures: list[Capture], pre_roll: int, split_json: Path) -> None:
    """Refuse validation and test regions too short for this model: its ESR there would be
    measured on a few receptive fields of audio (or none) and choose the kept epoch by chance."""
    sample_rate = captures[0].sample_rate
    for name in ("validation", "test"):
        length = min(sum(e - s for s, e in c.regions[name]) for c in captures)
        needed = MIN_FIELDS * (pre_roll + 1)
        if length < needed:
            raise CaptureError(
                split_json,
                f"its {name} region is {length / sample_rate:.2f} s, shorter than {MIN_FIELDS} receptive fields of this model ({needed / sample_rate:.2f} s)",
                "record a longer capture (the whole standardized reamp input), or train a model with a smaller receptive field",
            )


class _Segments(Dataset):
    """Whole regions (validation or test), one example per capture (per setting of a set): the
    list of its spans, each a batch of one, (x, y) or (x, knobs, y); the region's ESR pools
    them (`AmpModule.size_esrs`)."""

    def __init__(self, captures: list[Capture], region: str, pre_roll: int):
        self.captures, self.region, self.pre_roll = captures, region, pre_roll

    def __len__(self) -> int:
        return len(self.captures)

    def __getitem__(self, index: int) -> list[tuple[torch.Tensor, ...]]:
        capture = self.captures[index]
        knobs = () if capture.knobs is None else (capture.knob_tensor[None],)
        return [(x[None], *knobs, y[None]) for x, y in capture.segments(self.region, self.pre_roll)]


class CaptureDataModule(pl.LightningDataModule):
    """Loads a split capture once; random windows for training, whole regions to evaluate. Of a
    capture set, training and validation see the trained settings; the test sees every setting,
    the held-out ones last (`test_captures`)."""

    def __init__(self, split_json: str | Path, pre_roll: int, settings: TrainSettings):
        super().__init__()
        self.split_json, self.pre_roll, self.settings = Path(split_json), pre_roll, settings
        self.captures: list[Capture] | None = None

    def setup(self, stage: str | None = None) -> None:
        if self.captures is None:
            self.captures = Capture.load_all(self.split_json)

    @property
    def trained(self) -> list[Capture]:
        return [c for c in self.captures if not c.held_out]

    @property
    def test_captures(self) -> list[Capture]:
        return self.trained + [c for c in self.captures if c.held_out]

    def train_dataloader(self) -> DataLoader:
        s = self.settings
        windows = RandomWindows(self.trained, "train", s.ny, self.pre_roll, s.seed, length=s.windows_per_epoch)
        return DataLoader(windows, batch_size=s.batch_size, shuffle=False, drop_last=len(windows) >= s.batch_size)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(_Segments(self.trained, "validation", self.pre_roll), batch_size=None)

    def test_dataloader(self) -> DataLoader:
        return DataLoader(_Segments(self.test_captures, "test", self.pre_roll), batch_size=None)
