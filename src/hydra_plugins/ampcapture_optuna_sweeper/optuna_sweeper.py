"""The sweeper itself: asks Optuna for trials, launches them as Hydra jobs, tells Optuna how
they ended, and publishes the study (sweep.json, the best model, the MLflow parent run)."""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from hydra.core.plugins import Plugins
from hydra.core.utils import JobStatus
from hydra.errors import HydraException
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from hydra.utils import get_method
from omegaconf import DictConfig, OmegaConf

from ampcapture import studies, tracking
from ampcapture.core.config import settings
from ampcapture.core.errors import AmpCaptureError, ConfigError
from ampcapture.core.files import exclusive, write_json
from ampcapture.core.paths import Layout, checked_name
from ampcapture.studies import PRUNER, absolute, pruner_record
from ampcapture.sweep import study as sweep
from ampcapture.sweep.plots import study_plots
from ampcapture.training.runs import remove_run
from ampcapture.training.trial import WORKER

log = logging.getLogger(__name__)


def _plain(value: Any) -> Any:
    return OmegaConf.to_container(value, resolve=True) if isinstance(value, DictConfig) or OmegaConf.is_list(value) else value


class OptunaSweeper(Sweeper):
    def __init__(
        self,
        sampler: Any,
        pruner: Any,
        direction: Any,
        objectives: Any,
        storage: Any,
        study_name: Any,
        n_trials: int,
        n_jobs: int,
        max_failure_rate: float,
        params: Any,
        custom_search_space: Any,
        report: Any,
        best_dir: Any,
        plots: bool,
        restart_finished: bool = False,
        runs: Any = None,
        search_space: Any = None,
    ) -> None:
        if search_space:
            raise ConfigError("hydra.sweeper.search_space", "is the old (Hydra 1.1) form", "use hydra.sweeper.params")
        self.sampler, self.pruner = sampler, pruner
        directions = _plain(direction)
        self.directions = [str(d).lower() for d in (directions if isinstance(directions, list) else [directions])]
        self.objectives = [str(o) for o in _plain(objectives)] if objectives else None
        if self.objectives is None and len(self.directions) > 1:
            raise ConfigError(
                "hydra.sweeper.objectives", "a multi-objective study needs one objective per direction", "e.g. objectives: [validation_esr, macs_per_sample]"
            )
        if self.objectives is not None and len(self.objectives) != len(self.directions):
            raise ConfigError(
                "hydra.sweeper.objectives", f"{len(self.objectives)} objectives for {len(self.directions)} directions", "give one direction per objective"
            )
        if n_trials < 1 or n_jobs < 1 or not 0 <= max_failure_rate <= 1:
            raise ConfigError(
                "hydra.sweeper",
                f"n_trials={n_trials}, n_jobs={n_jobs}, max_failure_rate={max_failure_rate}",
                "use n_trials >= 1, n_jobs >= 1, 0 <= max_failure_rate <= 1",
            )
        self.storage, self.study_name = absolute(storage), study_name  # absolute: workers run elsewhere
        self.n_trials, self.n_jobs, self.max_failure_rate = n_trials, n_jobs, max_failure_rate
        self.params = _plain(params) or {}
        self.custom_search_space = get_method(custom_search_space) if custom_search_space else None
        self.report_path, self.runs, self.best_dir, self.plots = report, runs, best_dir, plots
        self.restart_finished = restart_finished
        self.job_idx = 0

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config, self.hydra_context = config, hydra_context
        self.launcher = Plugins.instance().instantiate_launcher(config=config, hydra_context=hydra_context, task_function=task_function)

    def sweep(self, arguments: list[str]) -> list[Any]:
        name = self.study_name or str(self.config.capture)
        try:
            checked_name("hydra.sweeper.study_name", name)  # it names the folder of the trials' runs
            if self.runs:
                checked_name("hydra.sweeper.runs", self.runs)
            with exclusive(
                sweep.study_key(self.storage, name),
                f"study {name} ({self.storage})",
                "wait for the other sweep of this study to finish, or give this one another study_name",
            ):
                return self._sweep(arguments)
        except AmpCaptureError as exc:
            log.error(str(exc))
            raise SystemExit(1) from exc

    def _sweep(self, arguments: list[str]) -> list[Any]:
        cfg = self.config
        capture = str(cfg.capture)
        space, fixed = sweep.search_space(self.params, arguments)
        objectives = self.objectives or ["validation_esr"]
        study = self._study(self.study_name or capture)
        found = [d.name.lower() for d in study.directions]
        if found != self.directions:
            raise ConfigError(
                "hydra.sweeper.study_name", f"study {study.study_name!r} in {self.storage} optimizes {found}", "use another study_name for other directions"
            )
        pruner = cfg.hydra.sweeper.get("pruner")
        study.set_user_attr(PRUNER, pruner_record(OmegaConf.to_container(pruner, resolve=True)) if pruner is not None else None)
        log.info(f"study {study.study_name} ({self.storage}): {sweep.finished_count(study)} of {self.n_trials} trials done")
        if study.trials and self.sampler is not None:  # resumed: restarted from its seed, a sampler would repeat trials
            self.sampler.reseed_rng()
        log.info("search space: " + ", ".join(f"{k}: {v}" for k, v in space.items()))

        logger_settings = settings(tracking.LoggerSettings, {"logger": _plain(cfg.logger)})
        parent = tracking.sweep_parent_run(logger_settings, str(cfg.logger.experiment or capture), study, space)
        sweep.requeue_interrupted(study, say=log.info)
        studies.optimizing(study)  # a grid sampler ends the study with study.stop(): allowed in this loop
        results: list[Any] = []
        try:
            while (to_go := self.n_trials - sweep.finished_count(study)) > 0 and not studies.stop_requested(study):
                trials = [study.ask(space) for _ in range(min(self.n_jobs, to_go))]
                overrides = [self._overrides(study, trial, fixed, parent) for trial in trials]
                try:
                    returns = self.launcher.launch(overrides, initial_job_idx=self.job_idx)
                except HydraException as exc:  # e.g. Hydra cannot apply a searched key to this model preset
                    for trial in trials:  # never leave a trial RUNNING that no job will finish
                        study.tell(trial, state=studies.TrialState.FAIL)
                    raise self._launch_error(exc) from exc
                except Exception as exc:  # a worker died (killed, out of memory, node lost): the launcher lost the batch
                    self.job_idx += len(trials)
                    self._recover(study, trials, exc)
                    continue
                self.job_idx += len(returns)
                failures = sum(not self._tell(study, trial, ret) for trial, ret in zip(trials, returns))
                results.extend(returns)
                if failures / len(returns) > self.max_failure_rate:
                    raise AmpCaptureError(
                        f"study {study.study_name}",
                        f"{failures} of {len(returns)} trials failed",
                        "see the trials' errors above; raise hydra.sweeper.max_failure_rate to go on",
                    )
        except BaseException:
            tracking.end_parent_run(logger_settings, parent, "KILLED")
            raise
        self._publish(study, objectives, cfg, logger_settings, parent)
        return results

    def _recover(self, study: studies.Study, trials: list[studies.Trial], exc: Exception) -> None:
        """After a lost batch: a trial whose run finished (its metrics.json is there) is told its
        values; every other one is queued again and resumes from its last checkpoint. A batch of
        which no job started is the launcher's own failure (its settings, a cluster it cannot reach)."""
        why = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
        if not any(studies.stored_attrs(study, t).get(WORKER) for t in trials):
            for trial in trials:
                study.tell(trial, state=studies.TrialState.FAIL)
            launcher = self.config.hydra.runtime.choices.get("hydra/launcher")
            raise AmpCaptureError(f"hydra/launcher={launcher}", f"started none of the trials ({why})", 'check hydra.launcher.* (README, "Scaling out")')
        log.warning(f"the launcher lost a batch of {len(trials)} trials ({why})")
        for trial in trials:
            metrics = self._layout(self.config).run(trial.user_attrs[sweep.RUN_NAME]).metrics
            if metrics.is_file():
                values = self._objectives(json.loads(metrics.read_text()))
                study.tell(trial, values)
                log.info(f"trial {trial.number} had finished: {dict(zip(self.objectives or ['value'], values))}")
            else:
                sweep.requeue(study, trial, say=log.warning, why="lost its worker")

    def _launch_error(self, exc: Exception) -> ConfigError:
        choices = self.config.hydra.runtime.choices
        search, model = choices.get("hparams_search"), choices.get("model")
        where = f"conf/hparams_search/{search}.yaml" if search else "hydra.sweeper.params"
        return ConfigError(
            where,
            f"its trials cannot be launched with model={model} ({str(exc).splitlines()[0]})",
            "each searched or fixed key must exist in the model preset: use the preset the search space "
            f"was written for (its `override /model:` line), or search only keys model={model} has",
        )

    def _study(self, name: str) -> studies.Study:
        pruner = self.pruner or studies.NopPruner()

        def make() -> studies.Study:
            return studies.create_study(name, self.storage, self.sampler, pruner, self.directions)

        study = make()
        if self.restart_finished and sweep.finished_count(study) >= self.n_trials:
            log.info(f"study {name} is finished: starting a new one")
            studies.delete_study(name, self.storage)
            study = make()
        if not study.trials:  # a new study: no trial of an older one may pass for its own
            runs = self._runs_dir(study)
            for folder in sorted(runs.iterdir()) if runs.is_dir() else ():
                remove_run(folder, f"move it out of {runs}, or give the sweep other runs (hydra.sweeper.runs=...)")
        return study

    def _runs_dir(self, study: studies.Study) -> Path:
        return self._layout(self.config).run(str(self.runs or study.study_name)).root

    @staticmethod
    def _layout(cfg: DictConfig) -> Layout:
        return Layout.of({"paths": _plain(cfg.paths), "capture": str(cfg.capture)})

    def _overrides(self, study: studies.Study, trial: studies.Trial, fixed: dict[str, str], parent: str | None) -> list[str]:
        run_name = trial.user_attrs.get(sweep.RUN_NAME)
        if run_name is None:  # a new trial starts clean; only a re-queued one resumes its run
            run_name = f"{self.runs or study.study_name}/trial_{trial.number:03d}"
            remove_run(self._layout(self.config).run(run_name).root, "move it away, or give the sweep other runs (hydra.sweeper.runs=...)")
            trial.set_user_attr(sweep.RUN_NAME, run_name)
        if self.custom_search_space is not None:
            self.custom_search_space(self.config, trial)
        overlap = set(trial.params) & set(fixed)
        if overlap:
            raise ConfigError("hydra.sweeper.params", f"{sorted(overlap)} are both searched and fixed", "keep one of them")
        runs, _, name = run_name.rpartition("/")  # the trial trains in models/<capture>/<runs>/<name>
        link = {"storage": self.storage, "study": study.study_name, "trial_id": studies.trial_id(trial), "number": trial.number}
        link.update(parent_run=parent, runs=runs)
        link["workdir"] = os.getcwd()  # relative paths (data/, models/, sqlite:///mlflow.db) mean the sweep's
        quoted = lambda v: "null" if v is None else f"'{v}'" if isinstance(v, str) else str(v)  # noqa: E731
        tracking_uri = [f"logger.tracking_uri={quoted(os.environ['MLFLOW_TRACKING_URI'])}"] if os.environ.get("MLFLOW_TRACKING_URI") else []
        return (
            [f"{k}={v}" for k, v in {**trial.params, **fixed}.items()]
            + [f"run_name={quoted(name)}"]
            + [f"trial.{k}={quoted(v)}" for k, v in link.items()]
            + tracking_uri  # the environment does not travel to a worker on another machine
        )

    def _tell(self, study: studies.Study, trial: studies.Trial, ret) -> bool:
        """Record how the trial's job ended; False when it failed."""
        if ret.status != JobStatus.COMPLETED:
            error = ret._return_value  # Hydra's JobReturn: `return_value` re-raises a failed job's exception; this reads it
            if isinstance(error, studies.TrialPruned):
                log.info(str(error))
                study.tell(trial, state=studies.TrialState.PRUNED)
                return True
            log.warning(f"trial {trial.number} failed: {error}")
            trial.set_user_attr("error", str(error))
            study.tell(trial, state=studies.TrialState.FAIL)
            return False
        try:
            values = self._values(ret)
        except (KeyError, TypeError, ValueError, OSError) as exc:
            log.warning(f"trial {trial.number} returned no usable objective: {exc}")
            study.tell(trial, state=studies.TrialState.FAIL)
            return False
        if isinstance(ret.return_value, dict) and ret.return_value.get("mlflow_run_id"):  # where its model is, wherever it trained
            trial.set_user_attr(sweep.MLFLOW_RUN, ret.return_value["mlflow_run_id"])
        study.tell(trial, values)
        log.info(f"trial {trial.number}: {dict(zip(self.objectives or ['value'], values))}")
        return True

    def _values(self, ret) -> list[float]:
        """The objectives from the run's figures, which the job returns (so a worker on another
        machine need not share the models folder); a plain number is the validation ESR."""
        if isinstance(ret.return_value, (int, float)):
            return [float(ret.return_value)]
        return self._objectives(ret.return_value)

    def _objectives(self, metrics) -> list[float]:
        return [float(metrics[key]) for key in self.objectives or ["validation_esr"]]

    def _publish(self, study: studies.Study, objectives: list[str], cfg: DictConfig, logger_settings, parent) -> None:
        report = sweep.study_report(study, objectives)
        best = sweep.best_trial(study)
        if best is None:
            tracking.end_parent_run(logger_settings, parent, "FAILED")
            raise AmpCaptureError(f"study {study.study_name}", "no trial completed", "see the trials' errors above; fix them and run the sweep again")
        best_dir = Path(self.best_dir or self._runs_dir(study) / "best")
        layout = self._layout(cfg)
        run_dir = layout.run(best.user_attrs[sweep.RUN_NAME]).root
        sweep.publish_best(run_dir, best_dir, logger_settings, best.user_attrs.get(sweep.MLFLOW_RUN), say=log.info)
        report["best_dir"] = str(best_dir)
        report_path = Path(self.report_path or layout.study_report(study.study_name))
        write_json(report_path, report)
        with tempfile.TemporaryDirectory() as tmp:
            plots = study_plots(study, objectives, Path(tmp)) if self.plots and parent is not None else []
            tracking.publish_study(logger_settings, parent, study, best, objectives, report_path, plots)
        log.info(f"best: trial {best.number} {dict(zip(objectives, best.values))} {best.params} -> {best_dir}")
        log.info(f"report: {report_path}")
