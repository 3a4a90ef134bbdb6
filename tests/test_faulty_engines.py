"""An engine broken in one op fails exactly the claims that use the op, and the run still
reaches its end and writes its results."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conformance.run.runner import EXIT_FAILED, RunResult, run

DTYPES = ("float32", "float64")


def _run(double: str, claims: list[str], report_dir: Path, timeout: float = 60) -> RunResult:
    result = run(
        f"tests.faulty_engines:{double}",
        claims=claims,
        profile="ci",
        timeout=timeout,
        report_dir=report_dir,
        quiet=True,
    )
    # the run went on to the end: every selected claim has a verdict, results were written
    assert {claim for claim, _ in result.verdicts} == set(claims)
    report = json.loads((report_dir / "results.json").read_text())
    assert {c["id"] for c in report["claims"]} >= set(claims)
    return result


def _verdicts(result: RunResult, claim_id: str) -> set[str]:
    return {result.verdicts[(claim_id, d)] for d in DTYPES}


def _messages(result: RunResult, claim_id: str) -> list[str]:
    return [m for (c, _), m in result.failures.items() if c == claim_id]


@pytest.mark.parametrize(
    ("double", "broken", "intact"),
    [
        ("RaisingPowBackend", ["LR-1"], ["GR-1"]),
        ("NanSubBackend", ["LR-1"], ["GR-1"]),
        ("WrongShapeMulBackend", ["NS-1", "LR-1"], ["LR-3"]),
    ],
)
def test_a_faulty_op_fails_the_claims_using_it_and_no_other(
    double: str, broken: list[str], intact: list[str], tmp_path: Path
) -> None:
    """A raising, NaN-returning or wrongly shaped op fails its claims; the rest pass."""
    result = _run(double, broken + intact, tmp_path)
    assert result.exit_code == EXIT_FAILED
    for claim_id in broken:
        assert _verdicts(result, claim_id) == {"failed"}, claim_id
    for claim_id in intact:
        assert _verdicts(result, claim_id) == {"passed"}, claim_id


def test_a_raising_op_fails_with_the_engines_own_error(tmp_path: Path) -> None:
    """The failure carries the engine's exception; the op's name is not in it (see the
    plugin note in faulty_engines.py)."""
    result = _run("RaisingPowBackend", ["LR-1"], tmp_path)
    messages = _messages(result, "LR-1")
    assert messages and all("EngineFault: internal error 0x2a" in m for m in messages)


def test_a_nan_returning_op_fails_at_the_stage_that_reads_its_value(tmp_path: Path) -> None:
    """NaN from sub shows up as the loss: stage, ACTUAL nan, and a reproduction snippet."""
    result = _run("NanSubBackend", ["LR-1"], tmp_path)
    messages = _messages(result, "LR-1")
    assert messages
    for message in messages:
        assert "stage: loss (vjp)" in message
        assert "ACTUAL:   [nan]" in message
        assert "load_backend('tests.faulty_engines:NanSubBackend')" in message


def test_a_wrongly_shaped_op_fails_where_the_shape_matters(tmp_path: Path) -> None:
    """mul's extra axis makes the output gradient of NS-1's x * x mismatch its shape."""
    result = _run("WrongShapeMulBackend", ["NS-1"], tmp_path)
    seed = [
        t
        for t in result.results.tests.values()
        if "test_a_vector_output_with_an_output_gradient" in t.nodeid and t.verdict == "failed"
    ]
    assert len(seed) == len(DTYPES)
    assert all("Mismatch in shape" in t.message for t in seed)


def test_an_op_that_never_returns_times_out_and_the_run_goes_on(tmp_path: Path) -> None:
    """neg hangs: GR-1 fails on the time limit, then LR-1 (no neg) still runs and passes."""
    result = _run("HangingNegBackend", ["GR-1", "LR-1"], tmp_path, timeout=2)
    assert result.exit_code == EXIT_FAILED
    assert _verdicts(result, "GR-1") == {"failed"}
    assert _verdicts(result, "LR-1") == {"passed"}
    messages = _messages(result, "GR-1")
    assert messages and all("time limit of 2 s" in m for m in messages)
