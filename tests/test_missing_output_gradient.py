"""NS-1's error checks pass on exactly the documented error: backward/vjp refusing a
non-scalar output without an output gradient, where the same call with one succeeds."""

from __future__ import annotations

from conformance.report import results as reporting
from conformance.run.runner import RunResult, run

DTYPES = ("float32", "float64")


def _error_checks(result: RunResult) -> list[reporting.TestResult]:
    """NS-1's checks of the error (seed and property, every dtype)."""
    return [t for t in result.results.tests.values() if "without_an_output_gradient" in t.nodeid]


def test_unsupported_instead_of_the_error_fails_ns1():
    """A backward that raises Unsupported for a non-scalar output without v fails NS-1."""
    result = run("tests.doubles:UnsupportedVectorBackwardBackend", claims=["NS-1"], quiet=True)
    assert result.exit_code == 1
    assert {result.verdicts[("NS-1", d)] for d in DTYPES} == {"failed"}
    checks = _error_checks(result)
    assert len(checks) == 2 * len(DTYPES)
    for check in checks:
        assert check.verdict == "failed", check.nodeid
        assert "stage: VJP without an output gradient" in check.message, check.message
        assert "raised Unsupported" in check.message, check.message


def test_a_backward_that_always_raises_fails_ns1():
    """An error raised for scalar outputs and explicit gradients too is not NS-1's error."""
    result = run("tests.doubles:RaisingBackwardBackend", claims=["NS-1"], quiet=True)
    assert result.exit_code == 1
    assert {result.verdicts[("NS-1", d)] for d in DTYPES} == {"failed"}
    checks = _error_checks(result)
    assert len(checks) == 2 * len(DTYPES)
    for check in checks:
        assert check.verdict == "failed", check.nodeid
        # the control on a one-element output exposes it, before the call without v
        assert "stage: VJP of the value summed to one element" in check.message, check.message
        assert "RuntimeError: this backward always fails" in check.message, check.message
