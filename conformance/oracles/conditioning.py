"""Where each op is well defined and well conditioned: the strategies' domain rules.

An op node is applied only where its maths is easy at the values at hand (see
:mod:`conformance.generation.strategies`): log, sqrt and real powers on values >= 0.2, divisors and
negative and zeroth powers away from 0, exp on values <= 3, every kink and tie (relu and abs at 0,
maximum and minimum between their operands, clip at its bounds, the largest and the
second largest element of a max or min) farther from the values than any rounding of
them could move them, products and log-sum-exps of bounded arguments, and every
intermediate bounded. A correct engine is then never blamed for the mathematics.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from conformance.oracles.expr import Expr, Node

MAX_VALUE, MAX_SCALE = 1e3, 1e5  # bounds on every intermediate and its forward scale
GAP, REL_GAP = 0.05, 1e-3  # a kink or tie is this far (absolute, relative to scales)
PROD_BOUND = 100.0  # the largest product of magnitudes (at least 1 each) prod may take
LSE_BOUND = 30.0  # the largest magnitude logsumexp and log_softmax may take


def apart(x: Any, y: Any, fx: Any, fy: Any) -> bool:
    """Do ``x`` and ``y`` (broadcasting) differ by more than rounding could move them
    (forward scales ``fx``, ``fy``), and by at least :data:`GAP`?"""
    gap = np.abs(np.asarray(x) - np.asarray(y))
    return bool(np.all(gap >= np.maximum(GAP, REL_GAP * (np.asarray(fx) + np.asarray(fy)))))


def _runner_up_apart(a: np.ndarray, fa: np.ndarray, axis: int | None, largest: bool) -> bool:
    """In each group max (``largest``) or min reduces, the chosen element is apart from
    the next one, so no tie is within reach."""
    x = a.reshape(-1) if axis is None else np.moveaxis(a, axis, -1)
    f = fa.reshape(-1) if axis is None else np.moveaxis(fa, axis, -1)
    if x.shape[-1] < 2:
        return True
    order = np.argsort(x, axis=-1)
    order = order[..., ::-1] if largest else order
    xs, fs = np.take_along_axis(x, order, -1), np.take_along_axis(f, order, -1)
    return apart(xs[..., 0], xs[..., 1], fs[..., 0], fs[..., 1])


def domain_ok(node: Node, args: Sequence[np.ndarray], fargs: Sequence[np.ndarray]) -> bool:
    """Is ``node``'s op well defined and well conditioned at these argument values?"""
    op = node.op
    if op in ("log", "sqrt"):
        return bool(np.min(args[0]) >= 0.2)
    if op == "exp":
        return bool(np.max(args[0]) <= 3.0)
    if op in ("relu", "abs"):  # far from the kink compared with any rounding of the argument
        return apart(args[0], 0.0, fargs[0], 0.0)
    if op in ("maximum", "minimum"):
        return apart(args[0], args[1], fargs[0], fargs[1])
    if op == "clip":
        assert node.bounds is not None
        low, high = node.bounds
        return low < high and all(apart(args[0], b, fargs[0], 0.0) for b in (low, high))
    if op in ("max", "min"):
        return _runner_up_apart(args[0], fargs[0], node.axis, op == "max")
    if op == "prod":  # every partial product bounded, every factor away from 0
        a = np.abs(args[0])
        partial = np.prod(np.maximum(a, 1.0), axis=node.axis)
        return bool(np.min(a, initial=np.inf) >= GAP and np.max(partial) <= PROD_BOUND)
    if op in ("logsumexp", "log_softmax"):
        return bool(np.max(np.abs(args[0])) <= LSE_BOUND)
    if op == "div":
        return bool(np.min(np.abs(args[1])) >= 0.3)
    if op == "pow":
        p = node.exponent
        if not isinstance(p, int):  # real exponent: positive bases only
            return bool(np.min(args[0]) >= 0.2)
        # negative powers, and the 0th, whose derivative 0 * x ** -1 is 0 * inf at 0
        return p > 0 or bool(np.min(np.abs(args[0])) >= 0.3)
    return True


def result_ok(value: np.ndarray, fscale: np.ndarray) -> bool:
    return bool(
        np.all(np.isfinite(value))
        and np.max(np.abs(value), initial=0) <= MAX_VALUE
        and np.max(fscale, initial=0) <= MAX_SCALE
    )


def well_conditioned(
    expr: Expr, values: Sequence[np.ndarray], fscales: Sequence[np.ndarray]
) -> bool:
    """Every op node of ``expr`` passes :func:`domain_ok` and :func:`result_ok`."""
    for k, node in enumerate(expr.nodes):
        if node.op in ("input", "const"):
            continue
        args = [values[i] for i in node.args]
        if not (
            domain_ok(node, args, [fscales[i] for i in node.args])
            and result_ok(values[k], fscales[k])
        ):
            return False
    return True


# -- the extra ops' parameters -------------------------------------------------------


def clip_cuts(a: np.ndarray, fa: np.ndarray) -> list[float]:
    """Where clip's bounds may go for the values ``a``: between two of them, where the
    gap leaves room, and beyond the smallest and the largest (a bound that clips nothing);
    each :func:`apart` from every value."""
    x, f = np.ravel(a), np.ravel(fa)
    order = np.argsort(x)
    x, f = x[order], f[order]
    margin = np.maximum(GAP, REL_GAP * f) + GAP  # room for rounding the bound itself
    cuts = [float(x[0] - margin[0] - 0.5)]
    for i in range(len(x) - 1):
        mid = (x[i] + x[i + 1]) / 2
        if mid - x[i] >= margin[i] and x[i + 1] - mid >= margin[i + 1]:
            cuts.append(float(mid))
    cuts.append(float(x[-1] + margin[-1] + 0.5))
    return cuts


def reshape_targets(shape: tuple[int, ...]) -> list[tuple[int, ...]]:
    """Other shapes of the same size, of rank at most 3: flat, sides reversed, split in
    two factors, or with a side of 1 added."""
    size = int(np.prod(shape))
    found = {(size,), tuple(reversed(shape)), (1, *shape), (*shape, 1)}
    found |= {(d, size // d) for d in range(1, size + 1) if size % d == 0}
    if size == 1:
        found.add(())
    return sorted(s for s in found if s != shape and len(s) <= 3)
