"""The numerical tolerance policy: one table per dtype, each entry with its reason.

A comparison passes when ``|actual - expected| <= rtol * scale + atol`` elementwise,
where ``scale`` is the magnitude the computation went through (for a gradient, the
same chain rule evaluated on absolute values: the size of the terms that were added
up), never only the size of the result. That judges cancellation fairly: a gradient
that is a small difference of large terms may carry the large terms' rounding error.

The expected values come from float64 numpy evaluated on the very inputs the backend
saw (already rounded to the dtype under test), so input rounding costs nothing; only
the engine's own arithmetic is judged. For random expressions the scale is computed by
:func:`conformance.oracles.first_order.analytic`: a first-order bound that also covers the forward
values a derivative is computed from (``tanh' = 1 - y*y`` read at a rounded ``y``), so
that ``rtol`` can be a small multiple of the dtype's roundoff times the depth.

Forward mode (FM-1) and second derivatives (HO-2, LR-7) are judged by the same table,
against scales from :mod:`conformance.oracles.second_order`: the same magnitudes carried
through the tangent passes (``J t``, and the tangent of the reverse pass for ``H v``),
with each op's second and third derivatives bounded as the first is. An engine computes
them by one more pass over the same well-conditioned expressions, so its error stays the
same few roundoffs of that scale as a gradient's; each dtype's entry states what correct
engines were measured at, and the margin that leaves is the first-order one.

The edge tiers (:mod:`conformance.edges`) use the same table for finite expected
values; a NaN, an infinity, or a gradient at a kink outside its subdifferential is
judged by kind, with no tolerance at all.

Where a tolerance is not enough to tell rounding from a wrong derivative, the Taylor
test below gives a tolerance-free second opinion: the remainder of a first-order
expansion shrinks quadratically with the step for a correct gradient, linearly for a
wrong one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Tolerance:
    rtol: float
    atol: float
    reason: str


POLICY: dict[str, Tolerance] = {
    "float64": Tolerance(
        rtol=1e-9,
        atol=1e-300,
        reason=(
            "unit roundoff 1.1e-16; the strategies keep expressions shallow (a few dozen "
            "ops) and well conditioned, so a correct float64 engine stays within ~1e3 "
            "roundoffs of the scale (measured, torch 2.13: 1.2e-16 of the scale at most "
            "over 1000 random expressions); 1e-9 leaves six more orders of margin yet "
            "still catches any float32 (or lower) arithmetic in a float64 backward pass. "
            "Forward mode and Hessian-vector products, over 1000 random expressions each "
            "(jax: 300): at most 3.0e-16 of the scale for torch 2.13, 2.4e-16 for HIPS "
            "autograd 1.9.1, 2.0e-16 for jax 0.10.2. "
            "Edge tiers (SR-1, NF-1; finite expected values against the 50-digit or IEEE "
            "reference, the scale from the same magnitude model): at most 2.6e-7 of this "
            "bound for torch 2.13, jax 0.10.2 and HIPS autograd 1.9.1 (benchmarks/"
            "edge_errors.py, every extreme value per op plus 300 random cases each)"
        ),
    ),
    "float32": Tolerance(
        rtol=1e-4,
        atol=1e-30,
        reason=(
            "unit roundoff 6e-8; the same depth budget bounds a correct engine's error "
            "by ~1e-5 of the scale (measured, torch 2.13: 1.4e-7 at most over 1000 random "
            "expressions; the oracle's own rules run in float32: 7e-8), so 1e-4 keeps a "
            "10x margin over the bound, while float16 arithmetic in a backward pass "
            "(unit roundoff 4.9e-4) exceeds it on about 40% of random expressions. "
            "Forward mode and Hessian-vector products, over 1000 random expressions each "
            "(jax: 300): at most 2.3e-7 of the scale for torch 2.13, 2.6e-7 for HIPS "
            "autograd 1.9.1, 1.2e-7 for jax 0.10.2, so the 10x margin holds for them too. "
            "Edge tiers (SR-1, NF-1, as for float64): at most 1.1e-3 of this bound for "
            "torch 2.13, jax 0.10.2 and HIPS autograd 1.9.1: the magnitude model's scale "
            "for saturated and extreme values is generous, and the checks there are above "
            "all of kind (NaN, infinity, finite) and of gross size"
        ),
    ),
}


#: The size tier (conformance.generation.sizes): a reduction over n elements that an
#: engine accumulates in its dtype, sequentially or in blocks, errs by about sqrt(n)
#: roundoffs of the scale on random data (a random walk; pairwise summation: log n), so
#: past the policy's depth budget the bound grows as 16 sqrt(n) roundoffs. For float32 and
#: n = 2^20 that is 1e-3 of the scale; float64 stays at its policy. A wrong code path at
#: size (a lost block, a wrong factor) errs by far more.
SIZE_ROUNDOFFS_PER_SQRT_N = 16.0


def size_factor(n: int, dtype: str) -> float:
    """How much wider than the policy a reduction over ``n`` elements may err."""
    unit = float(np.finfo(np.dtype(dtype)).eps) / 2
    return max(1.0, SIZE_ROUNDOFFS_PER_SQRT_N * np.sqrt(n) * unit / policy(dtype).rtol)


def policy(dtype: str) -> Tolerance:
    """The tolerance for ``dtype``; every comparison in the suite goes through this."""
    return POLICY[dtype]


def bound(scale: np.ndarray, dtype: str) -> np.ndarray:
    """The largest admissible ``|actual - expected|`` for each element of ``scale``."""
    tol = policy(dtype)
    return tol.rtol * np.abs(np.asarray(scale, dtype=np.float64)) + tol.atol


def within(actual: np.ndarray, expected: np.ndarray, scale: np.ndarray, dtype: str) -> np.ndarray:
    """Elementwise: is ``actual`` within the policy's bound of ``expected``?"""
    diff = np.abs(np.asarray(actual, dtype=np.float64) - np.asarray(expected, dtype=np.float64))
    # nan or inf in actual never passes; equal infinities do
    both_inf = np.isinf(actual) & (np.asarray(actual) == np.asarray(expected))
    return both_inf | (diff <= bound(scale, dtype))


