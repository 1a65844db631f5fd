"""The DAG's stages, one module per stage: `pipelines/<stage>.py` runs `main(<module>.run)`, and
each `run` is a function of the composed config (params.yaml). A stage module imports only what
its stage runs, so the stage's DVC deps follow from its imports (tests/test_dvc_deps.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from rich.console import Console

from ..config import load_params, section
from ..errors import AmpCaptureError, user_error

SIGNAL_NAME = "reamp_input.wav"
SWEEP_RUNS = "sweep"  # the DAG's sweep trains its trials in models/<capture>/sweep/ (conf/hparams_search/dag.yaml)
FINAL_RUN = "final"   # and the final fit in models/<capture>/final/
console = Console(stderr=True)


def signal_wav(params: dict[str, Any]) -> Path:
    return Path(section(params, "paths.signal")) / SIGNAL_NAME


def main(run: Callable[[dict[str, Any]], None], params_path: str = "params.yaml") -> int:
    """Run one stage; a user-facing error prints as a message (no traceback) and exits 1."""
    try:
        run(load_params(params_path))
    except (AmpCaptureError, OSError) as exc:
        console.print(f"[red]error:[/] {user_error(exc)}", highlight=False)
        return 1
    return 0
