"""Self-tests of the regression oracle, its error bounds and the backend runner (LR-4, LR-5).

A disagreement here is a bug in the suite's theory, not in any engine.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from conformance.regression import bounds as rb
from conformance.regression import model as rg
from conformance.specs import claim

SEED10_LRS = [0.01, 0.02, 0.03, 0.04, 0.05, 0.055]
SEED10_STOPS = [388, 194, 129, 97, 78, 71]


def _seed10() -> rg.RegressionData:
    return rg.data_from_table(claim("LR-4").params["data"])


def _plain_descent(data: rg.RegressionData, lr: float, iterations: int) -> tuple[Any, Any, Any]:
    """Gradient descent written out directly, sharing no code with the oracle."""
    w, b = data.w0, data.b0
    ws, bs, losses = [], [], []
    for _ in range(iterations):
        r = data.y - (w * data.x + b)
        ws.append(w)
        bs.append(b)
        losses.append(float(np.mean(0.5 * r * r)))
        grad_w, grad_b = -float(np.mean(r * data.x)), -float(np.mean(r))
        w, b = w - lr * grad_w, b - lr * grad_b
    return np.array(ws), np.array(bs), np.array(losses)


@pytest.mark.parametrize("seed", [0, 1, 7, 28, 123])
@pytest.mark.parametrize("fraction", [0.05, 0.5, 0.9, 0.99, 1.01, 1.3])
def test_the_closed_form_matches_a_plain_float64_loop(seed, fraction):
    """theta* + Q D^k Q^T e_0 and an explicit loop agree to float64 roundoff, both sides of
    the stability bound."""
    data = rg.make_data(seed)
    lr = fraction * rg.theory(data).stability_bound
    cf = rg.closed_form(data, lr, 300)
    w, b, loss = _plain_descent(data, lr, 300)
    size = np.abs(w) + np.abs(b) + 10.0  # the magnitudes the loop adds up
    assert np.all(np.abs(cf.w - w) <= 1e-11 * size)
    assert np.all(np.abs(cf.b - b) <= 1e-11 * size)
    assert np.all(np.abs(cf.loss - loss) <= 1e-10 * (loss + 1.0))


def test_the_theory_matches_the_hessian_written_out():
    """H = [[mean x^2, mean x], [mean x, 1]]; the optimum solves the normal equations."""
    data = rg.make_data(3)
    th = rg.theory(data)
    x, y = data.x, data.y
    h = np.array([[np.mean(x * x), np.mean(x)], [np.mean(x), 1.0]])
    assert np.allclose(th.hessian, h, rtol=1e-15)
    assert np.allclose(th.eigenvalues, np.linalg.eigvalsh(h), rtol=1e-13)
    assert np.allclose(h @ [th.w_star, th.b_star], [np.mean(x * y), np.mean(y)], rtol=1e-12)
    assert th.min_loss == pytest.approx(rg.loss_at(data, th.w_star, th.b_star), rel=1e-14)
    assert th.min_loss <= rg.loss_at(data, th.w_star + 1e-3, th.b_star - 1e-3)


def test_seed10_lambda_max_is_about_34_and_puts_the_bound_between_0055_and_006():
    """lambda_max = 34.62, so 2/lambda_max = 0.0578: 0.055 converges and 0.06 does not."""
    th = rg.theory(_seed10())
    assert 34.0 < th.lambda_max < 35.0
    assert th.lambda_max == pytest.approx(34.6227, abs=1e-4)
    assert th.lambda_min == pytest.approx(0.11238, abs=1e-5)
    assert 0.055 < th.stability_bound < 0.06
    # the least-squares fit is far from where the run stops (w 2.56, b 1.78)
    assert (th.w_star, th.b_star) == (
        pytest.approx(2.0709, abs=1e-4),
        pytest.approx(4.8032, abs=1e-4),
    )


@pytest.mark.parametrize("dtype", [None, "float32", "float64"])
def test_seed10_stops_at_78_with_the_seeds_loss_and_parameters(dtype):
    """lr 0.05: first loss below 1 at iteration 78 (0.99552; 1.00155 at 77), w 2.5615, b 1.7831."""
    data = _seed10() if dtype is None else _seed10().rounded(dtype)
    lr = 0.05 if dtype is None else rg.effective_lr(0.05, dtype)
    cf = rg.closed_form(data, lr, 100)
    assert rg.first_below(cf.loss, 1.0) == claim("LR-4").expected["stop_iteration"] == 78
    assert cf.loss[77] == pytest.approx(1.00155, abs=1e-5)
    assert cf.loss[78] == pytest.approx(0.99552, abs=1e-5)
    assert (cf.w[79], cf.b[79]) == (
        pytest.approx(2.5615, abs=1e-4),
        pytest.approx(1.7831, abs=1e-4),
    )


def test_seed10_learning_rate_table_and_divergence_at_006():
    """388, 194, 129, 97, 78, 71 for lr 0.01 .. 0.055 as the spec says; 0.06 diverges."""
    spec = claim("LR-5")
    assert spec.params["seed10_lrs"] == SEED10_LRS
    assert spec.expected["seed10_stop_iterations"] == SEED10_STOPS
    data = _seed10()
    for lr, stop in zip(SEED10_LRS, SEED10_STOPS, strict=True):
        assert rg.predicted_stop(data, lr, 1.0, 1000) == stop
        w, b, loss = _plain_descent(data, lr, stop + 1)
        assert loss[stop] < 1.0 <= loss[stop - 1]
    lr = spec.params["seed10_diverging_lr"]
    assert lr > rg.theory(data).stability_bound
    cf = rg.closed_form(data, lr, 1000)
    assert rg.first_below(cf.loss, 1.0) is None
    assert cf.loss[-1] > 1e30 and np.all(np.diff(cf.loss[200:]) > 0)


def test_divergence_is_exactly_lr_above_the_stability_bound_over_many_seeds():
    """Seeds 0-199 at lr 0.05 and at fractions of each bound: the plain loop's distance to
    the optimum shrinks iff lr < 2/lambda_max (it grows once the unstable mode dominates)."""
    seeds = range(200)
    datas = [rg.make_data(s) for s in seeds]
    bounds = np.array([rg.theory(d).stability_bound for d in datas])
    x = np.stack([d.x for d in datas])
    y = np.stack([d.y for d in datas])
    optimum = np.array([[rg.theory(d).w_star, rg.theory(d).b_star] for d in datas])
    rates = [np.full(len(datas), 0.05), *(f * bounds for f in (0.5, 0.99, 1.01, 2.0))]
    diverging_at_005 = 0
    for lr in rates:
        w = np.array([d.w0 for d in datas])
        b = np.zeros(len(datas))
        start = np.hypot(w - optimum[:, 0], b - optimum[:, 1])
        with np.errstate(over="ignore", invalid="ignore"):
            for _ in range(20_000):  # vectorised over the seeds
                r = y - (w[:, None] * x + b[:, None])
                w, b = w + lr * np.mean(r * x, axis=1), b + lr * np.mean(r, axis=1)
            end = np.hypot(w - optimum[:, 0], b - optimum[:, 1])
        grew = ~(end < start)  # inf and nan count as grown
        assert np.array_equal(grew, lr > bounds)
        if lr[0] == 0.05:
            diverging_at_005 = int(grew.sum())
    # numpy's draws, not torch's: about a quarter diverge at lr 0.05 (torch's: 42 of 200)
    assert 20 < diverging_at_005 < 100


def test_the_float64_bounds_pin_every_seed10_stop_to_one_iteration():
    """In float64 the derived bound is far below each crossing's margin: no slack."""
    data = _seed10().rounded("float64")
    for lr, stop in zip(SEED10_LRS, SEED10_STOPS, strict=True):
        b = rb.bounds(data, lr, "float64", 500)
        assert rb.stop_window(b, 1.0) == (stop, stop)
        assert np.max(b.loss_tol[: stop + 1]) < 1e-6


