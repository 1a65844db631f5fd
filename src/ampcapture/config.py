"""Configuration: `conf/` (Hydra) is the source; `params.yaml` is its composed snapshot that
DVC tracks and the stage scripts read. Settings dataclasses turn config sections into typed,
validated objects with errors that name the offending key."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any, TypeVar

import yaml

from .errors import ConfigError

T = TypeVar("T")


def load_params(path: str | Path = "params.yaml") -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(path, "not found", "run from the project root, or `make params` to compose it from conf/")
    try:
        params = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(path, f"is not valid YAML ({exc})", "fix the syntax, or `make params` to compose it again from conf/") from exc
    if not isinstance(params, dict):
        raise ConfigError(path, "must hold a mapping of config sections", "`make params` composes it from conf/")
    return params


def section(params: dict[str, Any], dotted: str) -> Any:
    node: Any = params
    for key in dotted.split("."):
        if not isinstance(node, dict) or key not in node:
            raise ConfigError(dotted, "missing from the configuration", f"add `{dotted}` to conf/ and run `make params`")
        node = node[key]
    return node


def settings(cls: type[T], params: dict[str, Any], dotted: str) -> T:
    """Build a settings dataclass from a config section; unknown or ill-typed keys are errors."""
    values = section(params, dotted) or {}
    if not isinstance(values, dict):
        raise ConfigError(dotted, f"must be a mapping, got {values!r}", f"see conf/ for the shape of `{dotted}`")
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(f"{dotted}.{unknown[0]}", "is not a known setting", f"use one of: {', '.join(known)}")
    for key, value in values.items():
        default, optional = known[key].default, "None" in str(known[key].type)
        numeric_default = isinstance(default, (int, float)) and not isinstance(default, bool)
        numeric_value = isinstance(value, (int, float)) and not isinstance(value, bool)
        if numeric_default and not numeric_value and not (value is None and optional):
            raise ConfigError(f"{dotted}.{key}", f"must be a number, got {value!r}", f"set a number like the default, {default}")
    return cls(**values)


def compose(conf_dir: str | Path = "conf", output: str | Path = "params.yaml", overrides: list[str] | None = None) -> None:
    """Compose conf/ into params.yaml exactly as `dvc exp run` does (DVC's own function)."""
    from dvc.utils.hydra import compose_and_dump

    compose_and_dump(output, str(Path(conf_dir).resolve()), None, "config", str(Path.cwd()), overrides or [])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Compose conf/ into params.yaml (what `dvc exp run` does).")
    parser.add_argument("command", choices=["compose"])
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. capture=mygear")
    compose(overrides=parser.parse_args().overrides)
