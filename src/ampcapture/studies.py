"""Optuna, in one place: the only module that imports it. Studies live in a storage every worker
opens the same way, a study's pruner is rebuilt from data (an allowlist, plain values), and the
few private parts of Optuna's API the sweeper needs are wrapped here, each with why: it drives
trials that run in other processes, which Optuna's public API (one process asking and telling
its own trials) does not cover."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
from optuna import Study, Trial, TrialPruned
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.pruners import BasePruner, NopPruner
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from ampcapture.core.errors import ConfigError

__all__ = [
    "BaseDistribution",
    "CategoricalDistribution",
    "FloatDistribution",
    "FrozenTrial",
    "IntDistribution",
    "NopPruner",
    "Study",
    "StudyDirection",
    "Trial",
    "TrialPruned",
    "TrialState",
]

PRUNER = "pruner"  # the study attribute that holds the sweep's pruner (Optuna stores none): {"name", "kwargs"}
# The pruners a study may name: a study's storage (a shared database) holds data, never what to build.
PRUNERS = ("MedianPruner", "PercentilePruner", "SuccessiveHalvingPruner", "HyperbandPruner", "ThresholdPruner", "PatientPruner", "WilcoxonPruner", "NopPruner")
PLAIN = (bool, int, float, str, type(None))


def absolute(storage: Any) -> str:
    """The storage URL with a relative SQLite or journal file made absolute, so every worker
    (another process, another working directory) opens the same study."""
    storage = str(storage)
    for scheme in ("sqlite:///", "journal:///"):
        if storage.startswith(scheme) and not storage.startswith(scheme + "/"):
            return scheme + str(Path(storage.removeprefix(scheme)).resolve())
    return storage


def open_storage(storage: Any) -> str | optuna.storages.BaseStorage:
    """What Optuna opens for `hydra.sweeper.storage`: an RDB URL as it is (sqlite:///optuna.db for
    one process; postgresql://user@host/db for workers on several machines), or
    journal:///optuna.log, Optuna's journal file, for several processes of one machine (SQLite
    serves one writer at a time; a journal file takes appends from all of them)."""
    storage = str(storage)
    if storage.startswith("journal:///"):
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        return JournalStorage(JournalFileBackend(absolute(storage).removeprefix("journal:///")))
    return storage


def create_study(name: str, storage: Any, sampler: Any, pruner: BasePruner | None, directions: list[str]) -> Study:
    """The study `name` in `storage`, made if it is not there yet."""
    return optuna.create_study(storage=open_storage(storage), sampler=sampler, pruner=pruner, study_name=name, directions=directions, load_if_exists=True)


def delete_study(name: str, storage: Any) -> None:
    optuna.delete_study(study_name=name, storage=open_storage(storage))


def running_trial(study_name: str, storage: Any, trial_id: int) -> Trial:
    """A trial another process asked for, opened by its storage id in this one (a training job's),
    judged by the sweep's pruner (kept in the study's attributes: Optuna stores no pruner)."""
    study = optuna.load_study(study_name=study_name, storage=open_storage(storage))
    record = study.user_attrs.get(PRUNER)
    study.pruner = build_pruner(record, f"study {study_name} ({storage})") if record else NopPruner()
    return Trial(study, trial_id)


def pruner_record(config: Any, where: str = "hydra.sweeper.pruner") -> dict[str, Any]:
    """What the study stores of the sweep's pruner config ({_target_: optuna.pruners.X, ...}):
    its name and plain keyword values (a PatientPruner's wrapped_pruner: a record of its own)."""
    if not isinstance(config, dict) or not isinstance(config.get("_target_"), str):
        raise ConfigError(where, f"must be {{_target_: optuna.pruners.<name>, ...}}, got {config!r}", f"use one of {', '.join(PRUNERS)}")
    name = config["_target_"].removeprefix("optuna.pruners.")
    kwargs = {k: v for k, v in config.items() if k != "_target_"}
    if isinstance(kwargs.get("wrapped_pruner"), dict):
        kwargs["wrapped_pruner"] = pruner_record(kwargs["wrapped_pruner"], f"{where}.wrapped_pruner")
    record = {"name": name, "kwargs": kwargs}
    build_pruner(record, where)  # refused here, before any trial runs
    return record


def build_pruner(record: Any, where: str) -> BasePruner:
    """The pruner a study's record names, built from the allowlist with plain keyword values
    only: nothing a database holds chooses what a worker runs."""
    fix = f"a pruner is one of {', '.join(PRUNERS)} with plain values; start a new study (hydra.sweeper.study_name)"
    if not isinstance(record, dict) or set(record) != {"name", "kwargs"} or record["name"] not in PRUNERS or not isinstance(record["kwargs"], dict):
        raise ConfigError(where, f"names a pruner ampcapture does not build: {str(record)[:200]}", fix)
    kwargs = dict(record["kwargs"])
    if kwargs.get("wrapped_pruner") is not None:
        kwargs["wrapped_pruner"] = build_pruner(kwargs["wrapped_pruner"], f"{where}.wrapped_pruner")
    if any(not isinstance(v, PLAIN) for k, v in kwargs.items() if k != "wrapped_pruner"):
        raise ConfigError(where, f"gives {record['name']} values that are not plain numbers, strings or booleans: {str(kwargs)[:200]}", fix)
    try:
        return getattr(optuna.pruners, record["name"])(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(where, f"{record['name']}({kwargs}) is refused by Optuna ({exc})", fix) from None


def study_plots() -> Any:
    """Optuna's matplotlib plots (imported when a study is published: it is slow to import)."""
    from optuna.visualization import matplotlib

    return matplotlib


# --- Optuna's private API, wrapped: the sweeper asks for trials that other processes train ---


def trial_id(trial: Trial | FrozenTrial) -> int:
    """The trial's id in its storage, by which a worker opens it (`running_trial`): a trial's
    public `number` counts within its study only, and Trial(study, id) takes the storage's id."""
    return trial._trial_id


def stored_attrs(study: Study, trial: Trial | FrozenTrial) -> dict[str, Any]:
    """A trial's user attributes as the storage holds them now: its worker (another process) may
    have written some since this process asked for it, which the Trial object here does not see."""
    return study._storage.get_trial(trial._trial_id).user_attrs


def set_stored_attr(study: Study, trial: Trial | FrozenTrial, key: str, value: Any) -> None:
    """Set a user attribute of a trial this process holds no live Trial of (a frozen one found in
    the study, cut off by a killed sweep): Optuna's public setter lives on the live Trial only."""
    study._storage.set_trial_user_attr(trial._trial_id, key, value)


def optimizing(study: Study) -> None:
    """Mark this thread as in the study's optimize loop: a sampler that has tried every point (a
    grid) calls study.stop(), which Optuna allows only there, and the sweeper is that loop."""
    study._thread_local.in_optimize_loop = True


def stop_requested(study: Study) -> bool:
    """Whether study.stop() was called (by a sampler that has tried every point)."""
    return study._stop_flag
