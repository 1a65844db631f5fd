"""The package's layers and what each may import: its own layer and the layers below it, a
graph rather than a ladder (docs/architecture.md says what each layer is for: tracking, studies
and formats are siblings over core and models, the runtime sits beside training, not above
it). A test, not a convention: an import that reaches up or sideways fails here, with the line
that does it."""

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
# Each layer's direct dependencies; a layer may import the layers these reach.
BELOW = {
    "core": set(),
    "audio": {"core"},
    "capture": {"audio"},
    "models": {"core"},
    "formats": {"models"},
    "tracking": {"core"},
    "studies": {"core"},
    "training": {"capture", "formats", "tracking", "studies"},
    "runtime": {"capture", "formats"},
    "sweep": {"training"},
    "export": {"runtime", "tracking"},
    "stages": {"sweep", "export"},
    "cli": {"export"},
}
LAYERS = list(BELOW)


def reach(layer: str) -> set[str]:
    """The layers `layer` may import: itself and every layer below it, through BELOW."""
    seen, todo = {layer}, [layer]
    while todo:
        for below in BELOW[todo.pop()]:
            if below not in seen:
                seen.add(below)
                todo.append(below)
    return seen


# The Hydra sweeper plugin sits beside the stages: it drives the sweep and launches training jobs.
PLUGIN_LAYER = "stages"


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(SRC).with_suffix("").parts).removesuffix(".__init__")


def _layer(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] == "hydra_plugins":
        return PLUGIN_LAYER
    return parts[1] if parts[0] == "ampcapture" and len(parts) > 1 else None  # `ampcapture` itself: the version


def _imports(path: Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            yield node.lineno, node.module
            if node.module == "ampcapture":  # from ampcapture import tracking
                for alias in node.names:
                    yield node.lineno, f"ampcapture.{alias.name}"


MODULES = sorted(p for p in SRC.rglob("*.py") if "egg-info" not in str(p))


def test_every_package_module_belongs_to_a_layer():
    layers = {_layer(_module_name(p)) for p in MODULES}
    assert layers - {None} <= set(LAYERS), f"modules outside the layers: {sorted(layers - {None} - set(LAYERS))}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_modules_import_only_their_layer_and_those_below(path):
    own = _layer(_module_name(path))
    if own is None:
        return
    for line, module in _imports(path):
        layer = _layer(module)
        if layer is not None and layer != "__version__":
            assert layer in reach(own), f"{path.relative_to(SRC)}:{line} ({own}) imports {module} ({layer}), a layer not below it"


def test_no_relative_imports():
    """Absolute imports name the layer they reach into; this test can read them."""
    for path in MODULES:
        assert not any(isinstance(n, ast.ImportFrom) and n.level for n in ast.walk(ast.parse(path.read_text()))), path
