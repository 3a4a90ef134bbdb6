"""The edge claims' references and judging (conformance.edges), checked against closed
forms and IEEE 754 without any engine."""

from __future__ import annotations

import numpy as np
import pytest

from conformance.edges import judge, reference
from conformance.edges.tiers import (
    Limits,
    extreme_grid,
    kink_grid,
    nonfinite_grid,
    one_op_case,
    order_free,
    prod_factors,
)
from conformance.oracles.tolerances import policy
from conformance.specs import all_claims

DTYPES = ("float32", "float64")


def _case(op, xs, dtype="float64", g=None, **attrs):
    xs = [np.asarray(x, np.float64) for x in xs]
    cot = np.ones_like(xs[0]) if g is None else np.asarray(g, np.float64)
    return one_op_case(op, xs, dtype, cot, **attrs)


@pytest.mark.parametrize("dtype", DTYPES)
def test_the_50_digit_reference_overflows_exactly_where_the_dtype_does(dtype):
    """exp one above log(max) is inf in the dtype, one below it is finite and exact."""
    e = Limits.of(dtype).exp_max
    value, (grad,) = reference.exact(_case("exp", [[e - 1, e + 1]], dtype))
    assert np.isfinite(value[0]) and value[1] == np.inf and grad[1] == np.inf
    assert value[0] == pytest.approx(np.exp(e - 1), rel=1e-6)


def test_the_reference_keeps_a_saturated_sigmoid_gradient_tiny_not_zero_or_nan():
    """sigmoid'(-100) is e^-100 (1 + e^-100)^-2, about 3.7e-44, in float64."""
    _, (grad,) = reference.exact(_case("sigmoid", [[-100.0, 40.0]]))
    assert grad[0] == pytest.approx(np.exp(-100.0), rel=1e-12)
    assert grad[1] == pytest.approx(np.exp(-40.0), rel=1e-12)


def test_the_reference_softmax_of_rows_offset_by_thousands_is_finite():
    """softmax([1000, 999, -1000]) is the softmax of [1, 0, -2000]: finite, summing to 1."""
    value, (grad,) = reference.exact(
        _case("softmax", [[[1000.0, 999.0, -1000.0]]], g=[[1.0, 0.0, 0.0]], axis=1)
    )
    assert np.all(np.isfinite(value)) and value.sum() == pytest.approx(1.0)
    assert value[0, 0] == pytest.approx(1 / (1 + np.exp(-1.0)), rel=1e-12)
    assert np.all(np.isfinite(grad))


def test_the_ieee_rules_give_the_limits_the_spec_lists():
    """exp(-inf) = 0 with gradient 0, tanh(inf) = 1 with gradient 0, NaN gives NaN."""
    value, (grad,), _ = reference.ieee(_case("exp", [[-np.inf, np.nan]]))
    assert value[0] == 0 and grad[0] == 0 and np.isnan(value[1]) and np.isnan(grad[1])
    value, (grad,), _ = reference.ieee(_case("tanh", [[np.inf]]))
    assert value[0] == 1 and grad[0] == 0


def test_a_nan_summed_away_leaves_every_gradient_the_output_gradient():
    """sum's gradient does not read its input: a NaN element does not reach it."""
    value, (grad,), (checked,) = reference.ieee(_case("sum", [[np.nan, 1.0]], g=2.0))
    assert np.isnan(value) and np.all(grad == 2.0) and checked.all()


def test_relu_at_nan_has_no_checked_gradient():
    """relu's derivative at NaN is a comparison: no IEEE answer, so it is not judged."""
    _, _, (checked,) = reference.ieee(_case("relu", [[np.nan, 1.0]]))
    assert checked.tolist() == [False, True]


def test_judging_needs_nan_for_nan_and_the_same_infinity():
    """A finite value for NaN, a NaN for inf, or -inf for inf is wrong; the same kind is right."""
    expected = np.array([np.nan, np.inf, 1.0])
    bound = np.full(3, 1e-9)
    assert not judge._bad(np.array([np.nan, np.inf, 1.0]), expected, bound).any()
    assert judge._bad(np.array([0.0, np.inf, 1.0]), expected, bound)[0]
    assert judge._bad(np.array([np.nan, -np.inf, 1.0]), expected, bound)[1]
    assert judge._bad(np.array([np.nan, np.inf, np.inf]), expected, bound)[2]


