"""Operations run as soon as they are written (the seed's first point): a lazily
evaluated engine, right in every other respect, fails DG-1 and LR-4 with a message that
names the stale read."""

from __future__ import annotations

import pytest

from conformance.run.runner import RunResult, run

DTYPES = ("float32", "float64")


@pytest.fixture(scope="module")
def lazy_run() -> RunResult:
    return run("tests.lazy_engine:LazyBackend", claims=["DG-1", "LR-4"], quiet=True)


def test_a_lazy_engine_fails_the_stale_read_check_of_dg1(lazy_run: RunResult) -> None:
    """A value computed before its inputs were updated reads as if computed after."""
    assert lazy_run.exit_code == 1
    for dtype in DTYPES:
        assert lazy_run.verdicts[("DG-1", dtype)] == "failed"
        message = lazy_run.failures[("DG-1", dtype)]
        assert "value read after the in-place update of its inputs" in message
        assert "stale read" in message


def test_a_lazy_engine_reads_the_seeds_loss_of_the_updated_parameters(
    lazy_run: RunResult,
) -> None:
    """LR-4 reads each loss after the update, as the seed does: the lazy engine's loss is
    that of the updated parameters, and the failure says so."""
    for dtype in DTYPES:
        assert lazy_run.verdicts[("LR-4", dtype)] == "failed"
        message = lazy_run.failures[("LR-4", dtype)]
        assert "loss at iteration 0 (computed before update 0, read after it" in message
        assert "stale read" in message


def test_only_the_stale_read_fails_dg1_on_the_lazy_engine(lazy_run: RunResult) -> None:
    """DG-1's other checks (values, branches, gradients) pass: the engine is lazy, not
    wrong, so the stale-read check is the one that tells."""
    failing = {
        t.nodeid.split("::")[-1].split("[")[0]
        for t in lazy_run.results.tests.values()
        if t.claim == "DG-1" and t.verdict == "failed"
    }
    assert failing == {"test_a_value_computed_before_its_inputs_change_keeps_its_value"}
