"""Checkpoints read as data, never as code: every `.ckpt` (ours, one from an MLflow artifact or
another sweep worker) is loaded with torch's weights-only unpickler, which builds tensors and
plain values and refuses any other object, so a crafted file cannot run anything."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

from ampcapture.core.errors import ModelFileError

NOT_DATA = "holds objects other than tensors and plain values (a pickled program?): it was not loaded"


def read_checkpoint(path: str | Path, fix: str = "use a .ckpt written by `pipelines/train.py` (models/<capture>/<run>/best.ckpt)") -> dict[str, Any]:
    """The checkpoint's dict; a ModelFileError naming the file if it is missing, damaged,
    foreign, or holds anything but data."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise ModelFileError(path, "file not found", fix)
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch.load raises many types for a truncated or foreign file
        if isinstance(exc, pickle.UnpicklingError) and "GLOBAL" in str(exc):  # a class or function it does not allow
            raise ModelFileError(path, NOT_DATA, fix) from None
        raise ModelFileError(path, f"is not an ampcapture checkpoint ({type(exc).__name__}: {str(exc)[:200]})", fix) from exc
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise ModelFileError(path, "is not an ampcapture checkpoint (no state_dict)", fix)
    return checkpoint
