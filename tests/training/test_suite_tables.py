"""benchmarks/suite.py's bookkeeping, on made-up runs (nothing trained): an ours-only ablation is
compared with the baseline recipe's runs of the same seeds, and kept runs of one kind never
stand in for the other; each side's optimizer steps come from its own records."""

from __future__ import annotations

import argparse
import importlib.util
import json
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def suite():
    spec = importlib.util.spec_from_file_location("suite", ROOT / "benchmarks" / "suite.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(test_esr: float, epochs: int, spike_at: int | None = None) -> dict:
    validation = [0.1 / (e + 1) * (10 if e == spike_at else 1) for e in range(5)]
    curve = [{"epoch": e, "step": 50 * (e + 1), "validation_esr": v, "test_esr": 0.1, "seconds": 6.0 * e} for e, v in enumerate(validation)]
    return {"ours": {"test_esr": test_esr, "train_esr": test_esr / 2, "epochs": epochs}, "nam": None, "curve": curve}


def test_an_ours_only_row_is_compared_with_the_baseline_runs_of_the_same_seeds(suite):
    # a baseline report written before rows named their seeds: its lists are seeds 0, 1, 2
    baseline = {"c": {"seed_numbers": [0, 1, 2], "ours_test_esr": [1.0, 2.0, 4.0], "ours_setbacks": [0, 5, 1], "nam_test_esr": [9.0, 2.0, 3.0]}}
    row = suite.summarize_ours("c", [1, 2], [run(1.0, 60), run(2.0, 61, spike_at=3)], baseline)
    assert row["baseline_test_esr"] == [2.0, 4.0]
    assert row["ratio_to_baseline"] == pytest.approx(1.5 / 3.0)
    assert row["ratio_to_nam"] == pytest.approx(1.5 / 2.5)
    assert row["minutes_to_nam_mean"] == 0.0  # the made-up curves test at 0.1 from the first epoch, under NAM's 2.5
    assert row["ours_setbacks"] == [0, 1] and row["baseline_setbacks"] == [5, 1]
    assert row["gap_test_over_train"]["ours"] == pytest.approx(2.0)
    # seeds the baseline lacks: no ratio rather than one over other seeds
    assert "ratio_to_baseline" not in suite.summarize_ours("c", [3], [run(1.0, 60)], baseline)

    args = argparse.Namespace(preset="p", label="x", minutes=10.0, seeds=2, first_seed=1, ours_only=True, baseline="defaults", overrides=["a.b=1"])
    text = suite.ours_table([row], args, 1)
    assert "--first-seed 1 --ours-only --baseline defaults a.b=1" in text
    assert "| c | 1, 2 | 1 / 2 | 2 / 4 | 0.50 | 2.00 | 60 / 61 | 250 / 250 | 0 / 1 against 5 / 1 | 0.60 | 0.0 |" in text
    assert "Mean over the captures of the mean ratio to defaults: 0.50; to NAM: 0.60." in text
    # no baseline: ours' figures alone, and a command line that does not name one
    args.baseline = None
    alone = suite.ours_table([suite.summarize_ours("c", [1], [run(1.0, 60)], None)], args, 1)
    assert "--ours-only a.b=1" in alone and "| c | 1 | 1 | - | - | 2.00 | 60 | 250 | 0 | - | - |" in alone


def test_a_paired_row_counts_both_sides_steps(suite, tmp_path):
    checkpoints = tmp_path / "run" / "lightning_logs" / "version_0" / "checkpoints"
    checkpoints.mkdir(parents=True)
    for epoch, step in ((8, 450), (11, 566)):  # NAM keeps the newest epoch's; an older one must not be read
        torch.save({"epoch": epoch, "global_step": step}, checkpoints / f"checkpoint_epoch_epoch={epoch:04d}.ckpt")
    torch.save({"epoch": 9, "global_step": 999}, checkpoints / "epoch=0009_step=999_ESR=1e-02_MSE=1e-04.ckpt")  # a best-so-far one
    levels = {side: dict.fromkeys(suite.LEVELS, 1.0) for side in ("ours", "nam")}
    paired = run(1.0, 60) | {"nam": {"test_esr": 2.0, "train_esr": 2.0, "model": str(tmp_path / "run" / "model.nam")}, "levels": levels}
    gone = paired | {"nam": paired["nam"] | {"model": str(tmp_path / "deleted" / "model.nam")}}
    row = suite.summarize("c", [0, 1], [paired, gone])
    assert row["ours_steps"] == [250, 250] and row["nam_steps"] == [566, None]
    args = argparse.Namespace(preset="p", label="x", minutes=10.0, seeds=2, first_seed=0, ours_only=False, baseline=None, overrides=[])
    assert "| 0 / 0 | 250 / 250; 566 / - |" in suite.table([row], args, 1)


def test_kept_runs_of_a_pair_and_of_ours_alone_are_told_apart(suite, tmp_path):
    record = tmp_path / "c_m10_seed0.json"
    record.write_text(json.dumps({"overrides_given": ["a.b=1"], "blocks": 8, "ours": {}, "nam": {}}))  # a pair, kept before the flag
    assert suite.kept_run(record, ["a.b=1"], 8, ours_only=False)
    assert suite.kept_run(record, ["a.b=1"], 8, ours_only=True) is None
    assert suite.kept_run(record, ["a.b=2"], 8, ours_only=False) is None


def test_an_unknown_baseline_names_the_report_to_make(suite):
    with pytest.raises(SystemExit, match="--label no_such_label"):
        suite.read_baseline("wavenet_standard", "no_such_label")


def test_an_ours_only_suite_is_also_paired_with_the_nam_runs_of_its_baselines_seeds(suite, tmp_path, monkeypatch):
    monkeypatch.setattr(suite, "ROOT", tmp_path)
    monkeypatch.setattr(suite, "WORK", tmp_path / ".benchmarks")
    levels = lambda value: dict.fromkeys(suite.LEVELS, value)  # noqa: E731
    ours = lambda esr: run(esr, 60) | {"capture": "c", "split": "s.json", "blocks": 8, "levels": {"ours": levels(esr)}}  # noqa: E731
    nam = {"test_esr": 4.0, "train_esr": 2.0, "model": str(tmp_path / "nam" / "model.nam")}
    for seed, side in ((0, nam), (1, None)):  # the baseline's seed 1 was trained alone too: no NAM run to pair with
        record = suite.record_path("p", "base", "c", 10.0, seed)
        record.parent.mkdir(parents=True, exist_ok=True)
        record.write_text(json.dumps(ours(3.0) | {"nam": side, "levels": {"ours": levels(3.0), "nam": levels(4.0)}}))
    (tmp_path / "reports" / "suite").mkdir(parents=True)
    report = {"captures": [{"capture": "c", "seeds": 2, "seed_numbers": [0, 1], "ours_test_esr": [3.0, 3.0]}]}
    (tmp_path / "reports" / "suite" / "p_base.json").write_text(json.dumps(report))
    args = argparse.Namespace(preset="p", label="x", minutes=10.0, seeds=2, first_seed=0, ours_only=True, baseline="base", overrides=[])

    text = suite.write_reports({("c", 0): ours(1.0), ("c", 1): ours(2.0)}, ["c"], args, 8)
    assert "| c | 0, 1 | 1 / 2 | 3 / 3 | 0.50 |" in text  # the ablation's own table first
    assert "## p, x: ours against the NAM runs base's runs were paired with, same seeds" in text
    assert "| c | 1 | 4 | 0.25 | 0.25 | 2.00 | 2.00 | 0.25, 0.25, 0.25 | 0.0 | 0 | 250; - |" in text  # seed 0 alone
    assert json.loads((tmp_path / "reports" / "suite" / "p_x.json").read_text())["paired_with_baseline_nam"][0]["seed_numbers"] == [0]
    assert suite.paired_with_baseline(ours(1.0) | {"split": "another.json"}, "p", "base", 10.0, 0) is None  # another split: another test region
