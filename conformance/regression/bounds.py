"""How far a correct engine's gradient-descent run may stray from the closed form.

Derivation (built on :func:`conformance.oracles.tolerances.policy`, whose ``rtol`` bounds the
error of one shallow expression relative to the magnitudes it went through):

1. One step. Step ``k`` of an engine computes ``theta~_{k+1} = theta~_k - lr grad L(theta~_k)
   + delta_k``, where ``delta_k`` is all the rounding of that step: forward, backward,
   the product ``lr * grad`` and the subtraction. A step is a shallow expression (a
   dozen ops and a mean over n points), so the policy bounds each component:
   ``|delta_w| <= rtol * (|w| + lr * mean(a_i |x_i|))`` and ``|delta_b| <= rtol * (|b| +
   lr * mean(a_i))``, with ``a_i = |y_i| + |w x_i| + |b|`` the magnitudes the residual
   ``y_i - (w x_i + b)`` is computed from (near the optimum the residual is far smaller
   than its rounding scale, so the residual's own size would not be sound).
2. Propagation. The gradient is affine in theta, so the error ``e_k = theta~_k - theta_k``
   obeys ``e_{k+1} = (I - lr H) e_k + delta_k`` exactly. In the eigenbasis of H each mode
   ``i`` is scaled by ``|1 - lr lambda_i|`` per step, so
   ``|e_{k,i}| <= M_{k,i} = sum_j |1 - lr lambda_i|^(k-1-j) |(Q^T delta_j)_i|``. The fast
   mode forgets old errors; the slow mode (``lr lambda_min`` small) accumulates up to k
   of them, which is why the bound grows with the run and runs are kept short. Above the
   stability bound a mode grows like the trajectory itself, so the bound stays relative.
   The scales in step 1 are taken at ``|theta_k| + |e_k|`` (upper bounds for the engine's
   own values), so nothing is first-order only in the propagated error.
3. Loss. ``|L~_k - L(theta_k)| <= sum_i |g_i| M_i + sum_i lambda_i M_i^2 / 2`` (the
   quadratic is exact) plus the evaluation's own rounding, ``rtol * (mean(|r_i| a_i) + L)
   + rtol^2 mean(a_i^2)``: the first term is the chain rule on absolute values through
   ``r^2/2``, the second covers the square of the residual's own error.

The initial parameters are exact (the theory sees the dtype-rounded data, w0 and lr),
so iteration 0 has no slack beyond the oracle's own float64 rounding, which is added to
every bound: a few ulps of the magnitudes, plus the eigenvalues' error compounded over k
steps. Nothing here is fitted to an engine.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from conformance.oracles import tolerances
from conformance.regression.model import RegressionData, Trajectory, closed_form, theory


@dataclass(frozen=True)
class Bounds:
    """The closed form and, per iteration, how far a correct ``dtype`` engine may be."""

    expected: Trajectory
    w_tol: np.ndarray
    b_tol: np.ndarray
    loss_tol: np.ndarray
    dtype: str
    n: int

    @property
    def comparable(self) -> np.ndarray:
        """Iterations where the closed form and its bounds are finite (float64 range)."""
        e = self.expected
        return (
            np.isfinite(e.w)
            & np.isfinite(e.b)
            & np.isfinite(e.loss)
            & np.isfinite(self.w_tol)
            & np.isfinite(self.b_tol)
            & np.isfinite(self.loss_tol)
        )

    def may_overflow_from(self) -> int:
        """The first iteration at which a correct ``dtype`` engine's loss may overflow.

        The largest intermediate of the forward pass is the sum of the squared residuals
        (before the mean divides it), at most ``2 n (L + tol)``. Until it nears the dtype's
        maximum every value must be finite.
        """
        big = float(np.finfo(self.dtype).max) / 4  # margin for 0.5*r^2 and summation order
        with np.errstate(over="ignore", invalid="ignore"):
            n_sum = 2.0 * self.n * (self.expected.loss + self.loss_tol)
        hits = np.flatnonzero(~(n_sum < big))
        return int(hits[0]) if hits.size else self.expected.iterations

    def must_overflow_by(self) -> int | None:
        """The first iteration whose loss exceeds the dtype's range even at its lower
        bound: no finite value can be right there, so the run must have stopped."""
        top = float(np.finfo(self.dtype).max)
        with np.errstate(over="ignore", invalid="ignore"):
            low = self.expected.loss - self.loss_tol
            hits = np.flatnonzero((low > top) | np.isinf(self.expected.loss))
        return int(hits[0]) if hits.size else None


def bounds(data: RegressionData, lr: float, dtype: str, iterations: int) -> Bounds:
    """Bounds for a run of ``iterations`` on ``data`` (already rounded to ``dtype``) at the
    effective learning rate ``lr`` (see :func:`conformance.regression.model.effective_lr`)."""
    rtol = tolerances.policy(dtype).rtol
    th = theory(data)
    cf = closed_form(data, lr, iterations)
    q, lam = th.eigenvectors, th.eigenvalues
    f0, f1 = (float(v) for v in np.abs(1.0 - lr * lam))
    (q00, q01), (q10, q11) = np.abs(q).tolist()  # |q[p, i]|: parameter p (w, b), mode i
    l0, l1 = float(lam[0]), float(lam[1])
    x, y = data.x, data.y
    ax, ay = np.abs(x), np.abs(y)
    # means over the points, so that the loop below is scalar arithmetic:
    # a_i = |y_i| + W |x_i| + B is linear in W = |w| + e_w and B = |b| + e_b
    my, mx, mxx, mxy, myy = (float(np.mean(v)) for v in (ay, ax, ax * ax, ax * ay, ay * ay))
    with np.errstate(over="ignore", invalid="ignore"):
        r = np.abs(y[None, :] - (cf.w[:, None] * x[None, :] + cf.b[:, None]))  # (k, n)
        ry, rx, r1 = (np.mean(r * v, axis=1).tolist() for v in (ay[None, :], ax[None, :], 1.0))
        dev = np.stack([cf.w - th.w_star, cf.b - th.b_star], axis=1)
        g = np.abs(lam[None, :] * (dev @ q)).tolist()  # the gradient's size in each mode
    loss = cf.loss.tolist()
    w_abs, b_abs = np.abs(cf.w).tolist(), np.abs(cf.b).tolist()
    m0 = m1 = 0.0  # M_{k,i}
    w_tol, b_tol, loss_tol = [], [], []
    for k in range(iterations):
        ew, eb = q00 * m0 + q01 * m1, q10 * m0 + q11 * m1
        w_tol.append(ew)
        b_tol.append(eb)
        wk, bk = w_abs[k] + ew, b_abs[k] + eb
        mean_a = my + wk * mx + bk
        mean_ax = mxy + wk * mxx + bk * mx
        mean_aa = myy + wk * wk * mxx + bk * bk + 2 * (wk * mxy + bk * my + wk * bk * mx)
        # mean(resid * a) with resid_i = |r_i| + e_w |x_i| + e_b
        mean_ra = (ry[k] + wk * rx[k] + bk * r1[k]) + ew * mean_ax + eb * mean_a
        propagated = g[k][0] * m0 + g[k][1] * m1 + 0.5 * (l0 * m0 * m0 + l1 * m1 * m1)
        loss_tol.append(
            propagated + rtol * (mean_ra + loss[k] + propagated) + rtol * rtol * mean_aa
        )
        dw, db = rtol * (wk + lr * mean_ax), rtol * (bk + lr * mean_a)
        m0 = f0 * m0 + q00 * dw + q10 * db  # |(Q^T delta)_i| <= sum_p |q_pi| |delta_p|
        m1 = f1 * m1 + q01 * dw + q11 * db
    # The oracle's own float64 error: a few ulps of the magnitudes it adds up, plus the
    # eigenvalues' error (~eps * lambda_max) raised to the k-th power in (1 - lr lambda)^k.
    eps = float(np.finfo(np.float64).eps)
    steps = np.arange(iterations)
    with np.errstate(over="ignore", invalid="ignore"):
        rel = eps * (32.0 + 4.0 * steps * lr * th.lambda_max)
        dist = np.abs(cf.w - th.w_star) + np.abs(cf.b - th.b_star)
        param_scale = abs(th.w_star) + abs(th.b_star) + 2.0 * dist
        oracle_loss = rel * (cf.loss + th.min_loss)
        # plus the policy's absolute floor
        atol = tolerances.policy(dtype).atol
        return Bounds(
            cf,
            np.array(w_tol) + rel * param_scale + atol,
            np.array(b_tol) + rel * param_scale + atol,
            np.array(loss_tol) + oracle_loss + atol,
            dtype,
            data.n,
        )


def step_scales(data: RegressionData, w: float, b: float, lr: float) -> dict[str, float]:
    """The magnitudes one step goes through (the chain rule on absolute values), for
    comparing one step's loss, gradients and updated parameters under the policy."""
    a = np.abs(data.y) + abs(w) * np.abs(data.x) + abs(b)
    r = np.abs(data.y - (w * data.x + b))
    grad_w, grad_b = float(np.mean(a * np.abs(data.x))), float(np.mean(a))
    return {
        "loss": float(np.mean(r * a + 0.5 * r * r)),
        "grad_w": grad_w,
        "grad_b": grad_b,
        "w_next": abs(w) + lr * grad_w,
        "b_next": abs(b) + lr * grad_b,
    }


def stop_window(b: Bounds, threshold: float) -> tuple[int | None, int | None]:
    """The iterations between which a correct engine first sees a loss below ``threshold``.

    ``early``: the first iteration whose loss may already be below it (closed form minus
    its bound); ``late``: the first whose loss must be below it (plus its bound). None
    where that never happens within the run. The closed form's own crossing lies between.
    Float rounding moves a crossing only across iterations whose loss is within its bound
    of the threshold, which is exactly this window; in float64 it is one iteration wide.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        early = np.flatnonzero(b.expected.loss - b.loss_tol < threshold)
        late = np.flatnonzero(b.expected.loss + b.loss_tol < threshold)
    return (
        int(early[0]) if early.size else None,
        int(late[0]) if late.size else None,
    )
