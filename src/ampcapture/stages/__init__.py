"""The DAG's stages, one module per stage: `pipelines/<stage>.py` runs `main(<module>.run)`, and
each `run` is a function of the composed config (params.yaml). A stage module imports only what
its stage runs, so the stage's DVC deps follow from its imports (tests/test_dvc_deps.py)."""

from __future__ import annotations

from typing import Any, Callable

from rich.console import Console

from ampcapture.core.config import load_params
from ampcapture.core.errors import AmpCaptureError, user_error

console = Console(stderr=True, soft_wrap=True)  # a line a message: a log (DVC's queue, a worker's) is read with grep and tail -f


def main(run: Callable[[dict[str, Any]], None], params_path: str = "params.yaml") -> int:
    """Run one stage; a user-facing error prints as a message (no traceback) and exits 1."""
    try:
        run(load_params(params_path))
    except (AmpCaptureError, OSError) as exc:
        console.print(f"[red]error:[/] {user_error(exc)}", highlight=False)
        return 1
    return 0
