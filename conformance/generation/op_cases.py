"""The op diagnosis (OP-1): each op alone, on fixed inputs of every shape class it takes.

Deterministic and small, so that it runs first and fast, and so that one op's bug shows
as its own rows instead of hiding behind whichever random expression found it first.
Inputs are well conditioned for the op (positive for log and sqrt, away from relu's
kink and from zero divisors; for the extra ops, distinct values, so no kink, tie or clip
bound is near, and take's indices repeat); the expected VJP comes from the numpy oracle.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from conformance.engine import EXTRA_OPS, REDUCTIONS
from conformance.generation.strategies import rounded
from conformance.oracles.expr import Case
from conformance.oracles.first_order import Tracer

ELEMENTWISE = ("add", "sub", "mul", "div", "maximum", "minimum")
REDUCING = (*REDUCTIONS, "max", "min", "prod")  # over everything, or along an axis
ALONG_AXIS = ("softmax", "logsumexp", "log_softmax")  # along an axis only
POSITIVE_ONLY = ("log", "sqrt")
POW_EXPONENT = 3  # an odd power: its derivative keeps the sign of its input
# shape class -> the operand shapes an elementwise binary op gets
_PAIRS = {
    "0-d": ((), ()),
    "(1,)": ((1,), (1,)),
    "vector": ((3,), (3,)),
    "matrix": ((2, 3), (2, 3)),
    "broadcast pair": ((2, 3), (3,)),
}
_SINGLE = {"0-d": (), "(1,)": (1,), "vector": (3,), "matrix": (2, 3)}


@dataclass(frozen=True)
class OpCase:
    op: str
    shape_class: str
    case: Case


def _values(shape: tuple[int, ...], dtype: str, positive: bool, shift: float) -> np.ndarray:
    """Magnitudes spread over [0.4, 1.6], alternating in sign unless ``positive``."""
    size = int(np.prod(shape))
    mags = np.linspace(0.4, 1.6, size) if size > 1 else np.array([0.9])
    mags = (mags + shift) % 1.2 + 0.4  # the second operand differs from the first
    signs = np.ones(size) if positive else np.where(np.arange(size) % 2, -1.0, 1.0)
    return rounded((mags * signs).reshape(shape), dtype)


def _spread(shape: tuple[int, ...], dtype: str, i: int) -> np.ndarray:
    """For the extra ops: distinct magnitudes in [0.4, 1.7], alternating in sign, the
    second operand's reversed and shifted, so no two values (nor two magnitudes) of an
    operand, nor an element and its partner, are near each other."""
    size = int(np.prod(shape))
    mags = np.linspace(0.4, 1.6, size) if size > 1 else np.array([0.9])
    mags = mags[::-1] + 0.1 if i else mags
    signs = np.where((np.arange(size) + i) % 2, -1.0, 1.0)
    return rounded((mags * signs).reshape(shape), dtype)


def _clip_bounds(x: np.ndarray, dtype: str) -> tuple[float, float]:
    """Bounds between the values: below the two smallest and above the two largest
    clipped, any between passed (one value: passed, bounds 0.5 away)."""
    v = np.sort(np.ravel(x))
    if v.size == 1:
        low, high = v[0] - 0.5, v[0] + 0.5
    else:
        low = (v[0] + v[1]) / 2
        high = (v[-2] + v[-1]) / 2 if v.size > 2 else v[-1] + 0.5
    return float(rounded(low, dtype)), float(rounded(high, dtype))


def _case(op: str, shapes: tuple[tuple[int, ...], ...], dtype: str, **attrs: Any) -> Case:
    tr = Tracer()
    positive = op in POSITIVE_ONLY
    for i, shape in enumerate(shapes):
        extra = op in EXTRA_OPS
        tr.input(_spread(shape, dtype, i) if extra else _values(shape, dtype, positive, 0.37 * i))
    if op == "clip":
        attrs["bounds"] = _clip_bounds(tr.values[0], dtype)
    out = tr.apply(op, tuple(range(len(shapes))), **attrs)
    shape = tr.values[out].shape
    # a one-element output is differentiated as a scalar; any other with an output gradient
    cotangent = (
        None
        if not shape
        else rounded(np.linspace(0.3, 1.2, tr.values[out].size).reshape(shape), dtype)
    )
    inputs = tuple(tr.values[k] for k, n in enumerate(tr.nodes) if n.op == "input")
    return Case(tr.expr(out), inputs, dtype, cotangent)


def op_cases(op: str, dtype: str, classes: tuple[str, ...]) -> Iterator[OpCase]:
    """``op`` alone on every shape class among ``classes`` that it takes."""

    def make(
        shape_class: str, shapes: tuple[tuple[int, ...], ...], **attrs: Any
    ) -> Iterator[OpCase]:
        if shape_class in classes:
            yield OpCase(op, shape_class, _case(op, shapes, dtype, **attrs))

    if op in ELEMENTWISE:
        for name, pair in _PAIRS.items():
            yield from make(name, pair)
    elif op == "matmul":
        yield from make("matrix", ((2, 3), (3, 2)))
    elif op in REDUCING:
        for name, shape in _SINGLE.items():
            yield from make(name, (shape,), axis=None)
        for axis in (0, 1):
            yield from make("reduction axis", ((2, 3),), axis=axis)
    elif op in ALONG_AXIS:
        yield from make("vector", ((3,),), axis=0)
        for axis in (0, 1):
            yield from make("reduction axis", ((2, 3),), axis=axis)
    elif op in ("take", "concatenate"):  # along each axis; take's indices repeat
        for name, shape, axis, more in (
            ("(1,)", (1,), 0, ((0, 0), (1,))),
            ("vector", (3,), 0, ((2, 0, 2), (2,))),
            ("reduction axis", (2, 3), 0, ((1, 1, 0), (1, 3))),
            ("reduction axis", (2, 3), 1, ((2, 0, 2, 1), (2, 2))),
        ):
            if op == "take":
                yield from make(name, (shape,), axis=axis, indices=more[0])
            else:
                yield from make(name, (shape, more[1]), axis=axis)
    elif op == "reshape":
        targets = {"0-d": (1,), "(1,)": (), "vector": (3, 1), "matrix": (3, 2)}
        for name, shape in _SINGLE.items():
            yield from make(name, (shape,), shape=targets[name])
    else:  # elementwise unary, pow, clip, transpose
        exponent = POW_EXPONENT if op == "pow" else None
        for name, shape in _SINGLE.items():
            yield from make(name, (shape,), exponent=exponent)


def describe_row(item: OpCase) -> str:
    """The row's name in the op table: shape class, and the axis where there is one."""
    node = item.case.expr.nodes[item.case.expr.output]
    return item.shape_class + (f" {node.axis}" if item.shape_class == "reduction axis" else "")
