"""References for the edge claims, independent of every engine and of the float64
derivative rules of :mod:`conformance.oracles.first_order`.

* SR-1: each op's value and vector-Jacobian product evaluated in mpmath at 50 significant
  digits on the exact inputs, then rounded to the dtype: the true answer, overflowing to
  inf exactly where the dtype's range ends, free of the cancellation and overflow a
  float64 formula suffers at the same inputs.
* NF-1: IEEE 754 limits, op by op (:data:`NF_RULES`), with the elements whose gradient is
  not defined marked unchecked.
* KP-1: the subdifferential at each kink, as an interval per element.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import mpmath
import numpy as np

from conformance.edges.tiers import EdgeCase

DIGITS = 50


# -- SR-1: mpmath ---------------------------------------------------------------------


def _mp_unary(op: str, x: Any, p: float | None) -> tuple[Any, Any]:
    """(f(x), f'(x)) in mpmath."""
    if op == "exp":
        v = mpmath.exp(x)
        return v, v
    if op == "log":
        return (mpmath.log(x), 1 / x) if x else (mpmath.ninf, mpmath.inf)
    if op == "sqrt":
        return (mpmath.sqrt(x), 1 / (2 * mpmath.sqrt(x))) if x else (mpmath.mpf(0), mpmath.inf)
    if op == "tanh":
        v = mpmath.tanh(x)
        return v, mpmath.sech(x) ** 2
    if op == "sigmoid":
        e = mpmath.exp(-abs(x))  # e <= 1: no overflow at either end
        v = 1 / (1 + e) if x >= 0 else e / (1 + e)
        return v, e / (1 + e) ** 2
    if op == "relu":
        return (x, mpmath.mpf(1)) if x > 0 else (mpmath.mpf(0), mpmath.mpf(0))
    if op == "abs":
        return abs(x), mpmath.sign(x)
    if op == "pow":
        assert p is not None
        if x == 0:  # p > 0 here: 0 ** p = 0, and p x^(p-1) is 0, p (p = 1) or +inf
            return mpmath.mpf(0), (mpmath.mpf(0) if p > 1 else mpmath.inf)
        return mpmath.power(x, p), p * mpmath.power(x, p - 1)
    raise ValueError(f"no mpmath rule for {op!r}")


def _to_dtype(values: Sequence[Any], shape: tuple[int, ...], dtype: str) -> np.ndarray:
    """mpmath numbers rounded to ``dtype`` (inf beyond its range), held in float64."""
    flat = np.array([float(v) for v in values], dtype=np.float64)
    with np.errstate(over="ignore", under="ignore"):
        return flat.reshape(shape).astype(dtype).astype(np.float64)


def _mp_rows(x: np.ndarray, axis: int) -> tuple[np.ndarray, list[tuple[int, ...]]]:
    moved = np.moveaxis(x, axis, -1)
    return moved, list(np.ndindex(moved.shape[:-1]))


def _softmax_like(op: str, x: np.ndarray, g: np.ndarray, axis: int) -> tuple[list[Any], list[Any]]:
    """Value and VJP of softmax, logsumexp or log_softmax along ``axis``, in mpmath."""
    moved, rows = _mp_rows(x, axis)
    gm = g if op == "logsumexp" else np.moveaxis(g, axis, -1)
    out = np.empty(moved.shape[:-1] if op == "logsumexp" else moved.shape, dtype=object)
    grad = np.empty(moved.shape, dtype=object)
    for idx in rows:
        xs = [mpmath.mpf(float(v)) for v in moved[idx]]
        top = max(xs)
        es = [mpmath.exp(v - top) for v in xs]
        total = mpmath.fsum(es)
        s = [e / total for e in es]
        if op == "softmax":
            gs = [mpmath.mpf(float(v)) for v in gm[idx]]
            dot = mpmath.fsum(a * b for a, b in zip(gs, s, strict=True))
            out[idx] = np.array(s, dtype=object)
            grad[idx] = np.array(
                [si * (gi - dot) for si, gi in zip(s, gs, strict=True)], dtype=object
            )
        elif op == "log_softmax":
            gs = [mpmath.mpf(float(v)) for v in gm[idx]]
            lse = top + mpmath.log(total)
            out[idx] = np.array([v - lse for v in xs], dtype=object)
            gsum = mpmath.fsum(gs)
            grad[idx] = np.array(
                [gi - si * gsum for si, gi in zip(s, gs, strict=True)], dtype=object
            )
        else:  # logsumexp
            gi = mpmath.mpf(float(gm[idx]))
            out[idx] = top + mpmath.log(total)
            grad[idx] = np.array([gi * si for si in s], dtype=object)
    if op != "logsumexp":
        out = np.moveaxis(out, -1, axis)
    return list(out.reshape(-1)), list(np.moveaxis(grad, -1, axis).reshape(-1))


def _mp_prod(x: np.ndarray, g: np.ndarray, axis: int | None) -> tuple[list[Any], list[Any]]:
    """prod along ``axis`` (None: all) and its VJP, g times the product of the others."""
    moved = x.reshape(1, -1) if axis is None else np.moveaxis(x, axis, -1)
    gm = np.reshape(g, moved.shape[:-1])
    vals = np.empty(moved.shape[:-1], dtype=object)
    grads = np.empty(moved.shape, dtype=object)
    for idx in np.ndindex(moved.shape[:-1]):
        xs = [mpmath.mpf(float(v)) for v in moved[idx]]
        vals[idx] = mpmath.fprod(xs)
        gi = mpmath.mpf(float(gm[idx]))
        others = [mpmath.fprod(xs[:k] + xs[k + 1 :]) for k in range(len(xs))]
        grads[idx] = np.array([gi * o for o in others], dtype=object)
    back = grads.reshape(x.shape) if axis is None else np.moveaxis(grads, -1, axis)
    return list(vals.reshape(-1)), list(back.reshape(-1))


def exact(edge: EdgeCase) -> tuple[np.ndarray, list[np.ndarray]]:
    """SR-1's reference: the true value and gradients, rounded to the case's dtype."""
    case, dtype = edge.case, edge.case.dtype
    assert case.cotangent is not None
    g = case.cotangent
    with mpmath.workdps(DIGITS):
        if edge.op in ("softmax", "logsumexp", "log_softmax"):
            assert edge.axis is not None
            (x,) = case.inputs
            vals, grads = _softmax_like(edge.op, x, g, edge.axis)
            out_shape = g.shape
            return _to_dtype(vals, out_shape, dtype), [_to_dtype(grads, x.shape, dtype)]
        if edge.op == "prod":
            (x,) = case.inputs
            vals, grads = _mp_prod(x, g, edge.axis)
            return _to_dtype(vals, g.shape, dtype), [_to_dtype(grads, x.shape, dtype)]
        if edge.op == "div":
            a, b = case.inputs
            va, ga, gb = [], [], []
            for ai, bi, gi in zip(a.reshape(-1), b.reshape(-1), g.reshape(-1), strict=True):
                A, B, G = (mpmath.mpf(float(t)) for t in (ai, bi, gi))
                va.append(A / B)
                ga.append(G / B)
                gb.append(-G * A / (B * B))
            return _to_dtype(va, a.shape, dtype), [
                _to_dtype(ga, a.shape, dtype),
                _to_dtype(gb, b.shape, dtype),
            ]
        (x,) = case.inputs
        vals, grads = [], []
        for xi, gi in zip(x.reshape(-1), g.reshape(-1), strict=True):
            v, d = _mp_unary(edge.op, mpmath.mpf(float(xi)), edge.exponent)
            vals.append(v)
            grads.append(mpmath.mpf(float(gi)) * d)
        return _to_dtype(vals, x.shape, dtype), [_to_dtype(grads, x.shape, dtype)]


# -- NF-1: IEEE limits ---------------------------------------------------------------

Arrays = tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))  # exp(-inf) = 0 and exp(inf) = inf give the limits 1, 0


