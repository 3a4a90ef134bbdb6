"""The package's layers: a module imports only from its own subpackage and those below it."""

from __future__ import annotations

import ast
from pathlib import Path

import conformance

PACKAGE = Path(conformance.__file__).parent
# bottom to top, as conformance/__init__.py's docstring lists them
LAYERS = (
    "errors",
    "engine",
    "specs",
    "oracles",
    "generation",
    "edges",
    "regression",
    "suite",
    "report",
    "run",
)
# the shipped adapters sit beside the layers: they may import the engine side only
BESIDE = {"backends": {"errors", "engine", "backends"}}


def _unit(module: str) -> str:
    """The layer (or side package) a dotted module name inside the package belongs to."""
    return module.split(".")[1] if module.count(".") else ""


def _imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "conformance":
                found += [(node.lineno, f"conformance.{a.name}") for a in node.names]
            elif node.module.startswith("conformance."):
                found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found += [
                (node.lineno, a.name) for a in node.names if a.name.startswith("conformance.")
            ]
    return found


def upward_imports(package: Path = PACKAGE) -> list[str]:
    """Every import of a module from a layer above its own (or outside what a side
    package may use), as ``file:line imports module``."""
    rank = {name: i for i, name in enumerate(LAYERS)}
    bad = []
    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(package.parent).with_suffix("")
        if relative.parts[1:] == ("__init__",):
            continue  # the package's own face re-exports the public names
        own = relative.parts[1]
        for line, module in _imports(path):
            target = _unit(module)
            if own in BESIDE:
                ok = target in BESIDE[own]
            else:
                ok = target in rank and rank[target] <= rank[own]
            if not ok:
                bad.append(f"{relative}.py:{line} imports {module}")
    return bad


def test_every_module_belongs_to_a_layer() -> None:
    """Each top-level module or subpackage is a listed layer or a side package."""
    units = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir()}
    units -= {"__init__", "__pycache__", "report_schema", "py.typed"}
    assert units <= set(LAYERS) | set(BESIDE), sorted(units - set(LAYERS) - set(BESIDE))


def test_no_module_imports_from_a_layer_above_it() -> None:
    """Imports flow one way: engine <- specs <- oracles <- ... <- report <- run."""
    assert upward_imports() == []


def test_an_upward_import_is_caught(tmp_path: Path) -> None:
    """The check itself can fail: an oracle importing the runner is reported."""
    fake = tmp_path / "conformance"
    (fake / "oracles").mkdir(parents=True)
    (fake / "oracles" / "bad.py").write_text("from conformance.run import cli\n")
    (fake / "engine").mkdir()
    (fake / "engine" / "ok.py").write_text("from conformance.errors import ConfigError\n")
    assert upward_imports(fake) == ["conformance/oracles/bad.py:1 imports conformance.run"]


def test_the_older_public_paths_still_import() -> None:
    """Adapters written against the flat layout keep working: the old paths are aliases."""
    from conformance.backend import INPLACE_UPDATE, Backend
    from conformance.scalar import ScalarBackend
    from conformance.structure import structure_of
    from conformance.vacuity import exercised

    from conformance import backend as caps
    from conformance import engine
    from conformance.engine import scalar, structure
    from conformance.suite import vacuity

    assert caps is engine and Backend is engine.Backend and INPLACE_UPDATE == "inplace_update"
    assert ScalarBackend is scalar.ScalarBackend and structure_of is structure.structure_of
    assert exercised is vacuity.exercised
