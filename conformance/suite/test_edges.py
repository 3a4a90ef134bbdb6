"""The edge claims: non-finite propagation (NF-1), kinks and ties (KP-1), saturation and
range (SR-1), each one op at a time through ``backend.vjp``, on the ``nonfinite`` and
``edge`` tiers of :mod:`conformance.edges.tiers`.

Expected values come from mpmath (SR-1), IEEE limits (NF-1) and subdifferentials (KP-1),
in :mod:`conformance.edges.reference`, never from the engine under test.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance import xfails
from conformance.edges import judge, reference
from conformance.edges.tiers import (
    EdgeCase,
    at_kink,
    extreme_cases,
    extreme_grid,
    kink_cases,
    kink_grid,
    nonfinite_cases,
    nonfinite_grid,
)
from conformance.expr import apply
from conformance.ops import available, cover
from conformance.oracles import NUMPY
from conformance.specs import claim
from conformance.vacuity import exercised
from conformance.verdicts import CheckFailure, require, unsupported
from conformance.vjp_checks import run_vjp


def _ops(backend: Any, claim_id: str, dtype: str | None = None) -> list[str]:
    """The ops the claim's spec lists that the engine has (for a random property, with
    ``dtype``: less those of a known deviation, see :func:`conformance.xfails.known_ops`);
    unsupported without any."""
    spec = claim(claim_id)
    require(backend, *spec.requires)
    listed = spec.params["ops"]
    have = available(backend) - (xfails.known_ops(claim_id, dtype) if dtype else set())
    ops = [op for op in listed if op in have]
    if not ops:
        unsupported(f"the engine has none of {claim_id}'s ops ({', '.join(listed)})")
    return ops


def _run(backend: Any, edge: EdgeCase) -> tuple[Any, list[Any]]:
    cover([edge.op])
    value, grads = run_vjp(backend, edge.case)
    return value, list(grads)


# -- the checks, one case each --------------------------------------------------------


def _judge_value(
    backend: Any, edge: EdgeCase, value: Any, expected: Any, bound: Any, what: str
) -> None:
    """The forward value against ``expected``, every element checked."""
    every = np.ones(np.shape(expected), bool)
    judge.judge("forward value", [("y", value, expected, bound, every)], edge, what, backend)


def _judge_against(
    backend: Any,
    edge: EdgeCase,
    expected: tuple[Any, Sequence[np.ndarray]],
    checked: Sequence[np.ndarray] | None,
    what: str,
) -> None:
    """Run ``edge`` and judge value and gradients against ``expected`` (the gradients at
    the ``checked`` elements, default all)."""
    value, grads = _run(backend, edge)
    true_value, true_grads = expected
    value_bound, bounds = judge.scales(edge)
    _judge_value(backend, edge, value, true_value, value_bound, what)
    masks = checked or [np.ones(np.shape(t), bool) for t in true_grads]
    rows = [
        (f"x{i}", g, t, b, c)
        for i, (g, t, b, c) in enumerate(zip(grads, true_grads, bounds, masks, strict=False))
    ]
    judge.judge("gradient", rows, edge, what, backend)


def check_extreme(backend: Any, edge: EdgeCase) -> None:
    """SR-1 on one case: value and gradients are the true ones, rounded to the dtype."""
    what = "the true (50-digit) value rounded to the dtype"
    _judge_against(backend, edge, reference.exact(edge), None, what)


def check_nonfinite(backend: Any, edge: EdgeCase) -> None:
    """NF-1 on one case: IEEE values and gradients at the checked elements."""
    true_value, true_grads, checked = reference.ieee(edge)
    _judge_against(backend, edge, (true_value, true_grads), checked, "IEEE 754 propagation")


def check_kink(backend: Any, edge: EdgeCase) -> None:
    """KP-1 on one case: the exact value, and gradients in the subdifferential."""
    value, grads = _run(backend, edge)
    case = edge.case
    node = case.expr.nodes[case.expr.output]
    with np.errstate(all="ignore"):
        true_value = np.asarray(apply(NUMPY, node, list(case.inputs)), np.float64)
    _judge_value(backend, edge, value, true_value, judge.scales(edge)[0], "the exact value")
    conventions = dict(getattr(backend, "conventions", {}) or {})
    intervals, rule = reference.subgradients(edge, conventions)
    judge.judge_intervals("gradient", grads, intervals, _sums(edge, grads), edge, rule, backend)


def _grid_test(backend: Any, claim_id: str, dtype: str, grid: Any, check: Any) -> None:
    """Every op's grid, each judged on its own: a failing op is named with the others
    that fail, so that one op's bug does not hide another's."""
    failed: list[tuple[str, CheckFailure]] = []
    for op in _ops(backend, claim_id):
        for edge in grid(op, dtype):
            try:
                check(backend, edge)
            except CheckFailure as exc:
                failed.append((op, exc))
                break
    if failed:
        names = ", ".join(op for op, _ in failed)
        first_op, first = failed[0]
        raise CheckFailure(
            f"{claim_id} grid",
            f"failing op(s): {names}",
            "every op passes",
            detail=f"first failing op, {first_op}:\n{first}",
        )


# -- the claims --------------------------------------------------------------------------


@pytest.mark.claim("SR-1")
def test_every_extreme_value_of_each_op_gives_the_true_value_and_gradient(
    backend: Any, dtype: str
) -> None:
    """Each op at all its extreme and saturating values at once gives the true answers."""
    _grid_test(backend, "SR-1", dtype, extreme_grid, check_extreme)


@pytest.mark.claim("SR-1")
@settings(deadline=None)
@given(data=st.data())
def test_extreme_and_saturated_inputs_give_the_true_value_and_gradient(
    backend: Any, dtype: str, data: st.DataObject
) -> None:
    """At extreme magnitudes and in saturation, value and gradient are the true ones."""
    edge = data.draw(extreme_cases(dtype, _ops(backend, "SR-1", dtype)), label="case")
    # ordinary values have magnitudes in [0.5, 2]; the tier's are 0, tiny, huge, saturating
    extreme = any(np.any((np.abs(x) < 0.5) | (np.abs(x) > 2)) for x in edge.case.inputs)
    exercised("a value outside the ordinary magnitudes", extreme)
    check_extreme(backend, edge)


@pytest.mark.claim("NF-1")
def test_nan_and_infinities_in_each_op_propagate_as_ieee_says(backend: Any, dtype: str) -> None:
    """Each op on NaN, +inf and -inf beside ordinary values gives the IEEE answers."""
    _grid_test(backend, "NF-1", dtype, nonfinite_grid, check_nonfinite)


@pytest.mark.claim("NF-1")
@settings(deadline=None)
@given(data=st.data())
def test_nan_and_infinities_propagate_as_ieee_says(
    backend: Any, dtype: str, data: st.DataObject
) -> None:
    """NaN reaches exactly what depends on it; +-inf gives the IEEE limits, value and gradient."""
    edge = data.draw(nonfinite_cases(dtype, _ops(backend, "NF-1", dtype)), label="case")
    nonfinite = any(np.any(~np.isfinite(x)) for x in edge.case.inputs)
    exercised("a NaN or an infinity in an input", nonfinite)
    check_nonfinite(backend, edge)


@pytest.mark.claim("KP-1")
def test_each_kink_and_tie_gives_a_finite_subgradient(backend: Any, dtype: str) -> None:
    """Each op at its kinks and ties, and beside them, gives subgradients, never NaN."""
    _grid_test(backend, "KP-1", dtype, kink_grid, check_kink)


@pytest.mark.claim("KP-1")
@settings(deadline=None)
@given(data=st.data())
def test_kinks_and_ties_give_a_finite_subgradient(
    backend: Any, dtype: str, data: st.DataObject
) -> None:
    """At a kink or tie the gradient is finite and in the subdifferential (or the convention)."""
    edge = data.draw(kink_cases(dtype, _ops(backend, "KP-1", dtype)), label="case")
    exercised("a kink, tie or bound, or the float beside one", at_kink(edge))
    check_kink(backend, edge)


def _sums(edge: EdgeCase, grads: Sequence[Any]) -> list[tuple[np.ndarray, np.ndarray]]:
    """(actual, expected) totals that a tie's shares must reach: the output gradient."""
    case = edge.case
    g = case.cotangent
    assert g is not None
    if any(
        x is None or np.shape(x) != np.shape(i) for x, i in zip(grads, case.inputs, strict=False)
    ):
        return []
    if edge.op in ("maximum", "minimum"):
        a, b = case.inputs
        tie = a == b
        total = np.asarray(grads[0], np.float64) + np.asarray(grads[1], np.float64)
        return [(total[tie], g[tie])]
    if edge.op in ("max", "min"):
        total = np.asarray(np.sum(np.asarray(grads[0], np.float64), axis=edge.axis))
        return [(total, g)]
    return []
