"""The jax adapter's compiled vjps (:mod:`conformance.engine.structure`): a cache hit is never a
wrong answer, only functions that carry a structure built on the adapter's own ops are
compiled, and compiled results agree with eager ones under the tolerance policy.

A wrong hit would be a false verdict, so each pair below differs in one thing the
compiled program depends on; both run through the cache in turn, often enough to be
compiled, and each answer, eager or compiled, must be its own expression's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conformance.engine.structure import Structure, attach
from conformance.generation import strategies as S
from conformance.oracles import tolerances as T
from conformance.oracles.expr import Expr, Node, as_fn, structure_key
from conformance.oracles.first_order import analytic
from conformance.regression import model as rg

pytest.importorskip("jax", reason="jax is not installed: pip install 'autograd-conformance[jax]'")
from conformance.backends.jax_backend import EAGER_RUNS, JaxBackend  # noqa: E402

ENOUGH = EAGER_RUNS + 2  # calls of one key: the last ones run compiled


@pytest.fixture
def bk(monkeypatch: pytest.MonkeyPatch) -> JaxBackend:
    monkeypatch.delenv("AUTOGRAD_CONFORMANCE_JAX_JIT", raising=False)
    return JaxBackend()


def _x(shape: tuple[int, ...], index: int = 0) -> Node:
    return Node("input", shape=shape, index=index)


def _c(value: Any) -> Node:
    v = np.asarray(value, dtype=np.float64)
    return Node("const", shape=v.shape, value=v)


def _times_const(c: Any) -> Expr:  # sum(x0 * c)
    return Expr((_x((3,)), _c(c), Node("mul", (0, 1), (3,)), Node("sum", (2,))), 3)


def _power(exponent: float) -> Expr:  # sum(x0 ** exponent)
    pw = Node("pow", (0,), (3,), exponent=exponent)
    return Expr((_x((3,)), pw, Node("sum", (1,))), 2)


def _sin_summed(shape: tuple[int, ...], axis: int | None = None) -> Expr:  # sum(sin(x0), axis)
    out = () if axis is None else shape[:axis] + shape[axis + 1 :]
    nodes = (_x(shape), Node("sin", (0,), shape), Node("sum", (1,), out, axis=axis))
    return Expr(nodes, 2)


def _difference(first: int) -> Expr:  # sum(x_first - x_other): the wiring differs
    nodes = (_x((3,), 0), _x((3,), 1), Node("sub", (first, 1 - first), (3,)))
    return Expr((*nodes, Node("sum", (2,))), 3)


def _plus_const(c: Any) -> Expr:  # sum(x0 + c) with c of its own shape, broadcast
    return Expr((_x((3,)), _c(c), Node("add", (0, 1), (3,)), Node("sum", (2,))), 3)


V = np.array([0.5, -2.0, 1.0])  # the output gradient for the (3,)-valued pair
PAIRS: dict[str, tuple[Expr, Expr]] = {
    "a constant's value": (_times_const(2.0), _times_const(-3.5)),
    "an exponent": (_power(2), _power(3)),
    "an int or float exponent": (_power(3), _power(3.0)),
    "an axis": (_sin_summed((3, 3), 0), _sin_summed((3, 3), 1)),
    "an input shape": (_sin_summed((2, 3)), _sin_summed((3, 2))),
    "a constant's shape": (_plus_const(1.5), _plus_const([1.0, 2.0, 3.0])),
    "which input goes where": (_difference(0), _difference(1)),
}


def _inputs(expr: Expr) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.uniform(0.5, 2.0, n.shape) for n in expr.nodes if n.op == "input"]


def _run_and_check(bk: JaxBackend, expr: Expr) -> None:
    """vjp through the cache against the numpy oracle (float64)."""
    xs = _inputs(expr)
    v = V if expr.nodes[expr.output].shape else None
    value, grads = bk.vjp(as_fn(expr, bk, "float64"), xs, "float64", v)
    ref = analytic(expr, xs, v)
    np.testing.assert_allclose(value, ref.value, rtol=1e-12)
    for i, g in enumerate(grads):
        np.testing.assert_allclose(g, ref.grad(i), rtol=1e-12)


@pytest.mark.parametrize("differing", list(PAIRS))
def test_expressions_differing_in_one_thing_are_not_confused(
    bk: JaxBackend, differing: str
) -> None:
    """Two expressions alike but for ``differing``, run through the cache in turn, each
    get their own value and gradient (float64, against the numpy oracle)."""
    first, second = PAIRS[differing]
    for _ in range(ENOUGH):
        _run_and_check(bk, first)
        _run_and_check(bk, second)
    assert any(callable(c) for c in bk._compiled.values())  # some answers were compiled
    # only a constant's value leaves the compiled program, and so the key, unchanged
    assert (structure_key(first) == structure_key(second)) == (differing == "a constant's value")


def test_cotangent_presence_and_dtype_are_not_confused(bk: JaxBackend) -> None:
    """The same expression with and without an output gradient, in float32 and float64."""
    expr = _sin_summed((3, 3), 1)
    xs = _inputs(expr)
    v = V
    for _ in range(ENOUGH):
        for dtype in ("float64", "float32"):
            fn = as_fn(expr, bk, dtype)
            with_v = bk.vjp(fn, xs, dtype, v)
            assert with_v[0].dtype == dtype and with_v[1][0].dtype == dtype
            ref = analytic(expr, xs, v)
            np.testing.assert_allclose(with_v[1][0], ref.grad(0), rtol=1e-6)
            with pytest.raises(TypeError):  # a 2-element value without v: jax's own error
                bk.vjp(fn, xs, dtype, None)


def _counted(ops: Any, counts: dict[str, int]) -> Callable[..., Any]:
    """sum(x * 2) carrying a structure built on ``ops``, counting calls of fn and body."""

    def body(consts: Any, x: Any) -> Any:
        counts["body"] += 1
        return ops.sum(ops.mul(x, consts[0]))

    def fn(x: Any) -> Any:
        counts["fn"] += 1
        return body([ops.tensor(np.asarray(2.0), "float64")], x)

    return attach(fn, Structure("sum(x * 2)", ops, (np.asarray(2.0),), body))


def test_a_structure_is_traced_once_when_its_key_has_come_back_often(bk: JaxBackend) -> None:
    """The first EAGER_RUNS calls run fn eagerly; the next compiles body; later ones reuse
    it."""
    counts = {"fn": 0, "body": 0}
    fn = _counted(bk, counts)
    for k in range(EAGER_RUNS + 5):
        _, (g,) = bk.vjp(fn, [np.array([1.0, float(k)])], "float64")
        np.testing.assert_array_equal(g, [2.0, 2.0])
    # each of fn's own calls runs body once, and the trace once more
    assert counts == {"fn": EAGER_RUNS, "body": EAGER_RUNS + 1}


def test_functions_without_a_structure_of_this_adapter_run_eagerly(
    bk: JaxBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A structure built on other ops (a wrapping adapter's), or with the cache turned off
    by the environment, is ignored: fn runs on every call."""
    counts = {"fn": 0, "body": 0}
    fn = _counted(JaxBackend(), counts)  # equal ops, another object
    for _ in range(ENOUGH):
        bk.vjp(fn, [np.array([1.0])], "float64")
    monkeypatch.setenv("AUTOGRAD_CONFORMANCE_JAX_JIT", "0")
    off = JaxBackend()
    on_off = _counted(off, counts)
    for _ in range(ENOUGH):
        off.vjp(on_off, [np.array([1.0])], "float64")
    assert counts == {"fn": 2 * ENOUGH, "body": 2 * ENOUGH}


