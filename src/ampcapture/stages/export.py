"""DVC stage `export`: the candidate with the lowest validation ESR (the final fit or a sweep
trial) as models/<capture>/<capture>.nam (+ aidax/), reported with the whole selection in
export.json and registered in MLflow. A parametric model (of a capture set) is written at the
middle of every knob's range, and once per recorded setting into knobs/."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from ampcapture.core.config import settings
from ampcapture.core.errors import AmpCaptureError
from ampcapture.core.files import atomic_dir, write_json
from ampcapture.core.paths import FINAL_RUN, Layout
from ampcapture.export.selection import choose, gather
from ampcapture.export.write import ExportSettings, export_checkpoint
from ampcapture.formats.checkpoint import load_checkpoint
from ampcapture.stages import console
from ampcapture.tracking import LoggerSettings


def run(params: dict[str, Any]) -> None:
    layout = Layout.of(params)
    sweep_report = layout.report("sweep")
    if not sweep_report.is_file():
        raise AmpCaptureError(sweep_report, "not found", "run the sweep and train stages first (`dvc repro`)")
    selection = choose(gather(layout, FINAL_RUN, json.loads(sweep_report.read_text())))
    export_settings = settings(ExportSettings, params)
    ranges = load_checkpoint(selection["checkpoint"])[1]
    # a parametric model: the .nam at the middle of every knob, and one per recorded setting
    middle = None if ranges is None else {name: (low + high) / 2 for name, (low, high) in ranges.items()}
    with atomic_dir(layout.models / "knobs") as knob_dir:
        if ranges is None:
            note = "Not a parametric model: train on a capture set (README, 'Parametric captures') to get one file per knob setting.\n"
            (knob_dir / "README.txt").write_text(note)
        else:
            plain = replace(export_settings, aidax=False, register=False)
            for setting in json.loads(layout.split_json.read_text())["settings"]:
                out = knob_dir / f"{layout.capture}_{setting['name']}.nam"
                export_checkpoint(selection["checkpoint"], out, plain, user=export_settings.metadata, capture=layout.capture, knobs=setting["values"])
    with atomic_dir(layout.aidax) as aidax_dir:
        report = export_checkpoint(
            selection["checkpoint"],
            layout.nam,
            export_settings,
            user=export_settings.metadata,
            align_report=layout.report("align"),
            aidax_out=aidax_dir / f"{layout.capture}.json",
            tracking=settings(LoggerSettings, params),
            capture=layout.capture,
            selection=selection,
            knobs=middle,
        )
        if ranges is not None:
            report["knob_settings"] = sorted(str(p) for p in (layout.models / "knobs").glob("*.nam"))
        if report["aidax"] is None:
            (aidax_dir / "README.txt").write_text(
                f"No AIDA-X model: {report.get('aidax_note') or 'AIDA-X loads LSTM models; this capture is a ' + report['architecture']}.\n"
                "Train an LSTM (model=lstm_small or lstm_guitarml) to get one.\n"
            )
        else:
            report["aidax"] = str(layout.aidax / f"{layout.capture}.json")
    write_json(layout.report("export"), report)
    console.print(f"chose {selection['reason']}")
    console.print(
        f"exported {layout.capture}: {report['nam']} (loudness {report['loudness']:.1f} dB, gain {report['gain']:.2f})"
        + (f", MLflow model {layout.capture} v{report['registered']['version']}" if report.get("registered") else "")
    )
