"""The real engines against the whole suite (ci profile), each skipped when not installed.

Every engine must exit 0: its documented deviations are expected failures (its own
``*_xfails.toml``), what it cannot express is unsupported, and everything else passes.
These runs take minutes (jax's eager tracing is the slowest).
"""

from __future__ import annotations

import pytest

from conformance.runner import RunResult, run

DTYPES = ("float32", "float64")
# what a functional engine (gradients of functions only) cannot express
GRAPH_SEMANTICS = ("G-1", "LF-1", "LF-2", "NL-1", "NL-2", "GF-1", "ST-1", "LR-2", "LR-3")
# what every engine here can express, and passes
GRADIENTS = ("G-2", "GR-1", "GR-2", "CR-1", "DG-1", "LR-1", "LR-4", "LR-5")


def _suite_run(module: str, backend: str) -> RunResult:
    pytest.importorskip(
        module, reason=f"{module} is not installed: pip install 'autograd-conformance[{backend}]'"
    )
    return run(backend, profile="ci", quiet=True)


def _verdicts_are(result: RunResult, claims: tuple[str, ...], verdict: str) -> None:
    wrong = {
        (c, d): result.verdicts.get((c, d))
        for c in claims
        for d in DTYPES
        if result.verdicts.get((c, d)) != verdict
    }
    assert not wrong, f"expected {verdict}: {wrong}"


@pytest.fixture(scope="module")
def mygrad_run() -> RunResult:
    return _suite_run("mygrad", "mygrad")


@pytest.fixture(scope="module", params=["jax", "autograd"])
def functional_run(request: pytest.FixtureRequest) -> RunResult:
    return _suite_run(request.param, request.param)


def test_mygrad_passes_the_suite_with_its_expected_failures(mygrad_run: RunResult) -> None:
    """MyGrad exits 0 once its documented deviations are expected failures."""
    assert mygrad_run.exit_code == 0, mygrad_run.failures


def test_mygrads_documented_deviations_are_expected_failures(mygrad_run: RunResult) -> None:
    """Silent sum of a vector backward, kept non-leaf grads, graph cleared by backward,
    no accumulation across backward calls."""
    _verdicts_are(mygrad_run, ("NS-1", "NL-1", "LF-1", "LF-2", "LR-2"), "xfailed")


def test_mygrad_lacks_retain_grad_and_retain_graph_so_those_claims_are_unsupported(
    mygrad_run: RunResult,
) -> None:
    """MyGrad has no retain_grad and always clears the graph: NL-2, ST-1 unsupported."""
    _verdicts_are(mygrad_run, ("NL-2", "ST-1"), "unsupported")


def test_mygrad_passes_the_gradient_and_graph_record_claims(mygrad_run: RunResult) -> None:
    """Gradients, grad_fn records, the graph walk and untracked updates pass on MyGrad."""
    _verdicts_are(mygrad_run, (*GRADIENTS, "GF-1", "G-1", "LR-3"), "passed")


def test_a_functional_engine_passes_the_suite_without_expected_failures(
    functional_run: RunResult,
) -> None:
    """jax and HIPS autograd exit 0 with no expected failure at all."""
    assert functional_run.exit_code == 0, functional_run.failures
    assert "xfailed" not in functional_run.verdicts.values()


def test_a_functional_engine_reports_graph_semantics_claims_as_unsupported(
    functional_run: RunResult,
) -> None:
    """Leaf flags, retain_grad, grad_fn, accumulation and in-place updates are unsupported."""
    _verdicts_are(functional_run, GRAPH_SEMANTICS, "unsupported")


def test_a_functional_engine_passes_every_claim_it_can_express(
    functional_run: RunResult,
) -> None:
    """Gradients, the VJP and its error, branching on values and the regression pass."""
    _verdicts_are(functional_run, (*GRADIENTS, "NS-1"), "passed")
