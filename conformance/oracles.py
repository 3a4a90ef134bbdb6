"""Reference derivatives, independent of every backend: numpy only, float64.

* :func:`analytic`: reverse mode from each op's derivative rule and the chain rule, with
  broadcasting reduced back to each operand's shape. Besides values and adjoints it
  returns *scales*: the same passes run on magnitudes, i.e. a first-order bound on the
  size of every term an engine adds up, including the forward values its derivatives
  are computed from (so cancellation is judged fairly, see :mod:`conformance.tolerances`).
* :func:`numeric`: complex-step differentiation where the expression is analytic,
  fourth-order central differences where it is not (relu).

The two share only the forward definitions of the ops (:class:`NumpyOps`), so they check
each other's derivative rules.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from conformance import tolerances
from conformance.expr import BINARY, UNARY, Expr, Node, apply, evaluate

NON_ANALYTIC = frozenset({"relu"})


class NumpyOps:
    """The protocol's ops in numpy; real or complex (for the complex step), any float dtype."""

    def add(self, a: Any, b: Any) -> Any:
        return a + b

    def sub(self, a: Any, b: Any) -> Any:
        return a - b

    def mul(self, a: Any, b: Any) -> Any:
        return a * b

    def div(self, a: Any, b: Any) -> Any:
        return a / b

    def matmul(self, a: Any, b: Any) -> Any:
        return a @ b

    def pow(self, a: Any, exponent: float) -> Any:
        return np.power(a, exponent)

    def neg(self, a: Any) -> Any:
        return -a

    def exp(self, a: Any) -> Any:
        return np.exp(a)

    def log(self, a: Any) -> Any:
        return np.log(a)

    def sin(self, a: Any) -> Any:
        return np.sin(a)

    def cos(self, a: Any) -> Any:
        return np.cos(a)

    def tanh(self, a: Any) -> Any:
        return np.tanh(a)

    def sqrt(self, a: Any) -> Any:
        return np.sqrt(a)

    def sum(self, a: Any, axis: int | None = None) -> Any:
        return np.asarray(np.sum(a, axis=axis))

    def mean(self, a: Any, axis: int | None = None) -> Any:
        return np.asarray(np.mean(a, axis=axis))

    def sigmoid(self, a: Any) -> Any:
        return 1 / (1 + np.exp(-a))

    def relu(self, a: Any) -> Any:
        return np.where(np.real(a) > 0, a, 0 * a)

    def softmax(self, a: Any, axis: int) -> Any:
        # shift by a real constant: exact in real arithmetic, harmless to the complex step
        e = np.exp(a - np.max(np.real(a), axis=axis, keepdims=True))
        return e / np.sum(e, axis=axis, keepdims=True)

    def detach(self, a: Any) -> Any:
        return a


NUMPY = NumpyOps()


