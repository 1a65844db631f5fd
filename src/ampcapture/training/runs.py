"""A run folder's life: resume an interrupted run of the same configuration, start over
otherwise (a finished run is moved aside, never deleted, until its successor finishes), and
read warm-start weights from another run's checkpoint."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import torch
import yaml

from ampcapture.core.errors import ConfigError
from ampcapture.core.files import atomic_path
from ampcapture.core.paths import RunPaths

# Settings that may change between an interrupted run and its resumption (budgets, hardware,
# and the sweep's trial bookkeeping: a re-queued trial resumes its predecessor's run).
RESUMABLE_CHANGES = ("trainer", "logger", "dag", "trial")


def config_fingerprint(cfg: dict[str, Any]) -> str:
    """What must be unchanged for a run to be resumed rather than restarted."""
    kept = {k: v for k, v in cfg.items() if k not in RESUMABLE_CHANGES}
    return hashlib.sha256(json.dumps(kept, sort_keys=True, default=str).encode()).hexdigest()[:16]


def prepare_run_dir(paths: RunPaths, cfg: dict[str, Any], resume: bool, say=print) -> bool:
    """Make the run directory; return True when its last checkpoint should be resumed: an
    unfinished run of the same configuration. A finished run, or one of another configuration,
    is started over (the old run stays in MLflow; set run_name to keep both on disk). A finished
    run is moved aside, not deleted, until the new one finishes: killing it loses nothing."""
    finished = paths.metrics.is_file()
    if finished:
        say(f"{paths.root} holds a finished run: training a new one (the finished one waits in {paths.previous} until the new one finishes)")
    elif paths.last.is_file() and resume and paths.config.is_file():
        saved = yaml.safe_load(paths.config.read_text())
        if config_fingerprint(saved) != config_fingerprint(cfg):
            say(f"{paths.root} holds a run with another configuration: starting over")
        elif not readable_checkpoint(paths.last):
            say(f"{paths.last} is damaged (a full disk or a crash while writing it?): starting over")
        else:
            say(f"resuming from {paths.last}")
            return True
    if paths.root.exists():
        if finished:
            shutil.rmtree(paths.previous, ignore_errors=True)
            paths.previous.mkdir()
        for item in paths.root.iterdir():
            if item.name in (".gitignore", paths.previous.name):  # .gitignore: DVC's, when the DAG owns this run
                continue
            if finished:
                item.rename(paths.previous / item.name)
            else:
                shutil.rmtree(item) if item.is_dir() else item.unlink()
    paths.root.mkdir(parents=True, exist_ok=True)
    with atomic_path(paths.config) as tmp:
        Path(tmp).write_text(yaml.safe_dump(cfg, sort_keys=False))
    return False


def readable_checkpoint(path: Path) -> bool:
    try:
        torch.load(path, map_location="cpu", weights_only=False)
        return True
    except Exception:  # torch.load raises many types for a truncated file
        return False


def checkpoint_weights(path: Path, module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The (averaged, when the run kept an average) weights of a checkpoint, checked to fit `module`."""
    if not path.is_file():
        raise ConfigError("train.init_from", f"{path} not found", "give a checkpoint such as models/<capture>/<run>/best.ckpt, or null")
    try:
        weights = torch.load(path, map_location="cpu", weights_only=False)["state_dict"]
    except Exception as exc:  # torch.load raises many types for a damaged or foreign file
        raise ConfigError(
            "train.init_from", f"{path} is not an ampcapture checkpoint ({type(exc).__name__})", "give a .ckpt written by pipelines/train.py"
        ) from exc
    mine = module.state_dict()
    if set(weights) != set(mine) or any(weights[k].shape != mine[k].shape for k in mine):
        raise ConfigError(
            "train.init_from",
            f"{path} holds another model than the configured {type(module.model).__name__}",
            "warm-start from a checkpoint of the same model preset",
        )
    return weights
