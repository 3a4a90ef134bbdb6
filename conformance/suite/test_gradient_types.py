"""GT-1: gradients are tensors like their leaves, read from the engine's own objects
(``backend.native_vjp``, described by ``backend.describe`` before any conversion)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.engine import xfails
from conformance.engine.ops import available, cover
from conformance.generation.op_cases import op_cases
from conformance.generation.strategies import cases
from conformance.oracles.expr import Case, as_fn, repro
from conformance.oracles.first_order import Tracer, analytic, inputs_reaching_output
from conformance.oracles.verdicts import (
    CheckFailure,
    fail_if_any,
    require,
    snippet,
    unsupported,
    will_reproduce,
)
from conformance.specs import claim
from conformance.suite.vacuity import exercised

# the worked example's leaves in each shape class the spec names
_SHAPES = {"0-d": (), "(1,)": (1,), "matrix": (2, 3)}


def check_types(backend: Any, case: Case) -> None:
    """The value and every gradient of ``case`` the output depends on, as the engine
    returns them, are its tensors of the expected shape and of the case's dtype."""
    text = repro(case, backend).replace("bk.vjp(fn,", "bk.native_vjp(fn,")
    text = text.replace(
        "print(value, grads)", "print(bk.describe(value), [bk.describe(g) for g in grads])"
    )
    cover(case.expr.ops())
    will_reproduce(text)
    value, grads = backend.native_vjp(
        as_fn(case.expr, backend, case.dtype), list(case.inputs), case.dtype, case.cotangent
    )
    expected_value_shape = np.shape(analytic(case.expr, case.inputs, case.cotangent).value)
    rows = [("value", value, expected_value_shape)]
    rows += [
        (f"gradient of x{i}", grads[i] if i < len(grads) else None, np.shape(case.inputs[i]))
        for i in sorted(inputs_reaching_output(case.expr))
    ]
    wrong = []
    for name, obj, shape in rows:
        got = tuple(backend.describe(obj))
        want = ("tensor", tuple(shape), case.dtype)
        if got != want:
            wrong.append(f"  {name}: (kind, shape, dtype) = {got}, expected {want}")
    if wrong:
        raise CheckFailure(
            "gradient types",
            wrong[0].split(" = ")[1].split(", expected")[0],
            "('tensor', the leaf's shape, the dtype)",
            detail="\n".join(wrong),
            repro=text,
        )


def _worked_case(shape: tuple[int, ...], dtype: str) -> Case:
    """The worked example y = (m + n) * (m - n), summed, with m and n of ``shape``."""
    spec = claim("GR-1").params
    tr = Tracer()
    m = tr.input(np.full(shape, float(spec["m"])))
    n = tr.input(np.full(shape, float(spec["n"])))
    y = tr.apply("mul", (tr.apply("add", (m, n)), tr.apply("sub", (m, n))))
    out = tr.apply("sum", (y,)) if shape != () else y
    return Case(tr.expr(out), (tr.values[m], tr.values[n]), dtype)


@pytest.mark.claim("GT-1")
def test_the_worked_examples_gradients_have_their_leaves_type_shape_and_dtype(
    backend: Any, dtype: str
) -> None:
    """With m and n 0-d, of shape (1,) and a matrix, y's value and both gradients are
    the engine's tensors of the leaves' shapes, in the leaves' dtype."""
    spec = claim("GT-1")
    require(backend, *spec.requires)
    ops = available(backend)
    if not {"add", "sub", "mul", "sum"} <= ops:
        unsupported("the worked example needs add, sub, mul and sum")
    failures: dict[str, str] = {}
    for shape_class in spec.params["shape_classes"]:
        try:
            check_types(backend, _worked_case(_SHAPES[shape_class], dtype))
        except CheckFailure as exc:
            failures[shape_class] = str(exc)
    fail_if_any(
        "gradient types of the worked example",
        failures,
        "shape class",
        repro=snippet(backend, "# see each shape class's reproduction above"),
    )


@pytest.mark.claim("GT-1")
def test_each_ops_gradients_have_their_leaves_type_shape_and_dtype(
    backend: Any, dtype: str
) -> None:
    """Each op the engine has, alone on each of OP-1's shape classes (0-d and (1,) among
    them), returns a value and gradients of the engine's type, shape and dtype; every
    failing op is named."""
    require(backend, *claim("GT-1").requires)
    classes = tuple(claim("OP-1").params["shape_classes"])
    failed: dict[str, str] = {}
    for op in sorted(available(backend)):
        for item in op_cases(op, dtype, classes):
            try:
                check_types(backend, item.case)
            except CheckFailure as exc:
                failed[op] = f"({item.shape_class}) {exc}"
                break
    fail_if_any("gradient types, op by op", failed, ops=failed)


@pytest.mark.claim("GT-1")
@settings(deadline=None)
@given(data=st.data())
def test_random_graphs_gradients_have_their_leaves_type_shape_and_dtype(
    backend: Any, dtype: str, data: st.DataObject
) -> None:
    """For any expression graph, the value and each gradient the engine returns are its
    tensors, of the leaf's shape (0-d stays 0-d) and the graph's dtype."""
    spec = claim("GT-1")
    require(backend, *spec.requires)
    # an op with a known deviation here is the op-by-op check's (its expected failure)
    ops = available(backend) - xfails.known_ops("GT-1", dtype)
    case = data.draw(cases(dtype, ops=ops, max_ops=spec.params["max_ops"]), label="case")
    # 0-d and (1,) leaves are certain in the worked example and the op-by-op check
    exercised("a leaf the output depends on", bool(inputs_reaching_output(case.expr)))
    check_types(backend, case)
