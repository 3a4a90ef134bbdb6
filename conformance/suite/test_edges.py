"""The edge claims: non-finite propagation (NF-1), kinks and ties (KP-1), saturation and
range (SR-1), each one op at a time through ``backend.vjp``, on the ``nonfinite`` and
``edge`` tiers of :mod:`conformance.edges.tiers`.

Expected values come from mpmath (SR-1), IEEE limits (NF-1) and subdifferentials (KP-1),
in :mod:`conformance.edges.reference`, never from the engine under test.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.edges import judge, reference
from conformance.edges.internal import internal_nonfinite_cases
from conformance.edges.tiers import (
    Answer,
    EdgeCase,
    at_kink,
    extreme_cases,
    extreme_grid,
    kink_cases,
    kink_grid,
    nonfinite_cases,
    nonfinite_grid,
)
from conformance.engine import Unsupported, xfails
from conformance.engine.ops import available, cover
from conformance.oracles.expr import apply, describe, repro
from conformance.oracles.first_order import NUMPY, analytic
from conformance.oracles.verdicts import CheckFailure, fail_if_any, require, unsupported
from conformance.oracles.vjp_checks import run_vjp
from conformance.specs import claim
from conformance.suite.vacuity import exercised


def _ops(backend: Any, claim_id: str, dtype: str | None = None) -> list[str]:
    """The ops the claim's spec lists that the engine has (for a random property, with
    ``dtype``: less those of a known deviation, see :func:`conformance.engine.xfails.known_ops`);
    unsupported without any."""
    spec = claim(claim_id)
    require(backend, *spec.requires)
    listed = spec.params["ops"]
    have = available(backend) - (xfails.known_ops(claim_id, dtype) if dtype else set())
    ops = [op for op in listed if op in have]
    if not ops:
        unsupported(f"the engine has none of {claim_id}'s ops ({', '.join(listed)})")
    return ops


def _run(backend: Any, edge: EdgeCase, answer: Answer | None = None) -> tuple[Any, list[Any]]:
    """The engine's answer for ``edge``: ``answer`` where a compiled program computed it
    already, else ``backend.vjp``'s, eagerly."""
    cover([edge.op])
    value, grads = run_vjp(backend, edge.case) if answer is None else answer
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
    answer: Answer | None = None,
) -> None:
    """Run ``edge`` and judge value and gradients against ``expected`` (the gradients at
    the ``checked`` elements, default all)."""
    value, grads = _run(backend, edge, answer)
    true_value, true_grads = expected
    value_bound, bounds = judge.scales(edge)
    _judge_value(backend, edge, value, true_value, value_bound, what)
    masks = checked or [np.ones(np.shape(t), bool) for t in true_grads]
    rows = [
        (f"x{i}", g, t, b, c)
        for i, (g, t, b, c) in enumerate(zip(grads, true_grads, bounds, masks, strict=False))
    ]
    judge.judge("gradient", rows, edge, what, backend)


def check_extreme(backend: Any, edge: EdgeCase, answer: Answer | None = None) -> None:
    """SR-1 on one case: value and gradients are the true ones, rounded to the dtype."""
    what = "the true (50-digit) value rounded to the dtype"
    _judge_against(backend, edge, reference.exact(edge), None, what, answer)


def check_nonfinite(backend: Any, edge: EdgeCase, answer: Answer | None = None) -> None:
    """NF-1 on one case: IEEE values and gradients at the checked elements."""
    true_value, true_grads, checked = reference.ieee(edge)
    what = "IEEE 754 propagation"
    _judge_against(backend, edge, (true_value, true_grads), checked, what, answer)


def check_kink(backend: Any, edge: EdgeCase, answer: Answer | None = None) -> None:
    """KP-1 on one case: the exact value, and gradients in the subdifferential."""
    value, grads = _run(backend, edge, answer)
    case = edge.case
    node = case.expr.nodes[case.expr.output]
    with np.errstate(all="ignore"):
        true_value = np.asarray(apply(NUMPY, node, list(case.inputs)), np.float64)
    _judge_value(backend, edge, value, true_value, judge.scales(edge)[0], "the exact value")
    conventions = dict(getattr(backend, "conventions", {}) or {})
    intervals, rule = reference.subgradients(edge, conventions)
    judge.judge_intervals("gradient", grads, intervals, _sums(edge, grads), edge, rule, backend)


