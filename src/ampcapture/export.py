"""Export a trained checkpoint for the players (`.nam` for the NAM plugin, JSON for AIDA-X),
register it in MLflow, and load any model file (ours or NAM's) for rendering and benchmarks."""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import __version__
from .aidax import drops_initial_state, to_aidax
from .audio import atomic_path, write_json
from .errors import AmpCaptureError
from .guitar import perform, render_notes
from .models import LSTM, AmpModel
from .nam_file import ModelFileError, engine_for, engine_for_model, read_nam, to_nam, write_nam
from .runtime import Engine
from .tracking import register_export

# Who the gear is: NAM's user metadata fields, written into the .nam when given.
USER_FIELDS = ("name", "modeled_by", "gear_type", "gear_make", "gear_model", "tone_type", "input_level_dbu", "output_level_dbu")


@dataclass
class LoadedModel:
    """A model file, ready to render: its engine, its torch model (when it has one) and what it is."""

    path: Path
    kind: str                      # "nam" | "checkpoint"
    engine: Engine
    model: AmpModel | None
    architecture: str
    sample_rate: int
    metadata: dict[str, Any]

    def describe(self) -> dict[str, Any]:
        return {"model": str(self.path), "kind": self.kind, "architecture": self.architecture, "sample_rate": self.sample_rate,
                "parameters": self.engine.cost.parameters, "macs_per_sample": self.engine.cost.macs_per_sample}


def load_checkpoint_model(path: str | Path) -> AmpModel:
    """The model of a training checkpoint (best.ckpt / last.ckpt)."""
    from .training import AmpModule

    path = Path(path)
    if not path.is_file():
        raise ModelFileError(path, "file not found", "give a .nam file or a checkpoint such as models/<capture>/final/best.ckpt")
    try:
        return AmpModule.load_from_checkpoint(str(path), map_location="cpu").model.eval()
    except Exception as exc:  # torch.load raises many types for a damaged or foreign file
        raise ModelFileError(path, f"is not an ampcapture checkpoint ({type(exc).__name__}: {str(exc)[:200]})",
                             "use a .ckpt written by `pipelines/train.py` (models/<capture>/<run>/best.ckpt) or a .nam file") from exc


def load_model(path: str | Path) -> LoadedModel:
    """Any `.nam` (ours or NAM's trainer's) or ampcapture checkpoint."""
    path = Path(path)
    if path.suffix == ".nam":
        nam = read_nam(path)
        return LoadedModel(path, "nam", engine_for(nam), None, nam["architecture"], int(round(nam["sample_rate"])), nam["metadata"])
    if path.suffix == ".ckpt":
        model = load_checkpoint_model(path)
        return LoadedModel(path, "checkpoint", engine_for_model(model), model, type(model).__name__, model.sample_rate, {})
    raise ModelFileError(path, f"unsupported model file type {path.suffix!r}", "give a .nam file or a .ckpt checkpoint")


@dataclass
class ExportSettings:
    """What `ampcapture export` and the DAG's export stage write."""

    nam_version: str = "0.7"
    aidax: bool = True              # also write the AIDA-X JSON when the model is an LSTM AIDA-X loads
    register: bool = True           # MLflow model registry: one registered model per capture
    check_seconds: float = 3.0      # rendered by the torch model and the exported file, compared


