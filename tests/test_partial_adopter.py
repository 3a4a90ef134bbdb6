"""A backend implementing only part of the protocol: the suite marks what it cannot express
as unsupported, runs everything else, and exits 0."""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.engine import missing_methods
from conformance.engine.registry import load_backend
from conformance.run.runner import RunResult, run

TINY = "tests.partial_adopter:TinyBackend"
# the seed's examples plus the properties that reach matmul; fast on a numpy engine
CLAIMS = ["GR-1", "G-2", "NS-1", "DG-1", "LF-1", "NL-1", "NL-2", "GF-1", "G-1", "LR-1", "LR-2"]
DTYPES = ("float32", "float64")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[RunResult, Path]:
    report_dir = tmp_path_factory.mktemp("tiny-report")
    return run(TINY, claims=CLAIMS, profile="ci", report_dir=report_dir, quiet=True), report_dir


def test_the_smallest_adapter_has_every_required_method_and_no_capability() -> None:
    """Values, ops and vjp are enough for the registry to accept a backend."""
    backend = load_backend(TINY)
    assert missing_methods(backend) == []
    assert backend.capabilities == frozenset()


def test_a_partial_backend_runs_to_the_end_and_exits_0(
    tiny_run: tuple[RunResult, Path],
) -> None:
    """Unsupported claims are not failures: the run finishes, writes its report, exits 0."""
    result, report_dir = tiny_run
    assert result.exit_code == 0, result.failures
    assert (report_dir / "results.json").is_file()
    assert "failed" not in result.verdicts.values()
    assert "error" not in result.verdicts.values()


def test_claims_needing_imperative_capabilities_are_unsupported(
    tiny_run: tuple[RunResult, Path],
) -> None:
    """Leaf flags, retain_grad, grad_fn, the graph walk and accumulation are unsupported."""
    verdicts = tiny_run[0].verdicts
    for claim_id in ("LF-1", "NL-1", "NL-2", "GF-1", "G-1", "LR-2"):
        for dtype in DTYPES:
            assert verdicts[(claim_id, dtype)] == "unsupported", (claim_id, dtype)


def test_what_the_engine_can_express_passes(tiny_run: tuple[RunResult, Path]) -> None:
    """Gradients of the worked example and the regression step pass through vjp alone."""
    verdicts = tiny_run[0].verdicts
    for claim_id in ("GR-1", "G-2", "LR-1"):
        for dtype in DTYPES:
            assert verdicts[(claim_id, dtype)] == "passed", (claim_id, dtype)


def test_a_missing_op_is_left_out_of_the_draw_and_the_rest_is_judged(
    tiny_run: tuple[RunResult, Path],
) -> None:
    """tiny has no matmul: its random graphs are drawn without it, NS-1 and DG-1 are judged,
    and pass, on the other ops, and the report says matmul is what the engine lacks."""
    results = tiny_run[0].results
    tests = [
        t
        for t in results.tests.values()
        if t.claim in ("NS-1", "DG-1") and "lacks capability" not in t.message
    ]
    assert tests and all(t.verdict == "passed" for t in tests), [
        (t.nodeid, t.verdict) for t in tests
    ]
    assert results.available_ops is not None and "matmul" not in results.available_ops
    covered = {op for t in tests for op in t.ops}
    assert "matmul" not in covered and {"add", "mul"} <= covered


def _claim_run(backend: str, claim: str) -> RunResult:
    return run(f"tests.partial_adopter:{backend}", claims=[claim], profile="ci", quiet=True)


def test_an_unsupported_op_never_hides_a_wrong_derivative() -> None:
    """A wrong log beside a pow raising Unsupported fails CR-1 in both dtypes, exit 1,
    with the log counterexample."""
    result = _claim_run("BadLogNoRealPow", "CR-1")
    assert result.exit_code == 1
    assert {result.verdicts[("CR-1", d)] for d in DTYPES} == {"failed"}
    for dtype in DTYPES:
        assert "log(" in result.failures[("CR-1", dtype)]


def test_a_property_no_example_of_which_can_run_is_unsupported() -> None:
    """When every example raises Unsupported, the property is unsupported (not passed),
    and the report says how many were rejected and why."""
    result = _claim_run("NoGradients", "CR-1")
    assert result.exit_code == 0
    for dtype in DTYPES:
        assert result.verdicts[("CR-1", dtype)] == "unsupported"
    # the random property's; CR-1's size tier is one deterministic check, unsupported too
    tests = result.results.tests.values()
    messages = [t.message for t in tests if "random_dags" in t.nodeid]
    assert messages and all("no example could run" in m for m in messages)
    assert all("rejected as unsupported: no-gradients computes values only" in m for m in messages)
    assert all(t.verdict == "unsupported" for t in tests)
