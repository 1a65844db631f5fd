"""dvc.yaml's code deps are the code each stage runs: derived from the imports of the stage's
script (every import statement, those inside functions too), followed through the project's
own packages. A stage that misses one would say "up to date" with stale outputs after a change
there; one that lists code it does not run re-runs for nothing."""

import ast
import importlib.util
import shlex
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
OWN_PACKAGES = ("ampcapture", "hydra_plugins")
# Hydra imports every module of the hydra_plugins namespace (the project's sweeper) when a
# command sweeps (-m).
SWEEPER = sorted((SRC / "hydra_plugins").rglob("*.py"))
STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


def _module_file(name: str) -> Path | None:
    path = SRC.joinpath(*name.split("."))
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _package_of(path: Path) -> str:
    """The package a relative import in `path` starts from (a module's own, or an __init__'s)."""
    return ".".join(path.relative_to(SRC).with_suffix("").parts[:-1])


def _imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = importlib.util.resolve_name("." * node.level + (node.module or ""), _package_of(path)) if node.level else node.module
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)  # `from pkg import module`
    return names


def closure(script: Path) -> set[Path]:
    """The project's own source files that running `script` imports (with their packages' __init__)."""
    seen: set[Path] = set()
    todo = [script]
    while todo:
        path = todo.pop()
        for name in _imported_modules(path):
            if name.split(".")[0] not in OWN_PACKAGES:
                continue
            parts = name.split(".")
            for i in range(1, len(parts) + 1):  # importing a.b.c runs a/__init__ and a/b/__init__ too
                found = _module_file(".".join(parts[:i]))
                if found is not None and found not in seen:
                    seen.add(found)
                    todo.append(found)
    return seen


def _script_and_roots(cmd: str) -> list[Path]:
    words = shlex.split(cmd)
    script = ROOT / next(w for w in words if w.endswith(".py"))
    return [script, *SWEEPER] if "-m" in words else [script]


def _code_deps(stage: dict) -> list[Path]:
    """The stage's code deps (the package's data files, resources/, are deps of the stages that read them)."""
    code = [d for d in stage["deps"] if "${" not in d and (d.startswith("src/") or d.startswith("pipelines/"))]
    return [ROOT / d for d in code if not d.startswith("src/ampcapture/resources/")]


def _covered(path: Path, deps: list[Path]) -> bool:
    return any(path == d or d in path.parents for d in deps)


@pytest.mark.parametrize("name", list(STAGES))
def test_each_stage_depends_on_exactly_the_code_it_runs(name):
    stage = STAGES[name]
    roots = _script_and_roots(stage["cmd"])
    runs = set(roots)
    for root in roots:
        runs |= closure(root)
    deps = _code_deps(stage)
    missing = sorted(str(p.relative_to(ROOT)) for p in runs if not _covered(p, deps))
    assert not missing, f"dvc.yaml stage {name!r} runs but does not depend on: {missing}"
    unused = sorted(str(d.relative_to(ROOT)) for d in deps if not any(_covered(p, [d]) for p in runs))
    assert not unused, f"dvc.yaml stage {name!r} depends on code it does not run: {unused}"


def test_the_closure_follows_relative_and_function_level_imports():
    files = {str(p.relative_to(SRC)) for p in closure(ROOT / "pipelines" / "export.py")}
    assert {
        "ampcapture/stages/__init__.py",
        "ampcapture/stages/export.py",
        "ampcapture/export/write.py",
        "ampcapture/formats/nam.py",
        "ampcapture/core/errors.py",
        "ampcapture/core/__init__.py",
    } <= files
    assert "ampcapture/cli.py" not in files and not any(f.startswith("ampcapture/training/") for f in files)  # checkpoints load without it
