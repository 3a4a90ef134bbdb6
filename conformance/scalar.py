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
``concatenate`` only move nodes, so every scalar engine has them; ``prod`` is built from
mul (as ``sum`` from add); ``abs``, ``maximum``, ``minimum`` and ``clip`` are the
engine's own where the mapping gives them (``clip`` takes a node and the two bounds), and
the ``max`` and ``min`` reductions fold its ``maximum`` and ``minimum``; ``logsumexp``
and ``log_softmax`` (as ``softmax``) are left out. Nodes hold Python floats, so only
float64 is declared.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from conformance.backend import BACKWARD, Backend, Unsupported


def _wrap(x: Any) -> np.ndarray:
    """``x`` as an object array: numpy gives back a bare element for a 0-d result."""
    if isinstance(x, np.ndarray):
        return x
    out = np.empty((), dtype=object)
    out[()] = x
    return out


class ScalarBackend(Backend):
    """A backend over a scalar engine; a subclass maps its ops and four hooks."""

    capabilities = frozenset({BACKWARD})
    dtypes = ("float64",)
    #: Protocol op name -> the engine's op on nodes: two nodes for add, sub, mul, div;
    #: a node and a Python int or float for pow; one node for neg, exp, log, sin, cos,
    #: tanh, sqrt, sigmoid, relu, abs; two for maximum, minimum; a node and two Python
    #: floats for clip. sum, mean and matmul need add (and mul) only, prod mul only.
    scalar_ops: Mapping[str, Callable[..., Any]] = {}

    # -- the engine, as a subclass maps it ----------------------------------------------

    def node(self, x: float) -> Any:
        """Must return a new node holding ``x`` (a leaf)."""
        raise NotImplementedError

    def value(self, node: Any) -> float:
        """Must return the number ``node`` holds."""
        raise NotImplementedError

    def set_value(self, node: Any, x: float) -> None:
        """Capability ``inplace_update``, where the engine can and the subclass declares
        it: must set the number ``node`` holds to ``x`` in place, recording nothing."""
        raise NotImplementedError

    def node_grad(self, node: Any) -> float | None:
        """Must return the gradient ``node`` holds (None if the engine has none)."""
        raise NotImplementedError

    def node_backward(self, node: Any) -> None:
        """Must back-propagate from ``node`` with gradient 1, as the engine does."""
        raise NotImplementedError

    # -- values -----------------------------------------------------------------------

    def tensor(self, array: np.ndarray, dtype: str, requires_grad: bool = False) -> np.ndarray:
        # scalar engines have no requires_grad flag: every node is tracked
        values = np.asarray(array, dtype=np.float64)
        out = np.empty(values.shape, dtype=object)
        for idx in np.ndindex(values.shape):
            out[idx] = self.node(float(values[idx]))
        return out

    def to_numpy(self, t: np.ndarray) -> np.ndarray:
        return np.array([self.value(n) for n in t.flat], dtype=np.float64).reshape(t.shape)

    # -- ops --------------------------------------------------------------------------

    def _op(self, name: str) -> Callable[..., Any]:
        op = self.scalar_ops.get(name)
        if op is None:
            raise Unsupported(f"{self.name} has no {name}")
        return op

    def _each(self, name: str, *tensors: np.ndarray) -> np.ndarray:
        return _wrap(np.frompyfunc(self._op(name), len(tensors), 1)(*tensors))

    def _total(self, nodes: Iterable[Any]) -> Any:
        """A new node: the sum of ``nodes``, from 0, so one node too gives a new node."""
        return functools.reduce(self._op("add"), nodes, self.node(0.0))

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
        return _wrap(np.frompyfunc(lambda n: op(n, exponent), 1, 1)(a))

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
            return _wrap(self._total(a.flat))
        rows = np.moveaxis(a, axis, -1)
        out = np.empty(rows.shape[:-1], dtype=object)
        for idx in np.ndindex(out.shape):
            out[idx] = self._total(rows[idx])
        return out

    def mean(self, a: np.ndarray, axis: int | None = None) -> np.ndarray:
        count = a.size if axis is None else a.shape[axis]
        return self.mul(self.sum(a, axis), self.tensor(np.array(1.0 / count), "float64"))

    def _fold(self, name: str, a: np.ndarray, axis: int | None, start: float | None = None) -> Any:
        """The engine's binary op ``name`` folded over all nodes (a 0-d tensor) or along
        ``axis``, from a new node holding ``start`` where one is given. A group of one
        node gives a new node too (0 + it), as :meth:`sum` does."""
        op = self._op(name)

        def fold(nodes: Iterable[Any]) -> Any:
            group = list(nodes)
            if start is not None:
                return functools.reduce(op, group, self.node(start))
            return self._total(group) if len(group) == 1 else functools.reduce(op, group)

        if axis is None:
            return _wrap(fold(a.flat))
        rows = np.moveaxis(a, axis, -1)
        out = np.empty(rows.shape[:-1], dtype=object)
        for idx in np.ndindex(out.shape):
            out[idx] = fold(rows[idx])
        return out

    def abs(self, a: np.ndarray) -> np.ndarray:
        return self._each("abs", a)

    def maximum(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return self._each("maximum", a, b)

    def minimum(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return self._each("minimum", a, b)

    def clip(self, a: np.ndarray, low: float, high: float) -> np.ndarray:
        op = self._op("clip")
        return _wrap(np.frompyfunc(lambda n: op(n, low, high), 1, 1)(a))

    def max(self, a: np.ndarray, axis: int | None = None) -> np.ndarray:
        return self._fold("maximum", a, axis)

    def min(self, a: np.ndarray, axis: int | None = None) -> np.ndarray:
        return self._fold("minimum", a, axis)

    def prod(self, a: np.ndarray, axis: int | None = None) -> np.ndarray:
        return self._fold("mul", a, axis, 1.0)

    # reshape, transpose, take and concatenate move nodes: a new array of the same nodes
    def reshape(self, a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        return _wrap(np.reshape(a, shape).copy())

    def transpose(self, a: np.ndarray) -> np.ndarray:
        return _wrap(np.transpose(a).copy())

    def take(self, a: np.ndarray, indices: tuple[int, ...], axis: int) -> np.ndarray:
        return _wrap(np.take(a, list(indices), axis=axis))

    def concatenate(self, a: np.ndarray, b: np.ndarray, axis: int) -> np.ndarray:
        return _wrap(np.concatenate([a, b], axis=axis))

    def update_(self, t: np.ndarray, delta: np.ndarray) -> None:
        for node, d in zip(t.flat, np.ravel(delta), strict=True):
            self.set_value(node, self.value(node) - float(d))

    # -- differentiation ----------------------------------------------------------------

    def backward(self, t: np.ndarray, grad: Any = None, retain_graph: bool = False) -> None:
        if grad is None:
            if t.size != 1:  # the engine has no notion of it: never sum silently (NS-1)
                raise ValueError(
                    f"backward without an output gradient needs one element, not {t.size}"
                )
            root = t.flat[0]
        else:  # the vector-Jacobian product is the gradient of sum(grad * t)
            root = self._total(map(self._op("mul"), grad.flat, t.flat))
        self.node_backward(root)

    def grad(self, t: np.ndarray) -> np.ndarray | None:
        grads = [self.node_grad(n) for n in t.flat]
        if any(g is None for g in grads):
            return None
        return np.array(grads, dtype=np.float64).reshape(t.shape)
