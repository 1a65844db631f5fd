"""DVC stage `split`: train / validation / test regions of the aligned capture."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..config import section, settings
from ..split import SplitSettings, split_capture
from . import console


def run(params: dict[str, Any]) -> None:
    capture = str(section(params, "capture"))
    report = split_capture(Path(section(params, "paths.aligned")) / capture, Path(section(params, "paths.splits")) / capture,
                           Path(section(params, "paths.reports")) / capture / "split.json",
                           settings(SplitSettings, params, "data.split"), capture)
    console.print(f"split {capture} by {report['method']}: train {report['train_s']} s, "
                  f"validation {report['validation_s']} s, test {report['test_s']} s")
