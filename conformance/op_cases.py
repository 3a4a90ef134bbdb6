"""The op diagnosis (OP-1): each op alone, on fixed inputs of every shape class it takes.

Deterministic and small, so that it runs first and fast, and so that one op's bug shows
as its own rows instead of hiding behind whichever random expression found it first.
Inputs are well conditioned for the op (positive for log and sqrt, away from relu's
kink and from zero divisors); the expected VJP comes from the numpy oracle.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from conformance.backend import REDUCTIONS
from conformance.expr import Case
from conformance.oracles import Tracer
from conformance.strategies import rounded

ELEMENTWISE = ("add", "sub", "mul", "div")
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


def _case(op: str, shapes: tuple[tuple[int, ...], ...], dtype: str, **attrs: int | None) -> Case:
    tr = Tracer()
    positive = op in POSITIVE_ONLY
    for i, shape in enumerate(shapes):
        tr.input(_values(shape, dtype, positive, shift=0.37 * i))
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
        shape_class: str, shapes: tuple[tuple[int, ...], ...], **attrs: int | None
    ) -> Iterator[OpCase]:
        if shape_class in classes:
            yield OpCase(op, shape_class, _case(op, shapes, dtype, **attrs))

    if op in ELEMENTWISE:
        for name, pair in _PAIRS.items():
            yield from make(name, pair)
    elif op == "matmul":
        yield from make("matrix", ((2, 3), (3, 2)))
    elif op in REDUCTIONS:
        for name, shape in _SINGLE.items():
            yield from make(name, (shape,), axis=None)
        for axis in (0, 1):
            yield from make("reduction axis", ((2, 3),), axis=axis)
    elif op == "softmax":
        yield from make("vector", ((3,),), axis=0)
        for axis in (0, 1):
            yield from make("reduction axis", ((2, 3),), axis=axis)
    else:  # elementwise unary, pow
        exponent = POW_EXPONENT if op == "pow" else None
        for name, shape in _SINGLE.items():
            yield from make(name, (shape,), exponent=exponent)


def describe_row(item: OpCase) -> str:
    """The row's name in the op table: shape class, and the axis where there is one."""
    node = item.case.expr.nodes[item.case.expr.output]
    return item.shape_class + (f" {node.axis}" if item.shape_class == "reduction axis" else "")
