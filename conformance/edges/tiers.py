"""The input tiers beyond the well-conditioned one (:mod:`conformance.generation.strategies`).

* ``edge``: exact zeros and signed zeros, values at and straddling kinks, clip bounds and
  ties, tiny magnitudes down to the dtype's smallest normal, large ones up to where the
  dtype overflows, and the saturated regions of tanh, sigmoid, softmax and logsumexp;
* ``nonfinite``: NaN and +-inf among ordinary values.

Each draw is one op applied to arrays that mix the tier's special values with ordinary
ones (so that what a special value must not reach is there to be checked), with a
cotangent of ordinary values: an :class:`EdgeCase`. The values are chosen per op and per
dtype, and always well clear of a threshold where a correctly rounded result could go
either way (an overflow boundary), and of products whose value depends on the order of
multiplying (:func:`order_free`), so that a correct engine is never blamed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from hypothesis import strategies as st

from conformance.oracles.expr import Case, Expr, Node, apply
from conformance.oracles.first_order import NUMPY

TIERS = ("conditioned", "edge", "nonfinite")

SMOOTH_UNARY = ("exp", "log", "sqrt", "tanh", "sigmoid", "sin", "cos")
PIECEWISE_UNARY = ("relu", "abs")
SOFTMAX_LIKE = ("softmax", "logsumexp", "log_softmax")
# exponents whose derivative at 0 is 0, finite, or +inf: never a pole of the value
POWERS = (2, 3, 0.5, 1.5, 2.5)


@dataclass(frozen=True)
class Limits:
    """A float dtype's range, as float64 numbers."""

    tiny: float  # the smallest positive normal
    big: float  # the largest finite
    exp_max: float  # log(big): exp overflows above it

    @classmethod
    def of(cls, dtype: str) -> Limits:
        info = np.finfo(np.dtype(dtype))
        return cls(float(info.tiny), float(info.max), float(np.log(info.max)))


@dataclass(frozen=True, eq=False)
class EdgeCase:
    """One op at a tier's values: the case (an expression with one op node), the op, and
    which inputs hold the special values."""

    op: str
    case: Case
    exponent: float | None = None
    axis: int | None = None

    def __repr__(self) -> str:
        return repr(self.case)

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:  # Hypothesis's printer
        p.text(repr(self))


Answer = tuple[Any, Sequence[Any]]  # (value, grads) an engine gave for an EdgeCase


def rounded(x: Any, dtype: str) -> np.ndarray:
    with np.errstate(over="ignore"):
        return np.asarray(x, dtype=np.float64).astype(dtype).astype(np.float64)


def beside(x: float, dtype: str, toward: float) -> float:
    """The float of ``dtype`` next to ``x`` in the direction of ``toward``."""
    return float(np.nextafter(np.asarray(x, dtype), toward))


def ordinary(dtype: str) -> st.SearchStrategy[float]:
    """Plain values, magnitudes in [0.5, 2], either sign."""
    mag = st.floats(0.5, 2.0)
    return st.tuples(mag, st.sampled_from([-1.0, 1.0])).map(lambda t: t[0] * t[1])


# -- the edge tier: extremes and saturation (SR-1) --------------------------------------