def export_checkpoint(checkpoint: str | Path, out: str | Path, settings: ExportSettings, user: dict[str, Any] | None = None,
                      align_report: str | Path | None = None, aidax_out: str | Path | None = None,
                      check_audio: np.ndarray | None = None, tracking=None, capture: str | None = None,
                      selection: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write the `.nam` (and AIDA-X JSON) of a checkpoint and return the export report.

    The export is checked before it is kept: the written file is read back and renders
    `check_audio` (default: guitar-like playing) within 1e-5 of the torch model. `selection`
    (ampcapture.selection.choose: how this checkpoint was chosen) goes into the report and
    the registry."""
    checkpoint, out = Path(checkpoint), Path(out)
    if out.is_dir():
        raise AmpCaptureError(out, "is a folder", f"name the .nam file to write, e.g. {out / (checkpoint.parent.name + '.nam')}")
    model = load_checkpoint_model(checkpoint)
    metrics = _read_json(checkpoint.parent / "metrics.json")
    capture = capture or metrics.get("capture") or out.stem
    user = {k: v for k, v in (user or {}).items() if v is not None}
    unknown = set(user) - set(USER_FIELDS)
    if unknown:
        raise AmpCaptureError("export metadata", f"unknown field(s) {sorted(unknown)}", f"use {', '.join(USER_FIELDS)}")
    metadata = {"name": capture, **user, "training": _training_metadata(metrics, align_report)}
    report: dict[str, Any] = {"capture": capture, "checkpoint": str(checkpoint), "architecture": type(model).__name__,
                              "preset": metrics.get("model"), **model.describe(), "sample_rate": model.sample_rate,
                              "validation_esr": metrics.get("validation_esr"), "test_esr": metrics.get("test_esr"),
                              **({"selection": selection} if selection else {})}
    check = check_audio if check_audio is not None else playing(settings.check_seconds, model.sample_rate, seed=0)
    reference = _render_torch(model, check)
    with tempfile.TemporaryDirectory() as tmp:
        if isinstance(model, LSTM) and model.skip:
            report.update(nam=None, nam_note="GuitarML's skip LSTM has no .nam layout; see the AIDA-X file")
        else:
            nam = to_nam(model, metadata, settings.nam_version)
            staged = Path(tmp) / out.name
            write_nam(staged, nam)
            difference = float(np.max(np.abs(load_model(staged).engine.render(check) - reference)))
            _check_difference(difference, out)
            report.update(nam=str(out), nam_version=nam["version"], loudness=nam["metadata"]["loudness"],
                          gain=nam["metadata"]["gain"], nam_max_abs_difference=difference)
        aidax = _export_aidax(model, metadata, settings, check, aidax_out or out.with_suffix(".aidax.json"), report)
        if report["nam"] is None and aidax is None:
            raise AmpCaptureError(checkpoint, "this model fits neither .nam nor AIDA-X", "train a WaveNet or an LSTM preset")
        if report["nam"] is not None:
            with atomic_path(out) as tmp:  # beside the target: a rename, never a copy across disks
                shutil.copyfile(staged, tmp)
    report["registered"] = (register_export(tracking, capture, metrics.get("mlflow_run_id"), out if report["nam"] else None, aidax, report)
                            if settings.register else None)
    return report


def _export_aidax(model, metadata, settings, check, path, report) -> Path | None:
    report.update(aidax=None)
    if not (settings.aidax and isinstance(model, LSTM)):
        return None
    try:
        data = to_aidax(model, {"name": metadata["name"], "esr": report.get("validation_esr"), "source": "ampcapture"})
    except AmpCaptureError as exc:
        report["aidax_note"] = exc.problem
        return None
    path = Path(path)
    write_json(path, data)
    report.update(aidax=str(path), aidax_initial_state_dropped=drops_initial_state(model))
    return path


def _check_difference(difference: float, out: Path) -> None:
    if not difference <= 1e-5:
        raise AmpCaptureError(out, f"the exported file renders {difference:.2e} away from the trained model (limit 1e-5)",
                              "this is a bug in ampcapture's exporter: please report it with the checkpoint")


def _render_torch(model: AmpModel, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        xt = torch.from_numpy(np.asarray(x, dtype=np.float32))
        if isinstance(model, LSTM):
            return model(xt.unsqueeze(0)).squeeze(0).numpy()
        return model(torch.cat([torch.zeros(model.receptive_field - 1), xt]).unsqueeze(0)).squeeze(0).numpy()


def playing(seconds: float, sample_rate: int, seed: int = 0) -> np.ndarray:
    """A stretch of the project's guitar-like playing at peak 0.5: audio for checks and benchmarks."""
    x = render_notes(perform(seconds, seed), seconds, sample_rate, seed)
    return (0.5 * x / max(float(np.max(np.abs(x))), 1e-9)).astype(np.float32)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text()) if path.is_file() else {}
    except json.JSONDecodeError:
        return {}


def _training_metadata(metrics: dict[str, Any], align_report: str | Path | None) -> dict[str, Any]:
    """NAM's `training` metadata (latency calibration, data checks, validation ESR), filled
    from our align report, plus what ampcapture knows about the run."""
    align = _read_json(Path(align_report)) if align_report else {}
    blips = (align.get("checks") or {}).get("blip_agreement", {}).get("value")
    latency = None
    if align:
        latency = {"manual": None, "calibration": {
            "algorithm_version": 1, "delays": blips if isinstance(blips, list) else [],
            "safety_factor": align.get("latency_samples", 0) - align.get("alignment_shift_samples", 0),
            "recommended": align.get("alignment_shift_samples"),
            "warnings": {"matches_lookahead": False, "disagreement_too_high": bool(align.get("warnings")),
                         "not_detected": align.get("latency_method") != "blips"}}}
    return {
        "settings": {"ignore_checks": False},
        "data": {"latency": latency, "checks": {"version": 1, "passed": bool(align.get("ok"))}} if align else None,
        "validation_esr": metrics.get("validation_esr"),
        "ampcapture": {"version": __version__, "preset": metrics.get("model"), "run": metrics.get("run_name"),
                       "test_esr": metrics.get("test_esr"), "epochs": metrics.get("epochs"),
                       "latency_method": align.get("latency_method"), "mlflow_run_id": metrics.get("mlflow_run_id")},
    }
