"""Real-time factor of a model file: `ampcapture bench MODEL` and the DAG's benchmark stage.

RTF = compute time / audio duration, on one thread, at the model's rate (48 kHz for ours):
offline (a whole file, from silence) and streaming at plugin buffer sizes, where each buffer
is also held against its deadline (buffer / sample rate). Medians over several runs after a
warm-up; the input is the project's guitar-like playing, not noise.
"""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from threadpoolctl import threadpool_limits

from ampcapture.audio.guitar import playing
from ampcapture.core.errors import ConfigError
from ampcapture.core.files import atomic_path
from ampcapture.runtime.load import load_model


@dataclass
class BenchSettings:
    SECTION: ClassVar[str] = "bench"

    offline_seconds: float
    stream_seconds: float
    buffer_sizes: list[int]
    runs: int
    warmup_seconds: float
    seed: int

    def __post_init__(self) -> None:
        if self.offline_seconds <= 0 or self.stream_seconds <= 0 or self.runs < 1 or self.warmup_seconds < 0:
            raise ConfigError(
                "bench",
                "offline_seconds and stream_seconds must be > 0, runs >= 1, warmup_seconds >= 0",
                "e.g. offline_seconds: 30, stream_seconds: 10, runs: 5",
            )
        if not self.buffer_sizes or min(self.buffer_sizes) < 1:
            raise ConfigError("bench.buffer_sizes", f"{self.buffer_sizes} is not a list of positive sizes", "e.g. [32, 64, 512]")


def benchmark(
    model_path: str | Path, settings: BenchSettings, progress: bool = True, size: float | None = None, knobs: dict[str, tuple[float, float]] | None = None
) -> dict[str, Any]:
    """`size` picks a SlimmableContainer's submodel (the plugin's size control; default the largest)."""
    model = load_model(model_path, size, knobs)  # a parametric model: folded at `knobs`, as players run it
    engine, rate = model.engine, model.sample_rate
    x = playing(max(settings.offline_seconds, settings.stream_seconds + settings.warmup_seconds), rate, settings.seed)
    offline_x = x[: int(settings.offline_seconds * rate)]
    stream_x = x[: int((settings.stream_seconds + settings.warmup_seconds) * rate)]
    warm = int(settings.warmup_seconds * rate)
    report: dict[str, Any] = {
        **model.describe(),
        "threads": 1,
        "runs": settings.runs,
        "machine": {"cpu": platform.processor() or platform.machine(), "python": platform.python_version()},
    }
    with threadpool_limits(1), Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task("benchmark", total=settings.runs * (1 + len(settings.buffer_sizes)))
        engine.render(x[: min(warm, 4096) or 256])  # compile/load the kernels outside the timings
        times = []
        for _ in range(settings.runs):
            engine.reset()  # settling on silence (prewarm) is the plugin's load time, not playing
            start = time.perf_counter()
            engine.process(offline_x)
            times.append(time.perf_counter() - start)
            bar.advance(task)
        report["offline"] = {
            "seconds": settings.offline_seconds,
            "rtf": float(np.median(times)) / settings.offline_seconds,
            "rtf_runs": [t / settings.offline_seconds for t in times],
        }
        report["streaming"] = []
        for size in settings.buffer_sizes:
            runs = []
            for _ in range(settings.runs):
                runs.append(_stream(engine, stream_x, warm, size))
                bar.advance(task)
            per_buffer = np.concatenate([r for r in runs])
            deadline = size / rate
            rtf_runs = [float(r.sum()) / settings.stream_seconds for r in runs]
            report["streaming"].append(
                {
                    "buffer": size,
                    "rtf": float(np.median(rtf_runs)),
                    "rtf_runs": rtf_runs,
                    "p99_ms": float(np.percentile(per_buffer, 99)) * 1e3,
                    "max_ms": float(per_buffer.max()) * 1e3,
                    "deadline_ms": deadline * 1e3,
                    "missed_deadlines": int((per_buffer > deadline).sum()),
                    "buffers": int(per_buffer.size),
                }
            )
    return report


def _stream(engine, x: np.ndarray, warm: int, size: int) -> np.ndarray:
    """Seconds per buffer, buffers after the warm-up only."""
    engine.reset()
    for start in range(0, warm - size + 1, size):
        engine.process(x[start : start + size])
    first = (warm // size) * size
    times = []
    clock = time.perf_counter
    for start in range(first, x.size - size + 1, size):
        buffer = x[start : start + size]
        t0 = clock()
        engine.process(buffer)
        times.append(clock() - t0)
    return np.array(times)


def plot(report: dict[str, Any], path: str | Path, title: str) -> None:
    """RTF against buffer size (log-log), with the offline figure and the real-time line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = [s["buffer"] for s in report["streaming"]]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.loglog(sizes, [s["rtf"] for s in report["streaming"]], "o-", label="streaming (median)")
    ax.loglog(sizes, [s["p99_ms"] / s["deadline_ms"] for s in report["streaming"]], "s--", alpha=0.7, label="99th-percentile buffer / its deadline")
    ax.axhline(report["offline"]["rtf"], color="tab:green", ls=":", label=f"offline ({report['offline']['seconds']:.0f} s file)")
    ax.axhline(1.0, color="tab:red", label="real time")
    ax.set_xscale("log", base=2)
    ax.set_xticks(sizes, [str(s) for s in sizes])
    ax.set_xlabel("buffer size (samples)")
    ax.set_ylabel("real-time factor (lower is faster)")
    ax.set_title(f"{title}: {report['architecture']}, {report['parameters']:,} parameters, {report['macs_per_sample']:,} MACs/sample, 1 thread", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def print_benchmark(report: dict, console: Console, title: str) -> None:
    table = Table(title=f"{title}: {report['parameters']:,} parameters, {report['macs_per_sample']:,} MACs/sample, {report['sample_rate']} Hz, 1 thread")
    for column in ("mode", "RTF (median)", "99th pct / buffer", "deadline", "missed"):
        table.add_column(column, justify="right")
    table.add_row(f"offline {report['offline']['seconds']:.0f} s", f"{report['offline']['rtf']:.4f}", "", "", "")
    for s in report["streaming"]:
        table.add_row(
            f"buffer {s['buffer']}", f"{s['rtf']:.4f}", f"{s['p99_ms']:.3f} ms", f"{s['deadline_ms']:.3f} ms", f"{s['missed_deadlines']} / {s['buffers']}"
        )
    console.print(table)
