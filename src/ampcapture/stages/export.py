"""DVC stage `export`: the candidate with the lowest validation ESR (the final fit or a sweep
trial) as models/<capture>/<capture>.nam (+ aidax/), reported with the whole selection in
export.json and registered in MLflow."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..audio import atomic_dir, write_json
from ..config import section, settings
from ..errors import AmpCaptureError
from ..export import ExportSettings, export_checkpoint
from ..selection import choose, gather
from ..tracking import LoggerSettings
from . import FINAL_RUN, console


def run(params: dict[str, Any]) -> None:
    capture = str(section(params, "capture"))
    models, reports = Path(section(params, "paths.models")) / capture, Path(section(params, "paths.reports")) / capture
    sweep_report = reports / "sweep.json"
    if not sweep_report.is_file():
        raise AmpCaptureError(sweep_report, "not found", "run the sweep and train stages first (`dvc repro`)")
    selection = choose(gather(section(params, "paths.models"), capture, FINAL_RUN, json.loads(sweep_report.read_text())))
    values = dict(section(params, "export"))
    user = values.pop("metadata", None) or {}
    export_settings = settings(ExportSettings, {"export": values}, "export")
    logger = settings(LoggerSettings, params, "logger")
    with atomic_dir(models / "aidax") as aidax_dir:
        report = export_checkpoint(selection["checkpoint"], models / f"{capture}.nam", export_settings, user=user,
                                   align_report=reports / "align.json", aidax_out=aidax_dir / f"{capture}.json",
                                   tracking=logger, capture=capture, selection=selection)
        if report["aidax"] is None:
            (aidax_dir / "README.txt").write_text(
                f"No AIDA-X model: {report.get('aidax_note') or 'AIDA-X loads LSTM models; this capture is a ' + report['architecture']}.\n"
                "Train an LSTM (model=lstm_small or lstm_guitarml) to get one.\n")
        else:
            report["aidax"] = str(models / "aidax" / f"{capture}.json")
    write_json(reports / "export.json", report)
    console.print(f"chose {selection['reason']}")
    console.print(f"exported {capture}: {report['nam']} (loudness {report['loudness']:.1f} dB, gain {report['gain']:.2f})"
                  + (f", MLflow model {capture} v{report['registered']['version']}" if report.get("registered") else ""))
