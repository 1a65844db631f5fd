"""neural-amp-modeler itself, the reference our exports and speed are held against.

It lives in its own virtual environment (.benchmarks/nam-venv, made on first use from PyPI):
its dependencies (transformers, librosa, tensorboard, ...) have no place in ampcapture's.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NAM_VENV = ROOT / ".benchmarks" / "nam-venv"
NAM_VERSION = "0.13.0"
TORCH_PIN = "torch==2.13.0"  # the local CPU build; anything else pulls CUDA wheels


def ensure_nam() -> Path:
    """The NAM environment's python, installing neural-amp-modeler there the first time."""
    python = NAM_VENV / "bin" / "python"
    if not (NAM_VENV / "bin" / "nam-full").is_file():
        print(f"installing neural-amp-modeler {NAM_VERSION} into {NAM_VENV} ...", file=sys.stderr, flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(NAM_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", TORCH_PIN, f"neural-amp-modeler=={NAM_VERSION}"], check=True)
    return python


def run_nam(script: str, *args: str | Path, timeout: float = 900) -> str:
    """Run a Python snippet in NAM's environment (one thread); returns its stdout."""
    done = subprocess.run(
        [str(ensure_nam()), "-c", script, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"},
    )
    if done.returncode != 0:
        raise RuntimeError(f"neural-amp-modeler failed:\n{done.stderr[-3000:]}")
    return done.stdout
