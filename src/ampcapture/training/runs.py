"""A run folder's life: resume an interrupted run of the same configuration, start over
otherwise, never lose a finished run nor touch a folder ampcapture did not make, and read
warm-start weights from another run's checkpoint or a `.nam` file."""

from __future__ import annotations

import datetime
import hashlib
import json
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from ampcapture.core.config import preset, preset_names
from ampcapture.core.errors import AmpCaptureError, ConfigError, ModelFileError
from ampcapture.core.files import atomic_path
from ampcapture.core.paths import RunPaths
from ampcapture.formats.checkpoint import read_checkpoint
from ampcapture.formats.nam import nam_body, read_nam, to_model
from ampcapture.models import AmpModel, build_model

# Settings that may change between an interrupted run and its resumption (budgets, hardware,
# and the sweep's trial bookkeeping: a re-queued trial resumes its predecessor's run).
RESUMABLE_CHANGES = ("trainer", "logger", "dag", "trial")


def config_fingerprint(cfg: dict[str, Any]) -> str:
    """What must be unchanged for a run to be resumed rather than restarted."""
    kept = {k: v for k, v in cfg.items() if k not in RESUMABLE_CHANGES}
    return hashlib.sha256(json.dumps(kept, sort_keys=True, default=str).encode()).hexdigest()[:16]


MARKER = ".ampcapture-run"  # written into every run folder ampcapture makes: only such a folder is ever emptied
# What a run writes (a run folder of before the marker is known by holding nothing else).
RUN_FILES = re.compile(r"(best|last|best_size\d+)\.ckpt|config\.yaml|metrics\.json|esr_curve\.csv|mlflow_run_id|\.previous|\.gitignore|\..+\.tmp")


def made_by_us(folder: Path) -> bool:
    """Whether ampcapture made `folder`: it holds the marker, or (a run of before the marker,
    a DVC checkout of the DAG's final fit) nothing but what a run writes. A symlink never is."""
    if folder.is_symlink() or not folder.is_dir():
        return False
    return (folder / MARKER).is_file() or all(RUN_FILES.fullmatch(item.name) for item in folder.iterdir())


def remove_run(folder: Path, fix: str) -> None:
    """Delete a run folder (a sweep's trial about to start anew), refusing any folder ampcapture did not make."""
    if not folder.exists() and not folder.is_symlink():
        return
    if not made_by_us(folder):
        raise AmpCaptureError(folder, f"was not made by ampcapture (it has no {MARKER} marker): nothing in it is touched", fix)
    shutil.rmtree(folder)


def prepare_run_dir(paths: RunPaths, cfg: dict[str, Any], resume: bool, overwrite: bool = False, replace: bool = False, say=print) -> Path | None:
    """Make the run directory; return the checkpoint to resume from: of an unfinished run of the
    same configuration, its last.ckpt, or its best.ckpt when last.ckpt is damaged (one of another
    configuration starts over). None: a new run.

    A finished run is never lost: training it again is refused, unless `overwrite` (the user's
    train.overwrite), which keeps it beside the new one as <run_name>.<date>, or `replace` (a DAG
    stage: DVC keeps the old outputs), where it waits in .previous until the new one finishes.
    A folder ampcapture did not make is never touched."""
    root = paths.root
    if root.exists() or root.is_symlink():
        if not made_by_us(root):
            raise AmpCaptureError(
                root,
                f"exists and was not made by ampcapture (no {MARKER} marker): nothing in it is touched",
                "give this run another run_name, or move that folder away",
            )
    finished = paths.metrics.is_file()
    if finished and not replace:
        if not overwrite:
            raise AmpCaptureError(
                root,
                f"holds a finished run ({_figures(paths)})",
                "give this one another run_name, or set train.overwrite=true to train anew (the finished run is kept beside it under a dated name)",
            )
        kept = root.with_name(f"{root.name}.{datetime.datetime.now():%Y%m%d-%H%M%S}")
        root.rename(kept)
        say(f"{root} held a finished run: kept as {kept}")
        finished = False
    elif finished and not paths.best.is_file():  # a fresh clone: the DAG's metrics, tracked by git, without the run
        say(f"{root} holds an earlier run's figures only (as git keeps them for DVC): training a new one")
    elif finished:
        say(f"{root} holds a finished run: training a new one (the finished one waits in {paths.previous} until the new one finishes)")
    elif paths.last.is_file() and resume and paths.config.is_file():
        saved = yaml.safe_load(paths.config.read_text())
        if config_fingerprint(saved) != config_fingerprint(cfg):
            say(f"{root} holds a run with another configuration: starting over")
        elif readable_checkpoint(paths.last):
            say(f"resuming from {paths.last}")
            return paths.last
        elif paths.best.is_file() and readable_checkpoint(paths.best):
            say(f"{paths.last} is damaged (a full disk or a crash while writing it?): resuming from {paths.best}, its best epoch")
            return paths.best
        else:
            say(f"{paths.last} is damaged (a full disk or a crash while writing it?): starting over")
    if root.exists():
        if finished:
            shutil.rmtree(paths.previous, ignore_errors=True)
            paths.previous.mkdir()
        for item in root.iterdir():
            if item.name in (".gitignore", MARKER, paths.previous.name):  # .gitignore: DVC's, when the DAG owns this run
                continue
            if finished:
                item.rename(paths.previous / item.name)
            else:
                shutil.rmtree(item) if item.is_dir() else item.unlink()
    root.mkdir(parents=True, exist_ok=True)
    (root / MARKER).write_text("a training run of ampcapture: re-running it may replace what is here\n")
    with atomic_path(paths.config) as tmp:
        Path(tmp).write_text(yaml.safe_dump(cfg, sort_keys=False))
    return None