def test_the_float32_window_for_the_seed10_run_is_76_to_80():
    """The policy's float32 bound (rtol 1e-4 per step) lets a crossing move by 2 iterations."""
    data = _seed10().rounded("float32")
    b = rb.bounds(data, rg.effective_lr(0.05, "float32"), "float32", 101)
    assert rb.stop_window(b, 1.0) == (76, 80)
    assert b.w_tol[0] < 1e-12 and b.b_tol[0] < 1e-12  # exact start: only the oracle's ulps


def test_the_bounds_grow_with_the_trajectory_when_it_diverges():
    """Above the bound the slack stays relative: a few rtol-steps per iteration."""
    data = rg.make_data(5).rounded("float32")
    lr = 1.5 * rg.theory(data).stability_bound
    b = rb.bounds(data, lr, "float32", 40)
    rel = b.w_tol[1:] / (np.abs(b.expected.w[1:]) + np.abs(b.expected.b[1:]))
    assert np.all(rel < 40 * 1e-4 * np.arange(2, 41))
    assert b.may_overflow_from() <= b.must_overflow_by() if b.must_overflow_by() else True


# -- the runner, through the torch adapter -----------------------------------------------


@pytest.fixture(scope="module")
def torch_backend():
    pytest.importorskip("torch", reason="running gradient descent needs an engine")
    from conformance.engine.registry import load_backend

    return load_backend("torch")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_imperative_and_vjp_runs_agree_and_stop_like_the_seed(torch_backend, dtype):
    """Both ways of running stop at 78 and record the loss before each update."""
    data = _seed10().rounded(dtype)
    runs = [
        rg.run_backend(torch_backend, data, 0.05, dtype, 100, 1.0, mode)
        for mode in ("imperative", "vjp")
    ]
    for run in runs:
        assert run.stop_iteration == 78 and run.iterations == 79 and run.diverged_at is None
        assert run.loss[78] < 1.0 <= run.loss[77]
    assert np.allclose(runs[0].loss, runs[1].loss, rtol=1e-5)
    assert (runs[0].w_end, runs[0].b_end) == pytest.approx((2.5615, 1.7831), abs=1e-4)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("mode", ["imperative", "vjp"])
