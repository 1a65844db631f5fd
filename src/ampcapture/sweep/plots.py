"""Optuna's plots of a study as PNGs, for the sweep's MLflow parent run."""

from __future__ import annotations

import warnings
from pathlib import Path


def study_plots(study, objectives: list[str], folder: Path) -> list[Path]:
    """Optuna's optimization history (or Pareto front), intermediate values and parameter
    importances, as PNGs; a plot the study cannot make yet (too few trials) is skipped."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ampcapture import studies

    oplt = studies.study_plots()

    multi = len(study.directions) > 1
    makers = (
        {"pareto_front": lambda: oplt.plot_pareto_front(study, target_names=objectives)}
        if multi
        else {
            "optimization_history": lambda: oplt.plot_optimization_history(study, target_name=objectives[0]),
            "intermediate_values": lambda: oplt.plot_intermediate_values(study),
            "param_importances": lambda: oplt.plot_param_importances(study, target_name=objectives[0]),
        }
    )
    if multi:
        makers["param_importances"] = lambda: oplt.plot_param_importances(study, target=lambda t: t.values[0], target_name=objectives[0])
    paths = []
    for name, make in makers.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                axes = make()
            except (ValueError, RuntimeError, ZeroDivisionError):
                continue
        figure = axes.figure if hasattr(axes, "figure") else axes.flat[0].figure
        path = folder / f"{name}.png"
        figure.set_size_inches(8, 5)
        figure.savefig(path, dpi=80, bbox_inches="tight")
        plt.close(figure)
        paths.append(path)
    return paths
