"""Tamper evidence: the functions that judge an engine are still the ones the suite loaded.

An engine runs in the same worker process as the checks judging it, so its code could
replace a comparison (``numpy.allclose``, the suite's tolerance check) with one that
always agrees. A :class:`Snapshot` taken before the engine is imported holds every
module-level function and class of the suite's judging code, of numpy, math, mpmath and
builtins, and the code object of each Python function among them (and of each method of
the suite's classes); :meth:`Snapshot.changed` names any that is no longer the same
object. An identity check costs a few milliseconds per check. It does not stop an engine
that targets the check itself or rewrites its own reports: see README's threat model.
"""

from __future__ import annotations

import builtins
import importlib
import math
import pkgutil
import sys
import types
from typing import Any

import mpmath
import numpy as np

import conformance

# the suite's modules that judge; not the adapters (engine code), nor the checks
# themselves (pytest holds the functions it collected, whatever a module says later)
_SKIP = ("conformance.backends", "conformance.suite.test_")
_LIBRARIES: tuple[types.ModuleType, ...] = (np, np.linalg, math, mpmath, builtins)


def _suite_modules() -> list[types.ModuleType]:
    """Every module of the suite's judging code, imported now (before the engine is)."""
    for info in pkgutil.walk_packages(conformance.__path__, "conformance."):
        if not info.name.startswith(_SKIP) and not info.name.endswith("__main__"):
            importlib.import_module(info.name)
    return [
        module
        for name, module in sorted(sys.modules.items())
        if name.startswith("conformance.") and not name.startswith(_SKIP) and module
    ]


def _parts(obj: Any, own: bool) -> tuple[Any, ...]:
    """What must stay the same of ``obj``: itself, its code (a Python function), and the
    functions of a class of the suite's own."""
    if isinstance(obj, types.FunctionType):
        return (obj, obj.__code__, obj.__defaults__, obj.__kwdefaults__)
    if own and isinstance(obj, type):
        return (obj, *(_parts(v, False) for v in vars(obj).values() if callable(v)))
    return (obj,)


class Snapshot:
    """What the judging code was when taken; compare with :meth:`changed`."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, str], tuple[Any, ...]] = {}
        self._modules = {m.__name__: m for m in (*_suite_modules(), *_LIBRARIES)}
        for name, module in self._modules.items():
            own = name.startswith("conformance.")
            for attr, value in list(vars(module).items()):
                if callable(value) and not attr.startswith("__"):
                    self._seen[name, attr] = _parts(value, own)

    def changed(self) -> list[str]:
        """The dotted names of the watched objects that were replaced or rewritten."""
        out = []
        for (module, attr), was in self._seen.items():
            now = getattr(self._modules[module], attr, None)
            if not _same(was, _parts(now, module.startswith("conformance.")) if now else ()):
                out.append(f"{module}.{attr}")
        return out


def _same(was: tuple[Any, ...], now: tuple[Any, ...]) -> bool:
    if len(was) != len(now):
        return False
    return all(
        _same(a, b) if isinstance(a, tuple) and isinstance(b, tuple) else a is b
        for a, b in zip(was, now, strict=True)
    )
