"""`hydra/sweeper=optuna`: hydra-optuna-sweeper's keys (sampler, direction, storage,
study_name, n_trials, n_jobs, max_failure_rate, params, custom_search_space) and ours."""

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore


@dataclass
class OptunaSweeperConf:
    _target_: str = "hydra_plugins.ampcapture_optuna_sweeper.optuna_sweeper.OptunaSweeper"
    sampler: Any = field(default_factory=lambda: {"_target_": "optuna.samplers.TPESampler", "seed": None})
    # Stops hopeless trials from the validation ESR each epoch; null: never prune.
    pruner: Any = field(default_factory=lambda: {"_target_": "optuna.pruners.MedianPruner", "n_startup_trials": 2, "n_warmup_steps": 2})
    direction: Any = "minimize"  # or a list, one per objective
    # Keys of the run's metrics.json to optimize, one per direction (validation_esr,
    # macs_per_sample, parameters, ...); null: validation_esr.
    objectives: Any = None
    storage: Any = "sqlite:///optuna.db"  # persistent: a re-run resumes the study
    study_name: Any = None  # null: the capture's name
    n_trials: int = 20  # in the study as a whole, resumed sweeps included
    n_jobs: int = 1  # trials launched per batch
    max_failure_rate: float = 1.0  # failed trials are recorded; stop when a batch fails more
    params: Any = None
    custom_search_space: Any = None  # "module.function(cfg, trial)" that suggests more
    report: Any = None  # null: <paths.reports>/<capture>/sweeps/<study>.json
    runs: Any = None  # trials train into <paths.models>/<capture>/<runs>/trial_NNN; null: <study>
    best_dir: Any = None  # null: <paths.models>/<capture>/<runs>/best
    plots: bool = True  # Optuna's plots as artifacts of the MLflow parent run
    restart_finished: bool = False  # a study with all its trials done starts anew (the DAG)


ConfigStore.instance().store(group="hydra/sweeper", name="optuna", node=OptunaSweeperConf, provider="ampcapture")
