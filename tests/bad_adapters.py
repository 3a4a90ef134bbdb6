"""Adapters that declare themselves wrongly: each must be a one-line configuration error
at load time, never a traceback in the middle of a run.

Each is the working :class:`tests.partial_adopter.TinyBackend` with one thing broken.
Modules that fail to import at all are written by the tests themselves (a syntax error
cannot live in a module that the suite's own tooling parses).
"""

from __future__ import annotations

from typing import Any

from conformance.errors import ConfigError
from tests.partial_adopter import TinyBackend


class RaisingConstructor(TinyBackend):
    """The engine fails while the adapter starts it."""

    def __init__(self) -> None:
        raise RuntimeError("engine runtime not initialised\nsecond line of detail")


class ConfigErrorConstructor(TinyBackend):
    """The adapter reports its own configuration problem, which must pass unchanged."""

    def __init__(self) -> None:
        raise ConfigError("tiny: set TINY_HOME to the engine's folder")


class EmptyName(TinyBackend):
    name = ""


class NumericName(TinyBackend):
    name = 42  # type: ignore[assignment]


class NoDtypes(TinyBackend):
    dtypes = ()


class StringDtypes(TinyBackend):
    dtypes = "float32"  # type: ignore[assignment]  # a string, not a tuple of strings


class HalfPrecision(TinyBackend):
    dtypes = ("float32", "float16")


class UnknownCapability(TinyBackend):
    capabilities = frozenset({"telepathy"})


class StringCapabilities(TinyBackend):
    capabilities = "backward"  # type: ignore[assignment]  # a string, not a set of names


class RaisingVersions(TinyBackend):
    def versions(self) -> dict[str, str]:
        raise RuntimeError("cannot find the engine's metadata")


class TupleVersions(TinyBackend):
    def versions(self) -> Any:
        return {"tiny": (1, 2)}


class ListVersions(TinyBackend):
    def versions(self) -> Any:
        return ["tiny 1.2"]