def test_a_diverging_run_is_recorded_not_raised(torch_backend, dtype, mode):
    """Overflow ends the run with diverged_at and a note; every earlier value is finite."""
    data = rg.make_data(2).rounded(dtype)
    lr = 30 * rg.theory(data).stability_bound
    run = rg.run_backend(torch_backend, data, lr, dtype, 2000, mode=mode)
    assert run.diverged_at is not None and run.diverged_at == run.iterations - 1
    assert not np.isfinite(run.loss[-1]) and np.all(np.isfinite(run.loss[:-1]))
    assert "iteration" in run.note and run.stop_iteration is None


class _ShapeBug:
    """Wraps the torch adapter so that w's gradient comes back unreduced, shape (n, 1)."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.name, self.capabilities = inner, "shape-bug", frozenset()

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.inner, attr)

    def vjp(self, fn: Any, primals: Any, dtype: str, cotangent: Any = None) -> Any:
        value, (gw, gb) = self.inner.vjp(fn, primals, dtype, cotangent)
        return value, [np.full((20, 1), gw[0] / 20), gb]


def test_a_gradient_of_the_wrong_shape_is_a_run_error_naming_the_parameter(torch_backend):
    """The runner refuses to broadcast a bad gradient into the parameter."""
    with pytest.raises(rg.RunError, match=r"gradient of w at iteration 0") as info:
        rg.run_backend(_ShapeBug(torch_backend), _seed10(), 0.05, "float64", 5)
    assert info.value.actual == (20, 1) and info.value.expected == (1,)


class _RaisesOnOverflow(_ShapeBug):
    """An engine on Python floats: overflow raises instead of giving inf."""

    def vjp(self, fn: Any, primals: Any, dtype: str, cotangent: Any = None) -> Any:
        value, grads = self.inner.vjp(fn, primals, dtype, cotangent)
        if float(np.reshape(value, -1)[0]) > 1e30:
            raise OverflowError("(34, 'Numerical result out of range')")
        return value, grads


def test_an_overflow_the_engine_raises_is_recorded_as_divergence(torch_backend):
    """OverflowError ends the run like an inf loss would, with the error in the note."""
    data = rg.make_data(4)
    lr = 5 * rg.theory(data).stability_bound
    run = rg.run_backend(_RaisesOnOverflow(torch_backend), data, lr, "float64", 500)
    k = run.diverged_at
    assert k is not None and run.iterations == k + 1 and len(run.w) == len(run.b) == k + 1
    assert run.loss[k] == np.inf and run.loss[k - 1] <= 1e30
    assert run.note.startswith("OverflowError at iteration")
