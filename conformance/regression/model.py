"""The seed's linear regression (claims LR-4, LR-5): data, closed-form theory, backend runs.

The loss ``L(w, b) = mean(0.5 * (y - (w*x + b))**2)`` is a quadratic in ``theta = (w, b)``:
``grad L = H (theta - theta*)`` with the constant Hessian ``H = [[mean x^2, mean x],
[mean x, 1]]``. Gradient descent is therefore the linear recurrence
``theta_{k+1} - theta* = (I - lr H)(theta_k - theta*)``, solved here in closed form in
float64 on the eigenbasis of ``H``. Everything the suite expects comes from this oracle
and from the spec, never from an engine. This module uses numpy only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from conformance.engine.structure import Structure, attach

IMPERATIVE = frozenset({"backward", "zero_grad", "inplace_update"})
# the seed reads each iteration's loss after updating w and b with its gradient
LOSS_READ = "computed before update {k}, read after it as the seed does"
"""The capabilities a backend needs to be run like the seed (tracked leaves, in-place
updates); any other backend is run through its ``vjp``."""


# -- data -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RegressionData:
    """Points ``(x, y)`` (1-d float64 arrays) and the starting parameters."""

    x: np.ndarray
    y: np.ndarray
    w0: float
    b0: float = 0.0

    @property
    def n(self) -> int:
        return int(self.x.shape[0])

    def rounded(self, dtype: str) -> RegressionData:
        """The values a ``dtype`` backend holds: the theory must see the same inputs."""

        def r(a: Any) -> Any:
            return np.asarray(a, dtype=dtype).astype(np.float64)

        return RegressionData(r(self.x), r(self.y), float(r(self.w0)), float(r(self.b0)))


def make_data(
    seed: int,
    n_points: int = 20,
    x_low: float = 0.0,
    x_high: float = 10.0,
    slope: float = 2.0,
    intercept: float = 5.0,
) -> RegressionData:
    """The suite's own draw: x uniform on ``[x_low, x_high)``, ``y = slope*x + intercept``
    plus standard normal noise, ``w0`` standard normal, ``b0 = 0`` (numpy's PCG64)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(x_low, x_high, n_points)
    noise = rng.standard_normal(n_points)
    w0 = float(rng.standard_normal())
    return RegressionData(x, slope * x + (intercept + noise), w0, 0.0)


def data_from_table(table: Mapping[str, Any]) -> RegressionData:
    """The data stored in a spec data file such as ``specs/data/seed10.toml``."""
    x = np.asarray(table["x"], dtype=np.float64)
    noise = np.asarray(table["noise"], dtype=np.float64)
    y = float(table["slope"]) * x + (float(table["intercept"]) + noise)
    return RegressionData(x, y, float(table["w0"]), float(table.get("b0", 0.0)))


def effective_lr(lr: float, dtype: str) -> float:
    """The learning rate as :func:`run_backend` applies it: rounded to ``dtype``."""
    return float(np.asarray(lr, dtype=dtype))


# -- theory -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Theory:
    """The quadratic's invariants for one data set."""

    hessian: np.ndarray
    eigenvalues: np.ndarray  # ascending
    eigenvectors: np.ndarray  # columns, matching eigenvalues
    w_star: float
    b_star: float
    min_loss: float

    @property
    def lambda_min(self) -> float:
        return float(self.eigenvalues[0])

    @property
    def lambda_max(self) -> float:
        return float(self.eigenvalues[-1])

    @property
    def stability_bound(self) -> float:
        """Gradient descent converges for ``0 < lr < 2 / lambda_max`` and diverges above."""
        return 2.0 / self.lambda_max

    def contraction(self, lr: float) -> float:
        """``rho = max_i |1 - lr*lambda_i|``, the 2-norm of the iteration matrix."""
        return float(np.max(np.abs(1.0 - lr * self.eigenvalues)))


def theory(data: RegressionData) -> Theory:
    x, y = data.x, data.y
    mx = float(np.mean(x))
    hessian = np.array([[float(np.mean(x * x)), mx], [mx, 1.0]])
    eigenvalues, eigenvectors = np.linalg.eigh(hessian)
    # least squares on the design [x, 1], better conditioned than solving H directly
    design = np.stack([x, np.ones_like(x)], axis=1)
    (w_star, b_star), *_ = np.linalg.lstsq(design, y, rcond=None)
    residual = y - (w_star * x + b_star)
    return Theory(
        hessian=hessian,
        eigenvalues=eigenvalues,
        eigenvectors=eigenvectors,
        w_star=float(w_star),
        b_star=float(b_star),
        min_loss=float(np.mean(0.5 * residual**2)),
    )


def loss_at(data: RegressionData, w: float, b: float) -> float:
    """The loss evaluated directly, in float64."""
    return float(np.mean(0.5 * (data.y - (w * data.x + b)) ** 2))


@dataclass(frozen=True)
class Trajectory:
    """Gradient descent, per iteration ``k``: ``w[k]``, ``b[k]`` are the parameters before
    update ``k`` and ``loss[k]`` the loss at them; ``w_end``/``b_end`` follow the last update.

    ``stop_iteration``: the iteration whose loss was below the threshold (the run stopped
    after its update, as the seed does). ``diverged_at``: the first iteration whose loss
    was not finite (the run stopped there); ``note`` says why a run ended early.
    """

    w: np.ndarray
    b: np.ndarray
    loss: np.ndarray
    w_end: float
    b_end: float
    stop_iteration: int | None = None
    diverged_at: int | None = None
    note: str = ""

    @property
    def iterations(self) -> int:
        return int(self.loss.shape[0])


def closed_form(data: RegressionData, lr: float, iterations: int) -> Trajectory:
    """The exact trajectory for ``iterations`` updates, ``theta_k = theta* + Q D^k Q^T e_0``.

    Nothing stops it: use :func:`first_below` for a threshold. Values beyond float64's
    range come out as inf (or nan for a parameter): divergence, not an error.
    """
    th = theory(data)
    q = th.eigenvectors
    coeff = q.T @ np.array([data.w0 - th.w_star, data.b0 - th.b_star])
    factor = 1.0 - lr * th.eigenvalues
    k = np.arange(iterations + 1, dtype=np.float64)[:, None]
    with np.errstate(over="ignore", invalid="ignore"):
        modes = factor[None, :] ** k * coeff[None, :]  # (iterations+1, 2)
        params = modes @ q.T + np.array([th.w_star, th.b_star])
        # L(theta* + e) = L* + e^T H e / 2 (the linear term vanishes at the optimum)
        loss = th.min_loss + 0.5 * np.sum(th.eigenvalues[None, :] * modes**2, axis=1)
    return Trajectory(
        w=params[:-1, 0],
        b=params[:-1, 1],
        loss=loss[:-1],
        w_end=float(params[-1, 0]),
        b_end=float(params[-1, 1]),
    )


def first_below(loss: np.ndarray, threshold: float) -> int | None:
    """The first iteration whose loss is below ``threshold``, or None."""
    hits = np.flatnonzero(np.asarray(loss) < threshold)
    return int(hits[0]) if hits.size else None


def predicted_stop(
    data: RegressionData, lr: float, threshold: float, max_iterations: int
) -> int | None:
    """The iteration at which the closed-form loss first drops below ``threshold``."""
    return first_below(closed_form(data, lr, max_iterations).loss, threshold)


# -- running a backend ------------------------------------------------------------------


class RunError(Exception):
    """The backend returned something the run cannot use (a gradient of the wrong shape,
    no gradient at all). Carries the evidence for a :class:`CheckFailure`."""

    def __init__(self, stage: str, actual: Any, expected: Any, detail: str = "") -> None:
        super().__init__(f"{stage}: got {actual!r}, expected {expected!r}. {detail}".strip())
        self.stage, self.actual, self.expected, self.detail = stage, actual, expected, detail


def _scalar(value: Any, what: str, k: int) -> float:
    arr = np.asarray(value, dtype=np.float64).reshape(-1)
    if arr.size != 1:
        raise RunError(f"{what} at iteration {k}", arr.shape, (1,), "expected one element")
    return float(arr[0])


def _param_grad(value: Any, name: str, k: int) -> np.ndarray:
    if value is None:
        raise RunError(f"gradient of {name} at iteration {k}", None, "an array of shape (1,)")
    arr = np.asarray(value)
    if arr.shape != (1,):
        raise RunError(
            f"gradient of {name} at iteration {k}",
            arr.shape,
            (1,),
            f"the gradient must have the shape of {name}",
        )
    return arr


def loss_function(backend: Any, data: RegressionData, dtype: str) -> Any:
    """``(w, b) -> mean(0.5 * (y - (w*x + b))**2)`` with the backend's ops; ``x`` and ``y``
    are untracked tensors of shape (n, 1), so ``w * x`` broadcasts a (1,) parameter.

    It carries its :class:`~conformance.engine.structure.Structure`, with x, y and 0.5 as the
    constants, so that a compiling adapter reuses one compilation across runs."""
    consts = (data.x.reshape(data.n, 1), data.y.reshape(data.n, 1), np.asarray(0.5))

    def body(xyh: Any, w: Any, b: Any) -> Any:
        x, y, half = xyh
        y_pred = backend.add(backend.mul(w, x), b)
        return backend.mean(backend.mul(half, backend.pow(backend.sub(y, y_pred), 2)))

    tensors = [backend.tensor(c, dtype) for c in consts]
    return attach(
        lambda w, b: body(tensors, w, b),
        Structure("linear regression loss", backend, consts, body),
    )


def run_backend(
    backend: Any,
    data: RegressionData,
    lr: float,
    dtype: str,
    iterations: int,
    threshold: float | None = None,
    mode: str = "auto",
) -> Trajectory:
    """Gradient descent through ``backend``'s own autograd, in ``dtype``.

    ``mode="imperative"`` runs it like the seed: tracked leaves ``w``, ``b`` of shape
    (1,), forward with the backend's ops, backward, an untracked in-place update of each
    parameter by ``lr * grad``, then zeroed gradients. ``mode="vjp"`` takes the gradient
    from ``backend.vjp`` and updates in numpy. ``"auto"`` picks imperative when the
    backend declares :data:`IMPERATIVE`. With a ``threshold``, stops after the update of
    the first iteration whose loss was below it. A non-finite loss (or an overflow the
    engine raises) ends the run and is recorded in ``diverged_at``; it is not an error.
    """
    if mode == "auto":
        mode = "imperative" if set(backend.capabilities) >= IMPERATIVE else "vjp"
    if mode not in ("imperative", "vjp"):
        raise ValueError(f"mode must be 'auto', 'imperative' or 'vjp', not {mode!r}")
    loss_fn = loss_function(backend, data, dtype)
    step = np.asarray(lr, dtype=dtype)  # the update is done in the dtype's arithmetic
    w_np = np.array([data.w0], dtype=dtype)
    b_np = np.array([data.b0], dtype=dtype)
    w_t = b_t = None
    if mode == "imperative":
        w_t = backend.tensor(w_np, dtype, requires_grad=True)
        b_t = backend.tensor(b_np, dtype, requires_grad=True)
    ws: list[float] = []
    bs: list[float] = []
    losses: list[float] = []
    stop = diverged = None
    note = ""
    for k in range(iterations):
        try:
            with np.errstate(over="ignore", invalid="ignore"):
                if mode == "imperative":
                    ws.append(_scalar(backend.to_numpy(w_t), "w", k))
                    bs.append(_scalar(backend.to_numpy(b_t), "b", k))
                    loss_t = loss_fn(w_t, b_t)
                    backend.backward(loss_t)
                    gw = _param_grad(backend.grad(w_t), "w", k)
                    gb = _param_grad(backend.grad(b_t), "b", k)
                    # the seed's order: b first, then w
                    backend.update_(b_t, (step * gb.astype(dtype)).astype(dtype))
                    backend.update_(w_t, (step * gw.astype(dtype)).astype(dtype))
                    # the seed reads the loss only now: an eager engine computed it before
                    # the update, a lazy one would compute it now, from the new parameters
                    losses.append(_scalar(backend.to_numpy(loss_t), "loss", k))
                    if not math.isfinite(losses[-1]):
                        diverged, note = k, f"loss is {losses[-1]} at iteration {k}"
                        break
                    backend.zero_grad(w_t)
                    backend.zero_grad(b_t)
                else:
                    ws.append(float(w_np[0]))
                    bs.append(float(b_np[0]))
                    value, (gw, gb) = backend.vjp(loss_fn, [w_np, b_np], dtype)
                    losses.append(_scalar(value, "loss", k))
                    if not math.isfinite(losses[-1]):
                        diverged, note = k, f"loss is {losses[-1]} at iteration {k}"
                        break
                    gw = _param_grad(gw, "w", k)
                    gb = _param_grad(gb, "b", k)
                    b_np = (b_np - step * gb.astype(dtype)).astype(dtype)
                    w_np = (w_np - step * gw.astype(dtype)).astype(dtype)
        except (OverflowError, FloatingPointError) as exc:
            # engines on Python floats raise instead of returning inf: still divergence
            diverged, note = k, f"{type(exc).__name__} at iteration {k}: {exc}"
            for values in (ws, bs, losses):  # whatever iteration k had not yet recorded
                if len(values) <= k:
                    values.append(math.nan if values is not losses else math.inf)
            break
        if threshold is not None and losses[-1] < threshold:
            stop = k
            break
    if mode == "imperative":
        w_end = _scalar(backend.to_numpy(w_t), "w", len(losses))
        b_end = _scalar(backend.to_numpy(b_t), "b", len(losses))
    else:
        w_end, b_end = float(w_np[0]), float(b_np[0])
    return Trajectory(
        w=np.array(ws),
        b=np.array(bs),
        loss=np.array(losses),
        w_end=w_end,
        b_end=b_end,
        stop_iteration=stop,
        diverged_at=diverged,
        note=note,
    )


def repro_call(data_expr: str, lr: float, dtype: str, iterations: int, threshold: Any) -> list[str]:
    """Lines (after a :func:`conformance.oracles.verdicts.snippet` head) that rerun one run."""
    setup = ["from conformance.specs import claim"] if "claim(" in data_expr else []
    return [
        "from conformance.regression import model as rg",
        *setup,
        f"data = ({data_expr}).rounded({dtype!r})",
        f"run = rg.run_backend(bk, data, {lr!r}, {dtype!r}, {iterations}, threshold={threshold!r})",
        "print(run.stop_iteration, run.diverged_at, run.loss)",
    ]
