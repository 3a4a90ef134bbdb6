"""Judging a backend's gradient-descent run against the closed form (claims LR-4, LR-5).

Each check raises :class:`conformance.oracles.verdicts.CheckFailure` naming the stage, the
backend's value (ACTUAL), the theory's (EXPECTED), the bound applied and a reproduction.
The bounds are derived in :mod:`conformance.regression.bounds`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from conformance.oracles import tolerances
from conformance.oracles.verdicts import CheckFailure, snippet, will_reproduce
from conformance.regression import model as rg
from conformance.regression.bounds import Bounds, bounds, stop_window

GROWTH = 1e6
"""A diverging run is followed until the theory's loss has grown this many times over
its start (or until the dtype overflows): divergence beyond any doubt."""


@dataclass(frozen=True)
class Case:
    """One run to check: the data (rounded to ``dtype``), the learning rate, and how to
    rebuild the data in a reproduction snippet."""

    backend: Any
    data: rg.RegressionData
    lr: float
    dtype: str
    data_expr: str

    @property
    def lr_eff(self) -> float:
        return rg.effective_lr(self.lr, self.dtype)

    def bounds(self, iterations: int) -> Bounds:
        return bounds(self.data, self.lr_eff, self.dtype, iterations)

    def run(self, iterations: int, threshold: float | None = None) -> rg.Trajectory:
        return rg.run_backend(self.backend, self.data, self.lr, self.dtype, iterations, threshold)

    def repro(self, iterations: int, threshold: float | None = None) -> str:
        return snippet(
            self.backend, *rg.repro_call(self.data_expr, self.lr, self.dtype, iterations, threshold)
        )

    def run_checked(self, iterations: int, threshold: float | None = None) -> rg.Trajectory:
        """Run, turning an unusable answer from the backend into a check failure."""
        will_reproduce(self.repro(iterations, threshold))
        try:
            return self.run(iterations, threshold)
        except rg.RunError as exc:
            raise CheckFailure(
                exc.stage,
                exc.actual,
                exc.expected,
                detail=exc.detail,
                repro=self.repro(iterations, threshold),
            ) from None


def _rule(b: Bounds) -> str:
    tol = tolerances.policy(b.dtype)
    return (
        f"bound derived from the {b.dtype} policy (rtol={tol.rtol:g} per step, propagated "
        "through the recurrence: conformance.regression.bounds); expected values are the "
        "float64 closed form on the same rounded inputs"
    )


def check_trajectory(run: rg.Trajectory, b: Bounds, repro: str) -> None:
    """w, b and the loss at every iteration the backend ran, and when it went non-finite."""
    # A non-finite loss is a failure only where a correct engine cannot overflow yet. A
    # finite loss beyond the dtype's range is not demanded to be inf: an engine may carry
    # more precision; it is still judged against the closed form below.
    may = b.may_overflow_from()
    if run.diverged_at is not None and run.diverged_at < may:
        k = run.diverged_at
        raise CheckFailure(
            f"loss at iteration {k}",
            run.loss[k],
            b.expected.loss[k],
            detail=f"a non-finite loss where the theory's loss is representable in {b.dtype}"
            f" ({run.note}); " + _rule(b),
            repro=repro,
        )
    ok = b.comparable[: run.iterations]
    for k in np.flatnonzero(ok).tolist():
        for name, actual, expected, tol in (
            ("w", run.w[k], b.expected.w[k], b.w_tol[k]),
            ("b", run.b[k], b.expected.b[k], b.b_tol[k]),
            ("loss", run.loss[k], b.expected.loss[k], b.loss_tol[k]),
        ):
            if name == "loss" and k == run.diverged_at:
                continue  # judged above
            if not abs(actual - expected) <= tol:
                when = rg.LOSS_READ.format(k=k) if name == "loss" else f"before update {k}"
                stale = (
                    "; a loss of the updated parameters instead would be a stale read: the"
                    " engine computed the loss when it was read, not when it was written"
                    if name == "loss"
                    else ""
                )
                raise CheckFailure(
                    f"{name} at iteration {k} ({when})",
                    actual,
                    expected,
                    detail=f"|difference| = {abs(actual - expected):.6g} > {tol:.6g}, the "
                    + _rule(b)
                    + stale,
                    repro=repro,
                )


def check_stop(run: rg.Trajectory, b: Bounds, threshold: float, repro: str) -> None:
    """The run first saw a loss below ``threshold`` inside the window the bounds allow."""
    early, late = stop_window(b, threshold)
    stop = run.stop_iteration
    expected = rg.first_below(b.expected.loss, threshold)
    window = f"[{early}, {late if late is not None else 'beyond the run'}]"
    if early is None:
        fine = stop is None
    elif stop is None:
        fine = late is None and run.diverged_at is None
    else:
        fine = early <= stop and (late is None or stop <= late)
    if not fine:
        raise CheckFailure(
            f"first iteration with loss < {threshold:g}",
            stop,
            expected,
            detail=f"allowed window {window}: the iterations whose closed-form loss is within"
            f" its bound of the threshold (a correct {b.dtype} engine may cross anywhere there);"
            f" the run ended after {run.iterations} iterations"
            + (f" ({run.note})" if run.note else ""),
            repro=repro,
        )


def check_descent(run: rg.Trajectory, b: Bounds, min_loss: float, rho: float, repro: str) -> None:
    """Below the stability bound: the loss falls at every step it can be seen to fall,
    never goes below the minimum, and closes the gap to it at least as fast as theory."""
    loss, cf, tol = run.loss, b.expected.loss, b.loss_tol
    if run.diverged_at is not None:
        k = run.diverged_at
        raise CheckFailure(f"loss at iteration {k}", loss[k], cf[k], detail=run.note, repro=repro)
    for k in range(run.iterations - 1):
        drop = cf[k] - cf[k + 1]  # > 0 in theory for every lr below the bound
        slack = tol[k] + tol[k + 1]
        rose = loss[k + 1] >= loss[k] if drop > slack else loss[k + 1] > loss[k] + slack - drop
        if rose:
            raise CheckFailure(
                f"loss change from iteration {k} to {k + 1}",
                loss[k + 1] - loss[k],
                -drop,
                detail=f"below the stability bound the loss must fall every step; the theory's"
                f" drop {drop:.6g} "
                + ("exceeds" if drop > slack else "is within")
                + f" the combined bound {slack:.6g}, so the change must be "
                + ("negative" if drop > slack else f"at most {slack - drop:.6g}"),
                repro=repro,
            )
    gap0 = cf[0] - min_loss
    for k in range(run.iterations):
        low, high = min_loss - tol[k], min_loss + rho ** (2 * k) * gap0 + tol[k]
        if not low <= loss[k] <= high:
            raise CheckFailure(
                f"loss at iteration {k} against the least-squares minimum {min_loss:.6g}",
                loss[k],
                [low, high],
                detail=f"theory: L* <= L_k <= L* + rho^(2k) (L_0 - L*), rho = {rho:.6g}, within"
                f" the bound {tol[k]:.6g}",
                repro=repro,
            )
    last = run.iterations - 1
    if not loss[last] - min_loss <= cf[last] - min_loss + tol[last]:
        raise CheckFailure(
            f"gap to the minimum after {run.iterations} iterations",
            loss[last] - min_loss,
            cf[last] - min_loss,
            detail=f"the run approaches the minimum more slowly than the theory (bound"
            f" {tol[last]:.6g})",
            repro=repro,
        )


def divergence_horizon(b: Bounds, cap: int, overflow_within: int) -> int:
    """How many iterations show divergence beyond doubt: until the theory's loss has grown
    :data:`GROWTH`-fold, and on past the iteration where the dtype must overflow when that
    comes within ``overflow_within`` (so that the inf/nan report is exercised), at most
    ``cap``."""
    grown = np.flatnonzero(~(b.expected.loss < GROWTH * b.expected.loss[0]))
    need = int(grown[0]) + 1 if grown.size else cap
    must = b.must_overflow_by()
    if must is not None and must < overflow_within:
        need = max(need, must + 1)
    return min(need, cap)


def check_divergence(run: rg.Trajectory, b: Bounds, repro: str) -> None:
    """Above the stability bound: the loss reaches the theory's growth (at least
    :data:`GROWTH`-fold once the horizon allows it), or is reported as inf/nan (not raised)
    where the dtype cannot hold it."""
    if run.diverged_at is not None:
        return  # reported, at an iteration check_trajectory has already judged
    last = run.iterations - 1
    low = b.expected.loss[last] - b.loss_tol[last]
    if not run.loss[last] >= low:
        raise CheckFailure(
            f"loss after {run.iterations} iterations",
            run.loss[last],
            b.expected.loss[last],
            detail=f"above the stability bound the loss must grow without bound: at least"
            f" {low:.6g} here (start {run.loss[0]:.6g})",
            repro=repro,
        )