def check_internal(backend: Any, edge: EdgeCase, answer: Answer | None = None) -> None:
    """NF-1 on a non-finite value made inside a graph: the chain rule in IEEE arithmetic
    (:mod:`conformance.edges.internal`), value and every gradient element."""
    case = edge.case
    with np.errstate(all="ignore"):
        ref = analytic(case.expr, case.inputs, case.cotangent)
        grads = [ref.grad(i) for i in range(len(case.inputs))]
    what = "IEEE 754 arithmetic through the chain rule"
    _judge_against(backend, edge, (ref.value, grads), None, what, answer)


def internal_grid(backend: Any) -> Callable[[str, str], list[EdgeCase]]:
    """The internally made non-finite cases, as a grid by the op that makes each."""

    def grid(op: str, dtype: str) -> list[EdgeCase]:
        return [e for e in internal_nonfinite_cases(dtype, available(backend)) if e.op == op]

    return grid


def grid_test(
    backend: Any,
    claim_id: str,
    dtype: str,
    grid: Any,
    check: Any,
    answers: Callable[[list[EdgeCase]], list[Answer]] | None = None,
) -> None:
    """Every op's grid, each judged on its own: every failing op is named, each with its
    inputs, answers and reproduction, so that one op's bug does not hide another's.
    ``answers``: the engine's answers for all the grid's cases at once (a compiled
    program); without it each case runs through ``backend.vjp``."""
    by_op = {op: list(grid(op, dtype)) for op in _ops(backend, claim_id)}
    given: list[Answer | None] = [None] * sum(len(edges) for edges in by_op.values())
    if answers is not None:
        given = list(answers([edge for edges in by_op.values() for edge in edges]))
    failed: dict[str, str] = {}
    repros: dict[str, str] = {}
    k = 0
    for op, edges in by_op.items():
        for edge in edges:
            answer, k = given[k], k + 1
            if op in failed:
                continue
            try:
                check(backend, edge, answer)
            except CheckFailure as exc:
                failed[op], repros[op] = str(exc), exc.repro or ""
            except (Unsupported, KeyboardInterrupt, SystemExit):
                raise
            except Exception as exc:  # the engine's own error on this op's inputs
                repros[op] = repro(edge.case, backend)
                failed[op] = (
                    f"the engine raised {type(exc).__name__}: {exc}\n{describe(edge.case)}\n"
                    f"reproduce with:\n{repros[op]}"
                )
    if failed:
        if answers is not None:  # each case reproduces through the compiler, alone
            failed = {op: _compiled(text) for op, text in failed.items()}
            repros = {op: _compiled(text) for op, text in repros.items()}
        # failures no expected-failure entry excuses first: theirs is the reproduction
        known = xfails.known_ops(claim_id, dtype)
        failed = {op: failed[op] for op in sorted(failed, key=lambda op: op in known)}
        fail_if_any(
            f"{claim_id} grid", failed, ops=failed, repro=repros[next(iter(failed))] or None
        )


def _compiled(text: str) -> str:
    return text.replace("value, grads = bk.vjp(fn,", "value, grads = bk.compiled_vjp(fn,")


# -- the claims --------------------------------------------------------------------------


@pytest.mark.claim("SR-1")
def test_every_extreme_value_of_each_op_gives_the_true_value_and_gradient(
    backend: Any, dtype: str
) -> None:
    """Each op at all its extreme and saturating values at once gives the true answers."""
    grid_test(backend, "SR-1", dtype, extreme_grid, check_extreme)


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
    grid_test(backend, "NF-1", dtype, nonfinite_grid, check_nonfinite)


@pytest.mark.claim("NF-1")
def test_non_finite_values_made_inside_a_graph_propagate_as_ieee_says(
    backend: Any, dtype: str
) -> None:
    """NaN and infinities that the graph itself makes from finite inputs (log of a negative
    number, 0 * inf, log(0), exp overflowing, inf - inf, division by zero) reach the value
    and gradients as IEEE arithmetic through the chain rule says, and nothing else."""
    grid_test(backend, "NF-1", dtype, internal_grid(backend), check_internal)


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
    grid_test(backend, "KP-1", dtype, kink_grid, check_kink)


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
