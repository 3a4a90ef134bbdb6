"""Property versions of the leaf and stored-gradient claims, on random expression graphs.

The engine's own tensors are built node by node (:func:`conformance.oracles.expr.evaluate`), so
every intermediate can be asked ``is_leaf`` and ``grad``; the expected gradients are
the numpy oracle's adjoints of the same nodes.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from conformance.engine import BACKWARD, DETACH, INPLACE_UPDATE, RETAIN_GRAPH
from conformance.engine.ops import available, cover
from conformance.generation.strategies import cases
from conformance.oracles.expr import Case, check_arrays, describe, evaluate, repro, repro_update
from conformance.oracles.first_order import Reference, analytic, requires_grad
from conformance.oracles.verdicts import CheckFailure, require, will_reproduce
from conformance.oracles.vjp_checks import reaches_output
from conformance.specs import claim
from conformance.suite.vacuity import exercised


def build(backend: Any, case: Case) -> list[Any]:
    """The engine's tensor for every node of ``case`` (inputs tracked per ``case.tracked``)."""
    tracked = case.tracked or (True,) * len(case.inputs)
    cover(case.expr.ops())
    will_reproduce(repro(case, backend, imperative=True))
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
            dtype,
            ops=available(backend),
            untracked=untracked,
            detach=untracked and DETACH in caps,
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
                repro=repro(case, backend, imperative=True),
            )


def check_stored_grads(
    backend: Any,
    case: Case,
    tensors: Sequence[Any],
    ref: Reference,
    retained: Sequence[int] = (),
    passes: int = 1,
) -> None:
    """After ``passes`` backward passes, tracked leaves and ``retained`` nodes hold
    ``passes`` times the oracle's adjoint (None or zeros where none reaches them)."""
    rows = []
    for k in holders(case, retained):
        adj, scale = ref.adjoints[k], ref.scales[k]
        actual = read_grad(backend, tensors[k])
        if adj is None or scale is None:  # nothing flows back to it: no gradient, or zeros
            adj = scale = np.zeros_like(ref.values[k])
            actual = adj if actual is None else actual
        rows.append((node_name(case, k), actual, passes * adj, passes * scale))
    check_arrays(
        "gradient",
        rows,
        case.dtype,
        lambda: describe(case),
        repro(case, backend, retained, passes, imperative=True),
    )


def check_no_other_grads(backend: Any, case: Case, tensors: Sequence[Any]) -> None:
    """NL-1's own statement: after backward, every tensor but the tracked leaves holds
    no gradient."""
    keep = holders(case)
    for k, t in enumerate(tensors):
        actual = read_grad(backend, t)
        if k not in keep and actual is not None:
            raise CheckFailure(
                f"gradient stored on {node_name(case, k)}",
                actual,
                None,
                detail="only tracked leaves and tensors that asked to "
                "retain their gradient keep one\n" + describe(case),
                repro=repro(case, backend, imperative=True),
            )


def holders(case: Case, retained: Sequence[int] = ()) -> list[int]:
    """The nodes that keep a gradient: tracked inputs and the ``retained`` ones."""
    tracked = case.tracked or (True,) * len(case.inputs)
    return [
        k
        for k, node in enumerate(case.expr.nodes)
        if (node.op == "input" and tracked[node.index]) or k in retained
    ]


def reaches_a_leaf(case: Case, ref: Reference) -> bool:
    """Does a gradient flow from the output back to some tracked leaf?"""
    return any(ref.adjoints[k] is not None for k in holders(case))


def has_untracked(case: Case) -> bool:
    """Does ``case`` have an untracked input or a computed tensor no tracked one reaches?"""
    needs = requires_grad(case.expr, case.tracked or (True,) * len(case.inputs))
    return any(n.op != "const" and not needs[k] for k, n in enumerate(case.expr.nodes))


def has_non_leaf(case: Case) -> bool:
    """Does ``case`` compute a tensor from a tracked one (a non-leaf)?"""
    needs = requires_grad(case.expr, case.tracked or (True,) * len(case.inputs))
    return any(n.op not in ("input", "const") and needs[k] for k, n in enumerate(case.expr.nodes))


def check_leafness(
    backend: Any, dtype: str, data: st.DataObject, claim_id: str, *, after_backward: bool
) -> None:
    """LF-1 (every input tracked) or LF-2 (some untracked, detach): the leaves are the
    user-made tensors and what no tracked tensor reaches, before or after backward."""
    require(backend, *claim(claim_id).requires)
    untracked = claim_id == "LF-2"
    case = draw_case(data, backend, dtype, untracked=untracked)
    if untracked:
        exercised("an untracked tensor", has_untracked(case))
    else:
        exercised("a non-leaf", has_non_leaf(case))
    tensors = build(backend, case)
    if after_backward:
        backend.backward(tensors[case.expr.output])
    check_leaves(backend, case, tensors, "after backward" if after_backward else "before backward")


