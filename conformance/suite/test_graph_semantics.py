"""Property versions of the leaf and stored-gradient claims, on random expression graphs.

The engine's own tensors are built node by node (:func:`conformance.expr.evaluate`), so
every intermediate can be asked ``is_leaf`` and ``grad``; the expected gradients are
the numpy oracle's adjoints of the same nodes.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.backend import DETACH, NN_OPS, RETAIN_GRAPH
from conformance.expr import Case, check_arrays, describe, evaluate, repro
from conformance.oracles import Reference, analytic, requires_grad
from conformance.specs import claim
from conformance.strategies import cases
from conformance.verdicts import CheckFailure, require


def build(backend: Any, case: Case) -> list[Any]:
    """The engine's tensor for every node of ``case`` (inputs tracked per ``case.tracked``)."""
    tracked = case.tracked or (True,) * len(case.inputs)
    xs = [
        backend.tensor(x, case.dtype, requires_grad=t)
        for x, t in zip(case.inputs, tracked, strict=True)
    ]
    return evaluate(case.expr, backend, xs, lambda v: backend.tensor(v, case.dtype))


def read_grad(backend: Any, t: Any) -> np.ndarray | None:
    with warnings.catch_warnings():  # torch warns when a non-leaf's grad is read: expected
        warnings.simplefilter("ignore")
        return backend.grad(t)


def draw_case(data: st.DataObject, backend: Any, dtype: str, *, untracked: bool) -> Case:
    caps = backend.capabilities
    return data.draw(
        cases(
            dtype, nn_ops=NN_OPS in caps, untracked=untracked, detach=untracked and DETACH in caps
        ),
        label="case",
    )


def node_name(case: Case, k: int) -> str:
    node = case.expr.nodes[k]
    return f"x{node.index}" if node.op == "input" else f"t{k} ({node.op})"


def check_leaves(backend: Any, case: Case, tensors: Sequence[Any], when: str) -> None:
    """User-made tensors (inputs, constants) are leaves; a computed tensor is a leaf
    exactly when no tracked tensor reaches it (detach cuts)."""
    needs = requires_grad(case.expr, case.tracked or (True,) * len(case.inputs))
    for k, (node, t) in enumerate(zip(case.expr.nodes, tensors, strict=True)):
        expected = node.op in ("input", "const") or not needs[k]
        actual = backend.is_leaf(t)
        if actual != expected:
            raise CheckFailure(
                f"is_leaf of {node_name(case, k)} {when}",
                actual,
                expected,
                detail=describe(case),
                repro=repro(case, backend),
            )


def check_stored_grads(
    backend: Any,
    case: Case,
    tensors: Sequence[Any],
    ref: Reference,
    retained: Sequence[int] = (),
    passes: int = 1,
    others_hold_none: bool = False,
) -> None:
    """After ``passes`` backward passes: tracked leaves and ``retained`` nodes hold
    ``passes`` times the oracle's adjoint (None or zeros where none reaches them); with
    ``others_hold_none`` (NL-1's own statement), every other tensor holds no gradient."""
    tracked = case.tracked or (True,) * len(case.inputs)
    text = repro(case, backend, retained)
    rows = []
    for k, (node, t) in enumerate(zip(case.expr.nodes, tensors, strict=True)):
        keeps = (node.op == "input" and tracked[node.index]) or k in retained
        actual = read_grad(backend, t)
        if not keeps:
            if others_hold_none and actual is not None:
                raise CheckFailure(
                    f"gradient stored on {node_name(case, k)}",
                    actual,
                    None,
                    detail="only tracked leaves and tensors that asked to "
                    "retain their gradient keep one\n" + describe(case),
                    repro=text,
                )
            continue
        adj, scale = ref.adjoints[k], ref.scales[k]
        if adj is None or scale is None:  # nothing flows back to it: no gradient, or zeros
            adj = scale = np.zeros_like(ref.values[k])
            actual = adj if actual is None else actual
        rows.append((node_name(case, k), actual, passes * adj, passes * scale))
    check_arrays("gradient", rows, case.dtype, lambda: describe(case), text)