def extreme_pool(op: str, dtype: str, exponent: float | None = None) -> list[float]:
    """Special values for ``op`` in ``dtype``: where a naive formula overflows, underflows,
    cancels or divides zero by zero. Results clear of the overflow boundary by at least a
    factor e (or 4), either way, so the rounded true value is unambiguous."""
    lim = Limits.of(dtype)
    t, b, e = lim.tiny, lim.big, lim.exp_max
    mid = 1e-30 if dtype == "float32" else 1e-300  # tiny but normal
    if op == "exp":
        return [0.0, -0.0, t, -t, e - 1, e - 3, -(e - 1), -(e + 30), e + 1, -1e4, 1e4, -b]
    if op == "prod":
        f, s = prod_factors(dtype)
        return [0.0, -0.0, 0.0, f, -f, 1 / f, s, -s]
    if op == "log":
        return [t, 4 * t, mid, float(np.nextafter(np.float32(1), 2)), b / 4, b, 0.0]
    if op == "sqrt":
        return [0.0, t, 4 * t, mid, b / 4, b]
    if op in ("tanh", "sigmoid"):
        mags = [10.0, 20.0, 40.0, 100.0, 1e3, b, t]
        return [s * m for m in mags for s in (1.0, -1.0)] + [0.0, -0.0]
    if op in PIECEWISE_UNARY:
        return [s * m for m in (t, 4 * t, 1e30, b) for s in (1.0, -1.0)]
    if op == "pow":
        assert exponent is not None
        if exponent <= 1:  # no overflow: the largest values instead
            return [0.0, t, mid, b / 4, b, 1e10]
        root = b ** (1 / exponent)  # x ** p overflows above it
        return [0.0, t, mid, root / 4, root * 4, 1e10]
    if op == "div":  # the divisor's values: quotients up to ~2/tiny, squares under/overflow
        return [t, -t, 4 * t, b, -b, mid]
    raise ValueError(f"no extreme values for {op!r}")


def prod_factors(dtype: str) -> tuple[float, float]:
    """prod's huge and tiny factors in ``dtype``: products of 3 huge ones stay finite, of
    4 overflow; a tiny one squared underflows past the smallest subnormal, while times
    ordinary values it stays far above the tolerance's atol, so a product can underflow
    to 0 where its gradient (the product of the others) does not."""
    return (1e10, 1e-25) if dtype == "float32" else (1e80, 1e-200)


def order_free(x: np.ndarray, axis: int | None, dtype: str) -> bool:
    """Whether each product that prod along ``axis`` and its gradient take (each group's,
    and each group's less one factor) is the same, up to rounding, in every order of
    multiplying. Engines order a reduction as they please, so a partial product that
    overflows where the whole is finite, or underflows where it is not 0, would blame a
    correct engine for its order."""
    groups = x.reshape(1, -1) if axis is None else np.moveaxis(x, axis, -1)
    rows = groups.reshape(-1, groups.shape[-1])
    products = [(row, *(np.delete(row, k) for k in range(len(row)))) for row in rows]
    return all(_in_any_order(factors, dtype) for group in products for factors in group)


def _in_any_order(factors: np.ndarray, dtype: str) -> bool:
    """Whether the product of ``factors`` is the same in every order of multiplying: what
    some order reaches on the way (an overflow, a value below the normal range) must not
    change it."""
    lim = Limits.of(dtype)
    logs = np.log(np.abs(factors[factors != 0]))
    overflow = np.sum(logs[logs > 0]) > np.log(lim.big)
    underflow = np.sum(logs[logs < 0]) < np.log(lim.tiny)
    total = np.sum(logs)
    if np.any(factors == 0) or total < np.log(lim.tiny):
        return not overflow  # 0 (or below the atol) in any order, unless 0 * inf gives NaN
    if total > np.log(lim.big):
        return not underflow  # inf in any order, unless 0 * inf gives NaN
    return not (overflow or underflow)


def softmax_rows(dtype: str) -> st.SearchStrategy[list[float]]:
    """A row for softmax, logsumexp and log_softmax: a large common offset plus spreads
    from 0 to far beyond exp's range, so that the naive exp(x) / sum(exp(x)) overflows
    or underflows to 0 / 0 while the true values are finite."""
    lim = Limits.of(dtype)
    offsets = st.sampled_from([0.0, 1e3, -1e3, 1e4, -1e4, lim.exp_max + 10])
    spreads = st.sampled_from([0.0, 0.0, 1.0, -1.0, 50.0, -50.0, 200.0, -200.0, -1e3])
    return st.tuples(offsets, st.lists(spreads, min_size=2, max_size=4)).map(
        lambda t: [t[0] + s for s in t[1]]
    )


