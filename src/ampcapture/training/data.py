"""The data module: random windows of the train regions for training, each whole validation
and test region as one example to evaluate."""

from __future__ import annotations

from pathlib import Path

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from ampcapture.capture.dataset import Capture, RandomWindows
from ampcapture.training.settings import TrainSettings


class _Segments(Dataset):
    """One whole region (validation or test) as a single example."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor):
        self.x, self.y = x, y

    def __len__(self) -> int:
        return 1

    def __getitem__(self, index: int):
        return self.x, self.y


class CaptureDataModule(pl.LightningDataModule):
    """Loads a split capture once; random windows for training, whole regions to evaluate."""

    def __init__(self, split_json: str | Path, pre_roll: int, settings: TrainSettings):
        super().__init__()
        self.split_json, self.pre_roll, self.settings = Path(split_json), pre_roll, settings
        self.capture: Capture | None = None

    def setup(self, stage: str | None = None) -> None:
        if self.capture is None:
            self.capture = Capture.load(self.split_json)

    def train_dataloader(self) -> DataLoader:
        s = self.settings
        windows = RandomWindows(self.capture, self.capture.regions["train"], s.ny, self.pre_roll, s.seed, length=s.windows_per_epoch)
        return DataLoader(windows, batch_size=s.batch_size, shuffle=False, drop_last=len(windows) >= s.batch_size)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(_Segments(*self.capture.segment("validation", self.pre_roll)), batch_size=1)

    def test_dataloader(self) -> DataLoader:
        return DataLoader(_Segments(*self.capture.segment("test", self.pre_roll)), batch_size=1)
