"""DVC stage `benchmark`: real-time factor of the exported .nam, reports/<capture>/benchmark.json
and plots/<capture>/benchmark.png, logged to the exported model's MLflow run."""

from __future__ import annotations

import json
from typing import Any

from ampcapture.core.config import settings
from ampcapture.core.files import write_json
from ampcapture.core.paths import Layout
from ampcapture.runtime.bench import BenchSettings, benchmark, plot, print_benchmark
from ampcapture.stages import console
from ampcapture.tracking import LoggerSettings, log_benchmark


def run(params: dict[str, Any]) -> None:
    layout = Layout.of(params)
    model, report_path, plot_path, export = layout.nam, layout.report("benchmark"), layout.plots / "benchmark.png", layout.report("export")
    report = benchmark(model, settings(BenchSettings, params), progress=False)
    plot(report, plot_path, layout.capture)
    write_json(report_path, report)
    registered = (json.loads(export.read_text()).get("registered") or {}) if export.is_file() else {}
    log_benchmark(settings(LoggerSettings, params), registered.get("run_id"), report, [report_path, plot_path])
    print_benchmark(report, console, str(model))
