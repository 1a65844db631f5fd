"""The DAG's choice of the model it ships: lowest validation ESR among the final fit and the
sweep's completed trials; test ESR is reported, never used to choose."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ampcapture.core.errors import AmpCaptureError
from ampcapture.core.paths import Layout
from ampcapture.export.selection import RULE, choose, gather


def _run(models: Path, run: str, validation: float, test: float) -> None:
    folder = models / "demo" / run
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps({"validation_esr": validation, "test_esr": test}))
    (folder / "best.ckpt").write_bytes(b"checkpoint")


def _trial(number: int, state: str) -> dict:
    return {"number": number, "state": state, "run_name": f"sweep/trial_{number:03d}", "values": None}


@pytest.fixture
def models(tmp_path) -> Path:
    _run(tmp_path, "final", validation=0.012, test=0.011)
    _run(tmp_path, "sweep/trial_000", validation=0.010, test=0.020)  # best on validation, worst on test
    _run(tmp_path, "sweep/trial_001", validation=0.030, test=0.005)  # best on test: must not win
    return tmp_path


def test_the_lowest_validation_esr_wins_whatever_the_test_esr(models):
    report = {"trials": [_trial(0, "COMPLETE"), _trial(1, "COMPLETE"), _trial(2, "PRUNED")]}
    selection = choose(gather(Layout({"models": str(models)}, "demo"), "final", report))
    assert selection["chosen"] == "sweep/trial_000"
    assert selection["checkpoint"] == str(models / "demo/sweep/trial_000/best.ckpt")
    assert selection["rule"] == RULE and "test ESR is never used" in RULE
    assert "sweep trial 0" in selection["reason"] and "lowest of 3" in selection["reason"]
    listed = {c["run"]: (c["source"], c["validation_esr"], c["test_esr"]) for c in selection["candidates"]}
    assert listed == {
        "final": ("final fit", 0.012, 0.011),
        "sweep/trial_000": ("sweep trial 0", 0.010, 0.020),
        "sweep/trial_001": ("sweep trial 1", 0.030, 0.005),
    }  # the pruned trial is no candidate


def test_the_final_fit_wins_a_tie_and_stands_alone_without_completed_trials(models):
    _run(models, "sweep/trial_002", validation=0.012, test=0.001)
    tie = choose(gather(Layout({"models": str(models)}, "demo"), "final", {"trials": [_trial(2, "COMPLETE")]}))
    assert tie["chosen"] == "final"
    alone = choose(gather(Layout({"models": str(models)}, "demo"), "final", {"trials": [_trial(3, "FAIL")]}))
    assert alone["chosen"] == "final" and len(alone["candidates"]) == 1


def test_a_candidate_without_its_model_is_an_error_naming_it(models):
    (models / "demo/sweep/trial_001/best.ckpt").unlink()
    with pytest.raises(AmpCaptureError, match="trial_001.*has no finished model"):
        gather(Layout({"models": str(models)}, "demo"), "final", {"trials": [_trial(1, "COMPLETE")]})
    with pytest.raises(AmpCaptureError, match="no trained model"):
        choose([])
