"""Self-tests of the forward-mode and second-order references (conformance.oracles.second_order).

A disagreement here is a bug in the suite, not in any engine.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conformance.generation import strategies as S
from conformance.oracles import first_order as O
from conformance.oracles import second_order as O2

ALL = frozenset(S.BASE_OPS + S.NN_OPS)
MANY = settings(max_examples=600, deadline=None, suppress_health_check=list(HealthCheck))
SOME = settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))


def _directions(data: st.DataObject, inputs: Any, dtype: str) -> list[np.ndarray]:
    return [data.draw(S.values(x.shape, dtype)) for x in inputs]


def _within(got: np.ndarray, want: np.ndarray, scale: np.ndarray, rtol: float) -> bool:
    return bool(np.all(np.abs(got - want) <= rtol * scale))


@MANY
@given(data=st.data(), dtype=st.sampled_from(["float32", "float64"]), scalar=st.booleans())
def test_the_tangent_rules_and_the_complex_step_give_one_jacobian_vector_product(
    data: st.DataObject, dtype: str, scalar: bool
) -> None:
    """Forward mode by the rules equals the complex step through the forward pass."""
    case = data.draw(S.cases(dtype, ops=ALL, scalar=scalar))
    t = _directions(data, case.inputs, dtype)
    ref = O2.forward_tangents(case.expr, case.inputs, t)
    # both exact to roundoff: measured 3.4e-16 of the scale at most over 1500 cases
    assert _within(O2.complex_step_jvp(case.expr, case.inputs, t), ref.jvp, ref.jvp_scale, 1e-12)


@MANY
@given(data=st.data(), dtype=st.sampled_from(["float32", "float64"]))
def test_forward_over_reverse_and_the_complex_step_give_one_hessian_vector_product(
    data: st.DataObject, dtype: str
) -> None:
    """H v by the second-order rules equals the complex step through the reverse pass."""
    case = data.draw(S.cases(dtype, ops=ALL))
    v = _directions(data, case.inputs, dtype)
    ref = O2.hessian_vector(case.expr, case.inputs, v)
    # measured: 2.3e-16 of the scale at most over 1500 cases
    for got, want, scale in zip(
        O2.complex_step_hvp(case.expr, case.inputs, v), ref.hvps, ref.hvp_scales, strict=True
    ):
        assert _within(got, want, scale, 1e-12), case


@SOME
@given(data=st.data())
def test_the_oracles_hessian_is_symmetric(data: st.DataObject) -> None:
    """<H v, w> = <v, H w> for any v and w: the rules make a symmetric Hessian."""
    case = data.draw(S.cases("float64", ops=ALL))
    v, w = (_directions(data, case.inputs, "float64") for _ in range(2))
    hv = O2.hessian_vector(case.expr, case.inputs, v)
    hw = O2.hessian_vector(case.expr, case.inputs, w)
    left = sum(float(np.sum(h * b)) for h, b in zip(hv.hvps, w, strict=True))
    right = sum(float(np.sum(a * h)) for a, h in zip(v, hw.hvps, strict=True))
    scale = sum(float(np.sum(s * np.abs(b))) for s, b in zip(hv.hvp_scales, w, strict=True))
    scale += sum(float(np.sum(np.abs(a) * s)) for a, s in zip(v, hw.hvp_scales, strict=True))
    assert abs(left - right) <= 1e-13 * scale, case


def _second_derivatives() -> dict[str, Any]:
    """f'' written out by hand, independently of oracles_second.py's table."""

    def sigmoid(x: np.ndarray) -> np.ndarray:
        return 1 / (1 + np.exp(-x))

    return {
        "neg": np.zeros_like,
        "exp": np.exp,
        "log": lambda x: -1 / x**2,
        "sin": lambda x: -np.sin(x),
        "cos": lambda x: -np.cos(x),
        "tanh": lambda x: -2 * np.tanh(x) / np.cosh(x) ** 2,
        "sqrt": lambda x: -0.25 * x**-1.5,
        "sigmoid": lambda x: sigmoid(x) * (1 - sigmoid(x)) * (1 - 2 * sigmoid(x)),
        "relu": np.zeros_like,
    }


@pytest.mark.parametrize("op", sorted(_second_derivatives()))
@SOME
@given(x=st.lists(st.floats(0.2, 3.0) | st.floats(-3.0, -0.2), min_size=1, max_size=5))
def test_each_unary_op_has_its_textbook_second_derivative(op: str, x: list[float]) -> None:
    """H v of sum(op(x)) is op''(x) v, and J t of op(x) is op'(x) t."""
    arr = np.abs(np.array(x)) if op in ("log", "sqrt") else np.array(x)
    v = np.linspace(-1.0, 2.0, arr.size)
    tr = O.Tracer()
    y = tr.apply(op, (tr.input(arr),))
    hv = O2.hessian_vector(tr.expr(tr.sum(y)), [arr], [v])
    want = _second_derivatives()[op](arr) * v
    np.testing.assert_allclose(hv.hvps[0], want, rtol=1e-12, atol=1e-14)
    jt = O2.forward_tangents(tr.expr(y), [arr], [v]).jvp
    np.testing.assert_allclose(jt, O.analytic(tr.expr(tr.sum(y)), [arr]).grad(0) * v, rtol=1e-13)


@pytest.mark.parametrize("p", [*S.INT_EXPONENTS, *S.REAL_EXPONENTS])
def test_the_pow_rule_has_second_derivative_p_p_minus_1_x_to_the_p_minus_2(p: float) -> None:
    """d2/dx2 x**p = p (p-1) x**(p-2), negative bases included for integer p."""
    arr = np.array([0.5, 1.5, 2.5]) * (-1 if isinstance(p, int) else 1)
    tr = O.Tracer()
    out = tr.sum(tr.pow(tr.input(arr), p))
    want = p * (p - 1) * arr ** (p - 2) if p not in (0, 1) else np.zeros_like(arr)
    np.testing.assert_allclose(O2.hessian_vector(tr.expr(out), [arr], [np.ones(3)]).hvps[0], want)


def test_the_difference_of_squares_has_the_hessian_diag_2_minus_2() -> None:
    """HO-1's function: sum((m + n)(m - n)) has H (v_m, v_n) = (2 v_m, -2 v_n)."""
    m, n = np.array([2.0, -1.0]), np.array([3.0, 0.5])
    tr = O.Tracer()
    a, b = tr.input(m), tr.input(n)
    out = tr.sum(tr.mul(tr.add(a, b), tr.sub(a, b)))
    vm, vn = np.array([1.0, -2.0]), np.array([0.5, 3.0])
    ref = O2.hessian_vector(tr.expr(out), [m, n], [vm, vn])
    np.testing.assert_array_equal(ref.grads[0], 2 * m)
    np.testing.assert_array_equal(ref.hvps[0], 2 * vm)
    np.testing.assert_array_equal(ref.hvps[1], -2 * vn)


def test_detach_is_refused_by_both_routes() -> None:
    """A detached value has no second-order meaning the two routes share: both refuse it."""
    tr = O.Tracer()
    x = tr.input(np.array([1.5]))
    out = tr.sum(tr.mul(x, tr.apply("detach", (x,))))
    expr = tr.expr(out)
    for route in (O2.hessian_vector, O2.complex_step_hvp, O2.forward_tangents):
        with pytest.raises(ValueError, match="detach"):
            route(expr, [np.array([1.5])], [np.array([1.0])])