@st.composite
def _array(
    draw: Any, pool: Sequence[float], dtype: str, shape: tuple[int, ...], positive: bool = False
) -> np.ndarray:
    """An array mixing ``pool``'s values with ordinary ones, at least one from ``pool``."""
    size = int(np.prod(shape))
    special = st.sampled_from(list(pool))
    plain = ordinary(dtype).map(abs) if positive else ordinary(dtype)
    flat = draw(st.lists(st.one_of(special, plain), min_size=size, max_size=size))
    flat[draw(st.integers(0, size - 1))] = draw(special)
    return rounded(np.reshape(np.asarray(flat, dtype=np.float64), shape), dtype)


def _cotangent(draw: Any, shape: tuple[int, ...], dtype: str) -> np.ndarray:
    flat = draw(
        st.lists(ordinary(dtype), min_size=int(np.prod(shape)), max_size=int(np.prod(shape)))
    )
    return rounded(np.reshape(np.asarray(flat, dtype=np.float64), shape), dtype)


def one_op_case(
    op: str,
    inputs: Sequence[np.ndarray],
    dtype: str,
    cotangent: np.ndarray,
    **attrs: Any,
) -> EdgeCase:
    """``op`` applied to ``inputs`` (with its ``axis``, ``exponent`` or ``bounds``), as a
    case with its output gradient."""
    nodes = [Node("input", shape=x.shape, index=i) for i, x in enumerate(inputs)]
    probe = Node(op, tuple(range(len(inputs))), **attrs)
    with np.errstate(all="ignore"):
        shape = np.shape(apply(NUMPY, probe, list(inputs)))
    nodes.append(Node(op, probe.args, shape=shape, **attrs))
    case = Case(Expr(tuple(nodes), len(inputs)), tuple(inputs), dtype, cotangent)
    return EdgeCase(op, case, attrs.get("exponent"), attrs.get("axis"))


_SHAPES = st.sampled_from([(3,), (4,), (2, 2), (1,)])


@st.composite
def extreme_cases(draw: Any, dtype: str, ops: Sequence[str]) -> EdgeCase:
    """SR-1's draw: one op among ``ops`` at its extreme and saturating values."""
    op = draw(st.sampled_from(list(ops)))
    if op in SOFTMAX_LIKE:
        rows = draw(st.lists(softmax_rows(dtype), min_size=1, max_size=2))
        width = min(len(r) for r in rows)
        x = rounded(np.asarray([r[:width] for r in rows]), dtype)
        axis = 1
        if draw(st.booleans()):  # the same rows along axis 0
            x, axis = x.T.copy(), 0
        shape = x.shape[:axis] + x.shape[axis + 1 :] if op == "logsumexp" else x.shape
        return one_op_case(op, [x], dtype, _cotangent(draw, shape, dtype), axis=axis)
    if op == "prod":
        axis = draw(st.sampled_from([None, 0, 1]))
        arrays = _array(extreme_pool(op, dtype), dtype, (2, 3))
        x = draw(arrays.filter(lambda x: order_free(x, axis, dtype)))
        out = () if axis is None else x.shape[:axis] + x.shape[axis + 1 :]
        return one_op_case(op, [x], dtype, _cotangent(draw, out, dtype), axis=axis)
    shape = draw(_SHAPES)
    if op == "div":
        a = _plain_array(draw, shape, dtype)
        b = draw(_array(extreme_pool("div", dtype), dtype, shape))
        return one_op_case(op, [a, b], dtype, _cotangent(draw, shape, dtype))
    exponent = draw(st.sampled_from(POWERS)) if op == "pow" else None
    positive = op in ("log", "sqrt") or (exponent is not None and not float(exponent).is_integer())
    x = draw(_array(extreme_pool(op, dtype, exponent), dtype, shape, positive))
    return one_op_case(op, [x], dtype, _cotangent(draw, shape, dtype), exponent=exponent)


def _plain_array(draw: Any, shape: tuple[int, ...], dtype: str) -> np.ndarray:
    return _cotangent(draw, shape, dtype)


# -- the edge tier: kinks and ties (KP-1) ----------------------------------------------