@pytest.mark.claim("LF-1")
@settings(deadline=None)
@given(data=st.data())
def test_user_created_tensors_are_exactly_the_leaves(
    backend: Any, dtype: str, data: st.DataObject
) -> None:
    """With every input tracked, the inputs are leaves and every computed tensor is not."""
    require(backend, *claim("LF-1").requires)
    case = draw_case(data, backend, dtype, untracked=False)
    tensors = build(backend, case)
    check_leaves(backend, case, tensors, "before backward")
    backend.backward(tensors[case.expr.output])
    check_leaves(backend, case, tensors, "after backward")


@pytest.mark.claim("LF-2")
@settings(deadline=None)
@given(data=st.data())
def test_leafness_follows_whether_a_tracked_tensor_computed_it(
    backend: Any, dtype: str, data: st.DataObject
) -> None:
    """User-made tensors, tracked or not, are leaves; computed ones are leaves only when no
    tracked tensor reaches them."""
    require(backend, *claim("LF-2").requires)
    case = draw_case(data, backend, dtype, untracked=True)
    tensors = build(backend, case)
    check_leaves(backend, case, tensors, "before backward")
    backend.backward(tensors[case.expr.output])
    check_leaves(backend, case, tensors, "after backward")


@pytest.mark.claim("NL-1")
@settings(deadline=None)
@given(data=st.data())
def test_after_backward_only_tracked_leaves_hold_gradients(
    backend: Any, dtype: str, data: st.DataObject
) -> None:
    """After backward, tracked leaves hold the chain rule's gradient (detach cuts it);
    computed tensors and untracked ones hold none."""
    require(backend, *claim("NL-1").requires)
    case = draw_case(data, backend, dtype, untracked=True)
    tensors = build(backend, case)
    backend.backward(tensors[case.expr.output])
    ref = analytic(case.expr, case.inputs)
    check_stored_grads(backend, case, tensors, ref, others_hold_none=True)


@pytest.mark.claim("NL-2")
@settings(deadline=None)
@given(data=st.data())
def test_retained_non_leaves_hold_their_gradient(
    backend: Any, dtype: str, data: st.DataObject
) -> None:
    """Computed tensors that asked to retain their gradient hold the oracle's adjoint."""
    require(backend, *claim("NL-2").requires)
    case = draw_case(data, backend, dtype, untracked=True)
    needs = requires_grad(case.expr, case.tracked or ())
    candidates = [
        k for k, n in enumerate(case.expr.nodes) if needs[k] and n.op not in ("input", "const")
    ]
    retained = data.draw(
        st.lists(st.sampled_from(candidates), unique=True) if candidates else st.just([]),
        label="retained nodes",
    )
    tensors = build(backend, case)
    for k in retained:
        backend.retain_grad(tensors[k])
    backend.backward(tensors[case.expr.output])
    check_stored_grads(backend, case, tensors, analytic(case.expr, case.inputs), retained)


@pytest.mark.claim("LR-2")
@settings(deadline=None)
@given(data=st.data())
def test_gradients_accumulate_over_passes_and_zeroing_clears_them(
    backend: Any, dtype: str, data: st.DataObject
) -> None:
    """k passes over a retained graph leave k times the gradient; zeroing leaves 0."""
    # several passes over one graph, so this check also needs retain_graph
    require(backend, *claim("LR-2").requires, RETAIN_GRAPH)
    case = draw_case(data, backend, dtype, untracked=False)
    passes = data.draw(st.integers(2, 4), label="passes")
    tensors = build(backend, case)
    for _ in range(passes):
        backend.backward(tensors[case.expr.output], None, retain_graph=True)
    ref = analytic(case.expr, case.inputs)
    check_stored_grads(backend, case, tensors, ref, passes=passes)
    # the leaves that hold a gradient (those the output reaches) are zeroed
    leaves = [
        k
        for k, n in enumerate(case.expr.nodes)
        if n.op == "input" and read_grad(backend, tensors[k]) is not None
    ]
    for k in leaves:
        backend.zero_grad(tensors[k])
    rows = []
    for k in leaves:
        got = read_grad(backend, tensors[k])  # cleared (None) or zeros: both read as 0
        zero = np.zeros_like(ref.values[k])
        rows.append((node_name(case, k), zero if got is None else got, zero, zero))
    check_arrays(
        "gradient after zero_grad", rows, dtype, lambda: describe(case), repro(case, backend)
    )
