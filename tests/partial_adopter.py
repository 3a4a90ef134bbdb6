"""The smallest adapter: a tiny functional reverse-mode engine on numpy, written here.

It implements the required part of the protocol only (values, ops, ``vjp``), declares no
capability, and raises :class:`conformance.Unsupported` for ``matmul`` and for tracked
tensors, so the suite must report those claims as unsupported rather than crash.
Load it with ``--backend tests.partial_adopter:TinyBackend``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from conformance.engine import Backend, Unsupported

Pullback = Callable[[np.ndarray], np.ndarray]


# -- the engine ---------------------------------------------------------------------------


class Node:
    """A value and, per input it was computed from, the pullback of the output gradient."""

    def __init__(self, value: np.ndarray, *edges: tuple[Node, Pullback]) -> None:
        self.value, self.edges = value, edges


def _unbroadcast(g: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum a broadcast gradient back to its input's shape."""
    g = g.sum(axis=tuple(range(g.ndim - len(shape)))) if g.ndim > len(shape) else g
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    return g.sum(axis=axes, keepdims=True) if axes else g


def _unary(
    f: Callable[[np.ndarray], np.ndarray], df: Callable[[np.ndarray, np.ndarray], np.ndarray]
) -> Callable[..., Node]:
    """An elementwise op as an adapter method: y = f(x), with dy/dx = df(x, y)."""

    def op(self: Any, a: Node) -> Node:
        y = f(a.value)
        return Node(y, (a, lambda g: g * df(a.value, y)))

    return op


def backprop(out: Node, seed: np.ndarray) -> dict[int, Any]:
    """The gradient of every node ``out`` depends on (by id), given ``out``'s gradient."""
    order: list[Node] = []  # post-order of a depth-first search: parents before children
    seen: set[int] = set()
    stack: list[tuple[Node, bool]] = [(out, False)]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
        elif id(node) not in seen:
            seen.add(id(node))
            stack += [(node, True)] + [(parent, False) for parent, _ in node.edges]
    grads: dict[int, Any] = {id(out): seed}
    for node in reversed(order):
        for parent, pullback in node.edges:
            if id(node) in grads:
                g = _unbroadcast(np.asarray(pullback(grads[id(node)])), parent.value.shape)
                grads[id(parent)] = grads.get(id(parent), 0) + g
    return grads


# -- the adapter --------------------------------------------------------------------------


class TinyBackend(Backend):
    name = "tiny"

    def tensor(self, array: np.ndarray, dtype: str, requires_grad: bool = False) -> Node:
        if requires_grad:
            raise Unsupported("tiny is functional: gradients are taken of functions")
        return Node(np.asarray(array, dtype=dtype))

    def to_numpy(self, t: Node) -> np.ndarray:
        return np.array(t.value)

    def add(self, a: Node, b: Node) -> Node:
        return Node(a.value + b.value, (a, lambda g: g), (b, lambda g: g))

    def sub(self, a: Node, b: Node) -> Node:
        return Node(a.value - b.value, (a, lambda g: g), (b, lambda g: -g))

    def mul(self, a: Node, b: Node) -> Node:
        return Node(a.value * b.value, (a, lambda g: g * b.value), (b, lambda g: g * a.value))

    def div(self, a: Node, b: Node) -> Node:
        y = a.value / b.value
        return Node(y, (a, lambda g: g / b.value), (b, lambda g: -g * y / b.value))

    def matmul(self, a: Node, b: Node) -> Node:
        raise Unsupported("tiny has no matmul")

    def pow(self, a: Node, exponent: float) -> Node:
        return Node(a.value**exponent, (a, lambda g: g * exponent * a.value ** (exponent - 1)))

    # elementwise: y = f(x), dy/dx from x and y
    neg = _unary(np.negative, lambda x, y: -np.ones_like(x))
    exp = _unary(np.exp, lambda x, y: y)
    log = _unary(np.log, lambda x, y: 1 / x)
    sin = _unary(np.sin, lambda x, y: np.cos(x))
    cos = _unary(np.cos, lambda x, y: -np.sin(x))
    tanh = _unary(np.tanh, lambda x, y: 1 - y**2)
    sqrt = _unary(np.sqrt, lambda x, y: 0.5 / y)

    def sum(self, a: Node, axis: int | None = None) -> Node:
        def back(g: np.ndarray) -> np.ndarray:
            g = g if axis is None else np.expand_dims(g, axis)
            return np.broadcast_to(g, a.value.shape)

        return Node(np.sum(a.value, axis=axis), (a, back))

    def mean(self, a: Node, axis: int | None = None) -> Node:
        count = a.value.size if axis is None else a.value.shape[axis]
        return self.div(self.sum(a, axis), Node(np.asarray(count, dtype=a.value.dtype)))

    def vjp(
        self,
        fn: Callable[..., Node],
        primals: Sequence[np.ndarray],
        dtype: str,
        cotangent: np.ndarray | None = None,
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        xs = [Node(np.asarray(p, dtype=dtype)) for p in primals]
        out = fn(*xs)
        if cotangent is None and out.value.size != 1:
            raise ValueError("a non-scalar output needs an output gradient")
        seed = np.ones_like(out.value) if cotangent is None else np.asarray(cotangent, dtype)
        grads = backprop(out, seed)
        return out.value, [np.zeros_like(x.value) + grads.get(id(x), 0) for x in xs]


class BadLogNoRealPow(TinyBackend):
    """A wrong derivative of log (1/(2x)) beside an op raising Unsupported (pow with a
    non-integer exponent): the log bug must fail CR-1, whatever examples met pow first."""

    name = "bad-log-no-real-pow"
    log = _unary(np.log, lambda x, y: 0.5 / x)

    def pow(self, a: Node, exponent: float) -> Node:
        if exponent != int(exponent):
            raise Unsupported("bad-log has no pow with a real exponent")
        return super().pow(a, exponent)


class NoGradients(TinyBackend):
    """An engine with values only: every gradient check raises Unsupported, so the
    properties can run no example at all and are unsupported, not passed."""

    name = "no-gradients"

    def vjp(self, *args: Any, **kwargs: Any) -> Any:
        raise Unsupported("no-gradients computes values only")