def _unary_rule(
    f: Callable[[np.ndarray], np.ndarray],
    df: Callable[[np.ndarray], np.ndarray],
    defined: Callable[[np.ndarray], np.ndarray] | None = None,
) -> Callable[..., Arrays]:
    """An elementwise op's IEEE value and gradient; ``defined``: where its derivative has
    a value to check (default: everywhere, NaN included: f'(NaN) is NaN)."""

    def rule(x: np.ndarray, g: np.ndarray, edge: EdgeCase) -> Arrays:
        checked = np.ones(x.shape, bool) if defined is None else defined(x)
        return f(x), [g * df(x)], [checked]

    return rule


def _softmax_rule(x: np.ndarray, g: np.ndarray, edge: EdgeCase) -> Arrays:
    """softmax, logsumexp, log_softmax by the shifted formula: -inf entries give exp = 0
    exactly, a NaN anywhere in a slice makes the whole slice NaN."""
    ax = edge.axis
    top = np.max(x, axis=ax, keepdims=True)
    e = np.exp(x - top)
    total = np.sum(e, axis=ax, keepdims=True)
    s = e / total
    lse = top + np.log(total)
    checked = [np.ones(x.shape, bool)]
    if edge.op == "softmax":
        return s, [s * (g - np.sum(g * s, axis=ax, keepdims=True))], checked
    if edge.op == "log_softmax":
        return x - lse, [g - s * np.sum(g, axis=ax, keepdims=True)], checked
    assert ax is not None  # softmax-like ops take an axis
    gk = np.expand_dims(g, ax)
    return np.squeeze(lse, axis=ax), [gk * s], checked


