"""Optuna studies over the training configuration, driven by the project's Hydra sweeper
(src/hydra_plugins/ampcapture_optuna_sweeper): the search space in Hydra's sweep syntax,
a persistent study that resumes and prunes, and what a finished study leaves behind
(sweep.json, the best trial's model, the MLflow parent run with Optuna's plots).

The sweeper passes each job its trial through the `trial:` config section (storage, study,
trial id, MLflow parent run; ampcapture.training.trial), so a trial can report its validation
ESR every epoch and be pruned, whichever launcher runs it.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any

from ampcapture import studies, tracking
from ampcapture.core.errors import ConfigError
from ampcapture.core.files import atomic_dir
from ampcapture.studies import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution, TrialState
from ampcapture.training.runs import MARKER, remove_run

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
# Trial attributes the sweeper keeps in the study (and PRUNER, the study's pruner: ampcapture.training.trial).
RUN_NAME, INTERRUPTED, MLFLOW_RUN = "run_name", "interrupted", "mlflow_run_id"
MAX_REQUEUES = 3  # times one trial's worker may be lost before the trial counts as failed


def distribution(key: str, expression: str) -> BaseDistribution | str:
    """One search-space entry, as hydra-optuna-sweeper reads it: `choice(a, b)` is categorical,
    `range(lo, hi, step)` a stepped int/float, `interval(lo, hi)` uniform, `tag(log,
    interval(lo, hi))` log-uniform; anything else is a fixed value passed through."""
    return _from_override(_parse(f"{key}={expression}", f"hydra.sweeper.params.{key}"))


def _parse(text: str, where: str):
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    try:
        (override,) = OverridesParser.create().parse_overrides([text])
    except HydraException as exc:
        detail = [line for line in str(exc).splitlines()[1:] if line.strip() and not line.startswith("See ")]
        raise ConfigError(
            where,
            f"cannot parse {text.split('=', 1)[-1]!r}: {detail[0] if detail else 'not an override expression'}",
            "use choice(a, b), range(lo, hi, step), interval(lo, hi) or tag(log, interval(lo, hi))",
        ) from exc
    return override


def _from_override(override) -> BaseDistribution | str:
    from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, RangeSweep, Transformer

    where = f"hydra.sweeper.params.{override.get_key_element()}"
    if not override.is_sweep_override():
        return override.get_value_element_as_str()
    value = override.value()
    if isinstance(value, ChoiceSweep) or (isinstance(value, RangeSweep) and value.shuffle):
        choices = list(override.sweep_iterator(transformer=Transformer.encode))
        if not choices:
            raise ConfigError(where, "is an empty choice", "list at least one value")
        return CategoricalDistribution(choices)
    if isinstance(value, RangeSweep):
        start, stop, step = value.start, value.stop, value.step if value.step is not None else 1
        if any(isinstance(v, float) for v in (start, stop, step)):
            # range() excludes its stop; Optuna's high is inclusive
            return FloatDistribution(start, start + step * (math.ceil((stop - start) / step) - 1), step=step)
        return IntDistribution(int(start), int(stop) - 1, step=int(step))
    if isinstance(value, IntervalSweep):
        low, high, log = value.start, value.end, "log" in value.tags
        if not low < high or (log and low <= 0):
            raise ConfigError(where, f"interval({low}, {high}) is empty{' or not positive' if log else ''}", "give lo < hi (and lo > 0 for a log scale)")
        if isinstance(low, int) and isinstance(high, int):
            return IntDistribution(low, high, log=log)
        return FloatDistribution(float(low), float(high), log=log)
    raise ConfigError(where, "is not a sweep Optuna can sample", "use choice, range or interval")


def search_space(params: dict[str, Any], arguments: list[str]) -> tuple[dict[str, BaseDistribution], dict[str, str]]:
    """The distributions and fixed values of `hydra.sweeper.params` plus the command line's
    sweep overrides (the command line wins). Keys are dotted (`train.lr: ...`, as
    hydra-optuna-sweeper reads them) or nested (`train: {lr: ...}`, which Hydra overrides
    such as `dvc exp run -S` can address)."""
    entries = {key: distribution(key, expression) for key, expression in _dotted(params or {})}
    for argument in arguments:
        override = _parse(argument, "command line")
        entries[override.get_key_element()] = _from_override(override)
    space = {k: v for k, v in entries.items() if isinstance(v, BaseDistribution)}
    fixed = {k: v for k, v in entries.items() if not isinstance(v, BaseDistribution)}
    return space, fixed  # type: ignore[return-value]


def _dotted(params: dict[str, Any], prefix: str = ""):
    for key, value in params.items():
        if isinstance(value, dict):
            yield from _dotted(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", str(value)


def finished_count(study: studies.Study) -> int:
    """Trials that count towards n_trials: done, pruned or failed, but not the ones cut off by
    a killed sweep (those are queued again)."""
    return sum(t.state in FINISHED and not t.user_attrs.get(INTERRUPTED) for t in study.get_trials(deepcopy=False))


def requeue_interrupted(study: studies.Study, say=print) -> None:
    """A trial still RUNNING when the sweep starts was cut off by a killed sweep: queue it again."""
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        requeue(study, trial, say)


def requeue(study: studies.Study, trial: studies.FrozenTrial | studies.Trial, say=print, why: str = "was interrupted") -> None:
    """Mark a cut-off trial failed and interrupted (it does not count) and queue its parameters
    again under the same run name, so its training resumes from its last checkpoint. A trial cut
    off MAX_REQUEUES times (a worker that dies of it: out of memory, say) stays failed."""
    run_name = trial.user_attrs.get(RUN_NAME)
    tries = 1 + sum(t.user_attrs.get(INTERRUPTED, False) and t.user_attrs.get(RUN_NAME) == run_name for t in study.get_trials(deepcopy=False))
    if tries > MAX_REQUEUES:
        studies.set_stored_attr(study, trial, "error", f"its worker was lost {tries} times")
        study.tell(trial.number, state=TrialState.FAIL)
        say(f"trial {trial.number} {why}, {tries} times: recorded as failed")
        return
    studies.set_stored_attr(study, trial, INTERRUPTED, True)
    study.tell(trial.number, state=TrialState.FAIL)
    study.enqueue_trial(trial.params, user_attrs={RUN_NAME: run_name})
    say(f"trial {trial.number} {why}: queued again, it resumes from its last checkpoint")


def trial_row(trial: studies.FrozenTrial) -> dict[str, Any]:
    return {
        "number": trial.number,
        "state": trial.state.name,
        "values": trial.values,
        "params": trial.params,
        "run_name": trial.user_attrs.get(RUN_NAME),
        "intermediate_values": trial.intermediate_values,
        "duration_s": trial.duration.total_seconds() if trial.duration else None,
    }


def study_report(study: studies.Study, objectives: list[str]) -> dict[str, Any]:
    """Every trial, the best one (single objective) and the Pareto front (any)."""
    trials = [t for t in study.get_trials(deepcopy=False) if not t.user_attrs.get(INTERRUPTED)]
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    report: dict[str, Any] = {
        "study": study.study_name,
        "objectives": objectives,
        "directions": [d.name.lower() for d in study.directions],
        "n_trials": len(trials),
        "n_complete": len(complete),
        "n_pruned": sum(t.state == TrialState.PRUNED for t in trials),
        "n_failed": sum(t.state == TrialState.FAIL for t in trials),
        "trials": [trial_row(t) for t in trials],
        "pareto_front": [trial_row(t) for t in study.best_trials] if complete else [],
    }
    if complete and len(study.directions) == 1:
        report["best"] = trial_row(study.best_trial)
        report[objectives[0]] = study.best_value
    return report


def best_trial(study: studies.Study) -> studies.FrozenTrial | None:
    """The single-objective best, or on a Pareto front the trial with the lowest first objective."""
    front = list(study.best_trials) if any(t.state == TrialState.COMPLETE for t in study.trials) else []
    if not front:
        return None
    sign = 1 if study.directions[0] == studies.StudyDirection.MINIMIZE else -1
    return min(front, key=lambda t: sign * t.values[0])


BEST_FILES = {"best.ckpt": "checkpoints/best.ckpt", "config.yaml": "config/config.yaml", "metrics.json": "metrics.json"}  # -> in its MLflow run


def publish_best(run_dir: Path, best_dir: Path, logger_settings=None, mlflow_run: str | None = None, say=print) -> None:
    """Copy the best trial's model (checkpoint, config, metrics) to `best_dir`, replacing it whole;
    from its MLflow run when it trained on a worker that shares no disk with the sweeper."""
    remove_run(best_dir, "give the sweep another hydra.sweeper.best_dir, or move that folder away")  # only a folder we made
    with atomic_dir(best_dir) as tmp:
        (tmp / MARKER).write_text("the best trial of a sweep, copied by ampcapture\n")
        if not (run_dir / "best.ckpt").is_file() and mlflow_run is not None and logger_settings is not None:
            say(f"{run_dir} is not on this machine: the best model comes from its MLflow run {mlflow_run}")
            tracking.download_run_files(logger_settings, mlflow_run, BEST_FILES, tmp)
            return
        for name in BEST_FILES:
            shutil.copy2(run_dir / name, tmp / name)


def study_key(storage: Any, name: str) -> str:
    """One study's identity, for the lock that keeps two sweeps of it from running at once (a
    relative file made absolute: two projects' `sqlite:///optuna.db` are different studies)."""
    return f"{studies.absolute(storage)} {name}"
