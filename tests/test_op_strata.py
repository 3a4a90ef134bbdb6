"""Every op in every property (conformance.generation.strata): ``--claims CR-1`` alone,
under the ci profile, designates and covers every op torch has in each dtype, and fails
a single wrong op of each kind (elementwise, binary, reduction, data movement) in both
dtypes, with a counterexample that calls that op (log's: little else)."""

from __future__ import annotations

import re

import pytest

from conformance.generation.strata import K
from conformance.report import results as reporting
from conformance.run.runner import RunResult, run
from tests import strata_probe

DTYPES = ("float32", "float64")
DAGS = "test_random_dags_have_the_analytic_gradient"  # CR-1's property
# a single wrong op of each kind (tests/mutants.py) -> that op
WRONG_OP = {
    "tests.mutants:LogScaledBackend": "log",
    "tests.mutants:DivForgetsNumeratorBackend": "div",
    "tests.mutants:MinGradientToLargestBackend": "min",
    "tests.mutants:TransposeAsReshapeBackend": "transpose",
}
# shrinking by Hypothesis's own limit, not the suite's default budget: a loaded machine
# must not stop it before the counterexample is small
SHRINK_BUDGET = 300.0


def _dags(result: RunResult, dtype: str) -> reporting.TestResult:
    assert result.results is not None
    (test,) = (t for t in result.results.tests.values() if DAGS in t.nodeid and t.dtype == dtype)
    return test


@pytest.fixture(scope="module")
def torch_cr1() -> tuple[RunResult, dict[str, dict[str, int]]]:
    """CR-1 alone on torch (ci), with the strata probe attached: run once per module."""
    strata_probe.DESIGNATED.clear()
    result = run(
        "torch", claims=["CR-1"], profile="ci", quiet=True, extra_args=["-p", "tests.strata_probe"]
    )
    return result, dict(strata_probe.DESIGNATED)


def test_cr1_alone_covers_every_op_torch_has_in_each_dtype(torch_cr1):
    """The report's ops covered by CR-1's random expressions are, in each dtype, every op
    torch has."""
    result, _ = torch_cr1
    assert result.exit_code == 0, result.verdicts
    have = result.results.available_ops
    assert have
    for dtype in DTYPES:
        assert _dags(result, dtype).ops == have, dtype


def test_cr1_alone_designates_every_op_torch_has_k_times_in_each_dtype(torch_cr1):
    """In each dtype, every op torch has is designated in at least K judged examples."""
    result, designated = torch_cr1
    have = result.results.available_ops
    for dtype in DTYPES:
        counts = designated[_dags(result, dtype).nodeid]
        assert not {op: counts[op] for op in have if counts[op] < K}, dtype


_RUNS: dict[str, RunResult] = {}


def _run(mutant: str) -> RunResult:
    """CR-1 alone on ``mutant`` (ci), as a user runs it: once per test session."""
    if mutant not in _RUNS:
        _RUNS[mutant] = run(
            mutant, claims=["CR-1"], profile="ci", quiet=True, shrink_budget=SHRINK_BUDGET
        )
    return _RUNS[mutant]


def _calls(repro: str) -> list[str]:
    """The backend's ops a reproduction calls, in order."""
    return [c for c in re.findall(r"\bbk\.(\w+)\(", repro) if c != "vjp"]


@pytest.mark.parametrize("mutant", sorted(WRONG_OP))
def test_cr1_alone_fails_a_single_wrong_op_of_each_kind_in_both_dtypes(mutant):
    """A backward bug in one op turns CR-1 to failed in float32 and float64, with a
    counterexample that calls that op."""
    result = _run(mutant)
    assert result.exit_code == 1
    for dtype in DTYPES:
        assert result.verdicts[("CR-1", dtype)] == "failed", (dtype, result.verdicts)
        test = _dags(result, dtype)
        assert test.verdict == "failed", (dtype, test.message)
        assert WRONG_OP[mutant] in _calls(test.repro), test.repro


def test_a_wrong_logs_counterexample_shrinks_to_log_and_at_most_two_other_ops():
    """Shrinking still works on designated ops: log's bug shrinks to a counterexample
    calling log and at most two other ops, in each dtype."""
    result = _run("tests.mutants:LogScaledBackend")
    for dtype in DTYPES:
        calls = _calls(_dags(result, dtype).repro)
        assert "log" in calls and len(calls) <= 3, (dtype, calls)