@st.composite
def kink_cases(draw: Any, dtype: str, ops: Sequence[str]) -> EdgeCase:
    """KP-1's draw: one op at and around its non-differentiable points: relu and abs at
    0 and +-0 and at +-tiny beside it, maximum/minimum on equal and adjacent operands,
    clip at and beside its bounds, max/min reductions with tied and nearly tied
    elements."""
    op = draw(st.sampled_from(list(ops)))
    shape = draw(_SHAPES)
    t = Limits.of(dtype).tiny
    if op in PIECEWISE_UNARY:
        x = draw(_array([0.0, -0.0, t, -t, 0.0], dtype, shape))
        return one_op_case(op, [x], dtype, _cotangent(draw, shape, dtype))
    if op in ("maximum", "minimum"):
        a = _plain_array(draw, shape, dtype)
        how = draw(
            st.lists(
                st.sampled_from(["tie", "tie", "above", "below", "other"]),
                min_size=a.size,
                max_size=a.size,
            )
        )
        b = a.copy().reshape(-1)
        for k, h in enumerate(how):
            if h in ("above", "below"):  # the adjacent float: no tie, a clear winner
                b[k] = float(beside(b[k], dtype, np.inf if h == "above" else -np.inf))
            elif h == "other":
                b[k] = draw(ordinary(dtype))
        b = rounded(b.reshape(shape), dtype)
        return one_op_case(op, [a, b], dtype, _cotangent(draw, shape, dtype))
    if op in ("max", "min"):
        rows = []
        for _ in range(draw(st.integers(1, 2))):
            row = [draw(ordinary(dtype)) for _ in range(draw(st.integers(3, 4)))]
            row = list(rounded(np.asarray(row), dtype))
            best = max(row) if op == "max" else min(row)
            k = draw(st.integers(0, len(row) - 1))
            if draw(st.booleans()):  # a tie at the extreme
                row[k] = best
            else:  # nearly a tie: the adjacent float, just inside
                inward = -np.inf if op == "max" else np.inf
                row[k] = beside(best, dtype, inward)
            rows.append(row)
        width = min(len(r) for r in rows)
        x = rounded(np.asarray([r[:width] for r in rows]), dtype)
        axis = 1
        if draw(st.booleans()):
            x, axis = x.T.copy(), 0
        shape_out = x.shape[:axis] + x.shape[axis + 1 :]
        return one_op_case(op, [x], dtype, _cotangent(draw, shape_out, dtype), axis=axis)
    if op == "clip":
        # Python floats, as the protocol passes clip's bounds (a numpy float64 would
        # promote a float32 operand in some engines)
        low, high = sorted(
            float(v) for v in rounded([draw(ordinary(dtype)), draw(ordinary(dtype))], dtype)
        )
        if low == high:
            high = low + 1.0
        near = [beside(b, dtype, d) for b in (low, high) for d in (-np.inf, np.inf)]
        x = draw(_array([low, high, low, high, *near], dtype, shape))
        return one_op_case(op, [x], dtype, _cotangent(draw, shape, dtype), bounds=(low, high))
    raise ValueError(f"no kink cases for {op!r}")


# -- the nonfinite tier (NF-1) ---------------------------------------------------------

NONFINITE = (float("nan"), float("inf"), float("-inf"))


