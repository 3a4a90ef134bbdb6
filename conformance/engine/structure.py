"""What a function the suite builds computes, for adapters that compile it (jax's ``jit``).

Most functions the suite passes to ``backend.vjp`` only combine their inputs and some
constants with the backend's ops, read no values and branch on nothing: those built by
:func:`conformance.oracles.expr.as_fn` and :func:`conformance.regression.model.loss_function`. They
carry a :class:`Structure` (read it with :func:`structure_of`), so that an adapter can
compile the computation once and run it again on new inputs and constants, instead of
tracing it anew on every call. Every other function (DG-1's programs, which branch and
loop on computed values; the suite's lambdas) has none and must run as it is.

The structure is an optimisation an adapter may use and must not rely on: ``fn`` itself
stays the definition, and ``fn(*xs)`` equals ``body(consts, *xs)`` with the constants
made tensors of the call's dtype by the adapter.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

import numpy as np

ATTRIBUTE = "conformance_structure"


@dataclass(frozen=True, eq=False)
class Structure:
    """``fn``'s computation with its constants as arguments.

    ``key`` captures everything ``body`` computes besides its arguments (ops, wiring,
    exponents, axes, the constants' shapes): two functions with equal keys, built on the
    same ``ops`` object, compute the same thing from arguments of equal shapes and dtype.
    The constants' values are not in it; they are arguments, like the inputs.
    """

    key: Hashable
    ops: Any  # the object whose op methods ``body`` calls (the backend ``fn`` was built on)
    consts: tuple[np.ndarray, ...]
    body: Callable[..., Any]  # body(consts, *xs), consts as tensors, in ``consts``' order


def attach(fn: Callable[..., Any], structure: Structure) -> Callable[..., Any]:
    """``fn``, carrying ``structure``."""
    setattr(fn, ATTRIBUTE, structure)
    return fn


def structure_of(fn: Callable[..., Any]) -> Structure | None:
    """The structure ``fn`` carries, or None: then ``fn`` must run as it is."""
    found = getattr(fn, ATTRIBUTE, None)
    return found if isinstance(found, Structure) else None
