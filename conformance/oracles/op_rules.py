"""Each op's forward definition, derivative rule and scales, for the numpy oracles.

numpy only. :class:`NumpyOps` is the ops' forward definition (real or complex: the
complex step runs through it, so an op that is not holomorphic, as abs or max, takes its
branch from the real part of its arguments and is linear on each branch);
:func:`local_vjp` is each op's reverse-mode rule and :func:`forward_scale` the bound on
an engine's forward error, as :mod:`conformance.oracles.first_order` (which re-exports these names)
uses them.

At ties and kinks the rules are the protocol's (:mod:`conformance.engine.protocol`): maximum and
minimum, and the max and min reductions, split the gradient evenly among tied elements.
At a kink (abs and relu at 0, clip at its bounds) the rules take 0, the subgradient
torch and numpy's sign use; the strategies keep every kink and tie away from the values
they draw, so no claim of the well-conditioned tier depends on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from conformance.oracles.expr import Node

# ops with kinks or ties: the numeric oracle takes central differences through them
NON_ANALYTIC = frozenset({"relu", "abs", "maximum", "minimum", "clip", "max", "min"})


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

    def abs(self, a: Any) -> Any:
        return np.where(np.real(a) >= 0, a, -a)

    def maximum(self, a: Any, b: Any) -> Any:
        return np.where(np.real(a) >= np.real(b), a, b)

    def minimum(self, a: Any, b: Any) -> Any:
        return np.where(np.real(a) <= np.real(b), a, b)

    def clip(self, a: Any, low: float, high: float) -> Any:
        r = np.real(a)
        return np.where(r < low, low, np.where(r > high, high, a))

    def max(self, a: Any, axis: int | None = None) -> Any:
        return _choose(a, axis, np.argmax)

    def min(self, a: Any, axis: int | None = None) -> Any:
        return _choose(a, axis, np.argmin)

    def prod(self, a: Any, axis: int | None = None) -> Any:
        return np.asarray(np.prod(a, axis=axis))

    def logsumexp(self, a: Any, axis: int) -> Any:
        # shift by a real constant, as softmax does
        m = np.max(np.real(a), axis=axis, keepdims=True)
        return np.log(np.sum(np.exp(a - m), axis=axis)) + np.squeeze(m, axis)

    def log_softmax(self, a: Any, axis: int) -> Any:
        return a - np.expand_dims(self.logsumexp(a, axis), axis)

    def reshape(self, a: Any, shape: tuple[int, ...]) -> Any:
        return np.reshape(a, shape)

    def transpose(self, a: Any) -> Any:
        return np.transpose(a)

    def take(self, a: Any, indices: Sequence[int], axis: int) -> Any:
        return np.take(a, list(indices), axis=axis)

    def concatenate(self, a: Any, b: Any, axis: int) -> Any:
        return np.concatenate([a, b], axis=axis)

    def detach(self, a: Any) -> Any:
        return a


NUMPY = NumpyOps()


def _choose(a: Any, axis: int | None, arg: Any) -> np.ndarray:
    """The element ``arg`` (argmax or argmin) picks by real part, overall or along ``axis``."""
    a = np.asarray(a)
    if axis is None:
        return np.asarray(a.reshape(-1)[arg(np.real(a).reshape(-1))])
    at = np.expand_dims(arg(np.real(a), axis=axis), axis)
    return np.squeeze(np.take_along_axis(a, at, axis), axis)


def _chosen(a: np.ndarray, v: np.ndarray, axis: int | None) -> np.ndarray:
    """Per element of ``a``: its share of the gradient of max or min (value ``v``):
    1 / (the number of tied elements) where it equals its group's result, else 0."""
    hit = (np.real(a) == np.real(_expand(v, axis, a.shape))).astype(np.float64)
    return hit / np.sum(hit, axis=axis, keepdims=True)


