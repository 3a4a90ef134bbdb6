"""Running the size tier (:mod:`conformance.generation.sizes`) on an engine: each case
eagerly through ``backend.vjp`` (CR-1), or all of them as one compiled program (CE-1),
judged by the oracle with the size tier's tolerance."""

from __future__ import annotations

from typing import Any

from conformance.engine.ops import available
from conformance.generation.sizes import SIZE_CASES, combined_case, elements, size_case
from conformance.oracles import tolerances
from conformance.oracles.expr import Case, as_fn
from conformance.oracles.verdicts import (
    CheckFailure,
    fail_if_any,
    snippet,
    unsupported,
    will_reproduce,
)
from conformance.oracles.vjp_checks import check_vjp


def runnable(backend: Any, dtype: str) -> list[str]:
    """The size cases the engine has the ops for and may hold (its ``max_elements``);
    unsupported when there is none."""
    ops, limit = available(backend), getattr(backend, "max_elements", None)
    fits = [c for c in SIZE_CASES if limit is None or c.elements <= limit]
    names = [c.name for c in fits if c.ops <= ops]
    if not names:
        unsupported("no size case fits the engine's ops and max_elements")
    return names


def _repro(backend: Any, build: str, call: str) -> str:
    return snippet(
        backend,
        "from conformance.generation.sizes import combined_case, size_case",
        "from conformance.oracles.expr import as_fn",
        f"case = {build}",
        f"print(bk.{call}(as_fn(case.expr, bk, case.dtype), list(case.inputs), case.dtype,"
        " case.cotangent))",
    )


def check_each_eagerly(backend: Any, dtype: str) -> None:
    """Every size case through ``backend.vjp``; every failing case is named."""
    failed: dict[str, str] = {}
    ops: set[str] = set()
    for name in runnable(backend, dtype):
        case = size_case(name, dtype)
        text = _repro(backend, f"size_case({name!r}, {dtype!r})", "vjp")
        will_reproduce(text)
        value, grads = backend.vjp(
            as_fn(case.expr, backend, dtype), list(case.inputs), dtype, case.cotangent
        )
        try:
            judge(backend, case, value, grads, text, f"\n(size tier: {name})")
        except CheckFailure as exc:
            failed[name] = str(exc)
            ops |= set(case.expr.ops())
    fail_if_any("size tier", failed, "case", ops)


def check_all_compiled(backend: Any, dtype: str) -> None:
    """The size cases a compiler rewrites, in one scalar expression, through
    ``backend.compiled_vjp``."""
    compiled = {c.name for c in SIZE_CASES if c.compiled}
    names = [n for n in runnable(backend, dtype) if n in compiled]
    if not names:
        unsupported("no compiled size case fits the engine's ops")
    case, owners = combined_case(names, dtype)
    text = _repro(backend, f"combined_case({names!r}, {dtype!r})[0]", "compiled_vjp")
    will_reproduce(text)
    value, grads = backend.compiled_vjp(as_fn(case.expr, backend, dtype), list(case.inputs), dtype)
    inputs = ", ".join(f"x{i}: {n}" for i, n in enumerate(owners))
    judge(backend, case, value, grads, text, f"\n(size tier, compiled; inputs {inputs})")


def judge(backend: Any, case: Case, value: Any, grads: Any, text: str, context: str) -> None:
    """The oracle's verdict with the size tier's tolerance for the case's longest input."""
    factor = tolerances.size_factor(elements(case), case.dtype)
    check_vjp(backend, case, value, grads, "gradient", context, text, scale_factor=factor)
