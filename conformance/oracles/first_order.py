"""Reference derivatives, independent of every backend: numpy only, float64.

* :func:`analytic`: reverse mode from each op's derivative rule and the chain rule, with
  broadcasting reduced back to each operand's shape. Besides values and adjoints it
  returns *scales*: the same passes run on magnitudes, i.e. a first-order bound on the
  size of every term an engine adds up, including the forward values its derivatives
  are computed from (so cancellation is judged fairly, see :mod:`conformance.oracles.tolerances`).
* :func:`numeric`: complex-step differentiation where the expression is analytic,
  fourth-order central differences where it is not (relu, abs, maximum, minimum, clip,
  max, min: :data:`NON_ANALYTIC`).

The two share only the forward definitions of the ops (:class:`NumpyOps`), so they check
each other's derivative rules. Each op's definition, rule and scales are in
:mod:`conformance.oracles.op_rules`, whose names this module re-exports.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from conformance.oracles import tolerances
from conformance.oracles.expr import BINARY, UNARY, Expr, Node, apply, evaluate
from conformance.oracles.op_rules import (
    NON_ANALYTIC,
    NUMPY,
    NumpyOps,
    forward_scale,
    local_vjp,
    unbroadcast,
)

__all__ = [
    "NON_ANALYTIC",
    "NUMPY",
    "NumpyOps",
    "Reference",
    "Tracer",
    "analytic",
    "forward",
    "forward_scale",
    "is_analytic",
    "local_vjp",
    "numeric",
    "requires_grad",
    "taylor_opinion",
    "unbroadcast",
]


@dataclass
class Reference:
    """The analytic oracle's answer for one expression, per node."""

    expr: Expr
    values: list[np.ndarray]
    fscales: list[np.ndarray]
    adjoints: list[np.ndarray | None]  # None: no gradient reaches the node
    scales: list[np.ndarray | None]

    @property
    def value(self) -> np.ndarray:
        return self.values[self.expr.output]

    @property
    def value_scale(self) -> np.ndarray:
        return self.fscales[self.expr.output]

    def grad(self, i: int) -> np.ndarray:
        """Input i's gradient (zeros when the output does not depend on it)."""
        k = self.expr.input_node(i)
        adj = self.adjoints[k]
        return np.zeros_like(self.values[k]) if adj is None else adj

    def grad_scale(self, i: int) -> np.ndarray:
        k = self.expr.input_node(i)
        sc = self.scales[k]
        return np.zeros_like(self.values[k]) if sc is None else sc


