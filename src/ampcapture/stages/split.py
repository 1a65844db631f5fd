"""DVC stage `split`: train / validation / test regions of the aligned capture."""

from __future__ import annotations

from typing import Any

from ampcapture.capture.split import SplitSettings, split_capture
from ampcapture.core.config import settings
from ampcapture.core.paths import Layout
from ampcapture.stages import console


def run(params: dict[str, Any]) -> None:
    layout = Layout.of(params)
    report = split_capture(layout.aligned, layout.splits, layout.report("split"), settings(SplitSettings, params), layout.capture)
    console.print(
        f"split {layout.capture} by {report['method']}: train {report['train_s']} s, validation {report['validation_s']} s, test {report['test_s']} s"
    )