# -- a tolerance-free second opinion ---------------------------------------------------

# small enough to stay inside the strategies' domain margins (>= 0.2 from any singularity),
# and reaching far enough down that a wrong gradient's linear term dominates
TAYLOR_STEPS = tuple(2.0**-k for k in range(6, 13))


def taylor_remainders(
    f: Callable[[list[np.ndarray]], float],
    xs: Sequence[np.ndarray],
    grads: Sequence[np.ndarray],
    direction: Sequence[np.ndarray],
    steps: Sequence[float] = TAYLOR_STEPS,
) -> list[float]:
    """``|f(x + h d) - f(x) - h <grad, d>|`` for each step h, with f in float64.

    For a correct gradient the remainder is O(h^2) and halves twice per halving of h;
    for a wrong one it is dominated by ``h <grad - true, d>`` and halves once. No
    tolerance is involved: the observed order says which.
    """
    f0 = f([np.asarray(x, np.float64) for x in xs])
    slope = sum(
        float(np.sum(np.asarray(g, np.float64) * d)) for g, d in zip(grads, direction, strict=True)
    )
    out = []
    for h in steps:
        moved = [np.asarray(x, np.float64) + h * d for x, d in zip(xs, direction, strict=True)]
        out.append(abs(f(moved) - f0 - h * slope))
    return out


def taylor_orders(remainders: Sequence[float]) -> list[float]:
    """The observed order between consecutive steps (each half the previous one)."""
    return [
        float(np.log2(a / b)) if a > 0 and b > 0 else float("nan")
        for a, b in zip(remainders, remainders[1:], strict=False)
    ]


def taylor_verdict(remainders: Sequence[float], noise: float) -> str:
    """Plain words on :func:`taylor_remainders`: ``noise`` is the rounding level of f."""
    orders = taylor_orders(remainders)
    shown = ", ".join(f"{o:.2f}" for o in orders)
    if not all(np.isfinite(remainders)) or min(remainders) <= 100 * noise:
        return f"Taylor test inconclusive (remainders at rounding level; orders {shown})"
    # the smallest steps decide: there the linear term of a wrong gradient dominates
    # (larger steps may see it cancel against the curvature)
    if all(o < 1.5 for o in orders[-2:]):
        return (
            f"Taylor test: remainder orders {shown}; a correct gradient gives 2, so this "
            "gradient is wrong as mathematics, not only as rounding"
        )
    if all(o > 1.5 for o in orders[-2:]):
        return f"Taylor test: remainder orders {shown}: consistent with a correct gradient"
    return f"Taylor test inconclusive (remainder orders {shown})"
