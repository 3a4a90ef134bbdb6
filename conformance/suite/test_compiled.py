"""Compiled execution (CE-1), through ``backend.compiled_vjp``: the same random DAGs as
CR-1, judged by the same numpy oracle, never by the engine's eager answers."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.expr import Case, as_fn, repro
from conformance.ops import available
from conformance.oracles import Tracer
from conformance.specs import claim
from conformance.strategies import cases, rounded
from conformance.vacuity import exercised
from conformance.verdicts import require, unsupported, will_reproduce
from conformance.vjp_checks import check_vjp, reaches_output


@pytest.mark.claim("CE-1")
@settings(deadline=None)
@given(data=st.data())
def test_compiled_functions_have_the_analytic_value_and_gradient(
    backend: Any, dtype: str, data: st.DataObject
) -> None:
    """A random expression graph run through the engine's compiler has the chain rule's
    value and gradients, as its eager run does."""
    spec = claim("CE-1")
    require(backend, *spec.requires)
    case = data.draw(
        cases(dtype, ops=available(backend), max_ops=spec.params["max_ops"]), label="case"
    )
    exercised("an output computed from an input", reaches_output(case))
    text = repro(case, backend).replace("bk.vjp(fn,", "bk.compiled_vjp(fn,")
    will_reproduce(text)
    value, grads = backend.compiled_vjp(
        as_fn(case.expr, backend, dtype), list(case.inputs), dtype, case.cotangent
    )
    check_vjp(backend, case, value, grads, "compiled gradient", "\n(compiled)", text)


# the ops of the every-op graph, and what each is applied to: x and y are (2, 3) and
# positive, away from every kink, tie and pole (as OP-1's inputs)
_AXIS_OPS = ("sum", "mean", "softmax", "logsumexp", "log_softmax", "max", "min", "prod")
_BINARY = ("add", "sub", "mul", "div", "maximum", "minimum")
_UNARY = ("neg", "exp", "log", "sin", "cos", "tanh", "sqrt", "sigmoid", "relu", "abs")


def every_op_case(ops: frozenset[str], dtype: str) -> Case:
    """One scalar expression applying each of ``ops`` (that it knows) to two inputs, each
    term summed, the terms added: one compilation judges every op at once."""
    tr = Tracer()
    x = tr.input(rounded(np.linspace(0.4, 1.6, 6).reshape(2, 3), dtype))
    y = tr.input(rounded(np.linspace(1.55, 0.45, 6).reshape(2, 3) + 0.03, dtype))
    terms = [tr.apply(op, (x, y)) for op in _BINARY if op in ops]
    terms += [tr.apply(op, (x,)) for op in _UNARY if op in ops]
    terms += [tr.apply(op, (x,), axis=1) for op in _AXIS_OPS if op in ops]
    if "pow" in ops:
        terms.append(tr.apply("pow", (x,), exponent=3))
    if "matmul" in ops:
        terms.append(tr.apply("matmul", (x, tr.const(rounded(np.ones((3, 2)), dtype)))))
    if "sum" not in ops or "add" not in ops or not terms:
        unsupported("the every-op graph needs sum and add")
    total = tr.apply("sum", (terms[0],))
    for t in terms[1:]:
        total = tr.apply("add", (total, tr.apply("sum", (t,))))
    return Case(tr.expr(total), tuple(tr.values[k] for k in (x, y)), dtype)


@pytest.mark.claim("CE-1")
def test_one_graph_of_every_op_compiles_to_the_analytic_value_and_gradient(
    backend: Any, dtype: str
) -> None:
    """One expression using every op the engine has, compiled, has the chain rule's value
    and gradients: each op's compiled rule is judged, whatever the random draws reach."""
    require(backend, *claim("CE-1").requires)
    case = every_op_case(available(backend), dtype)
    text = repro(case, backend).replace("bk.vjp(fn,", "bk.compiled_vjp(fn,")
    will_reproduce(text)
    value, grads = backend.compiled_vjp(as_fn(case.expr, backend, dtype), list(case.inputs), dtype)
    check_vjp(backend, case, value, grads, "compiled gradient", "\n(compiled)", text)