def _binary_rule(op: str) -> Callable[..., Arrays]:
    def rule(a: np.ndarray, b: np.ndarray, g: np.ndarray, edge: EdgeCase) -> Arrays:
        every = np.ones(a.shape, bool)
        if op == "add":
            return a + b, [g, g], [every, every]
        if op == "sub":
            return a - b, [g, -g], [every, every]
        if op == "mul":
            return a * b, [g * b, g * a], [every, every]
        return a / b, [g / b, -g * a / (b * b)], [every, every]

    return rule


def _reduction_rule(x: np.ndarray, g: np.ndarray, edge: EdgeCase) -> Arrays:
    """sum and mean: the value takes every element, the gradient none of their values."""
    n = 1 if edge.op == "sum" else (x.size if edge.axis is None else x.shape[edge.axis])
    value = np.sum(x, axis=edge.axis) if edge.op == "sum" else np.mean(x, axis=edge.axis)
    gk = g if edge.axis is None else np.expand_dims(g, edge.axis)
    return np.asarray(value), [np.broadcast_to(gk / n, x.shape).copy()], [np.ones(x.shape, bool)]


def _not_nan(x: np.ndarray) -> np.ndarray:
    return ~np.isnan(x)


#: op -> rule(inputs..., cotangent, edge) -> (value, grads, which grad elements are checked)
NF_RULES: dict[str, Callable[..., Arrays]] = {
    "neg": _unary_rule(np.negative, lambda x: -np.ones_like(x)),
    "exp": _unary_rule(np.exp, np.exp),
    "log": _unary_rule(np.log, lambda x: 1 / x, lambda x: ~(x < 0)),  # log(-inf): no derivative
    "sqrt": _unary_rule(np.sqrt, lambda x: 0.5 / np.sqrt(x), lambda x: ~(x < 0)),
    "sin": _unary_rule(np.sin, np.cos),
    "cos": _unary_rule(np.cos, lambda x: -np.sin(x)),
    "tanh": _unary_rule(np.tanh, lambda x: 1 - np.tanh(x) ** 2),
    "sigmoid": _unary_rule(_sigmoid, lambda x: _sigmoid(x) * (1 - _sigmoid(x))),
    # piecewise: at NaN the derivative is a comparison, false either way: no IEEE answer
    "relu": _unary_rule(lambda x: np.maximum(x, 0), lambda x: (x > 0).astype(float), _not_nan),
    "abs": _unary_rule(np.abs, np.sign, _not_nan),
    "softmax": _softmax_rule,
    "logsumexp": _softmax_rule,
    "log_softmax": _softmax_rule,
    "sum": _reduction_rule,
    "mean": _reduction_rule,
    **{op: _binary_rule(op) for op in ("add", "sub", "mul", "div")},
}


