"""The ``size`` input tier: a few computations on arrays of realistic size.

Compilers and eager kernels change strategy with size: vector widths and tiling past a
few dozen elements, multithreaded and blocked reductions past ~10^4 to 10^5 (torch's
CPU reductions split at 32768 elements per thread chunk, XLA tiles rows past 2^10 to
2^14), fusion thresholds, pairwise summation in blocks. A bug on such a path (a lost
block, a wrong scale) never shows on the 2-by-3 arrays of the other tiers. Each case
crosses those thresholds with one op on 10^5 to 10^6 elements and is judged by the
float64 oracle like any other expression: its gradient is a vector-Jacobian product
with a random output gradient, computed in O(n), never a Jacobian.

The inputs are drawn from a generator seeded by the case's name and dtype: the same
every run, like the edge grids, and rebuilt by ``size_case(name, dtype)`` (or, for a
compiler, all at once by ``combined_case``) in a reproduction: the arrays are too large
to print.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from conformance.generation.strategies import rounded
from conformance.oracles.expr import Case
from conformance.oracles.first_order import Tracer

LONG = 2**20  # about 10^6: past every reduction and vectorisation threshold above
ROW = 2**17  # a long row of a softmax, a logsumexp or a matmul's inner dimension
# max past the thread-chunk threshold (2^15) with room to spare: paddle 3.3.1's max/min
# gradient takes time quadratic in the length (2.2 s at 2^15, 9 s at 2^16, measured;
# about 40 minutes at 2^20), a speed finding, not a conformance one (paddle_xfails.toml)
ARGMAX = 2**16


@dataclass(frozen=True)
class SizeCase:
    name: str  # what the case is, e.g. "sum of 1048576"
    ops: frozenset[str]  # the ops it needs
    # records the computation on a tracer: its output node and output gradient (None for
    # a scalar output)
    build: Callable[[Tracer, np.random.Generator, str], tuple[int, np.ndarray | None]]
    elements: int  # its largest input's element count (what max_elements is held to)
    # run compiled too (CE-1): what a compiler rewrites at size, a long reduction, a long
    # softmax row, a matmul with a long inner side, a fused chain; the others' kernels are
    # the eager engine's, judged by CR-1 (compiling all nine doubles the tier's time)
    compiled: bool = False


def _uniform(rng: np.random.Generator, shape: tuple[int, ...], dtype: str) -> np.ndarray:
    """Magnitudes in [0.5, 1.5] with random signs: every element matters, none cancels."""
    signs = rng.choice([-1.0, 1.0], size=shape)
    return rounded(signs * rng.uniform(0.5, 1.5, size=shape), dtype)


def _reduce(op: str, shape: tuple[int, ...], axis: int | None) -> Callable[..., Any]:
    def build(tr: Tracer, rng: np.random.Generator, dtype: str) -> tuple[int, Any]:
        if op == "prod":  # factors near 1, so that the product stays near 1 at any length
            values = rounded(np.exp(rng.normal(0.0, 1e-3, size=shape)), dtype)
        else:
            values = _uniform(rng, shape, dtype)
            if op == "max":  # one clear maximum: a tie's share is KP-1's business
                k = np.argmax(values)
                values.flat[k] = rounded(values.flat[k] + 0.25, dtype)
        out = tr.apply(op, (tr.input(values),), axis=axis)
        shape_out = tr.values[out].shape
        return out, None if shape_out == () else _uniform(rng, shape_out, dtype)

    return build


def _matmul(tr: Tracer, rng: np.random.Generator, dtype: str) -> tuple[int, Any]:
    a = tr.input(_uniform(rng, (4, ROW), dtype))
    b = tr.input(_uniform(rng, (ROW, 3), dtype))
    return tr.apply("matmul", (a, b)), _uniform(rng, (4, 3), dtype)


def _chain(tr: Tracer, rng: np.random.Generator, dtype: str) -> tuple[int, Any]:
    """A chain of elementwise ops over one long array, reduced: what compilers fuse."""
    x = tr.input(_uniform(rng, (LONG,), dtype))
    y = tr.apply("mul", (tr.apply("tanh", (x,)), tr.apply("sin", (x,))))
    y = tr.apply("add", (y, tr.apply("exp", (tr.apply("neg", (tr.apply("mul", (x, x)),)),))))
    return tr.apply("sum", (y,)), None


SIZE_CASES: tuple[SizeCase, ...] = (
    SizeCase(f"sum of {LONG}", frozenset({"sum"}), _reduce("sum", (LONG,), None), LONG, True),
    SizeCase(f"mean of {LONG}", frozenset({"mean"}), _reduce("mean", (LONG,), None), LONG),
    SizeCase(f"max of {ARGMAX}", frozenset({"max"}), _reduce("max", (ARGMAX,), None), ARGMAX),
    SizeCase(f"prod of {LONG}", frozenset({"prod"}), _reduce("prod", (LONG,), None), LONG),
    SizeCase(f"sum of (4, {ROW}) rows", frozenset({"sum"}), _reduce("sum", (4, ROW), 1), 4 * ROW),
    SizeCase(
        f"logsumexp of (4, {ROW}) rows",
        frozenset({"logsumexp"}),
        _reduce("logsumexp", (4, ROW), 1),
        4 * ROW,
    ),
    SizeCase(
        f"softmax of (4, {ROW}) rows",
        frozenset({"softmax"}),
        _reduce("softmax", (4, ROW), 1),
        4 * ROW,
        True,
    ),
    SizeCase(f"(4, {ROW}) @ ({ROW}, 3)", frozenset({"matmul"}), _matmul, 4 * ROW, True),
    SizeCase(
        f"elementwise chain over {LONG}",
        frozenset({"mul", "tanh", "sin", "add", "exp", "neg", "sum"}),
        _chain,
        LONG,
        True,
    ),
)
_BY_NAME = {c.name: c for c in SIZE_CASES}


def _rng(name: str, dtype: str) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(f"{name}/{dtype}".encode()))


def size_case(name: str, dtype: str) -> Case:
    """The case called ``name`` in ``dtype``, with its inputs (the same every call)."""
    tr = Tracer()
    out, v = _BY_NAME[name].build(tr, _rng(name, dtype), dtype)
    return Case(tr.expr(out), _inputs(tr), dtype, v)


def combined_case(names: Sequence[str], dtype: str) -> tuple[Case, list[str]]:
    """The cases called ``names`` as one scalar expression (each output paired with its
    output gradient, then all added): one compilation runs them all, and each input's
    gradient is still its own case's. Also the name of the case each input belongs to."""
    tr = Tracer()
    total, owners = None, list[str]()
    for name in names:
        out, v = _BY_NAME[name].build(tr, _rng(name, dtype), dtype)
        owners += [name] * (tr.n_inputs - len(owners))
        if v is not None:
            out = tr.apply("sum", (tr.apply("mul", (out, tr.const(v))),))
        total = out if total is None else tr.apply("add", (total, out))
    assert total is not None, "no case named"
    return Case(tr.expr(total), _inputs(tr), dtype), owners


def _inputs(tr: Tracer) -> tuple[np.ndarray, ...]:
    return tuple(tr.values[k] for k, n in enumerate(tr.nodes) if n.op == "input")


def elements(case: Case) -> int:
    """The largest input's element count."""
    return max(int(np.size(x)) for x in case.inputs)