def test_a_function_branching_on_computed_values_stays_eager(bk: JaxBackend) -> None:
    """DG-1's kind of function (no structure) reads its values and takes a new path on
    each call; under jit it could not, and a frozen path would give the wrong gradient."""

    def branchy(x: Any) -> Any:
        s = bk.sum(x)
        return bk.sum(bk.mul(x, x)) if float(bk.to_numpy(s)) > 0 else bk.sum(bk.neg(x))

    for x, want in (([1.0, 2.0], [2.0, 4.0]), ([-1.0, -2.0], [-1.0, -1.0])) * ENOUGH:
        _, (g,) = bk.vjp(branchy, [np.array(x)], "float64")
        np.testing.assert_array_equal(g, want)


def test_the_regression_loss_compiles_once_for_all_data_of_one_size(bk: JaxBackend) -> None:
    """x and y are arguments: runs on other data reuse the compilation and still get
    their own data's loss and gradient (the closed form's, grad L = H theta - mean(y x, y))."""
    for seed in (1, 2, 3):  # compiled at seed 2's first call, reused by seed 3
        data = rg.make_data(seed)
        loss = rg.loss_function(bk, data, "float64")
        for k in range(EAGER_RUNS):
            w, b = np.array([0.3 + k]), np.array([-0.2])
            value, (gw, gb) = bk.vjp(loss, [w, b], "float64")
            r = data.y - (w[0] * data.x + b[0])
            np.testing.assert_allclose(value, np.mean(0.5 * r**2), rtol=1e-12)
            want = [-np.mean(r * data.x), -np.mean(r)]
            np.testing.assert_allclose([gw[0], gb[0]], want, rtol=1e-10)
    assert sum(callable(c) for c in bk._compiled.values()) == 1


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(data=st.data(), dtype=st.sampled_from(["float32", "float64"]), scalar=st.booleans())
def test_compiled_results_agree_with_eager_ones_within_the_tolerance_policy(
    data: st.DataObject, dtype: str, scalar: bool
) -> None:
    """XLA may fuse a compiled program's ops: its float32 answers may differ from eager
    ones in the last bits, never beyond the policy's bound on the oracle's scales."""
    case = data.draw(S.cases(dtype, ops=frozenset(S.BASE_OPS + S.NN_OPS), scalar=scalar))
    bk = JaxBackend()
    fn = as_fn(case.expr, bk, dtype)
    args = (list(case.inputs), dtype, case.cotangent)
    bk.jit = False
    eager = bk.vjp(fn, *args)
    bk.jit = True
    for _ in range(EAGER_RUNS):  # the key's eager runs
        bk.vjp(fn, *args)
    compiled = bk.vjp(fn, *args)
    assert any(callable(c) for c in bk._compiled.values())
    ref = analytic(case.expr, case.inputs, case.cotangent)
    rows = [(compiled[0], eager[0], ref.value_scale)]
    rows += [
        (c, e, ref.grad_scale(i))
        for i, (c, e) in enumerate(zip(compiled[1], eager[1], strict=True))
    ]
    for c, e, scale in rows:
        assert np.all(T.within(c, e, scale, dtype))
