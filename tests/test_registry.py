"""Loading backends: names, module:attribute, entry points, env var, validation."""

from __future__ import annotations

from importlib.metadata import EntryPoint

import pytest

from conformance.backends.torch_backend import TorchBackend
from conformance.engine import Backend, registry
from conformance.errors import ConfigError


def test_the_default_backend_is_torch(monkeypatch):
    """With no option and no env var, torch is chosen."""
    monkeypatch.delenv(registry.ENV_VAR, raising=False)
    assert registry.load_backend().name == "torch"


def test_the_env_var_names_the_backend(monkeypatch):
    """AUTOGRAD_CONFORMANCE_BACKEND is used when no name is given."""
    monkeypatch.setenv(registry.ENV_VAR, "tests.doubles:GradientsOnlyBackend")
    assert registry.load_backend().name == "gradients-only"


def test_an_entry_point_registers_a_name(monkeypatch):
    """A third-party package's entry point makes its name loadable."""
    point = EntryPoint(
        "thirdparty", "tests.doubles:WrongSignNegBackend", registry.ENTRY_POINT_GROUP
    )
    monkeypatch.setattr(registry, "entry_points", lambda group: [point])
    assert registry.known_names()["thirdparty"] == "tests.doubles:WrongSignNegBackend"
    assert registry.load_backend("thirdparty").name == "wrong-sign-neg"


def test_an_instance_or_a_class_may_be_named():
    """module:attribute may name a ready instance as well as a class."""
    import tests.doubles

    tests.doubles.READY = TorchBackend()  # type: ignore[attr-defined]
    try:
        assert registry.load_backend("tests.doubles:READY") is tests.doubles.READY
    finally:
        del tests.doubles.READY  # type: ignore[attr-defined]


def test_a_loaded_backend_remembers_how_to_load_it_again():
    """Reproduction snippets use the spec the backend was loaded by."""
    assert registry.load_backend("tests.doubles:WrongSignNegBackend").conformance_ref == (
        "tests.doubles:WrongSignNegBackend"
    )


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("nosuch", "unknown backend 'nosuch'"),
        ("tests.doubles:", "expected a registered name or 'module:attribute'"),
        ("tests.doubles:MissingMatmul", "lacks required method(s): to_numpy, vjp"),
    ],
)
def test_bad_backends_are_config_errors(spec, message):
    """Each problem is a ConfigError with a one-line, actionable message."""
    with pytest.raises(ConfigError) as info:
        registry.load_backend(spec)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_a_declared_capability_requires_its_methods():
    """Declaring is_leaf without implementing it is reported at load time."""

    class Liar(TorchBackend):
        capabilities = frozenset({"is_leaf"})

    Liar.is_leaf = Backend.is_leaf  # type: ignore[method-assign]
    import tests.doubles

    tests.doubles.Liar = Liar  # type: ignore[attr-defined]
    try:
        with pytest.raises(ConfigError, match="is_leaf"):
            registry.load_backend("tests.doubles:Liar")
    finally:
        del tests.doubles.Liar  # type: ignore[attr-defined]


def test_a_backend_without_a_device_parameter_refuses_the_device_option():
    """--device is passed to the backend's constructor, which must accept it."""
    with pytest.raises(ConfigError, match="takes no --device"):
        registry.load_backend("tests.doubles:MissingMatmul", device="cpu")
