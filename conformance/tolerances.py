"""The numerical tolerance policy: one table per dtype, each entry with its reason.

A comparison passes when ``|actual - expected| <= rtol * scale + atol`` elementwise,
where ``scale`` is the magnitude the computation went through (for a gradient, the
same chain rule evaluated on absolute values: the size of the terms that were added
up), never only the size of the result. That judges cancellation fairly: a gradient
that is a small difference of large terms may carry the large terms' rounding error.

The expected values come from float64 numpy evaluated on the very inputs the backend
saw (already rounded to the dtype under test), so input rounding costs nothing; only
the engine's own arithmetic is judged.
"""

from __future__ import annotations

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
            "roundoffs of the scale; 1e-9 leaves six more orders of margin yet still "
            "catches any float32 (or lower) arithmetic in a float64 backward pass"
        ),
    ),
    "float32": Tolerance(
        rtol=1e-4,
        atol=1e-30,
        reason=(
            "unit roundoff 6e-8; the same depth budget gives errors up to ~1e-5 of the "
            "scale in a correct engine, so 1e-4 keeps a 10x margin, while float16 "
            "arithmetic (unit roundoff 4.9e-4, typical errors 1e-3) exceeds it"
        ),
    ),
}


def policy(dtype: str) -> Tolerance:
    """The tolerance for ``dtype``; every comparison in the suite goes through this."""
    return POLICY[dtype]


def within(actual: np.ndarray, expected: np.ndarray, scale: np.ndarray, dtype: str) -> np.ndarray:
    """Elementwise: is ``actual`` within the policy's bound of ``expected``?"""
    tol = policy(dtype)
    bound = tol.rtol * np.abs(scale) + tol.atol
    diff = np.abs(np.asarray(actual, dtype=np.float64) - np.asarray(expected, dtype=np.float64))
    # nan or inf in actual never passes; equal infinities do
    both_inf = np.isinf(actual) & (np.asarray(actual) == np.asarray(expected))
    return both_inf | (diff <= bound)