def _pow_rule(x: np.ndarray, g: np.ndarray, edge: EdgeCase) -> Arrays:
    p = edge.exponent
    assert p is not None
    return x**p, [g * p * x ** (p - 1)], [np.ones(x.shape, bool)]


NF_RULES["pow"] = _pow_rule


def ieee(edge: EdgeCase) -> Arrays:
    """NF-1's reference for ``edge``: its IEEE value, gradients and checked elements."""
    case = edge.case
    assert case.cotangent is not None
    with np.errstate(all="ignore"):
        return NF_RULES[edge.op](*case.inputs, case.cotangent, edge)


# -- KP-1: subdifferentials ----------------------------------------------------------

Interval = tuple[np.ndarray, np.ndarray]  # per element: the least and greatest admissible


def _between(g: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> Interval:
    """g * [lo, hi] as an ordered interval (g may be negative)."""
    a, b = g * lo, g * hi
    return np.minimum(a, b), np.maximum(a, b)


def subgradients(edge: EdgeCase, conventions: dict[str, float]) -> tuple[list[Interval], str]:
    """Per input, the interval each gradient element must lie in, and what a tie or kink
    must satisfy beyond it (for reductions and maximum/minimum, the shares add up to g).
    A declared convention narrows a kink's interval to its one value."""
    case = edge.case
    assert case.cotangent is not None
    g, op = case.cotangent, edge.op
    if op in ("relu", "abs"):
        (x,) = case.inputs
        at = x == 0
        side = (x > 0).astype(float) if op == "relu" else np.sign(x)
        lo, hi = (0.0, 1.0) if op == "relu" else (-1.0, 1.0)
        if f"{op}_at_0" in conventions:
            lo = hi = conventions[f"{op}_at_0"]
        return [_between(g, np.where(at, lo, side), np.where(at, hi, side))], ""
    if op == "clip":
        (x,) = case.inputs
        low, high = edge.case.expr.nodes[-1].bounds or (-np.inf, np.inf)
        at = (x == low) | (x == high)
        inside = ((x > low) & (x < high)).astype(float)
        lo, hi = 0.0, 1.0
        if "clip_at_bound" in conventions:
            lo = hi = conventions["clip_at_bound"]
        return [_between(g, np.where(at, lo, inside), np.where(at, hi, inside))], ""
    if op in ("maximum", "minimum"):
        a, b = case.inputs
        wins = (a > b) if op == "maximum" else (a < b)
        tie = a == b
        lo, hi = 0.0, 1.0
        if f"{op}_tie" in conventions:
            lo = hi = conventions[f"{op}_tie"]
        share_lo = np.where(tie, lo, wins.astype(float))
        share_hi = np.where(tie, hi, wins.astype(float))
        first = _between(g, share_lo, share_hi)
        second = _between(g, 1 - share_hi, 1 - share_lo)
        return [first, second], "tied pairs' gradients add up to the output gradient"
    # max / min reductions along an axis
    (x,) = case.inputs
    axis = edge.axis
    best = (
        np.max(x, axis=axis, keepdims=True) if op == "max" else np.min(x, axis=axis, keepdims=True)
    )
    on = (x == best).astype(float)
    gk = np.broadcast_to(np.expand_dims(g, axis) if axis is not None else g, x.shape)
    return [
        _between(gk, np.zeros_like(x), on)
    ], "each slice's gradients add up to its output gradient"
