"""Train one model: `python pipelines/train.py capture=<name> model=<preset> [overrides]`.

The Hydra app over conf/; returns the run's figures (metrics.json) so the sweeper can read its
objectives from them, wherever the job ran. The DAG
runs it on params.yaml (`--config-dir . --config-name params`)."""

import hydra
from omegaconf import DictConfig

from ampcapture.stages.training_app import train_from_hydra


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> dict:
    return train_from_hydra(cfg)


if __name__ == "__main__":
    main()
