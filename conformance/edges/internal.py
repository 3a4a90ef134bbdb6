"""Non-finite values made inside a graph from finite inputs: ``x * nan`` (a NaN from
``log`` of a negative number), ``0 * inf``, ``log(0)``, ``exp`` of a large number,
``inf - inf``, division by zero, ``sqrt`` of a negative difference.

A compiler that folds or fuses them can lose them (a fused ``exp(x * nan)`` that returns a
denormal, a NaN "cleaned" to 0 between two kernels), where they were never an input. Each
case mixes a special element with an ordinary one, so that what must stay finite is
there too. The expected value and gradients are the chain rule in IEEE 754 arithmetic,
closed form per case (``x * log(z)`` at z = -1: the value and dx are NaN, dz is the
finite x / z), computed by the float64 oracle on the same inputs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from conformance.edges.tiers import EdgeCase, Limits
from conformance.oracles.expr import Case
from conformance.oracles.first_order import Tracer

Build = Callable[[Tracer, Sequence[int]], int]


def _cases(dtype: str) -> list[tuple[str, frozenset[str], list[list[float]], Build]]:
    """(the op making the special value, the ops needed, the inputs, the graph)."""
    # exp overflows in float64 too, so that the float64 oracle's IEEE answer is the dtype's
    big = 2.0 * Limits.of("float64").exp_max
    return [
        # exp(x * log(z)), z < 0: a NaN made by log, then through mul and exp
        (
            "log",
            frozenset({"log", "mul", "exp"}),
            [[1.5, 0.5], [-1.0, 2.0]],
            lambda tr, x: tr.exp(tr.mul(x[0], tr.log(x[1]))),
        ),
        # y * exp(x): 0 * inf where exp overflows
        (
            "exp",
            frozenset({"exp", "mul"}),
            [[big, 0.5], [0.0, 1.5]],
            lambda tr, x: tr.mul(x[1], tr.exp(x[0])),
        ),
        # x * log(y), y = 0: -inf from log(0)
        (
            "log",
            frozenset({"log", "mul"}),
            [[2.0, 1.5], [0.0, 2.0]],
            lambda tr, x: tr.mul(x[0], tr.log(x[1])),
        ),
        # exp(a) - exp(b), both overflowing: inf - inf
        (
            "sub",
            frozenset({"exp", "sub"}),
            [[big, 0.5], [big, 1.5]],
            lambda tr, x: tr.sub(tr.exp(x[0]), tr.exp(x[1])),
        ),
        # x / y at y = 0: +-inf and 0 / 0
        (
            "div",
            frozenset({"div"}),
            [[1.5, 0.0, 2.0], [0.0, 0.0, 0.5]],
            lambda tr, x: tr.div(x[0], x[1]),
        ),
        # sqrt(x - y), x < y: a NaN made by sqrt of a negative difference
        (
            "sqrt",
            frozenset({"sqrt", "sub"}),
            [[1.0, 3.0], [2.0, 1.0]],
            lambda tr, x: tr.sqrt(tr.sub(x[0], x[1])),
        ),
    ]


def internal_nonfinite_cases(dtype: str, ops: frozenset[str]) -> list[EdgeCase]:
    """The cases whose ops the engine has, each an :class:`EdgeCase` named by the op that
    makes its special value; their cotangent is ones (an ordinary output gradient)."""
    out = []
    for op, needs, inputs, build in _cases(dtype):
        if not needs <= ops:
            continue
        tr = Tracer()
        xs = [tr.input(np.asarray(x, np.float64).astype(dtype).astype(np.float64)) for x in inputs]
        with np.errstate(all="ignore"):
            y = build(tr, xs)
        v = np.ones(tr.values[y].shape)
        case = Case(tr.expr(y), tuple(tr.values[k] for k in xs), dtype, v)
        out.append(EdgeCase(op, case))
    return out