@st.composite
def nonfinite_cases(draw: Any, dtype: str, ops: Sequence[str]) -> EdgeCase:
    """NF-1's draw: one op on arrays holding NaN and +-inf among ordinary values (for a
    binary op, in one operand; softmax-like ops get NaN and -inf, never a whole row of
    -inf, where the answer is not defined)."""
    op = draw(st.sampled_from(list(ops)))
    shape = draw(_SHAPES)
    if op in SOFTMAX_LIKE:
        x = draw(_array([float("nan"), float("-inf")], dtype, (2, 3)))
        axis = draw(st.sampled_from([0, 1]))
        rows = np.moveaxis(x, axis, -1)  # a view: each row is a slice along the axis
        for row in rows:  # a slice of -inf alone has no defined softmax
            if np.all(np.isneginf(row)):
                row[0] = 0.5
        shape_out = x.shape[:axis] + x.shape[axis + 1 :] if op == "logsumexp" else x.shape
        return one_op_case(op, [x], dtype, _cotangent(draw, shape_out, dtype), axis=axis)
    if op in ("add", "sub", "mul", "div"):
        special = draw(_array(NONFINITE, dtype, shape))
        plain = _plain_array(draw, shape, dtype)
        pair = [special, plain] if draw(st.booleans()) else [plain, special]
        return one_op_case(op, pair, dtype, _cotangent(draw, shape, dtype))
    x = draw(_array(NONFINITE, dtype, shape))
    if op in ("sum", "mean"):
        axis = draw(st.sampled_from([None, 0]))
        shape_out = () if axis is None else x.shape[1:]
        return one_op_case(op, [x], dtype, _cotangent(draw, shape_out, dtype), axis=axis)
    exponent = draw(st.sampled_from([2, 3])) if op == "pow" else None
    return one_op_case(op, [x], dtype, _cotangent(draw, shape, dtype), exponent=exponent)


# -- every special value at once: the deterministic grids -------------------------------


def _grid_cotangent(shape: tuple[int, ...], dtype: str) -> np.ndarray:
    """Ordinary output gradients of alternating sign, none of them 0."""
    n = int(np.prod(shape))
    flat = np.linspace(0.5, 2.0, n) * np.where(np.arange(n) % 2, -1.0, 1.0) if n > 1 else [1.25]
    return rounded(np.reshape(np.asarray(flat, np.float64), shape), dtype)


def _grid(op: str, inputs: Sequence[Any], dtype: str, **attrs: Any) -> EdgeCase:
    xs = [rounded(np.asarray(x, np.float64), dtype) for x in inputs]
    with np.errstate(all="ignore"):
        out = np.shape(apply(NUMPY, Node(op, tuple(range(len(xs))), **attrs), xs))
    return one_op_case(op, xs, dtype, _grid_cotangent(out, dtype), **attrs)


def _rows_grid(op: str, rows: Sequence[Sequence[float]], dtype: str) -> list[EdgeCase]:
    """``op`` along each of ``rows`` (axis 1), and along the same rows as columns (axis 0)."""
    x = np.asarray(rows, np.float64)
    return [_grid(op, [x], dtype, axis=1), _grid(op, [x.T.copy()], dtype, axis=0)]


def extreme_grid(op: str, dtype: str) -> list[EdgeCase]:
    """SR-1's deterministic part: ``op`` at every one of its extreme values at once."""
    if op == "prod":
        f, s = prod_factors(dtype)
        # one zero, two zeros, huge factors, and a product that overflows and one that
        # underflows to 0, each where products of the others (the gradient) do not
        rows = [
            [0.0, 1.5, -0.75, 2.0],
            [0.0, 0.0, 1.25, 1.0],
            [f, f, f, 1.5],
            [f, -f, f, f],
            [s, -s, 1.5, 2.0],
        ]
        # Each row in a tensor of its own, since an engine may pick its gradient's formula
        # per tensor (torch: the exact products of the others for the whole tensor if it
        # holds a zero, else prod / x): rows with zeros must not choose it for the others.
        # All rows in one tensor too, which is distinct: it judges that zero-safe path on
        # the rows that overflow and underflow.
        alone = [edge for row in rows for edge in _rows_grid(op, [row], dtype)]
        return alone + _rows_grid(op, rows, dtype)
    if op in SOFTMAX_LIKE:
        e = Limits.of(dtype).exp_max
        rows = [
            [1e3, 999.0, -1e3],
            [1e4, 1e4, 1e4 - 50],
            [-1e3, -1e3 - 1, -1e3 - 200],
            [e + 10, 0.0, -(e + 10)],
        ]
        return _rows_grid(op, rows, dtype)
    if op == "div":
        pool = extreme_pool("div", dtype)
        return [_grid(op, [np.linspace(0.5, 2.0, len(pool)), pool], dtype)]
    if op == "pow":
        return [_grid(op, [extreme_pool(op, dtype, p)], dtype, exponent=p) for p in POWERS]
    return [_grid(op, [extreme_pool(op, dtype)], dtype)]