def _figures(paths: RunPaths) -> str:
    try:
        metrics = json.loads(paths.metrics.read_text())
        return f"validation ESR {metrics['validation_esr']:.5g}, test ESR {metrics['test_esr']:.5g}, {metrics['epochs']} epochs"
    except (ValueError, KeyError, TypeError):
        return "its metrics.json is unreadable"


def readable_checkpoint(path: Path) -> bool:
    try:
        read_checkpoint(path)
        return True
    except ModelFileError:
        return False


def initial_weights(path: Path, module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The weights a run starts from (`train.init_from`): a checkpoint's (averaged, when the run
    kept an average) or a `.nam` file's (ours or NAM's: WaveNet, LSTM, an A2 container), checked
    to be the model the run is configured to train."""
    if not path.is_file():
        raise ConfigError("train.init_from", f"{path} not found", "give a .nam file or a checkpoint such as models/<capture>/<run>/best.ckpt, or null")
    if path.suffix == ".nam":
        return nam_weights(path, module)
    try:
        weights = read_checkpoint(path).state_dict
    except ModelFileError as exc:
        raise ConfigError("train.init_from", f"{path} {exc.problem}", "give a .ckpt written by pipelines/train.py") from None
    mine = module.state_dict()
    if set(weights) != set(mine) or any(weights[k].shape != mine[k].shape for k in mine):
        raise ConfigError(
            "train.init_from",
            f"{path} holds another model than the configured {module.model.architecture}",
            "warm-start from a checkpoint of the same model preset",
        )
    return weights


def nam_weights(path: Path, module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A `.nam` file's weights as `module`'s, when the file holds the configured model (same
    architecture, layers and sample rate); else the preset of conf/model/ that matches it."""
    try:
        held = to_model(read_nam(path))
    except ModelFileError as exc:
        raise ConfigError("train.init_from", f"{path} {exc.problem}", exc.fix) from None
    configured = module.model
    if configured.knobs:
        problem = f"{path} is a model of one capture; this run trains a capture set's model, which takes its knobs as inputs"
        raise ConfigError("train.init_from", problem, "train a capture set from random weights, or from one of its own checkpoints")
    if held.sample_rate != configured.sample_rate:
        problem = f"{path} is a model at {held.sample_rate} Hz; this capture is {configured.sample_rate} Hz"
        raise ConfigError("train.init_from", problem, "start from a model of the capture's sample rate")
    if model_shape(held) != model_shape(configured):
        preset = matching_preset(held)
        fix = f"train its preset: model={preset}" if preset else "describe its layers in a preset (conf/model/wavenet_custom.yaml) and train that"
        raise ConfigError("train.init_from", f"{path} holds a {describe_shape(held)}, not the configured {describe_shape(configured)}", fix)
    return {f"model.{k}": v for k, v in held.state_dict().items()}


def model_shape(model: AmpModel) -> Any:
    """What a `.nam` says of a model but its numbers: its file without weights and metadata
    (every part's, a condition DSP's), its numbers single precision as a file keeps them, so
    that a model read back compares equal."""

    def shape(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: shape(v) for k, v in value.items() if k not in ("weights", "metadata")}
        if isinstance(value, list):
            return [shape(v) for v in value]
        return float(np.float32(value)) if isinstance(value, float) else value

    return shape(nam_body(model))


def describe_shape(model: AmpModel) -> str:
    parts = model.parts
    kind = f"{model.architecture} of {len(parts)} sizes" if len(parts) > 1 else model.architecture
    return f"{kind} of {model.num_parameters():,} parameters"


def matching_preset(model: AmpModel) -> str | None:
    """The conf/model/ preset whose model is `model`'s shape, if one is (a named one before a
    `*_custom` template)."""
    for name in sorted(preset_names(), key=lambda name: (name.endswith("_custom"), name)):
        found = preset(name)
        try:
            candidate = build_model(found["architecture"], found["config"], model.sample_rate)
            if model_shape(candidate) == model_shape(model):
                return name
        except (AmpCaptureError, KeyError, TypeError, ValueError):
            continue  # a preset .nam cannot hold (GuitarML's skip LSTM)
    return None
