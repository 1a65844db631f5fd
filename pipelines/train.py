"""Train one model: `python pipelines/train.py capture=<name> model=<preset> [overrides]`.

The Hydra app over conf/; returns the validation ESR so a sweeper can minimize it. The DAG
runs it on params.yaml (`--config-dir . --config-name params`)."""

import hydra
from omegaconf import DictConfig

from ampcapture.stages.training_app import train_from_hydra


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> float:
    return train_from_hydra(cfg)


if __name__ == "__main__":
    main()
