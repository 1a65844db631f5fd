"""Export a trained checkpoint for the players (`.nam` for the NAM plugin, JSON for AIDA-X),
checked against the checkpoint before it is kept, and registered in MLflow."""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from ampcapture import __version__
from ampcapture.audio.guitar import playing
from ampcapture.capture.knobs import knob_inputs
from ampcapture.core.errors import AmpCaptureError
from ampcapture.core.files import atomic_path, write_json
from ampcapture.formats.aidax import drops_initial_state, to_aidax
from ampcapture.formats.checkpoint import load_checkpoint
from ampcapture.formats.nam import plugin_differences, to_nam, write_nam
from ampcapture.runtime.load import load_model
from ampcapture.tracking import register_export

# Who the gear is: NAM's user metadata fields, written into the .nam when given.
USER_FIELDS = ("name", "modeled_by", "gear_type", "gear_make", "gear_model", "tone_type", "input_level_dbu", "output_level_dbu")


@dataclass
class ExportSettings:
    """What `ampcapture export` and the DAG's export stage write."""

    SECTION: ClassVar[str] = "export"

    nam_version: str  # 0.7, 0.5, or oldest (the oldest of the two that holds the model)
    aidax: bool  # also the AIDA-X JSON, when the model is an LSTM AIDA-X loads
    register: bool  # a version of the capture's model in the MLflow registry
    check_seconds: float  # guitar audio rendered by the checkpoint and the written file, compared
    metadata: dict[str, Any]  # NAM's user metadata (USER_FIELDS but name); null values are left out


def export_checkpoint(
    checkpoint: str | Path,
    out: str | Path,
    settings: ExportSettings,
    user: dict[str, Any] | None = None,
    align_report: str | Path | None = None,
    aidax_out: str | Path | None = None,
    check_audio: np.ndarray | None = None,
    tracking=None,
    capture: str | None = None,
    selection: dict[str, Any] | None = None,
    knobs: dict[str, float] | None = None,
) -> dict[str, Any]:
    """Write the `.nam` (and AIDA-X JSON) of a checkpoint and return the export report.

    The export is checked before it is kept: the written file is read back and renders
    `check_audio` (default: guitar-like playing) within 1e-5 of the torch model. `selection`
    (ampcapture.selection.choose: how this checkpoint was chosen) goes into the report and
    the registry. A parametric checkpoint (trained on a capture set) is written at the knob
    setting `knobs` ({name: value}, every knob), folded into an ordinary model that every
    player loads, and checked against the parametric model itself."""
    checkpoint, out = Path(checkpoint), Path(out)
    if out.is_dir():
        raise AmpCaptureError(out, "is a folder", f"name the .nam file to write, e.g. {out / (checkpoint.parent.name + '.nam')}")
    parametric, ranges = load_checkpoint(checkpoint)
    values = knob_inputs(ranges, {n: (v, v) for n, v in (knobs or {}).items()})
    knob_tensor = None if values is None else torch.from_numpy(values)
    model = parametric if knob_tensor is None else parametric.at_knobs(knob_tensor)
    metrics = _read_json(checkpoint.parent / "metrics.json")
    capture = capture or metrics.get("capture") or out.stem
    metadata, report = _metadata_and_report(model, checkpoint, metrics, capture, user, align_report, knobs, ranges, selection)
    check = check_audio if check_audio is not None else playing(settings.check_seconds, model.sample_rate, seed=0)
    # every size a player can pick (one but for a SlimmableContainer), by a size-control value in its range
    sizes, controls = parametric.parts, model.size_controls
    with torch.no_grad():
        references = [size.render(torch.from_numpy(np.asarray(check, dtype=np.float32)), knob_tensor).numpy() for size in sizes]
    with tempfile.TemporaryDirectory() as tmp:
        if not model.has_nam_layout:
            report.update(nam=None, nam_note="GuitarML's skip LSTM has no .nam layout; see the AIDA-X file")
        else:
            nam = to_nam(model, metadata, settings.nam_version)
            staged = Path(tmp) / out.name
            write_nam(staged, nam)
            difference = max(float(np.max(np.abs(load_model(staged, c).engine.render(check) - r))) for c, r in zip(controls, references))
            _check_difference(difference, out)
            report.update(
                nam=str(out), nam_version=nam["version"], loudness=nam["metadata"]["loudness"], gain=nam["metadata"]["gain"], nam_max_abs_difference=difference
            )
            report["plugin_differences"] = plugin_differences(model)
        aidax_path = Path(aidax_out or out.with_suffix(".aidax.json"))
        aidax = _export_aidax(model, metadata, settings, check, aidax_path, report)
        if aidax is not None and parametric.knobs:  # AIDA-X can also take the knobs themselves
            _export_parametric_aidax(parametric, metadata, aidax_path.with_name(aidax_path.name.replace(".json", ".parametric.json")), report)
        if report["nam"] is None and aidax is None:
            raise AmpCaptureError(checkpoint, "this model fits neither .nam nor AIDA-X", "train a WaveNet or an LSTM preset")
        if report["nam"] is not None:
            with atomic_path(out) as tmp:  # beside the target: a rename, never a copy across disks
                shutil.copyfile(staged, tmp)
    report["registered"] = (
        register_export(tracking, capture, metrics.get("mlflow_run_id"), out if report["nam"] else None, aidax, report) if settings.register else None
    )
    return report


