"""Which trained model the DAG ships: among the final fit and every completed sweep trial, the
one with the lowest validation ESR. Test ESR is carried along for the report, never used to
choose: the test region stays audio that no decision has seen."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from ampcapture.core.errors import AmpCaptureError
from ampcapture.core.paths import Layout, RunPaths

RULE = "lowest validation ESR among the final fit and the sweep's completed trials (test ESR is never used to choose)"


@dataclass
class Candidate:
    run: str  # the run's folder under models/<capture>/
    source: str  # "final fit" | "sweep trial N"
    checkpoint: str
    validation_esr: float
    test_esr: float | None

    @classmethod
    def of_run(cls, paths: RunPaths, run: str, source: str) -> "Candidate":
        if not paths.metrics.is_file() or not paths.best.is_file():
            raise AmpCaptureError(paths.root, "has no finished model (metrics.json and best.ckpt)", "run the DAG's train and sweep stages again (`dvc repro`)")
        metrics = json.loads(paths.metrics.read_text())
        return cls(run, source, str(paths.best), float(metrics["validation_esr"]), metrics.get("test_esr"))


def gather(layout: Layout, final_run: str, sweep_report: dict[str, Any]) -> list[Candidate]:
    """The final fit (models/<capture>/<final_run>/) and every COMPLETE trial the sweep report lists."""

    def candidate(run: str, source: str) -> Candidate:
        return Candidate.of_run(layout.run(run), run, source)

    candidates = [candidate(final_run, "final fit")]
    for trial in sweep_report.get("trials", []):
        if trial["state"] == "COMPLETE":
            candidates.append(candidate(trial["run_name"], f"sweep trial {trial['number']}"))
    return candidates


def choose(candidates: list[Candidate]) -> dict[str, Any]:
    """The selection as the export report and the registry record it: every candidate, the one
    chosen and why. On a tie the earlier candidate (the final fit first) wins."""
    if not candidates:
        raise AmpCaptureError("selection", "there is no trained model to choose from", "run the DAG's train stage")
    chosen = min(candidates, key=lambda c: c.validation_esr)
    runner_up = sorted(c.validation_esr for c in candidates)[1] if len(candidates) > 1 else None
    reason = f"{chosen.source}: validation ESR {chosen.validation_esr:.5g}, the lowest of {len(candidates)} candidates"
    if runner_up is not None:
        reason += f" (next {runner_up:.5g})"
    return {"rule": RULE, "chosen": chosen.run, "checkpoint": chosen.checkpoint, "reason": reason, "candidates": [asdict(c) for c in candidates]}
