"""Forward-mode and second-order references (FM-1, HO-2), independent of every backend.

numpy only, float64. Two routes, which share with :mod:`conformance.oracles.first_order` only the
forward definitions of the ops (and, for the second, its first-order rules):

* :func:`forward_tangents` and :func:`hessian_vector`: forward mode (the
  Jacobian-vector product ``J t`` at every node) and forward over reverse (the tangent,
  along ``t``, of :func:`conformance.oracles.first_order.analytic`'s reverse pass: the
  Hessian-vector product ``H t``), from each op's first, second and third derivatives
  written out below. Like the first-order oracle they return *scales*: the same passes on
  magnitudes, each derivative replaced by a bound on the terms an engine computes it
  from plus how far a forward rounding error in its argument moves it, so that
  cancellation is judged fairly (see :mod:`conformance.oracles.tolerances`).
* :func:`complex_step_jvp` and :func:`complex_step_hvp`: the complex step ``x + i h t``
  through the forward pass, and through the first-order analytic reverse pass. It
  subtracts nothing, so it is exact to roundoff wherever every op on the way is
  holomorphic at the values at hand. The project's tests hold the two routes against
  each other.

Holomorphic or not, per op (what the complex step relies on):

* add, sub, mul, div, matmul, neg, sum, mean: polynomial or rational, holomorphic off
  div's pole (the strategies keep divisors 0.3 away from 0);
* exp, sin, cos, tanh, sigmoid, softmax: holomorphic on a neighbourhood of the reals
  (the poles of tanh and sigmoid lie pi/2 and pi off the real axis);
* log, sqrt, pow with a real exponent: holomorphic off their branch cut, the non-positive
  reals; the strategies keep their arguments >= 0.2;
* pow with an integer exponent: holomorphic off 0 (numpy raises a complex number to a
  small integer power by repeated multiplication, so a negative base meets no cut);
* relu: not holomorphic at its kink. Away from it, it is linear, and both routes take
  its branch from the real part of the argument (numpy orders complex numbers by their
  real part first), which the strategies keep >= 0.05 from the kink, far beyond the
  step; its second derivative there is 0;
* detach: the routes disagree about it by design (the complex step would differentiate
  through detached values), and neither FM-1 nor HO-2 draws it, so both refuse it.

The extra ops of the protocol (:data:`conformance.engine.protocol.EXTRA_OPS`: abs ... concatenate)
have no rules here: HO-2 and FM-1 draw their expressions from :data:`KNOWN_OPS` only (the
engine's ops among them), and these references refuse any other op.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from conformance.engine import BINARY_OPS, NN_OP_NAMES, REDUCTIONS, UNARY_OPS
from conformance.oracles.expr import Expr, Node
from conformance.oracles.first_order import analytic, forward, unbroadcast
from conformance.oracles.op_rules import _expand

STEP = 1e-30  # the complex step: second-order terms (STEP**2) vanish below any roundoff
#: The ops these references have rules for: what HO-2 and FM-1 draw from.
KNOWN_OPS = frozenset((*BINARY_OPS, "pow", *UNARY_OPS, *REDUCTIONS, *NN_OP_NAMES))

Pair = tuple[Any, Any]  # (a derivative quantity, its scale)


def _known_ops_only(expr: Expr) -> None:
    if "detach" in expr.ops():
        raise ValueError("the second-order references do not take detach (see module doc)")
    unknown = expr.ops() - KNOWN_OPS - {"input", "const"}
    if unknown:
        raise ValueError(f"the second-order references have no rules for {sorted(unknown)}")


# -- each op's derivatives ---------------------------------------------------------------


def _power(u: np.ndarray, coefficient: float, exponent: float) -> np.ndarray:
    """``coefficient * u ** exponent``, exactly 0 when the coefficient is (no 0 ** -1)."""
    if coefficient == 0:
        return np.zeros_like(u)
    return coefficient * np.power(u, exponent)


def _unary(node: Node, u: np.ndarray, v: np.ndarray, fu: np.ndarray) -> tuple[Any, ...]:
    """``(f', f'', B1, B2)`` of a unary op at ``u`` (value ``v = f(u)``, forward scale
    ``fu``): B1 bounds |f'| as an engine computes it (its terms, plus |f''| * fu for the
    rounding of u), B2 the same for f'' (its terms, plus |f'''| * fu)."""
    op, a = node.op, np.abs
    one, zero = np.ones_like(u), np.zeros_like(u)
    if op == "neg":
        d1, d2, d3, t1, t2 = -one, zero, zero, one, zero
    elif op == "exp":
        d1 = d2 = d3 = v
        t1 = t2 = a(v)
    elif op == "log":
        d1, d2, d3 = 1 / u, -1 / u**2, 2 / u**3
        t1, t2 = a(d1), a(d2)
    elif op == "sin":
        c = np.cos(u)
        d1, d2, d3, t1, t2 = c, -v, -c, a(c), a(v)
    elif op == "cos":
        s = np.sin(u)
        d1, d2, d3, t1, t2 = -s, -v, s, a(s), a(v)
    elif op == "tanh":  # from y: 1 - y^2, -2y(1 - y^2), -2(1 - y^2)(1 - 3y^2)
        w = 1 - v * v
        d1, d2, d3 = w, -2 * v * w, -2 * w * (1 - 3 * v * v)
        t1, t2 = 1 + v * v, 2 * a(v) * (1 + v * v)
    elif op == "sqrt":
        d1, d2, d3 = 0.5 / v, -0.25 / v**3, 0.375 / v**5
        t1, t2 = a(d1), a(d2)
    elif op == "sigmoid":  # from s: s(1 - s), s(1 - s)(1 - 2s), s(1 - s)(1 - 6s + 6s^2)
        s = v * (1 - v)
        d1, d2, d3 = s, s * (1 - 2 * v), s * (1 - 6 * v + 6 * v * v)
        t1 = a(v) * (1 + a(v))
        t2 = t1 * (1 + 2 * a(v))
    elif op == "relu":  # linear on each side of the kink, which the strategies avoid
        mask = (u > 0).astype(u.dtype)
        d1, d2, d3, t1, t2 = mask, zero, zero, mask, zero
    elif op == "pow":
        p = node.exponent
        assert p is not None
        d1, d2 = _power(u, p, p - 1), _power(u, p * (p - 1), p - 2)
        d3 = _power(u, p * (p - 1) * (p - 2), p - 3)
        t1, t2 = a(d1), a(d2)
    else:
        raise ValueError(f"no rule for op {op!r}")
    return d1, d2, t1 + a(d2) * fu, t2 + a(d3) * fu


def _mean_count(node: Node, arg: np.ndarray, v: np.ndarray) -> int:
    return 1 if node.op == "sum" else arg.size // max(v.size, 1)


def _jvp_rule(
    node: Node, args: Sequence[np.ndarray], fs: Sequence[np.ndarray], dots: Sequence[Pair], v: Any
) -> Pair:
    """Node's tangent from its arguments' ``(tangent, scale)``; the scale is the same sum
    on magnitudes (the transpose of :func:`conformance.oracles.first_order.local_vjp`'s scales)."""
    op, a = node.op, np.abs
    (t0, s0), *rest = dots
    if op in ("add", "sub"):
        (t1, s1) = rest[0]
        return (t0 + t1 if op == "add" else t0 - t1), s0 + s1
    if op == "mul":
        (t1, s1) = rest[0]
        return t0 * args[1] + args[0] * t1, s0 * fs[1] + fs[0] * s1
    if op == "div":
        (t1, s1) = rest[0]
        x, y = args
        return (
            t0 / y - x * t1 / (y * y),
            s0 * (1 / a(y) + fs[1] / (y * y))
            + s1 * (fs[0] / (y * y) + 2 * a(x) * fs[1] / a(y) ** 3),
        )
    if op == "matmul":
        (t1, s1) = rest[0]
        return t0 @ args[1] + args[0] @ t1, s0 @ fs[1] + fs[0] @ s1
    if op in ("sum", "mean"):
        n = _mean_count(node, args[0], v)
        return np.sum(t0, axis=node.axis) / n, np.sum(s0, axis=node.axis) / n
    if op == "softmax":
        ax, fv = node.axis, np.abs(v)
        return (
            v * (t0 - np.sum(v * t0, axis=ax, keepdims=True)),
            fv * (s0 + np.sum(fv * s0, axis=ax, keepdims=True)),
        )
    d1, _, b1, _ = _unary(node, args[0], v, fs[0])
    return d1 * t0, b1 * s0


@dataclass
class Tangents:
    """Forward mode along one tangent per input: every node's value and ``J t``."""

    expr: Expr
    values: list[np.ndarray]
    fscales: list[np.ndarray]
    tangents: list[np.ndarray]
    scales: list[np.ndarray]

    @property
    def value(self) -> np.ndarray:
        return self.values[self.expr.output]

    @property
    def value_scale(self) -> np.ndarray:
        return self.fscales[self.expr.output]

    @property
    def jvp(self) -> np.ndarray:
        return self.tangents[self.expr.output]

    @property
    def jvp_scale(self) -> np.ndarray:
        return self.scales[self.expr.output]


def forward_tangents(
    expr: Expr, inputs: Sequence[np.ndarray], tangents: Sequence[np.ndarray]
) -> Tangents:
    """``J t`` at every node of ``expr`` (inputs moving along ``tangents``), with scales."""
    _known_ops_only(expr)
    values, fscales = forward(expr, inputs)
    dots: list[np.ndarray] = []
    scales: list[np.ndarray] = []
    for node, v in zip(expr.nodes, values, strict=True):
        if node.op == "input":
            t = np.asarray(tangents[node.index], dtype=np.float64)
            dot, scale = t, np.abs(t)
        elif node.op == "const":
            dot = scale = np.zeros_like(v)
        else:
            dot, scale = _jvp_rule(
                node,
                [values[i] for i in node.args],
                [fscales[i] for i in node.args],
                [(dots[i], scales[i]) for i in node.args],
                v,
            )
        dots.append(np.broadcast_to(dot, v.shape))
        scales.append(np.broadcast_to(scale, v.shape))
    return Tangents(expr, values, fscales, dots, scales)


# -- forward over reverse ------------------------------------------------------------------


def _vjp_tangent(node: Node, fw: Tangents, k: int, adjoint: Pair, tangent: Pair) -> list[Pair]:
    """Per argument of node ``k``: the tangent of its adjoint contribution (the derivative,
    along t, of :func:`conformance.oracles.first_order.local_vjp`'s contribution) and its scale.
    ``adjoint`` is node k's (adjoint, scale), ``tangent`` that adjoint's (tangent, scale)."""
    op, a = node.op, np.abs
    (g, G), (gd, Gd) = adjoint, tangent
    args = [fw.values[i] for i in node.args]
    fs = [fw.fscales[i] for i in node.args]
    ts = [fw.tangents[i] for i in node.args]
    ss = [fw.scales[i] for i in node.args]
    if op == "add":
        return [(gd, Gd), (gd, Gd)]
    if op == "sub":
        return [(gd, Gd), (-gd, Gd)]
    if op == "mul":
        x, y = args
        return [
            (gd * y + g * ts[1], Gd * fs[1] + G * ss[1]),
            (gd * x + g * ts[0], Gd * fs[0] + G * ss[0]),
        ]
    if op == "div":  # contributions g / y and -g x / y^2
        x, y = args
        inv2 = 1 / (y * y) + 2 * fs[1] / a(y) ** 3  # bounds |1/y^2| and its rounding
        return [
            (gd / y - g * ts[1] / (y * y), Gd * (1 / a(y) + fs[1] / (y * y)) + G * ss[1] * inv2),
            (
                -(gd * x + g * ts[0]) / (y * y) + 2 * g * x * ts[1] / y**3,
                (Gd * fs[0] + G * ss[0]) * inv2
                + 2 * G * fs[0] * ss[1] * (1 / a(y) ** 3 + 3 * fs[1] / y**4),
            ),
        ]
    if op == "matmul":
        x, y = args
        return [
            (gd @ y.T + g @ ts[1].T, Gd @ fs[1].T + G @ ss[1].T),
            (ts[0].T @ g + x.T @ gd, ss[0].T @ G + fs[0].T @ Gd),
        ]
    if op in ("sum", "mean"):
        n, shape = _mean_count(node, args[0], fw.values[k]), args[0].shape
        return [(_expand(gd, node.axis, shape) / n, _expand(Gd, node.axis, shape) / n)]
    if op == "softmax":  # contribution v (g - sum(g v))
        ax, v, fv = node.axis, fw.values[k], fw.fscales[k]
        tv, sv = fw.tangents[k], fw.scales[k]

        def total(t: Any) -> Any:
            return np.sum(t, axis=ax, keepdims=True)

        return [
            (
                tv * (g - total(g * v)) + v * (gd - total(gd * v + g * tv)),
                sv * (G + total(G * fv)) + fv * (Gd + total(Gd * fv + G * sv)),
            )
        ]
    d1, d2, b1, b2 = _unary(node, args[0], fw.values[k], fs[0])  # contribution g f'(u)
    return [(gd * d1 + g * d2 * ts[0], Gd * b1 + G * b2 * ss[0])]


@dataclass
class HessianVector:
    """The gradient of a scalar expression (from :func:`conformance.oracles.first_order.analytic`)
    and its Hessian-vector product, per input, with scales."""

    tangents: Tangents
    grads: list[np.ndarray]
    grad_scales: list[np.ndarray]
    hvps: list[np.ndarray]
    hvp_scales: list[np.ndarray]


def hessian_vector(
    expr: Expr, inputs: Sequence[np.ndarray], vectors: Sequence[np.ndarray]
) -> HessianVector:
    """``grad f`` and ``H v`` of the scalar ``expr`` at ``inputs``, for one vector per
    input: the reverse pass of the first-order oracle, differentiated along ``vectors``."""
    fw = forward_tangents(expr, inputs, vectors)
    ref = analytic(expr, inputs)
    if fw.value.size != 1:
        raise ValueError(f"a Hessian-vector product needs a scalar output, not {fw.value.shape}")
    n = len(expr.nodes)
    dots: list[Pair | None] = [None] * n
    dots[expr.output] = (np.zeros_like(fw.value), np.zeros_like(fw.value))
    for k in range(n - 1, -1, -1):
        node, g, G, dot = expr.nodes[k], ref.adjoints[k], ref.scales[k], dots[k]
        if g is None or G is None or dot is None or node.op in ("input", "const"):
            continue
        for i, (c, cs) in zip(node.args, _vjp_tangent(node, fw, k, (g, G), dot), strict=True):
            shape = fw.values[i].shape
            c, cs = unbroadcast(np.asarray(c), shape), unbroadcast(np.asarray(cs), shape)
            prev = dots[i]
            dots[i] = (c, cs) if prev is None else (prev[0] + c, prev[1] + cs)
    hvps, hvp_scales = [], []
    for i, x in enumerate(inputs):
        dot = dots[expr.input_node(i)]
        zeros = np.zeros(np.shape(x))
        hvps.append(zeros if dot is None else dot[0])
        hvp_scales.append(zeros if dot is None else dot[1])
    return HessianVector(
        fw,
        [ref.grad(i) for i in range(len(inputs))],
        [ref.grad_scale(i) for i in range(len(inputs))],
        hvps,
        hvp_scales,
    )


# -- the complex step: an independent second opinion ---------------------------------------


def _stepped(inputs: Sequence[np.ndarray], tangents: Sequence[np.ndarray]) -> list[np.ndarray]:
    return [
        np.asarray(x, np.float64) + 1j * STEP * np.asarray(t, np.float64)
        for x, t in zip(inputs, tangents, strict=True)
    ]


def complex_step_jvp(
    expr: Expr, inputs: Sequence[np.ndarray], tangents: Sequence[np.ndarray]
) -> np.ndarray:
    """``J t`` by the complex step through the forward pass."""
    _known_ops_only(expr)
    values, _ = forward(expr, _stepped(inputs, tangents), np.complex128)
    return np.imag(values[expr.output]) / STEP


def complex_step_hvp(
    expr: Expr, inputs: Sequence[np.ndarray], vectors: Sequence[np.ndarray]
) -> list[np.ndarray]:
    """``H v`` by the complex step through the first-order analytic reverse pass."""
    _known_ops_only(expr)
    ref = analytic(expr, _stepped(inputs, vectors), work=np.complex128)
    return [np.imag(ref.grad(i)) / STEP for i in range(len(inputs))]
