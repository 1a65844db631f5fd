"""Configuration: `conf/` (Hydra) holds every value, once; `params.yaml` is its composed
snapshot that DVC tracks and the stage scripts read. Settings dataclasses are schemas (types,
range checks, no defaults): `settings` fills one from a config section, `defaults` from conf/."""

from __future__ import annotations

import argparse
import dataclasses
import functools
import os
from pathlib import Path
from typing import Any, TypeVar

import yaml
from omegaconf import OmegaConf
from omegaconf.errors import ConfigKeyError, MissingMandatoryValue, ValidationError

from ampcapture.core.errors import ConfigError

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


def settings(cls: type[T], params: dict[str, Any], dotted: str | None = None, **overrides: Any) -> T:
    """The settings dataclass `cls` (a schema: types and checks, no values) filled from its config
    section (`cls.SECTION` unless `dotted` is given), with `overrides` on top. OmegaConf's
    structured configs check the types; unknown, ill-typed and missing keys are errors naming the key."""
    dotted = dotted or cls.SECTION  # type: ignore[attr-defined]
    values = section(params, dotted)
    values = {} if values is None else values
    if not isinstance(values, dict):
        raise ConfigError(dotted, f"must be a mapping, got {values!r}", f"see conf/ for the shape of `{dotted}`")
    known = [f.name for f in dataclasses.fields(cls)]
    try:
        merged = OmegaConf.merge(OmegaConf.structured(cls), values, overrides)
        return OmegaConf.to_object(merged)  # type: ignore[return-value]
    except ConfigKeyError as exc:
        raise ConfigError(f"{dotted}.{exc.key}", "is not a known setting", f"use one of: {', '.join(known)}") from None
    except MissingMandatoryValue as exc:
        raise ConfigError(f"{dotted}.{exc.key}", "is missing", f"add `{dotted}.{exc.key}` to conf/ and run `make params`") from None
    except ValidationError as exc:
        field = next(f for f in dataclasses.fields(cls) if f.name == str(exc.full_key).split(".")[0].split("[")[0])
        raise ConfigError(f"{dotted}.{exc.full_key}", f"must be {_type_name(field.type)}, got {exc.value!r}", "see the comment beside it in conf/") from None


def _type_name(annotation: Any) -> str:
    text = str(annotation).replace("typing.", "")
    return {"int": "an integer", "float": "a number", "bool": "true or false", "str": "a string"}.get(
        text, "a number or null" if text in ("float | None", "int | None") else text
    )


def conf_dir() -> Path:
    """The project's conf/: in the current folder, else beside the source tree (an editable
    install); AMPCAPTURE_CONF names another."""
    candidates = [Path(os.environ["AMPCAPTURE_CONF"])] if os.environ.get("AMPCAPTURE_CONF") else []
    candidates += [Path.cwd() / "conf", Path(__file__).resolve().parents[3] / "conf"]
    found = next((c for c in candidates if (c / "config.yaml").is_file()), None)
    if found is None:
        raise ConfigError("conf/", "not found (the project's configuration)", "run from the project folder, or set AMPCAPTURE_CONF to its conf/ folder")
    return found.resolve()


def composed(overrides: tuple[str, ...] = ()) -> dict[str, Any]:
    """conf/ composed by Hydra with `overrides`, interpolations resolved: the one way the project
    composes its configuration (params.yaml is written from it, `project_config` is it without
    overrides, a model preset is its `model` section)."""
    return _composed(str(conf_dir()), tuple(overrides))


@functools.lru_cache(maxsize=None)
def _composed(folder: str, overrides: tuple[str, ...]) -> dict[str, Any]:
    return OmegaConf.to_container(_compose(folder, list(overrides)), resolve=True)  # type: ignore[return-value]


def _compose(folder: str | Path, overrides: list[str]):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(config_dir=str(Path(folder).resolve()), version_base=None):
        config = hydra_compose("config", overrides=overrides)
    OmegaConf.resolve(config)
    return config


def project_config() -> dict[str, Any]:
    """conf/ composed with no overrides: the project's defaults, for the command line and the
    tests (the DAG reads params.yaml instead)."""
    return composed()


def preset_names() -> list[str]:
    """The model presets of conf/model/."""
    return sorted(p.stem for p in (conf_dir() / "model").glob("*.yaml"))


def preset(name: str) -> dict[str, Any]:
    """The model preset conf/model/<name>.yaml as the configuration holds it: {name, architecture, config}."""
    if name not in preset_names():
        raise ConfigError("model", f"no preset {name!r} in {conf_dir() / 'model'}", f"use one of {', '.join(preset_names())}")
    return composed((f"model={name}",))["model"]


def defaults(cls: type[T], **overrides: Any) -> T:
    """`cls` with the values of conf/ (and `overrides`): what the command line uses."""
    return settings(cls, project_config(), **overrides)


def compose(conf_dir: str | Path = "conf", output: str | Path = "params.yaml", overrides: list[str] | None = None) -> None:
    """Write conf/ composed with `overrides` to params.yaml, as `dvc exp run -S` writes it."""
    Path(output).write_text(OmegaConf.to_yaml(_compose(conf_dir, overrides or [])), encoding="utf-8")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Compose conf/ into params.yaml (what `dvc exp run` does).")
    parser.add_argument("command", choices=["compose"])
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. capture=mygear")
    compose(overrides=parser.parse_args().overrides)
