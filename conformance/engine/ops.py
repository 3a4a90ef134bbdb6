"""Which ops an engine has, and which ops each check exercised.

Every op of the protocol is optional: an adapter leaves one out (no method), declares
the ops it has (an ``ops`` attribute), or raises :class:`conformance.Unsupported` for
one. Without a declaration the suite finds out once per process, inside the first check
that asks (so isolation covers it), by calling each op once on small inputs. An op that
raises anything else is available: its error is the engine's, and is judged.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterable
from typing import Any

import numpy as np

from conformance.engine.capabilities import (
    BINARY_OPS,
    EXTRA_OPS,
    NN_OP_NAMES,
    REDUCTIONS,
    UNARY_OPS,
    Unsupported,
)
from conformance.engine.protocol import Backend

#: Every op of the protocol, in the order reports list them.
ALL_OPS: tuple[str, ...] = (*BINARY_OPS, "pow", *UNARY_OPS, *REDUCTIONS, *NN_OP_NAMES, *EXTRA_OPS)
# how the probe calls the ops that take more than their tensors
_AXIS_OPS = ("softmax", "logsumexp", "log_softmax")
_EXTRA_ARGS: dict[str, tuple[Any, ...]] = {
    "clip": (0.75, 1.25),
    "reshape": ((2, 1),),
    "take": ((1, 0, 1), 0),
}

# the probe's inputs: positive and away from every kink and pole, so any op is defined
_VECTOR = np.array([0.5, 1.5])
_MATRIX = np.array([[0.5, 1.5], [1.0, 2.0]])


def _call(backend: Any, op: str, vector: Any, matrix: Any) -> Any:
    """``op`` applied once, as the protocol calls it."""
    method = getattr(backend, op)
    if op == "matmul":
        return method(matrix, matrix)
    if op == "pow":
        return method(vector, 2)
    if op in _AXIS_OPS:
        return method(vector, 0)
    if op in (*REDUCTIONS, "max", "min", "prod"):
        return method(vector, None)
    if op in _EXTRA_ARGS:
        return method(vector, *_EXTRA_ARGS[op])
    if op == "concatenate":
        return method(vector, vector, 0)
    binary = (*BINARY_OPS, "maximum", "minimum")
    return method(vector, vector) if op in binary else method(vector)


def _implemented(backend: Any, op: str) -> bool:
    method = getattr(type(backend), op, None) or getattr(backend, op, None)
    return callable(method) and method is not getattr(Backend, op, None)


def _probe(backend: Any, op: str, dtype: str) -> bool:
    if not _implemented(backend, op):
        return False
    try:
        vector, matrix = backend.tensor(_VECTOR, dtype), backend.tensor(_MATRIX, dtype)
        _call(backend, op, vector, matrix)
    except (Unsupported, NotImplementedError):
        return False
    except Exception:  # noqa: BLE001 - a broken op is present: the checks will judge it
        return True
    return True


def available(backend: Any) -> frozenset[str]:
    """The ops ``backend`` has: its ``ops`` declaration, else what a probe finds (once)."""
    known = getattr(backend, "conformance_ops", None)
    if known is not None:
        return frozenset(known)
    declared = getattr(backend, "ops", None)
    if declared is not None:
        found = frozenset(op for op in declared if op in ALL_OPS and _implemented(backend, op))
    else:
        dtype = next(iter(getattr(backend, "dtypes", ("float64",))))
        found = frozenset(op for op in ALL_OPS if _probe(backend, op, dtype))
    with contextlib.suppress(AttributeError):  # without instance attributes: probe each time
        backend.conformance_ops = found
    return found


def missing(backend: Any, needed: Iterable[str]) -> list[str]:
    """The ops among ``needed`` that ``backend`` lacks, in protocol order."""
    have = available(backend)
    wanted = set(needed)
    return [op for op in ALL_OPS if op in wanted and op not in have]


# the ops the running check's judged examples exercised, and in how many of them each op
# was designated (conformance.generation.strata); the running example's the same (one
# check runs at a time per process): an example the engine could not run covers nothing
_covered: set[str] = set()
_designated: Counter[str] = Counter()
_pending: set[str] = set()
_pending_designated: set[str] = set()
_checks = 0  # checks started in this process: a check's designations are its own


def cover(ops: Iterable[str]) -> None:
    """Record that the running example puts ``ops`` to the test."""
    _pending.update(op for op in ops if op in ALL_OPS)


def designate(ops: Iterable[str]) -> None:
    """Record that the running example was drawn with ``ops`` designated
    (:mod:`conformance.generation.strata`)."""
    _pending_designated.update(ops)


def settle(judged: bool) -> None:
    """End the running example: its ops count as covered if it was judged, and its
    designated ops as designated if it also put them to the test."""
    if judged:
        _covered.update(_pending)
        _designated.update(_pending_designated & _pending)
    _pending.clear()
    _pending_designated.clear()


def start_check() -> None:
    global _checks
    _checks += 1
    _covered.clear()
    _designated.clear()
    _pending.clear()
    _pending_designated.clear()


def check_number() -> int:
    """Which check of this process is running (0 before the first)."""
    return _checks


def times_designated(op: str) -> int:
    """In how many of the running check's judged examples so far ``op`` was designated
    and put to the test."""
    return _designated[op]


def covered() -> list[str]:
    """The ops the running check exercised so far, in protocol order."""
    return [op for op in ALL_OPS if op in _covered]