def unbroadcast(g: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``g`` over the axes that broadcasting added to or stretched in ``shape``."""
    g = np.sum(g, axis=tuple(range(g.ndim - len(shape)))) if g.ndim > len(shape) else g
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    return np.sum(g, axis=stretched, keepdims=True) if stretched else g


def _expand(g: np.ndarray, axis: int | None, shape: tuple[int, ...]) -> np.ndarray:
    """A reduction's adjoint spread back over the reduced axis."""
    return np.broadcast_to(g if axis is None else np.expand_dims(g, axis), shape)


def _unary(node: Node, u: np.ndarray, v: np.ndarray, fu: np.ndarray) -> tuple[Any, Any]:
    """(f'(u), D): the local derivative and a bound on its magnitude, |f'| plus the terms
    it is computed from plus |f''| * fu, i.e. how far a forward error in u moves it."""
    op, a = node.op, np.abs
    if op == "neg":
        return -np.ones_like(u), np.ones_like(u)
    if op == "exp":
        return v, a(v) * (1 + fu)
    if op == "log":
        return 1 / u, (1 + fu / a(u)) / a(u)
    if op == "sin":
        return np.cos(u), a(np.cos(u)) + a(v) * fu
    if op == "cos":
        return -np.sin(u), a(np.sin(u)) + a(v) * fu
    if op == "tanh":  # computed as 1 - v*v: the terms are 1 and v*v
        return 1 - v * v, 1 + v * v + 2 * a(v) * (1 - v * v) * fu
    if op == "sqrt":
        return 0.5 / v, 0.5 / a(v) + 0.25 * fu / a(v) ** 3
    if op == "sigmoid":
        s = v * (1 - v)
        return s, a(v) * (1 + a(v)) + a(s * (1 - 2 * v)) * fu
    if op == "relu":
        m = (u > 0).astype(u.dtype)
        return m, m
    if op == "pow":
        p = node.exponent
        assert p is not None
        if p == 0:
            return np.zeros_like(u), np.zeros_like(u)
        d = p * np.power(u, p - 1)
        curv = a(p * (p - 1) * np.power(u, p - 2)) * fu if p != 1 else 0 * u
        return d, a(d) + curv
    raise ValueError(f"no rule for op {op!r}")


def forward_scale(
    node: Node, args: Sequence[np.ndarray], fs: Sequence[np.ndarray], v: np.ndarray
) -> np.ndarray:
    """First-order bound on what an engine's forward value of ``node`` went through:
    its engine error is at most a few roundoffs times this (rounding of the result,
    plus the arguments' own errors carried through the op)."""
    op, av = node.op, np.abs(v)
    if op in ("add", "sub"):
        return av + fs[0] + fs[1]
    if op == "mul":
        return av + fs[0] * np.abs(args[1]) + np.abs(args[0]) * fs[1]
    if op == "div":
        b = np.abs(args[1])
        return av + fs[0] / b + np.abs(args[0]) * fs[1] / (b * b)
    if op == "matmul":
        return av + fs[0] @ np.abs(args[1]) + np.abs(args[0]) @ fs[1]
    if op == "sum":
        return np.asarray(np.sum(fs[0], axis=node.axis))
    if op == "mean":
        return np.asarray(np.mean(fs[0], axis=node.axis))
    if op == "softmax":
        return v + v * (fs[0] + np.sum(v * fs[0], axis=node.axis, keepdims=True))
    if op == "detach":
        return fs[0]
    d, _ = _unary(node, args[0], v, fs[0])
    return av + np.abs(d) * fs[0]


def local_vjp(
    node: Node,
    args: Sequence[np.ndarray],
    fs: Sequence[np.ndarray],
    v: np.ndarray,
    fv: np.ndarray,
    g: np.ndarray,
    G: np.ndarray,
) -> list[tuple[Any, Any]]:
    """Per argument: (adjoint contribution, its scale), before un-broadcasting. The scale
    is the same product on magnitudes, with each derivative replaced by its bound."""
    op, a = node.op, np.abs
    if op == "add":
        return [(g, G), (g, G)]
    if op == "sub":
        return [(g, G), (-g, G)]
    if op == "mul":
        return [(g * args[1], G * fs[1]), (g * args[0], G * fs[0])]
    if op == "div":
        x, y = args
        return [
            (g / y, G * (1 / a(y) + fs[1] / (y * y))),
            (-g * x / (y * y), G * (fs[0] / (y * y) + 2 * a(x) * fs[1] / a(y) ** 3)),
        ]
    if op == "matmul":
        x, y = args
        return [(g @ y.T, G @ fs[1].T), (x.T @ g, fs[0].T @ G)]
    if op in ("sum", "mean"):
        n = 1 if op == "sum" else args[0].size // max(v.size, 1)
        shape = args[0].shape
        return [(_expand(g, node.axis, shape) / n, _expand(G, node.axis, shape) / n)]
    if op == "softmax":
        ax = node.axis
        return [
            (
                v * (g - np.sum(g * v, axis=ax, keepdims=True)),
                fv * (G + np.sum(G * fv, axis=ax, keepdims=True)),
            )
        ]
    d, bound = _unary(node, args[0], v, fs[0])
    return [(g * d, G * bound)]


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
        self, op: str, args: Sequence[int], axis: int | None = None, exponent: float | None = None
    ) -> tuple[Node, np.ndarray, np.ndarray]:
        """The node ``op(args)`` would be, its value and forward scale, without recording it."""
        node = Node(op, tuple(args), axis=axis, exponent=exponent)
        avals = [self.values[i] for i in args]
        with np.errstate(all="ignore"):
            v = np.asarray(apply(NUMPY, node, avals))
            f = forward_scale(node, avals, [self.fscales[i] for i in args], v)
        node = Node(op, tuple(args), shape=v.shape, axis=axis, exponent=exponent)
        return node, v, f

    def apply(
        self, op: str, args: Sequence[int], axis: int | None = None, exponent: float | None = None
    ) -> int:
        return self.push(*self.peek(op, args, axis, exponent))

    def expr(self, output: int) -> Expr:
        """The recorded expression for ``output``: every input, and the nodes it needs."""
        keep, todo = set(), [output]
        while todo:
            k = todo.pop()
            if k not in keep:
                keep.add(k)
                todo.extend(self.nodes[k].args)
        keep |= {k for k, n in enumerate(self.nodes) if n.op == "input"}
        order = sorted(keep)
        new = {old: i for i, old in enumerate(order)}
        nodes = []
        for old in order:
            n = self.nodes[old]
            nodes.append(
                Node(
                    n.op,
                    tuple(new[a] for a in n.args),
                    n.shape,
                    n.index,
                    n.value,
                    n.axis,
                    n.exponent,
                )
            )
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
    """The Taylor test (:func:`conformance.tolerances.taylor_remainders`) on an engine's
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
