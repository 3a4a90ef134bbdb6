"""Property versions of the derivative claims, through ``backend.vjp``.

Every expected value comes from closed-form theory (GR-2) or the numpy oracle
(:mod:`conformance.oracles.first_order`), never from the engine under test.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.engine.ops import available
from conformance.generation.strategies import cases, gr2_inputs, programs
from conformance.oracles.expr import Case, as_fn, check_arrays, describe, repro, run_program
from conformance.oracles.first_order import Tracer, unbroadcast
from conformance.oracles.verdicts import (
    CheckFailure,
    expect_error_without_output_gradient,
    require,
    snippet,
)
from conformance.oracles.vjp_checks import check_vjp, reaches_output, run_vjp
from conformance.specs import claim
from conformance.suite.size_checks import check_each_eagerly
from conformance.suite.vacuity import exercised


@pytest.mark.claim("GR-2")
@settings(deadline=None)
@given(data=st.data())
def test_difference_of_squares_has_gradients_2m_and_minus_2n(
    backend: Any, dtype: str, data: st.DataObject
) -> None:
    """For broadcastable m and n the gradients of sum((m+n)(m-n)) are 2m and -2n."""
    spec = claim("GR-2")
    require(backend, *spec.requires)
    m, n = data.draw(
        gr2_inputs(dtype, spec.params["max_rank"], spec.params["max_side"]), label="m, n"
    )
    # m - n written as the seed writes it, m + (-n), or with sub
    with_neg = data.draw(st.booleans(), label="m - n as m + (-n)")
    # an all-zero m and n would compare zeros with zeros
    exercised("a non-zero m or n", bool(np.any(m) or np.any(n)))
    bk = backend

    def fn(m: Any, n: Any) -> Any:
        diff = bk.add(m, bk.neg(n)) if with_neg else bk.sub(m, n)
        return bk.sum(bk.mul(bk.add(m, n), diff))

    _, grads = backend.vjp(fn, [m, n], dtype, None)
    shape = np.broadcast_shapes(m.shape, n.shape)
    bm, bn = np.broadcast_to(m, shape), np.broadcast_to(n, shape)
    # closed form: each broadcast copy contributes (m - n) + (m + n) = 2m (resp. -2n);
    # the engine adds those two terms, so their magnitudes are the scale
    terms = np.abs(bm + bn) + np.abs(bm - bn)
    diff = "bk.add(m, bk.neg(n))" if with_neg else "bk.sub(m, n)"
    text = snippet(
        backend,
        f"m = np.array({m.tolist()!r}); n = np.array({n.tolist()!r})",
        f"f = lambda m, n: bk.sum(bk.mul(bk.add(m, n), {diff}))",
        f"print(bk.vjp(f, [m, n], {dtype!r}, None))",
    )
    rows = [
        ("m", grads[0], unbroadcast(2 * bm, m.shape), unbroadcast(terms, m.shape)),
        ("n", grads[1], unbroadcast(-2 * bn, n.shape), unbroadcast(terms, n.shape)),
    ]
    check_arrays(
        "gradient",
        rows,
        dtype,
        f"y = sum((m + n) * (m - n)), m{m.shape}, n{n.shape}, {dtype}",
        text,
    )


@pytest.mark.claim("CR-1")
@settings(deadline=None)
@given(data=st.data())
def test_random_dags_have_the_analytic_gradient(
    backend: Any, dtype: str, data: st.DataObject
) -> None:
    """Every tracked input of a random expression graph gets the chain rule's gradient."""
    spec = claim("CR-1")
    require(backend, *spec.requires)
    case = data.draw(
        cases(dtype, ops=available(backend), max_ops=spec.params["max_ops"]), label="case"
    )
    exercised("an output computed from an input", reaches_output(case))
    value, grads = run_vjp(backend, case)
    check_vjp(backend, case, value, grads)


def draw_non_scalar(data: st.DataObject, backend: Any, dtype: str) -> Case:
    case = data.draw(cases(dtype, ops=available(backend), scalar=False), label="case")
    size = int(np.prod(case.expr.nodes[case.expr.output].shape))
    exercised("a non-scalar output", size >= 2)
    return case


@pytest.mark.claim("NS-1")
@settings(deadline=None)
@given(data=st.data())
def test_non_scalar_outputs_give_the_vector_jacobian_product(
    backend: Any, dtype: str, data: st.DataObject
) -> None:
    """With an output gradient v, a non-scalar output's backward gives v . dy/dx."""
    require(backend, *claim("NS-1").requires)
    case = draw_non_scalar(data, backend, dtype)
    value, grads = run_vjp(backend, case)
    check_vjp(backend, case, value, grads, stage="VJP")


@pytest.mark.claim("NS-1")
@settings(deadline=None)
@given(data=st.data())
def test_non_scalar_outputs_without_an_output_gradient_are_an_error(
    backend: Any, dtype: str, data: st.DataObject
) -> None:
    """Without v, a non-scalar output's backward raises, not Unsupported; with v it runs."""
    require(backend, *claim("NS-1").requires)
    case = draw_non_scalar(data, backend, dtype)
    assert case.cotangent is not None  # cases(scalar=False) always draws one
    expect_error_without_output_gradient(
        backend,
        as_fn(case.expr, backend, dtype),
        list(case.inputs),
        dtype,
        case.cotangent,
        detail=describe(case),
        repro=repro(Case(case.expr, case.inputs, dtype), backend),  # the call without v
    )


@pytest.mark.claim("DG-1")
@settings(deadline=None)
@given(data=st.data())
def test_gradients_follow_the_path_a_program_took(
    backend: Any, dtype: str, data: st.DataObject
) -> None:
    """Branching and looping on computed values: the gradient is that of the path taken."""
    require(backend, *claim("DG-1").requires)
    prog, xs = data.draw(programs(dtype, ops=available(backend)), label="program, inputs")
    tr = Tracer()  # the oracle runs the same program and records the path it takes
    out, path = run_program(
        prog, tr, [tr.input(x) for x in xs], tr.const, lambda k: float(tr.values[k])
    )
    case = Case(tr.expr(out), xs, dtype)
    exercised("a path computed from the inputs", reaches_output(case))
    taken: list[tuple[bool, int]] = []

    def fn(*ts: Any) -> Any:
        y, p = run_program(
            prog,
            backend,
            ts,
            lambda c: backend.tensor(c, dtype),
            lambda t: float(np.asarray(backend.to_numpy(t)).reshape(())),
        )
        taken.append(p)
        return y

    value, grads = backend.vjp(fn, list(xs), dtype, None)
    context = f"\nprogram: {prog!r}\npath: then-branch {path[0]}, {path[1]} loop iterations"
    if not taken or taken[-1] != path:
        raise CheckFailure(
            "forward value (path taken)",
            taken[-1] if taken else None,
            path,
            detail="(then-branch taken?, loop iterations)" + context,
        )
    check_vjp(backend, case, value, grads, context=context)


@pytest.mark.claim("CR-1")
def test_arrays_of_realistic_size_have_the_analytic_gradient(backend: Any, dtype: str) -> None:
    """Long reductions, softmax and logsumexp rows, a matmul with a long inner side and a
    long elementwise chain (10^5 to 10^6 elements, past the sizes where kernels switch
    code paths) have the chain rule's value and gradient."""
    require(backend, *claim("CR-1").requires)
    check_each_eagerly(backend, dtype)
