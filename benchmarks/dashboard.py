"""What a user sees when they open the MLflow dashboard on our runs: the page an experiment
opens on and its chart view, as headless Chromium (Debian's `chromium`) renders them from a
plain `mlflow server` on 127.0.0.1 over the store the DAG logs to.

    python benchmarks/dashboard.py [--store sqlite:///mlflow.db] [--experiment demo] [--out reports/dashboard]

Writes `experiment.png` (the experiment as the experiments list links to it,
/#/experiments/<id>), `experiment_model_training.png` (the README's link, MLflow's "Model
training" workspace) and `charts.png` (its chart view), and prints which tabs each page shows
and the chart sections in the order the page shows them (from the rendered page's text).
Run it after `make demo` (or on any store with a training run); `apt-get install chromium` first.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import mlflow  # noqa: E402

from devtools.servers import mlflow_server  # noqa: E402

SECTIONS = ("epochs", "export", "realtime", "Model metrics", "System metrics")  # ampcapture.tracking's, then MLflow's own


def chromium(*args: str) -> subprocess.CompletedProcess:
    """Headless Chromium, given time for MLflow's page to fetch and draw its runs (virtual time)."""
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        raise SystemExit("no chromium here: apt-get install chromium")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1600,1000", "--virtual-time-budget=25000"]
    return subprocess.run([binary, *flags, *args], capture_output=True, text=True, timeout=180, check=True)


def look(url: str, png: Path) -> str:
    """A screenshot of `url` into `png`; returns the page's text as rendered."""
    chromium(f"--screenshot={png}", url)
    dom = chromium("--dump-dom", url).stdout
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", dom, flags=re.S)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", default=f"sqlite:///{ROOT / 'mlflow.db'}", help="the tracking store (logger.tracking_uri)")
    parser.add_argument("--experiment", default="demo", help="the experiment: the capture's name")
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "dashboard")
    args = parser.parse_args()
    store = args.store
    if store.startswith("sqlite:///") and not Path(store.removeprefix("sqlite:///")).is_file():
        raise SystemExit(f"{store}: no such store; run `make demo` first, or give --store")
    experiment = mlflow.MlflowClient(store).get_experiment_by_name(args.experiment)
    if experiment is None:
        raise SystemExit(f"{store} has no experiment {args.experiment!r}; give --experiment (the capture's name)")
    args.out.mkdir(parents=True, exist_ok=True)
    artifacts = Path(store.removeprefix("sqlite:///")).parent / "mlartifacts" if store.startswith("sqlite:///") else Path(tempfile.mkdtemp())
    with mlflow_server(store, artifacts, auth=False) as (url, _):
        pages = {
            "experiment": f"{url}/#/experiments/{experiment.experiment_id}",
            "experiment_model_training": f"{url}/#/experiments/{experiment.experiment_id}?workflowType=machine_learning",
            "charts": f"{url}/#/experiments/{experiment.experiment_id}/runs?workflowType=machine_learning&compareRunsMode=CHART",
        }
        for name, address in pages.items():
            text = look(address, args.out / f"{name}.png")
            tabs = [tab for tab in ("Overview", "Training runs", "Runs", "Traces") if tab in text]
            shown = sorted((text.find(s), s) for s in SECTIONS if s in text)
            print(f"{name}: {address} -> {args.out / f'{name}.png'}")
            print(f"  genai overview shown: {'Overview' in text and 'Traces' in text}; tabs named: {', '.join(tabs)}")
            print(f"  chart sections, in page order: {', '.join(s for _, s in shown) or 'none'}")


if __name__ == "__main__":
    main()