def forward(
    expr: Expr, inputs: Sequence[np.ndarray], work: type = np.float64
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Every node's value (computed in ``work`` precision) and forward scale."""
    xs: list[np.ndarray] = [np.asarray(x, dtype=work) for x in inputs]
    values = [np.asarray(v) for v in evaluate(expr, NUMPY, xs, lambda c: np.asarray(c, work))]
    fscales: list[np.ndarray] = []
    for node, v in zip(expr.nodes, values, strict=True):
        if node.op in ("input", "const"):
            fscales.append(np.abs(v))
        else:
            fscales.append(
                forward_scale(
                    node, [values[i] for i in node.args], [fscales[i] for i in node.args], v
                )
            )
    return values, fscales


def analytic(
    expr: Expr,
    inputs: Sequence[np.ndarray],
    cotangent: np.ndarray | None = None,
    work: type = np.float64,
) -> Reference:
    """Value, adjoints and scales of ``expr`` at ``inputs`` (reverse from ``cotangent``,
    or from 1 for a scalar output). ``work`` other than float64 only serves the
    self-tests, which emulate a lower-precision engine with the same rules."""
    values, fscales = forward(expr, inputs, work)
    n = len(expr.nodes)
    adj: list[np.ndarray | None] = [None] * n
    scl: list[np.ndarray | None] = [None] * n
    out = values[expr.output]
    seed = np.ones_like(out) if cotangent is None else np.asarray(cotangent, dtype=work)
    if seed.shape != out.shape:
        raise ValueError(f"cotangent shape {seed.shape} != output shape {out.shape}")
    adj[expr.output], scl[expr.output] = seed, np.abs(seed)
    for k in range(n - 1, -1, -1):
        node, g, G = expr.nodes[k], adj[k], scl[k]
        if g is None or G is None or node.op in ("input", "const", "detach"):
            continue  # detach: no gradient flows back through it
        args = [values[i] for i in node.args]
        parts = local_vjp(node, args, [fscales[i] for i in node.args], values[k], fscales[k], g, G)
        for i, (c, cs) in zip(node.args, parts, strict=True):
            c, cs = (
                unbroadcast(np.asarray(c), values[i].shape),
                unbroadcast(np.asarray(cs), values[i].shape),
            )
            prev, prev_s = adj[i], scl[i]
            adj[i] = c if prev is None else prev + c
            scl[i] = cs if prev_s is None else prev_s + cs
    return Reference(expr, values, fscales, adj, scl)


def requires_grad(expr: Expr, tracked: Sequence[bool]) -> list[bool]:
    """Per node: does it depend on a tracked input through a path without detach?"""
    out: list[bool] = []
    for node in expr.nodes:
        if node.op == "input":
            out.append(bool(tracked[node.index]))
        elif node.op in ("const", "detach"):
            out.append(False)
        else:
            out.append(any(out[i] for i in node.args))
    return out


# -- the numeric oracle -----------------------------------------------------------------


def inputs_reaching_output(expr: Expr) -> set[int]:
    """The indices of the inputs the output is computed from (through any op)."""
    return {expr.nodes[k].index for k in _reached(expr) if expr.nodes[k].op == "input"}


def _reached(expr: Expr) -> set[int]:
    seen, todo = set(), [expr.output]
    while todo:
        k = todo.pop()
        if k not in seen:
            seen.add(k)
            if expr.nodes[k].op != "detach":
                todo.extend(expr.nodes[k].args)
    return seen


def is_analytic(expr: Expr) -> bool:
    """Whether the complex step applies: no non-analytic op on a differentiated path."""
    return not any(expr.nodes[k].op in NON_ANALYTIC for k in _reached(expr))


def numeric(
    expr: Expr, inputs: Sequence[np.ndarray], cotangent: np.ndarray | None = None
) -> list[np.ndarray]:
    """Gradient of ``sum(cotangent * expr)`` (or of the scalar ``expr``) per input, by the
    complex step (exact to roundoff) when :func:`is_analytic`, else by fourth-order central
    differences. Detached values stay at their unperturbed values."""
    values, _ = forward(expr, inputs)
    base = [np.asarray(x, dtype=np.float64) for x in inputs]
    cot = np.ones_like(values[expr.output]) if cotangent is None else np.asarray(cotangent)
    complex_step = is_analytic(expr)

    def s(xs: list[np.ndarray]) -> Any:
        vals: list[Any] = []
        for k, node in enumerate(expr.nodes):
            if node.op == "input":
                vals.append(xs[node.index])
            elif node.op in ("const", "detach"):
                vals.append(values[k].astype(xs[0].dtype))
            else:
                vals.append(apply(NUMPY, node, [vals[i] for i in node.args]))
        return np.sum(cot * vals[expr.output])

    grads = []
    for i, x in enumerate(base):
        g = np.zeros_like(x)
        for j in range(x.size):
            if complex_step:
                h = 1e-30
                zs: list[np.ndarray] = [b.astype(np.complex128) for b in base]
                zs[i].flat[j] += 1j * h
                g.flat[j] = np.imag(s(zs)) / h
            else:
                h = 1e-4 * max(1.0, abs(float(x.flat[j])))
                f = []
                for step in (2, 1, -1, -2):
                    xs = [b.copy() for b in base]
                    xs[i].flat[j] += step * h
                    f.append(float(np.real(s(xs))))
                g.flat[j] = (8 * (f[1] - f[2]) - (f[0] - f[3])) / (12 * h)
        grads.append(g)
    return grads


# -- building expressions while evaluating them ------------------------------------------


class Tracer:
    """Records an :class:`Expr` while computing its float64 values and forward scales.

    It has the protocol's op methods (operands and results are node ids), so the
    strategies build expressions with it and programs with control flow (DG-1) can be
    run through it to record the straight-line path they took.
    """

    def __init__(self) -> None:
        self.nodes: list[Node] = []
        self.values: list[np.ndarray] = []
        self.fscales: list[np.ndarray] = []
        self.n_inputs = 0

    def push(self, node: Node, value: np.ndarray, fscale: np.ndarray) -> int:
        self.nodes.append(node)
        self.values.append(value)
        self.fscales.append(fscale)
        return len(self.nodes) - 1

    def input(self, value: np.ndarray) -> int:
        v = np.asarray(value, dtype=np.float64)
        self.n_inputs += 1
        return self.push(Node("input", shape=v.shape, index=self.n_inputs - 1), v, np.abs(v))

    def const(self, value: np.ndarray) -> int:
        v = np.asarray(value, dtype=np.float64)
        return self.push(Node("const", shape=v.shape, value=v), v, np.abs(v))

    def peek(
        self,
        op: str,
        args: Sequence[int],
        axis: int | None = None,
        exponent: float | None = None,
        **params: Any,
    ) -> tuple[Node, np.ndarray, np.ndarray]:
        """The node ``op(args)`` would be, its value and forward scale, without recording it.
        ``params``: the node's other fields, clip's ``bounds``, take's ``indices`` and
        reshape's target ``shape``."""
        node = Node(op, tuple(args), axis=axis, exponent=exponent, **params)
        avals = [self.values[i] for i in args]
        with np.errstate(all="ignore"):
            v = np.asarray(apply(NUMPY, node, avals))
            f = forward_scale(node, avals, [self.fscales[i] for i in args], v)
        return replace(node, shape=v.shape), v, f

    def apply(
        self,
        op: str,
        args: Sequence[int],
        axis: int | None = None,
        exponent: float | None = None,
        **params: Any,
    ) -> int:
        return self.push(*self.peek(op, args, axis, exponent, **params))

    def ancestors(self, output: int) -> set[int]:
        """``output`` and every node it depends on."""
        keep, todo = set(), [output]
        while todo:
            k = todo.pop()
            if k not in keep:
                keep.add(k)
                todo.extend(self.nodes[k].args)
        return keep

    def expr(self, output: int) -> Expr:
        """The recorded expression for ``output``: every input, and the nodes it needs."""
        keep = self.ancestors(output)
        keep |= {k for k, n in enumerate(self.nodes) if n.op == "input"}
        order = sorted(keep)
        new = {old: i for i, old in enumerate(order)}
        nodes = []
        for old in order:
            n = self.nodes[old]
            nodes.append(replace(n, args=tuple(new[a] for a in n.args)))
        return Expr(tuple(nodes), new[output])

    # the protocol's op methods, so that programs can run through a tracer
    def pow(self, a: int, exponent: float) -> int:
        return self.apply("pow", (a,), exponent=exponent)

    def sum(self, a: int, axis: int | None = None) -> int:
        return self.apply("sum", (a,), axis=axis)

    def mean(self, a: int, axis: int | None = None) -> int:
        return self.apply("mean", (a,), axis=axis)

    def softmax(self, a: int, axis: int) -> int:
        return self.apply("softmax", (a,), axis=axis)

    def max(self, a: int, axis: int | None = None) -> int:
        return self.apply("max", (a,), axis=axis)

    def min(self, a: int, axis: int | None = None) -> int:
        return self.apply("min", (a,), axis=axis)

    def prod(self, a: int, axis: int | None = None) -> int:
        return self.apply("prod", (a,), axis=axis)

    def logsumexp(self, a: int, axis: int) -> int:
        return self.apply("logsumexp", (a,), axis=axis)

    def log_softmax(self, a: int, axis: int) -> int:
        return self.apply("log_softmax", (a,), axis=axis)

    def clip(self, a: int, low: float, high: float) -> int:
        return self.apply("clip", (a,), bounds=(low, high))

    def reshape(self, a: int, shape: tuple[int, ...]) -> int:
        return self.apply("reshape", (a,), shape=tuple(shape))

    def take(self, a: int, indices: Sequence[int], axis: int) -> int:
        return self.apply("take", (a,), axis=axis, indices=tuple(indices))

    def concatenate(self, a: int, b: int, axis: int) -> int:
        return self.apply("concatenate", (a, b), axis=axis)

    def __getattr__(self, op: str) -> Any:  # the others: tracer.mul(a, b), tracer.exp(a)
        if op in BINARY or op in UNARY:
            return lambda *args: self.apply(op, args)
        raise AttributeError(op)


def taylor_opinion(
    expr: Expr,
    inputs: Sequence[np.ndarray],
    grads: Sequence[Any],
    cotangent: np.ndarray | None = None,
) -> str:
    """The Taylor test (:func:`conformance.oracles.tolerances.taylor_remainders`) on an engine's
    gradients, with this module's float64 forward as the function: independent of the
    derivative rules and of any tolerance."""
    if any(g is None or np.shape(g) != np.shape(x) for g, x in zip(grads, inputs, strict=False)):
        return "Taylor test not run (gradients missing or misshapen)"
    values, fscales = forward(expr, inputs)
    cot = np.ones_like(values[expr.output]) if cotangent is None else np.asarray(cotangent)

    def f(xs: list[np.ndarray]) -> float:
        with np.errstate(all="ignore"):
            return float(np.sum(cot * forward(expr, xs)[0][expr.output]))

    rng = np.random.default_rng(0)  # any direction will do; a fixed one keeps it repeatable
    direction = [rng.standard_normal(np.shape(x)) for x in inputs]
    rem = tolerances.taylor_remainders(f, inputs, grads, direction)
    noise = 1e-15 * float(np.sum(np.abs(cot) * fscales[expr.output]))
    return tolerances.taylor_verdict(rem, noise)