def test_the_subgradient_of_relu_at_0_is_0_to_g_and_a_convention_narrows_it():
    """relu'(0) lies in [0, 1]; declared as 0, it is exactly 0; beside 0 it is exact."""
    edge = _case("relu", [[0.0, 1.0, -1.0]], g=[2.0, 2.0, 2.0])
    ([(lo, hi)], _) = reference.subgradients(edge, {})
    assert lo.tolist() == [0.0, 2.0, 0.0] and hi.tolist() == [2.0, 2.0, 0.0]
    ([(lo, hi)], _) = reference.subgradients(edge, {"relu_at_0": 0.0})
    assert lo[0] == hi[0] == 0.0


@pytest.mark.parametrize("dtype", DTYPES)
def test_every_grid_has_a_reference_for_every_listed_op(dtype):
    """Each edge claim's grid builds, for every op its spec lists, and its reference runs."""
    claims = all_claims()
    for op in claims["SR-1"].params["ops"]:
        for edge in extreme_grid(op, dtype):
            value, grads = reference.exact(edge)
            assert value.shape == edge.case.cotangent.shape and len(grads) == len(edge.case.inputs)
    for op in claims["NF-1"].params["ops"]:
        for edge in nonfinite_grid(op, dtype):
            assert any(np.any(~np.isfinite(x)) for x in edge.case.inputs)
            reference.ieee(edge)
    for op in claims["KP-1"].params["ops"]:
        for edge in kink_grid(op, dtype):
            intervals, _ = reference.subgradients(edge, {})
            assert all(np.all(lo <= hi) for lo, hi in intervals)


@pytest.mark.parametrize("dtype", DTYPES)
def test_prods_grid_holds_each_special_row_alone_and_all_rows_together(dtype):
    """No row's zero can pick the formula for a row that overflows or underflows: each
    row of the tensor holding them all is also a tensor of its own."""
    cases = [e for e in extreme_grid("prod", dtype) if e.axis == 1]
    together = max(cases, key=lambda e: e.case.inputs[0].shape[0]).case.inputs[0]
    alone = [e.case.inputs[0].tolist() for e in cases if e.case.inputs[0].shape[0] == 1]
    assert together.shape[0] > 1 and sorted([row] for row in together.tolist()) == sorted(alone)


@pytest.mark.parametrize("dtype", DTYPES)
def test_prods_grid_has_products_that_overflow_and_underflow_where_gradients_do_not(dtype):
    """One row's product is inf and another's 0, each with true gradients that are finite
    and far above the tolerance's atol."""
    atol = policy(dtype).atol
    seen = set()
    for edge in extreme_grid("prod", dtype):
        if edge.axis == 1 and edge.case.inputs[0].shape[0] == 1:
            value, (grad,) = reference.exact(edge)
            big = np.all(np.isfinite(grad)) and np.max(np.abs(grad)) > 1e3 * atol
            seen |= {"overflow"} if np.isinf(value).all() and big else set()
            seen |= {"underflow"} if (value == 0).all() and big else set()
    assert seen == {"overflow", "underflow"}


@pytest.mark.parametrize("dtype", DTYPES)
def test_prod_cases_keep_clear_of_products_that_depend_on_the_order_of_multiplying(dtype):
    """Huge factors overflowing before tiny ones bring them back, tiny ones underflowing
    before huge ones, or inf meeting a zero (NaN), depend on an engine's order: such
    inputs are out, the grid's are in."""
    f, s = prod_factors(dtype)
    for x in ([f, f, f, f, 1 / f, 1 / f], [s, s, f, f, 1.5, 2.0], [0.0, f, f, f, f, 1.0]):
        assert not order_free(np.asarray(x), None, dtype), x
    for edge in extreme_grid("prod", dtype):
        assert order_free(edge.case.inputs[0], edge.axis, dtype)