def _metadata_and_report(model, checkpoint: Path, metrics: dict, capture: str, user, align_report, knobs, ranges, selection) -> tuple[dict, dict]:
    """The `.nam`'s metadata (NAM's user fields and training metadata) and the export report's
    figures: the model's, the run's ESRs (of an A2 each size's by name) and how it was chosen."""
    user = {k: v for k, v in (user or {}).items() if v is not None}
    unknown = set(user) - set(USER_FIELDS)
    if unknown:
        raise AmpCaptureError("export metadata", f"unknown field(s) {sorted(unknown)}", f"use {', '.join(USER_FIELDS)}")
    metadata = {"name": capture, **user, "training": _training_metadata(metrics, align_report)}
    if knobs:
        metadata["training"]["ampcapture"].update(knobs=dict(knobs), knob_ranges=ranges)
    report: dict[str, Any] = {
        "capture": capture,
        "checkpoint": str(checkpoint),
        "architecture": model.architecture,
        "preset": metrics.get("model"),
        **model.describe(),
        "sample_rate": model.sample_rate,
        "validation_esr": metrics.get("validation_esr"),
        "test_esr": metrics.get("test_esr"),
        **({"selection": selection} if selection else {}),
        **({"knobs": dict(knobs)} if knobs else {}),
    }
    if metrics.get("sizes") and "sizes" in report:  # an A2: each size's own ESRs by name (NAM's headline is the largest's, never a sum)
        figures = [{k: s.get(k) for k in ("name", "validation_esr", "test_esr", "best_epoch")} for s in metrics["sizes"]]
        report["sizes"] = [{**described, **own} for described, own in zip(report["sizes"], figures)]
        metadata["training"]["ampcapture"]["sizes"] = figures
    return metadata, report


def _export_aidax(model, metadata, settings, check, path, report) -> Path | None:
    report.update(aidax=None)
    if not (settings.aidax and model.has_aidax_layout):
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


def _export_parametric_aidax(model, metadata, path: Path, report) -> None:
    """The parametric LSTM itself for AIDA-X, its knobs on PARAM1/PARAM2 (0..1 over their ranges)."""
    ranges = metadata["training"]["ampcapture"]["knob_ranges"]
    knobs = {f"PARAM{i + 1}": {"knob": name, "range": span} for i, (name, span) in enumerate(ranges.items())}
    try:
        data = to_aidax(model, {"name": metadata["name"], "esr": report.get("validation_esr"), "source": "ampcapture", "knobs": knobs})
    except AmpCaptureError as exc:
        report["aidax_parametric_note"] = exc.problem
        return
    write_json(path, data)
    report["aidax_parametric"] = str(path)


def _check_difference(difference: float, out: Path) -> None:
    if not difference <= 1e-5:
        raise AmpCaptureError(
            out,
            f"the exported file renders {difference:.2e} away from the trained model (limit 1e-5)",
            "this is a bug in ampcapture's exporter: please report it with the checkpoint",
        )


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
        latency = {
            "manual": None,
            "calibration": {
                "algorithm_version": 1,
                "delays": blips if isinstance(blips, list) else [],
                "safety_factor": align.get("latency_samples", 0) - align.get("alignment_shift_samples", 0),
                "recommended": align.get("alignment_shift_samples"),
                "warnings": {
                    "matches_lookahead": False,
                    "disagreement_too_high": bool(align.get("warnings")),
                    "not_detected": align.get("latency_method") != "blips",
                },
            },
        }
    return {
        "settings": {"ignore_checks": False},
        "data": {"latency": latency, "checks": {"version": 1, "passed": bool(align.get("ok"))}} if align else None,
        "validation_esr": metrics.get("validation_esr"),
        "ampcapture": {
            "version": __version__,
            "preset": metrics.get("model"),
            "run": metrics.get("run_name"),
            "test_esr": metrics.get("test_esr"),
            "epochs": metrics.get("epochs"),
            "latency_method": align.get("latency_method"),
            "mlflow_run_id": metrics.get("mlflow_run_id"),
        },
    }
