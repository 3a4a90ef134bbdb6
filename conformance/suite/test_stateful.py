"""ST-1: a state machine interleaving every imperative operation, checked after each step.

The model is the documented (torch) semantics, kept small: each tensor is a node of one
growing expression graph (:class:`conformance.oracles.first_order.Tracer`); a backward pass adds the
numpy oracle's adjoints into the tracked leaves and the tensors that asked to retain
their gradient; nothing else ever holds one. An in-place update gives a leaf a new
input node, so later ops read the new value while older graphs keep the old one.
Operations whose outcome the documentation leaves open are not attempted: a backward
pass through a graph already released (no retain_graph) or built on a since-updated leaf.
"""

from __future__ import annotations

import sys
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from conformance.engine.ops import available, cover
from conformance.generation.strategies import domain_ok, family_shape, result_ok, rounded, values
from conformance.oracles.expr import Expr, check_arrays
from conformance.oracles.first_order import Tracer, analytic
from conformance.oracles.verdicts import CheckFailure, require, unsupported
from conformance.specs import claim
from conformance.suite.vacuity import exercised

UNARY = ("neg", "exp", "log", "sin", "cos", "tanh", "sqrt")
BINARY = ("add", "sub", "mul", "div")


@dataclass
class Model:
    """What the documented semantics says about one tensor."""

    tensor: Any
    node: int  # its node in the model graph (a leaf's changes on each update)
    leaf: bool
    tracked: bool  # requires grad
    retains: bool = False
    grad: np.ndarray | None = None
    scale: np.ndarray | None = None
    zeroed: bool = False  # zero_grad may clear (None) or fill with zeros: both read as 0


