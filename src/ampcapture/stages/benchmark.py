"""DVC stage `benchmark`: real-time factor of the exported .nam, reports/<capture>/benchmark.json
and plots/<capture>/benchmark.png, logged to the exported model's MLflow run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..audio import write_json
from ..bench import BenchSettings, benchmark, plot, print_benchmark
from ..config import section, settings
from ..tracking import LoggerSettings, log_benchmark
from . import console


def run(params: dict[str, Any]) -> None:
    capture = str(section(params, "capture"))
    model = Path(section(params, "paths.models")) / capture / f"{capture}.nam"
    report_path = Path(section(params, "paths.reports")) / capture / "benchmark.json"
    plot_path = Path(section(params, "paths.plots")) / capture / "benchmark.png"
    report = benchmark(model, settings(BenchSettings, params, "bench"), progress=False)
    plot(report, plot_path, capture)
    write_json(report_path, report)
    export = Path(section(params, "paths.reports")) / capture / "export.json"
    registered = (json.loads(export.read_text()).get("registered") or {}) if export.is_file() else {}
    log_benchmark(settings(LoggerSettings, params, "logger"), registered.get("run_id"), report, [report_path, plot_path])
    print_benchmark(report, console, str(model))