def _pair(op: str, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """maximum's (or minimum's) share of the gradient for each operand: 1 for the one it
    picks, a half each at a tie (broadcast shape)."""
    ra, rb = np.real(a), np.real(b)
    first = (ra > rb) if op == "maximum" else (ra < rb)
    share = np.where(first, 1.0, np.where(ra == rb, 0.5, 0.0))
    return share, 1.0 - share


def _others(a: np.ndarray, axis: int | None) -> np.ndarray:
    """Per element, the product of the other elements of its group (along ``axis``, or of
    all), by products from each side: no division, so exact at a zero."""
    a = np.asarray(a)
    x = a.reshape(-1) if axis is None else np.moveaxis(a, axis, -1)
    ones = np.ones_like(x[..., :1])
    left = np.concatenate([ones, np.cumprod(x[..., :-1], axis=-1)], axis=-1)
    right = np.concatenate([np.cumprod(x[..., :0:-1], axis=-1)[..., ::-1], ones], axis=-1)
    out = left * right
    return out.reshape(a.shape) if axis is None else np.moveaxis(out, -1, axis)


def _untake(g: np.ndarray, indices: Sequence[int], axis: int, shape: tuple[int, ...]) -> Any:
    """take's adjoint: each slice of ``g`` added back at its index (repeats add up)."""
    out = np.zeros(shape, dtype=np.result_type(g))
    np.add.at(np.moveaxis(out, axis, 0), list(indices), np.moveaxis(g, axis, 0))
    return out


def _softmax_of(a: np.ndarray, lse: np.ndarray, fa: np.ndarray, axis: int) -> tuple[Any, Any]:
    """softmax along ``axis`` from its log-sum-exp ``lse``, and a bound on how far the
    forward errors move it: those of ``a`` (``fa``) and of ``lse``, which are at most
    ``sum(s fa)`` and the rounding of ``max |a| + log n`` (the shift)."""
    s = np.exp(a - np.expand_dims(lse, axis))
    fs = np.abs(s)
    around = 1 + np.sum(fs * fa, axis=axis, keepdims=True) + np.max(fa, axis=axis, keepdims=True)
    return s, fs * (1 + fa + around)


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
    if op == "abs":  # the sign of the real part: linear on each side of the kink
        return np.sign(np.real(u)).astype(u.dtype), np.ones_like(u)
    if op == "clip":  # passes strictly inside the bounds, flat outside
        assert node.bounds is not None
        low, high = node.bounds
        m = ((np.real(u) > low) & (np.real(u) < high)).astype(u.dtype)
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
    moved = _moved(node, args, fs, v)  # extra ops that move or pick values: no rounding
    if moved is not None:
        return moved
    if op == "prod":  # the others' product times each factor's error, summed
        return av + np.sum(np.abs(_others(np.abs(args[0]), node.axis)) * fs[0], axis=node.axis)
    if op in ("logsumexp", "log_softmax"):
        ax = node.axis
        assert ax is not None
        lse = v if op == "logsumexp" else NUMPY.logsumexp(args[0], ax)
        s, _ = _softmax_of(args[0], lse, fs[0], ax)
        # a - max(a) is rounded, then weighted by the softmax: sum(s |a|) + max|a|
        spread = np.sum(np.abs(s) * fs[0], axis=ax) + np.max(fs[0], axis=ax)
        return av + (spread if op == "logsumexp" else fs[0] + np.expand_dims(spread, ax))
    d, _ = _unary(node, args[0], v, fs[0])
    return av + np.abs(d) * fs[0]


def _moved(
    node: Node, args: Sequence[np.ndarray], fs: Sequence[np.ndarray], v: np.ndarray
) -> np.ndarray | None:
    """The forward scale of an op whose result is some of its arguments' values, moved
    or picked (each carries its own error, nothing is rounded), else None."""
    op = node.op
    if op in ("maximum", "minimum"):
        first, second = _pair(op, args[0], args[1])
        return first * fs[0] + second * fs[1]
    if op in ("max", "min"):
        return np.asarray(np.sum(_chosen(args[0], v, node.axis) * fs[0], axis=node.axis))
    if op == "reshape":
        return np.reshape(fs[0], v.shape)
    if op == "transpose":
        return np.transpose(fs[0])
    if op == "take":
        assert node.indices is not None and node.axis is not None
        return np.take(fs[0], list(node.indices), axis=node.axis)
    if op == "concatenate":
        return np.concatenate([fs[0], fs[1]], axis=node.axis)
    return None


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
    extra = _extra_vjp(node, args, fs, v, g, G)
    if extra is not None:
        return extra
    d, bound = _unary(node, args[0], v, fs[0])
    return [(g * d, G * bound)]


def _extra_vjp(
    node: Node,
    args: Sequence[np.ndarray],
    fs: Sequence[np.ndarray],
    v: np.ndarray,
    g: np.ndarray,
    G: np.ndarray,
) -> list[tuple[Any, Any]] | None:
    """:func:`local_vjp` of the extra ops that are not elementwise, else None."""
    op, ax = node.op, node.axis
    shape = np.shape(args[0])
    if op in ("maximum", "minimum"):
        first, second = _pair(op, args[0], args[1])
        return [(g * first, G * first), (g * second, G * second)]
    if op in ("max", "min"):
        share = _chosen(args[0], v, ax)
        return [(_expand(g, ax, shape) * share, _expand(G, ax, shape) * share)]
    if op == "prod":  # d/dx_i = the others' product; it rounds about once per factor
        n = args[0].size // max(v.size, 1)
        bound = n * np.abs(_others(fs[0], ax))
        return [(_expand(g, ax, shape) * _others(args[0], ax), _expand(G, ax, shape) * bound)]
    if op == "logsumexp":  # the softmax, from the value
        assert ax is not None
        s, fsm = _softmax_of(args[0], v, fs[0], ax)
        return [(_expand(g, ax, shape) * s, _expand(G, ax, shape) * fsm)]
    if op == "log_softmax":  # g - softmax * sum(g)
        assert ax is not None
        s, fsm = _softmax_of(args[0], NUMPY.logsumexp(args[0], ax), fs[0], ax)
        total = np.sum(g, axis=ax, keepdims=True)
        return [(g - s * total, G + fsm * np.sum(G, axis=ax, keepdims=True))]
    if op == "reshape":
        return [(np.reshape(g, shape), np.reshape(G, shape))]
    if op == "transpose":
        return [(np.transpose(g), np.transpose(G))]
    if op == "take":
        assert node.indices is not None and ax is not None
        return [(_untake(g, node.indices, ax, shape), _untake(G, node.indices, ax, shape))]
    if op == "concatenate":
        assert ax is not None
        cut = [shape[ax]]
        return list(zip(np.split(g, cut, axis=ax), np.split(G, cut, axis=ax), strict=True))
    return None