def machine(backend: Any, dtype: str) -> type[RuleBasedStateMachine]:
    # the ops the machine applies: those of the engine (see conformance.engine.ops)
    kinds = [k for k in (*BINARY, *UNARY, "sum", "mean") if k in available(backend)]
    if not kinds:
        unsupported("the engine has none of the ops the machine applies")

    class Graph(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.tr = Tracer()
            self.models: list[Model] = []
            self.released: set[int] = set()  # nodes whose graph a backward pass freed
            self.stale: set[int] = set()  # leaf versions replaced by an in-place update
            self.passes = 0  # backward passes run: without one, nothing holds a gradient

        # which tensors each operation may be applied to, per the documented semantics
        def tracked_leaves(self) -> list[int]:
            return [i for i, m in enumerate(self.models) if m.leaf and m.tracked]

        def tracked_results(self) -> list[int]:
            return [i for i, m in enumerate(self.models) if not m.leaf]

        def holders(self) -> list[int]:
            # zeroing is asked of tensors that hold a gradient, as a training loop does
            return [i for i, m in enumerate(self.models) if m.grad is not None]

        def differentiable(self) -> list[int]:
            blocked = self.released | self.stale
            return [
                i
                for i, m in enumerate(self.models)
                if m.tracked and not self._graph(m.node) & blocked
            ]

        def _pick(self, data: st.DataObject, pool: list[int], label: str) -> int:
            return data.draw(st.sampled_from(pool), label=label)

        @initialize(data=st.data())
        def create_tracked(self, data: st.DataObject) -> None:
            # every run has a tracked tensor, whichever rules swarm testing leaves out
            self.create(data, True)

        @rule(data=st.data(), tracked=st.booleans())
        def create(self, data: st.DataObject, tracked: bool) -> None:
            x = data.draw(values(data.draw(family_shape((2, 3))), dtype))
            t = backend.tensor(x, dtype, requires_grad=tracked)
            self.models.append(Model(t, self.tr.input(x), True, tracked))

        @precondition(lambda self: self.models)
        @rule(data=st.data(), kind=st.sampled_from(kinds))
        def op(self, data: st.DataObject, kind: str) -> None:
            """Apply ``kind`` to random tensors where it is well defined; else do nothing."""
            n = len(self.models)
            picks = [
                self._pick(data, list(range(n)), "operand")
                for _ in range(2 if kind in BINARY else 1)
            ]
            ms = [self.models[i] for i in picks]
            args = tuple(m.node for m in ms)
            try:
                node, v, f = self.tr.peek(kind, args)
            except ValueError:  # shapes that do not broadcast
                return
            vals = [self.tr.values[i] for i in args]
            if not (domain_ok(node, vals, [self.tr.fscales[i] for i in args]) and result_ok(v, f)):
                return
            t = getattr(backend, kind)(*(m.tensor for m in ms))
            cover([kind])
            tracked = any(m.tracked for m in ms)
            self.models.append(Model(t, self.tr.push(node, v, f), not tracked, tracked))

        @precondition(lambda self: self.tracked_results())
        @rule(data=st.data())
        def detach(self, data: st.DataObject) -> None:
            # computed tensors only: a detached leaf shares its storage, so its later
            # in-place updates would show through, which the protocol leaves open
            m = self.models[self._pick(data, self.tracked_results(), "tensor")]
            node = self.tr.apply("detach", (m.node,))
            self.models.append(Model(backend.detach(m.tensor), node, True, False))

        @precondition(lambda self: self.tracked_results())
        @rule(data=st.data())
        def retain_grad(self, data: st.DataObject) -> None:
            m = self.models[self._pick(data, self.tracked_results(), "tensor")]
            backend.retain_grad(m.tensor)
            m.retains = True

        @precondition(lambda self: self.differentiable())
        @rule(data=st.data(), keep=st.booleans())
        def backward(self, data: st.DataObject, keep: bool) -> None:
            m = self.models[self._pick(data, self.differentiable(), "tensor")]
            shape = self.tr.values[m.node].shape
            seed = (
                None
                if int(np.prod(shape)) == 1
                else data.draw(values(shape, dtype), label="output gradient")
            )
            self._backward(m, seed, keep)

        def _backward(self, m: Model, seed: np.ndarray | None, keep: bool) -> None:
            """One backward pass from m with output gradient ``seed``, engine and model."""
            backend.backward(
                m.tensor, None if seed is None else backend.tensor(seed, dtype), retain_graph=keep
            )
            self.passes += 1
            inputs = [np.zeros(0)] * sum(1 for n in self.tr.nodes if n.op == "input")
            for k, n in enumerate(self.tr.nodes):
                if n.op == "input":
                    inputs[n.index] = self.tr.values[k]
            ref = analytic(Expr(tuple(self.tr.nodes), m.node), inputs, seed)
            for h in self.models:
                adj, sc = ref.adjoints[h.node], ref.scales[h.node]
                if h.tracked and (h.leaf or h.retains) and adj is not None and sc is not None:
                    h.grad = adj if h.grad is None else h.grad + adj
                    h.scale = sc if h.scale is None else h.scale + sc
                    h.zeroed = False
            if not keep:
                graph = self._graph(m.node)
                self.released |= {k for k in graph if self.tr.nodes[k].op != "input"}

        @precondition(lambda self: self.holders())
        @rule(data=st.data())
        def zero_grad(self, data: st.DataObject) -> None:
            m = self.models[self._pick(data, self.holders(), "tensor")]
            backend.zero_grad(m.tensor)
            if m.grad is not None:
                m.grad, m.zeroed = np.zeros_like(m.grad), True

        @precondition(lambda self: self.tracked_leaves())
        @rule(data=st.data())
        def update(self, data: st.DataObject) -> None:
            m = self.models[self._pick(data, self.tracked_leaves(), "tensor")]
            delta = data.draw(
                values(self.tr.values[m.node].shape, dtype, low=0.01, high=0.1), label="delta"
            )
            # one IEEE subtraction in the dtype: correctly rounded, so the model knows it
            new = rounded(self.tr.values[m.node] - delta, dtype)
            backend.update_(m.tensor, delta)
            self.stale.add(m.node)
            m.node = self.tr.input(new)

        def _graph(self, node: int) -> set[int]:
            """The nodes a backward pass from ``node`` walks through."""
            seen, todo = set(), [node]
            while todo:
                k = todo.pop()
                if k not in seen:
                    seen.add(k)
                    if self.tr.nodes[k].op != "detach":
                        todo.extend(self.tr.nodes[k].args)
            return seen

        def teardown(self) -> None:
            # Swarm testing leaves the backward rule out of about half the runs, and a
            # run without a pass checks no stored gradient. So a run that ended normally
            # (no exception in flight, which this would hide) ends with one more pass,
            # from its newest differentiable tensor, and the checks.
            if sys.exc_info()[0] is not None:
                return
            ready = self.differentiable()
            if ready:
                m = self.models[ready[-1]]
                shape = self.tr.values[m.node].shape
                self._backward(m, None if int(np.prod(shape)) == 1 else np.ones(shape), False)
                self.matches_the_model()
            exercised("a backward pass", self.passes > 0)

        @invariant()
        def matches_the_model(self) -> None:
            for i, m in enumerate(self.models):
                name = f"tensor {i} ({self.tr.nodes[m.node].op})"
                if backend.is_leaf(m.tensor) != m.leaf:
                    raise CheckFailure(f"is_leaf of {name}", backend.is_leaf(m.tensor), m.leaf)
                value = self.tr.values[m.node]
                check_arrays(
                    "forward value",
                    [(name, backend.to_numpy(m.tensor), value, self.tr.fscales[m.node])],
                    dtype,
                    "",
                )
                with warnings.catch_warnings():  # torch warns on reading a non-leaf's grad
                    warnings.simplefilter("ignore")
                    got = backend.grad(m.tensor)
                if m.grad is None or m.scale is None:
                    if got is not None:
                        raise CheckFailure(
                            f"gradient of {name}",
                            got,
                            None,
                            detail="the model says it holds no gradient",
                        )
                    continue
                if got is None and m.zeroed:
                    got = m.grad
                check_arrays(
                    "gradient",
                    [(name, got, m.grad, m.scale)],
                    dtype,
                    "expected: the sum of the oracle's adjoints over the passes",
                )

    return Graph


@pytest.mark.claim("ST-1")
def test_every_interleaving_of_imperative_operations_matches_the_model(
    backend: Any, dtype: str
) -> None:
    """Under any sequence of creates, ops, retain_grad, backward, zeroing, detach and
    updates, exactly leaves and retaining tensors hold the summed gradients."""
    require(backend, *claim("ST-1").requires)
    run_state_machine_as_test(
        machine(backend, dtype), settings=settings(deadline=None, stateful_step_count=30)
    )
