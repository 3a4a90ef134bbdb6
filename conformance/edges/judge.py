"""Judging an engine's answer at the edge tiers: non-finite values compared by kind,
finite ones under the tolerance policy, kinks against their subdifferential.

Rules, per checked element: an expected NaN needs a NaN; an expected +-inf the same
infinity; an expected finite value a finite one within the policy's bound of it (the
scale is the magnitudes the computation went through, from :func:`~conformance.oracles.first_order.
analytic` on the same inputs, with a non-finite input replaced by 1 for the scale only).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from conformance.edges.tiers import EdgeCase
from conformance.oracles import tolerances
from conformance.oracles.expr import _short, describe, repro
from conformance.oracles.first_order import analytic
from conformance.oracles.verdicts import CheckFailure

Row = tuple[str, Any, np.ndarray, np.ndarray, np.ndarray]  # name, actual, expected, bound, checked


def scales(edge: EdgeCase) -> tuple[np.ndarray, list[np.ndarray]]:
    """Bounds on each value and gradient element's admissible error, from the oracle's
    magnitudes on the case's inputs (non-finite ones replaced by 1: their own elements are
    compared by kind, never by size)."""
    case = edge.case
    finite = [np.where(np.isfinite(x), x, 1.0) for x in case.inputs]
    with np.errstate(all="ignore"):
        ref = analytic(case.expr, finite, case.cotangent)
        value = _bound(ref.value_scale, case.dtype)
        grads = [_bound(ref.grad_scale(i), case.dtype) for i in range(len(finite))]
    return value, grads


def _bound(scale: np.ndarray, dtype: str) -> np.ndarray:
    # a scale past float64's range (exp near overflow, times its argument) still bounds
    capped = np.minimum(np.nan_to_num(np.abs(scale), nan=np.inf), np.finfo(np.float64).max)
    return tolerances.bound(capped, dtype)


def _bad(actual: np.ndarray, expected: np.ndarray, bound: np.ndarray) -> np.ndarray:
    """Elementwise: does ``actual`` break the rules above?"""
    with np.errstate(invalid="ignore", over="ignore"):
        nan = np.isnan(expected)
        inf = np.isinf(expected)
        fin = ~nan & ~inf
        wrong_nan = nan & ~np.isnan(actual)
        wrong_inf = inf & (actual != expected)
        wrong_fin = fin & ~(np.isfinite(actual) & (np.abs(actual - expected) <= bound))
    return wrong_nan | wrong_inf | wrong_fin


def judge(stage: str, rows: Sequence[Row], edge: EdgeCase, what: str, backend: Any) -> None:
    """Raise :class:`CheckFailure` naming ``stage`` and the first row and element that
    breaks the rules, with ACTUAL vs EXPECTED per row and the reproduction."""
    lines, first = [], None
    for name, actual, expected, bound, checked in rows:
        exp = np.asarray(expected, np.float64)
        if actual is None or np.shape(actual) != exp.shape:
            got = None if actual is None else np.shape(actual)
            lines.append(f"  {name}: MISMATCH: got {got}, expected shape {exp.shape}")
            first = first or (name, actual, exp, "")
            continue
        act = np.asarray(actual, np.float64)
        bad = _bad(act, exp, np.broadcast_to(bound, exp.shape)) & checked
        verdict = "ok"
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            verdict = f"MISMATCH at element {k}: {act.flat[k]!r} for {exp.flat[k]!r}"
            first = first or (name, act, exp, verdict)
        unchecked = "" if checked.all() else f" (unchecked: {np.flatnonzero(~checked).tolist()})"
        lines += [
            f"  {name}: {verdict}{unchecked}",
            f"    ACTUAL   {_short(act)}",
            f"    EXPECTED {_short(exp)}",
        ]
    if first is None:
        return
    tol = tolerances.policy(edge.case.dtype)
    detail = (
        f"{stage} of {first[0]} breaks {what} ({edge.case.dtype}: NaN for NaN, the same "
        f"infinity for an infinity, else finite and |diff| <= {tol.rtol:g} * scale + "
        f"{tol.atol:g}); per tensor:\n" + "\n".join(lines) + "\n" + describe(edge.case)
    )
    raise CheckFailure(
        f"{stage} ({first[0]})",
        first[1],
        first[2],
        detail=detail,
        repro=repro(edge.case, backend),
        ops=[edge.op],
    )


def judge_intervals(
    stage: str,
    grads: Sequence[Any],
    intervals: Sequence[tuple[np.ndarray, np.ndarray]],
    sums: Sequence[tuple[np.ndarray, np.ndarray]],
    edge: EdgeCase,
    rule: str,
    backend: Any,
) -> None:
    """KP-1: each gradient element finite (never NaN) and within its interval (plus the
    policy's bound, for the rounding of g times a share); each tie's shares add up to the
    output gradient (``sums``: (actual totals, expected totals))."""
    dtype = edge.case.dtype
    lines, first = [], None
    for i, (g, (lo, hi)) in enumerate(zip(grads, intervals, strict=True)):
        if g is None or np.shape(g) != lo.shape:
            first = first or (f"x{i}", None if g is None else np.shape(g), f"shape {lo.shape}")
            continue
        act = np.asarray(g, np.float64)
        slack = tolerances.bound(np.maximum(np.abs(lo), np.abs(hi)), dtype)
        with np.errstate(invalid="ignore"):
            ok = np.isfinite(act) & (act >= lo - slack) & (act <= hi + slack)
        if not ok.all():
            k = int(np.flatnonzero(~ok)[0])
            first = first or (f"x{i}", act, f"element {k} in [{lo.flat[k]:g}, {hi.flat[k]:g}]")
        lines += [
            f"  x{i}: {'ok' if ok.all() else 'OUTSIDE'}",
            f"    ACTUAL   {_short(act)}",
            f"    LOWEST   {_short(lo)}",
            f"    HIGHEST  {_short(hi)}",
        ]
    for got, want in sums:
        ok = np.isfinite(got) & (np.abs(got - want) <= tolerances.bound(np.abs(want), dtype))
        if not np.all(ok):
            first = first or ("tied shares", got, f"{_short(want)} ({rule})")
    if first is None:
        return
    detail = (
        f"{stage}: a gradient at a kink or tie must be finite and lie in the "
        f"subdifferential; {rule}.\n" + "\n".join(lines) + "\n" + describe(edge.case)
    )
    raise CheckFailure(
        f"{stage} ({first[0]})",
        first[1],
        first[2],
        detail=detail,
        repro=repro(edge.case, backend),
        ops=[edge.op],
    )
