"""The error of correct engines at the edge tiers, as a share of the policy's scale.

For each engine and dtype: SR-1's grid of every extreme value per op, plus ``--draws``
random SR-1 and NF-1 cases, and the largest ``|actual - expected| / (rtol * scale + atol)`` over
the finite expected elements (1 is the policy's limit; elements the engine gets wrong by
kind, NaN for a number, count as failures, not as errors). The figures back the edge
entry of conformance/oracles/tolerances.py.
Run: ``python benchmarks/edge_errors.py [--engines torch,jax,autograd] [--draws 300]``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from conformance.edges import judge, reference  # noqa: E402
from conformance.edges.tiers import extreme_cases, extreme_grid, nonfinite_cases  # noqa: E402
from conformance.engine.ops import available  # noqa: E402
from conformance.engine.registry import load_backend  # noqa: E402
from conformance.oracles.expr import as_fn  # noqa: E402
from conformance.specs import claim  # noqa: E402


def worst(backend, edge, expected, checked=None) -> float:  # type: ignore[no-untyped-def]
    case = edge.case
    value, grads = backend.vjp(
        as_fn(case.expr, backend, case.dtype), list(case.inputs), case.dtype, case.cotangent
    )
    exp_value, exp_grads = expected
    vb, gbs = judge.scales(edge)
    out = 0.0
    masks = [None] * (1 + len(grads)) if checked is None else [None, *checked]
    rows = [(value, exp_value, vb), *zip(grads, exp_grads, gbs, strict=False)]
    for (act, exp, bound), mask in zip(rows, masks, strict=False):
        act, exp = np.asarray(act, np.float64), np.asarray(exp, np.float64)
        fin = np.isfinite(exp) & np.isfinite(act) & (True if mask is None else mask)
        with np.errstate(all="ignore"):
            ratio = np.abs(act - exp)[fin] / np.broadcast_to(bound, exp.shape)[fin]
        out = max(out, float(np.max(ratio, initial=0.0)))
    return out


def _sample(backend, dtype, sr, nf, result, draws) -> None:  # type: ignore[no-untyped-def]
    """Fold ``draws`` random SR-1 and NF-1 cases into ``result``."""

    @settings(
        max_examples=draws, database=None, deadline=None, suppress_health_check=list(HealthCheck)
    )
    @given(st.data())
    def sample(data):  # type: ignore[no-untyped-def]
        edge = data.draw(extreme_cases(dtype, sr))
        result["SR-1"] = max(result["SR-1"], worst(backend, edge, reference.exact(edge)))
        edge = data.draw(nonfinite_cases(dtype, nf))
        value, grads, checked = reference.ieee(edge)
        result["NF-1"] = max(result["NF-1"], worst(backend, edge, (value, grads), checked))

    sample()


def measure(name: str, draws: int) -> None:
    backend = load_backend(name)
    have = available(backend)
    for dtype in backend.dtypes:
        sr = [op for op in claim("SR-1").params["ops"] if op in have]
        nf = [op for op in claim("NF-1").params["ops"] if op in have]
        result = {"grid": 0.0, "SR-1": 0.0, "NF-1": 0.0}
        for op in sr:
            for edge in extreme_grid(op, dtype):
                result["grid"] = max(result["grid"], worst(backend, edge, reference.exact(edge)))

        _sample(backend, dtype, sr, nf, result, draws)
        shown = ", ".join(f"{k} {v:.2g}" for k, v in result.items())
        print(f"{name:9} {dtype}: largest error / policy bound: {shown}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--engines", default="torch,jax,autograd")
    parser.add_argument("--draws", type=int, default=300)
    args = parser.parse_args()
    for name in args.engines.split(","):
        measure(name, args.draws)


if __name__ == "__main__":
    main()
