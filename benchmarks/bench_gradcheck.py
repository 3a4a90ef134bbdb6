"""How the suite's gradient check compares with ``torch.autograd.gradcheck``.

On the same random scalar functions of n = 10 ... 10000 float64 inputs it times

* the analytic oracle alone (numpy reverse mode with scales),
* the whole check: oracle + the engine's ``vjp`` + the tolerance comparison,
* ``gradcheck`` in slow mode (a finite-difference Jacobian: 2n forward passes) and in
  fast mode (random projections: a few passes),

and then injects a relative gradient error (1e-2, 1e-4, 1e-7) into one op's backward to
see which of them notices. Run: ``python benchmarks/bench_gradcheck.py`` (seconds),
``--suite-timing`` to also time a full ``ci`` profile run of the suite against torch.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from conformance.backends.torch_backend import TorchBackend  # noqa: E402
from conformance.generation.strategies import domain_ok, result_ok  # noqa: E402
from conformance.oracles import first_order as oracles  # noqa: E402
from conformance.oracles import tolerances
from conformance.oracles.expr import Expr, as_fn  # noqa: E402

SIZES = (10, 100, 1000, 10000)
OPS = ("sin", "cos", "tanh", "sigmoid", "exp", "mul", "add", "sub", "div", "sqrt", "log")


def random_function(rng: np.random.Generator, n: int, n_ops: int = 8) -> tuple[Expr, np.ndarray]:
    """A random well-conditioned elementwise DAG of one input of n elements, summed."""
    x = rng.uniform(0.5, 1.5, n)
    tr = oracles.Tracer()
    nodes = [tr.input(x)]
    while len(nodes) < n_ops + 1:
        op = str(rng.choice(OPS))
        a = nodes[int(rng.integers(len(nodes)))]
        args = (
            (a, nodes[int(rng.integers(len(nodes)))])
            if op in ("mul", "add", "sub", "div")
            else (a,)
        )
        node, v, f = tr.peek(op, args)
        vals = [tr.values[i] for i in args]
        if domain_ok(node, vals, [tr.fscales[i] for i in args]) and result_ok(v, f):
            nodes.append(tr.push(node, v, f))
    return tr.expr(tr.sum(tr.add(nodes[-1], nodes[-2]))), x


def best_of(fn: Callable[[], Any], repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


class _Skewed(torch.autograd.Function):
    """sin with a gradient off by a relative ``error``: the injected bug."""

    error = 0.0

    @staticmethod
    def forward(ctx: Any, a: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(a)
        return torch.sin(a)

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> torch.Tensor:
        (a,) = ctx.saved_tensors
        return g * torch.cos(a) * (1 + _Skewed.error)


class SkewedBackend(TorchBackend):
    name = "skewed-sin"

    def sin(self, a: Any) -> Any:
        return _Skewed.apply(a)


def suite_check(backend: Any, expr: Expr, x: np.ndarray) -> bool:
    """What CR-1 does for one case: oracle, the engine's vjp, the policy."""
    ref = oracles.analytic(expr, [x])
    _, (grad,) = backend.vjp(as_fn(expr, backend, "float64"), [x], "float64")
    return bool(np.all(tolerances.within(grad, ref.grad(0), ref.grad_scale(0), "float64")))


def gradcheck(backend: Any, expr: Expr, x: np.ndarray, fast: bool) -> bool:
    fn = as_fn(expr, backend, "float64")
    t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    return bool(torch.autograd.gradcheck(fn, (t,), fast_mode=fast, raise_exception=False))


def timings(rng: np.random.Generator) -> None:
    backend = TorchBackend()
    print(
        f"{'n':>6} {'oracle':>9} {'check':>9} {'slow gc':>9} {'fast gc':>9}"
        f" {'slow/check':>11} {'fast/check':>11}"
    )
    for n in SIZES:
        expr, x = random_function(rng, n)
        oracle = best_of(lambda: oracles.analytic(expr, [x]))  # noqa: B023 - used at once
        check = best_of(lambda: suite_check(backend, expr, x))  # noqa: B023
        fast = best_of(lambda: gradcheck(backend, expr, x, True))  # noqa: B023
        # slow mode does 2n forward passes of n elements: once is enough (1 s at 10000)
        slow = best_of(lambda: gradcheck(backend, expr, x, False), 1)  # noqa: B023
        print(
            f"{n:>6} {oracle * 1e3:7.2f}ms {check * 1e3:7.2f}ms {slow * 1e3:8.1f}ms "
            f"{fast * 1e3:7.2f}ms {slow / check:10.1f}x {fast / check:10.1f}x"
        )
    print("(ratios > 1: the suite's check is that many times faster)")


def sensitivity(rng: np.random.Generator) -> None:
    print("\nsensitivity: sin's gradient off by a relative error, n = 100, float64")
    print(f"{'error':>8} {'suite':>8} {'slow gc':>8} {'fast gc':>8}")
    backend = SkewedBackend()
    expr, x = random_function(rng, 100)
    while "sin" not in expr.ops():
        expr, x = random_function(rng, 100)
    for error in (1e-2, 1e-4, 1e-7, 0.0):
        _Skewed.error = error
        caught = [
            not suite_check(backend, expr, x),
            not gradcheck(backend, expr, x, False),
            not gradcheck(backend, expr, x, True),
        ]
        print(f"{error:>8g} " + " ".join(f"{'caught' if c else 'missed':>8}" for c in caught))
    print(
        "gradcheck compares with finite differences at atol 1e-5, rtol 1e-3, so it cannot "
        "see errors much below 1e-3; the suite compares with an exact reference at the "
        "float64 policy (rtol 1e-9 of the scale) and sees them. With error 0 nothing may "
        "be caught."
    )


def suite_timing() -> None:
    from conformance.run.runner import run

    start = time.perf_counter()
    result = run("torch", profile="ci", quiet=True)
    print(
        f"\nfull suite, ci profile, torch: exit {result.exit_code}, "
        f"{time.perf_counter() - start:.1f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--suite-timing",
        action="store_true",
        help="also time a full ci-profile run of the suite against torch",
    )
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    timings(rng)
    sensitivity(rng)
    if args.suite_timing:
        suite_timing()


if __name__ == "__main__":
    main()
