"""Adapters for scalar engines (micrograd-style): a node per number, tensors as arrays of nodes.

A scalar engine's value class holds one number and records the op that made it; it has
no tensors. :class:`ScalarBackend` makes one a full backend. A tensor is a numpy object
array of nodes (0-d for a scalar); an elementwise op applies the engine's own op to
every pair of nodes, broadcasting as numpy does; ``sum``, ``mean`` and ``matmul`` are
built from the engine's add and mul and always make new nodes (``np.sum`` of a
one-element object array would return the element itself). So the suite judges the
engine's own derivative rules. A subclass says how the engine is used::

    class Micro(ScalarBackend):
        name = "micro"
        scalar_ops = {"add": operator.add, "mul": operator.mul, "pow": operator.pow}

        def node(self, x): return Value(x)
        def value(self, node): return node.data
        def node_grad(self, node): return node.grad
        def node_backward(self, node): node.backward()

and, where the engine can update a value in place (micrograd's ``p.data -= lr *
p.grad``), declares ``inplace_update`` and implements :meth:`ScalarBackend.set_value`.

An op the mapping leaves out raises :class:`conformance.Unsupported`, so the engine is
judged over the ops it has. Of the extra ops, ``reshape``, ``transpose``, ``take`` and
``concatenate`` move values, each into a new node made by the engine's add (0 + the
node), so every scalar engine with add has them and a moved tensor is never a leaf;
``prod`` is built from mul (as ``sum`` from add); ``abs``, ``maximum``, ``minimum`` and
``clip`` are the engine's own where the mapping gives them (``clip`` takes a node and
the two bounds), and the ``max`` and ``min`` reductions fold its ``maximum`` and
``minimum``; ``logsumexp`` and ``log_softmax`` (as ``softmax``) are left out. Nodes
hold Python floats, so only float64 is declared.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from conformance.engine.capabilities import BACKWARD, NATIVE_GRADIENTS
from conformance.engine.protocol import Backend
from conformance.engine.scalar_nodes import NodeArrays, wrap_nodes


class ScalarBackend(NodeArrays, Backend):
    """A backend over a scalar engine; a subclass maps its ops and four hooks."""

    capabilities = frozenset({BACKWARD, NATIVE_GRADIENTS})
    max_elements = 10_000  # a node per element: the size tier's 10^6 would take minutes
    dtypes = ("float64",)
    #: Protocol op name -> the engine's op on nodes: two nodes for add, sub, mul, div;
    #: a node and a Python int or float for pow; one node for neg, exp, log, sin, cos,
    #: tanh, sqrt, sigmoid, relu, abs; two for maximum, minimum; a node and two Python
    #: floats for clip. sum, mean and matmul need add (and mul) only, prod mul only.
    scalar_ops: Mapping[str, Callable[..., Any]] = {}

    def add(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return self._each("add", a, b)

    def sub(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return self._each("sub", a, b)

    def mul(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return self._each("mul", a, b)

    def div(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return self._each("div", a, b)

    def pow(self, a: np.ndarray, exponent: float) -> np.ndarray:
        op = self._op("pow")
        return wrap_nodes(np.frompyfunc(lambda n: op(n, exponent), 1, 1)(a))

    def neg(self, a: np.ndarray) -> np.ndarray:
        return self._each("neg", a)

    def exp(self, a: np.ndarray) -> np.ndarray:
        return self._each("exp", a)

    def log(self, a: np.ndarray) -> np.ndarray:
        return self._each("log", a)

    def sin(self, a: np.ndarray) -> np.ndarray:
        return self._each("sin", a)

    def cos(self, a: np.ndarray) -> np.ndarray:
        return self._each("cos", a)

    def tanh(self, a: np.ndarray) -> np.ndarray:
        return self._each("tanh", a)

    def sqrt(self, a: np.ndarray) -> np.ndarray:
        return self._each("sqrt", a)

    def sigmoid(self, a: np.ndarray) -> np.ndarray:
        return self._each("sigmoid", a)

    def relu(self, a: np.ndarray) -> np.ndarray:
        return self._each("relu", a)

    def matmul(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        mul = self._op("mul")
        out = np.empty((a.shape[0], b.shape[1]), dtype=object)
        for i, j in np.ndindex(out.shape):
            out[i, j] = self._total(map(mul, a[i, :], b[:, j]))
        return out

    def sum(self, a: np.ndarray, axis: int | None = None) -> np.ndarray:
        if axis is None:
            return wrap_nodes(self._total(a.flat))
        rows = np.moveaxis(a, axis, -1)
        out = np.empty(rows.shape[:-1], dtype=object)
        for idx in np.ndindex(out.shape):
            out[idx] = self._total(rows[idx])
        return out

    def mean(self, a: np.ndarray, axis: int | None = None) -> np.ndarray:
        count = a.size if axis is None else a.shape[axis]
        return self.mul(self.sum(a, axis), self.tensor(np.array(1.0 / count), "float64"))

    def abs(self, a: np.ndarray) -> np.ndarray:
        return self._each("abs", a)

    def maximum(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return self._each("maximum", a, b)

    def minimum(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return self._each("minimum", a, b)

    def clip(self, a: np.ndarray, low: float, high: float) -> np.ndarray:
        op = self._op("clip")
        return wrap_nodes(np.frompyfunc(lambda n: op(n, low, high), 1, 1)(a))

    def max(self, a: np.ndarray, axis: int | None = None) -> np.ndarray:
        return self._fold("maximum", a, axis)

    def min(self, a: np.ndarray, axis: int | None = None) -> np.ndarray:
        return self._fold("minimum", a, axis)

    def prod(self, a: np.ndarray, axis: int | None = None) -> np.ndarray:
        return self._fold("mul", a, axis, 1.0)