@pytest.mark.claim("LF-1")
@settings(deadline=None)
@given(data=st.data())
def test_before_backward_user_created_tensors_are_exactly_the_leaves(
    backend: Any, dtype: str, data: st.DataObject
) -> None:
    """With every input tracked, the inputs are leaves and every computed tensor is not."""
    check_leafness(backend, dtype, data, "LF-1", after_backward=False)


@pytest.mark.claim("LF-1")
@settings(deadline=None)
@given(data=st.data())
def test_after_backward_user_created_tensors_are_still_exactly_the_leaves(
    backend: Any, dtype: str, data: st.DataObject
) -> None:
    """A backward pass changes no leaf flag: the inputs alone stay leaves."""
    check_leafness(backend, dtype, data, "LF-1", after_backward=True)


@pytest.mark.claim("LF-2")
@settings(deadline=None)
@given(data=st.data())
def test_before_backward_leafness_follows_whether_a_tracked_tensor_computed_it(
    backend: Any, dtype: str, data: st.DataObject
) -> None:
    """User-made tensors, tracked or not, are leaves; computed ones are leaves only when no
    tracked tensor reaches them."""
    check_leafness(backend, dtype, data, "LF-2", after_backward=False)


@pytest.mark.claim("LF-2")
@settings(deadline=None)
@given(data=st.data())
def test_after_backward_leafness_still_follows_whether_a_tracked_tensor_computed_it(
    backend: Any, dtype: str, data: st.DataObject
) -> None:
    """A backward pass changes no leaf flag, with untracked inputs and detach too."""
    check_leafness(backend, dtype, data, "LF-2", after_backward=True)


@pytest.mark.claim("NL-1")
@settings(deadline=None)
@given(data=st.data())
def test_after_backward_tracked_leaves_hold_the_chain_rules_gradient(
    backend: Any, dtype: str, data: st.DataObject
) -> None:
    """After backward, each tracked leaf holds the chain rule's gradient (detach cuts it)."""
    require(backend, *claim("NL-1").requires)
    case = draw_case(data, backend, dtype, untracked=True)
    ref = analytic(case.expr, case.inputs)
    exercised("a leaf the output reaches", reaches_a_leaf(case, ref))
    tensors = build(backend, case)
    backend.backward(tensors[case.expr.output])
    check_stored_grads(backend, case, tensors, ref)


@pytest.mark.claim("NL-1")
@settings(deadline=None)
@given(data=st.data())
def test_after_backward_computed_and_untracked_tensors_hold_no_gradient(
    backend: Any, dtype: str, data: st.DataObject
) -> None:
    """After backward, no tensor but the tracked leaves holds a gradient."""
    require(backend, *claim("NL-1").requires)
    case = draw_case(data, backend, dtype, untracked=True)
    exercised("a non-leaf", has_non_leaf(case))
    tensors = build(backend, case)
    backend.backward(tensors[case.expr.output])
    check_no_other_grads(backend, case, tensors)


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
    assume(candidates)  # nearly always: the output itself is computed from a tracked input
    retained = data.draw(
        st.lists(st.sampled_from(candidates), min_size=1, unique=True), label="retained nodes"
    )
    exercised("a retained non-leaf", bool(retained))
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
    exercised("a leaf the output reaches", reaches_a_leaf(case, ref))
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
        "gradient after zero_grad",
        rows,
        dtype,
        lambda: describe(case),
        repro(case, backend, passes=passes, imperative=True),
    )


@pytest.mark.claim("DG-1")
@settings(deadline=None)
@given(data=st.data())
def test_a_value_computed_before_its_inputs_change_keeps_its_value(
    backend: Any, dtype: str, data: st.DataObject
) -> None:
    """Operations run when written: a value computed before an in-place update of its
    inputs reads, after the update, the value it was computed with (the seed's loop:
    forward, backward, update, then read the loss)."""
    require(backend, BACKWARD, INPLACE_UPDATE)
    case = draw_case(data, backend, dtype, untracked=False)
    tensors = build(backend, case)
    backend.backward(tensors[case.expr.output])
    # each input shrinks by a quarter: a value computed from the new inputs differs
    deltas = [np.asarray(0.25 * x, dtype=dtype) for x in case.inputs]
    for i, delta in enumerate(deltas):
        backend.update_(tensors[case.expr.input_node(i)], delta)
    ref = analytic(case.expr, case.inputs)
    exercised("an output computed by an op", reaches_output(case))
    check_arrays(
        "value read after the in-place update of its inputs",
        [("y", backend.to_numpy(tensors[case.expr.output]), ref.value, ref.value_scale)],
        dtype,
        lambda: (
            describe(case)
            + "\na different value is a stale read: the engine computed the value when it was"
            " read, from the updated inputs, not when it was written"
        ),
        repro_update(case, backend, deltas),
    )
