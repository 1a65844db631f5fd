"""Helpers the tests and the benchmarks share, kept out of the installed package: the model
presets of conf/model/ as Hydra composes them, and neural-amp-modeler itself (its own venv)."""
