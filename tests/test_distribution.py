"""The distribution declares what the package imports, and says its version."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib import metadata

import conformance
from conformance.run import cli

from .conftest import ROOT

# an import name that differs from its distribution's
DISTRIBUTION_OF = {"xdist": "pytest-xdist"}


def _third_party_imports() -> dict[str, str]:
    """Each top-level module the package imports outside the standard library, with a
    file that imports it; the shipped adapters' engines are their extras' business."""
    found: dict[str, str] = {}
    for path in sorted((ROOT / "conformance").rglob("*.py")):
        if path.parent.name == "backends" and path.stem.endswith("_backend"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top != "conformance":
                    found.setdefault(top, str(path.relative_to(ROOT)))
    return found


def test_every_import_of_the_package_is_a_declared_dependency():
    """A non-editable install without torch has everything the suite imports (mpmath,
    packaging, ...): each third-party import is in pyproject's dependencies."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = {re.split(r"[<>=!~ ;\[]", d)[0].lower() for d in project["dependencies"]}
    missing = {
        module: where
        for module, where in _third_party_imports().items()
        if DISTRIBUTION_OF.get(module, module).lower() not in declared
    }
    assert missing == {}


def test_the_version_names_the_suite_and_every_engine(capsys):
    """--version prints the suite's version (the distribution's) and each built-in
    engine's, or that it is not installed (read from package metadata)."""
    assert cli.main(["--version"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"autograd-conformance {metadata.version('autograd-conformance')}"
    assert metadata.version("autograd-conformance") == conformance.__version__
    names = {line.split()[0] for line in out[1:]}
    assert {"torch", "jax", "jaxlib", "mygrad", "tinygrad", "paddlepaddle"} <= names
