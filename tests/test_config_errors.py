"""Hostile adapters: every way of failing to load is one stderr line, exit 2, no traceback."""

from __future__ import annotations

import pytest

from .conftest import one_line_error

PREFIX = "autograd-conformance: error: "

# module name -> source that fails while the module is imported
BROKEN_MODULES = {
    "hostile_syntax": "def broken(:\n    pass\n",
    "hostile_runtime": "raise RuntimeError('no GPU driver found\\nsecond line of detail')\n",
    "hostile_exit": "import sys\nsys.exit('this adapter is a script')\n",
}


@pytest.mark.parametrize(
    ("module", "fragment"),
    [
        ("hostile_syntax", "raised SyntaxError: "),
        ("hostile_runtime", "raised RuntimeError: no GPU driver found; fix that module"),
        ("hostile_exit", "raised SystemExit: this adapter is a script; fix that module"),
    ],
)
def test_an_adapter_module_that_fails_to_import_is_named_with_its_exception(
    cli, tmp_path, module, fragment
):
    """Any exception while importing the adapter's module names the module and the exception."""
    (tmp_path / f"{module}.py").write_text(BROKEN_MODULES[module], encoding="utf-8")
    proc = cli("--backend", f"{module}:Adapter", "--claims", "GR-1", cwd=tmp_path)
    assert proc.returncode == 2
    assert one_line_error(proc).startswith(
        f"{PREFIX}backend '{module}:Adapter': importing module '{module}' {fragment}"
    )


@pytest.mark.parametrize(
    ("attr", "fragment"),
    [
        (
            "RaisingConstructor",
            "constructing it raised RuntimeError: engine runtime not initialised; fix the adapter",
        ),
        ("EmptyName", "attribute 'name' is ''; set it to a non-empty string"),
        ("NumericName", "attribute 'name' is 42; set it to a non-empty string"),
        ("NoDtypes", "attribute 'dtypes' is (); set it to a non-empty tuple of dtypes among"),
        ("StringDtypes", "attribute 'dtypes' is 'float32'; set it to a non-empty tuple"),
        ("HalfPrecision", "attribute 'dtypes' is ('float32', 'float16'); set it to"),
        ("UnknownCapability", "attribute 'capabilities' is frozenset({'telepathy'}); set it to"),
        ("StringCapabilities", "attribute 'capabilities' is 'backward'; set it to a frozenset"),
        (
            "RaisingVersions",
            "versions() raised RuntimeError: cannot find the engine's metadata; return a dict",
        ),
        ("TupleVersions", "versions() returned {'tiny': (1, 2)}; return a dict of package name"),
        ("ListVersions", "versions() returned ['tiny 1.2']; return a dict of package name"),
    ],
)
def test_an_adapter_that_declares_itself_wrongly_is_aone_line_error(cli, attr, fragment):
    """A raising constructor or a bad name, dtypes, capabilities or versions() is caught at load."""
    proc = cli("--backend", f"tests.bad_adapters:{attr}", "--claims", "GR-1")
    assert proc.returncode == 2
    assert one_line_error(proc).startswith(
        f"{PREFIX}backend 'tests.bad_adapters:{attr}': {fragment}"
    )


def test_a_config_error_raised_by_the_adapter_itself_passes_through_unchanged(cli):
    """An adapter's own ConfigError is the whole message: the suite adds nothing to it."""
    proc = cli("--backend", "tests.bad_adapters:ConfigErrorConstructor", "--claims", "GR-1")
    assert proc.returncode == 2
    assert one_line_error(proc) == f"{PREFIX}tiny: set TINY_HOME to the engine's folder"
