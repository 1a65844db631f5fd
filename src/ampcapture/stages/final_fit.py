"""DVC stage `train`, the final fit: the sweep's best configuration (its trial's config.yaml)
trained for dag.train_minutes into models/<capture>/final/, starting from that trial's weights
when dag.warm_start is set. Interrupted, it resumes like any training."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import yaml

from ampcapture.core.config import section
from ampcapture.core.errors import AmpCaptureError
from ampcapture.core.paths import FINAL_RUN, SWEEP_RUNS, Layout
from ampcapture.stages import console
from ampcapture.training.fit import esr_summary, train
from ampcapture.training.trial import TrialLink


def run(params: dict[str, Any]) -> None:
    layout = Layout.of(params)
    best = layout.run(f"{SWEEP_RUNS}/best")  # the sweeper's copy of its best trial
    if not best.config.is_file():
        raise AmpCaptureError(best.root, "holds no sweep result", "run the sweep stage first (`dvc repro sweep`)")
    cfg = yaml.safe_load(best.config.read_text())
    cfg.update(run_name=FINAL_RUN, trial={field.name: None for field in fields(TrialLink)})
    cfg["trainer"].update(max_minutes=section(params, "dag.train_minutes"), progress_bar=False)
    cfg["train"]["init_from"] = str(best.best) if section(params, "dag.warm_start") else None
    result = train(cfg, say=console.print, replace=True)  # DVC keeps the outputs it replaces
    console.print(f"final fit of {layout.capture}: {esr_summary(result)} after {result['epochs']} epochs -> {result['checkpoint']}")
