"""The project's Optuna sweeper for Hydra (`hydra/sweeper=optuna`), on optuna 5: the config
shape of hydra-optuna-sweeper, plus persistent storage, resume, pruning, multi-objective
studies and MLflow parent/child runs. The logic lives in ampcapture.sweep."""