def nonfinite_grid(op: str, dtype: str) -> list[EdgeCase]:
    """NF-1's deterministic part: ``op`` on NaN, +inf and -inf beside ordinary values."""
    special = [float("nan"), float("inf"), float("-inf"), 0.75, -1.5]
    if op in SOFTMAX_LIKE:
        rows = [
            [float("nan"), 1.0, 2.0],
            [float("-inf"), 1.0, 2.0],
            [float("-inf"), float("-inf"), 0.5],
        ]
        return _rows_grid(op, rows, dtype)
    if op in ("add", "sub", "mul", "div"):
        plain = [1.5, -0.75, 2.0, 0.5, -1.25]
        return [_grid(op, [special, plain], dtype), _grid(op, [plain, special], dtype)]
    if op in ("sum", "mean"):
        rows = [[float("nan"), 1.0], [float("inf"), 1.0], [float("inf"), float("-inf")]]
        return [_grid(op, [rows], dtype, axis=axis) for axis in (None, 0, 1)]
    if op == "pow":
        return [_grid(op, [special], dtype, exponent=p) for p in (2, 3)]
    return [_grid(op, [special], dtype)]


def kink_grid(op: str, dtype: str) -> list[EdgeCase]:
    """KP-1's deterministic part: ``op`` at its kinks and ties, and right beside them."""
    t = Limits.of(dtype).tiny
    if op in PIECEWISE_UNARY:
        return [_grid(op, [[0.0, -0.0, t, -t, 1.0, -1.0]], dtype)]
    if op in ("maximum", "minimum"):
        a = rounded([1.0, -2.0, 0.0, 0.75, 1.5], dtype)
        up, down = beside(0.75, dtype, np.inf), beside(1.5, dtype, -np.inf)
        return [_grid(op, [a, [1.0, -2.0, -0.0, up, down]], dtype)]
    if op == "clip":
        low, high = -0.5, 1.25
        near = [beside(b, dtype, d) for b in (low, high) for d in (-np.inf, np.inf)]
        return [_grid(op, [[low, high, *near, 0.0, 2.0, -2.0]], dtype, bounds=(low, high))]
    rows = [[1.0, 1.0, 0.5], [-2.0, 0.25, 0.25], [1.5, 0.5, 1.5]]  # ties for max and for min
    return [*_rows_grid(op, rows, dtype), _grid(op, [rows], dtype)]


def _within_ulp(a: np.ndarray, b: np.ndarray, dtype: str) -> np.ndarray:
    spacing = np.abs(np.spacing(np.asarray(b, dtype=dtype))).astype(np.float64)
    return np.asarray(np.abs(np.asarray(a) - np.asarray(b)) <= spacing)


def at_kink(edge: EdgeCase) -> bool:
    """Does the case hold a kink, tie or bound, or the float right beside one (KP-1's
    subject)?"""
    case, dtype = edge.case, edge.case.dtype
    x = case.inputs[0]
    if edge.op in PIECEWISE_UNARY:
        return bool(np.any(np.abs(x) <= Limits.of(dtype).tiny))
    if edge.op in ("maximum", "minimum"):
        return bool(np.any(_within_ulp(x, case.inputs[1], dtype)))
    if edge.op == "clip":
        low, high = (np.asarray(b) for b in case.expr.nodes[-1].bounds or (np.nan, np.nan))
        return bool(np.any(_within_ulp(x, low, dtype) | _within_ulp(x, high, dtype)))
    best = np.max(x, axis=edge.axis, keepdims=True) if edge.op == "max" else None
    if best is None:
        best = np.min(x, axis=edge.axis, keepdims=True)
    close = np.sum(_within_ulp(x, best, dtype), axis=edge.axis)
    return bool(np.any(close >= 2))
