"""Each convergence double is caught by a named LR-4 or LR-5 check, which torch passes."""

from __future__ import annotations

import pytest

pytest.importorskip("torch", reason="the convergence doubles are built on the torch adapter")

from conformance.run.runner import run  # noqa: E402

STOP_AT_78 = "test_the_seed10_run_stops_below_the_threshold_at_the_specs_iteration"
TRAJECTORY = "test_gradient_descent_follows_the_closed_form_recurrence"
DESCENT = "test_below_the_stability_bound_the_loss_falls_every_step_toward_the_minimum"

# (double, claim, the check that must catch it): why each catches it in the comments
CAUGHT = [
    # half the gradient: the seed-10 run is still above 1 after 100 iterations (needs ~156)
    ("HalfMeanBackend", "LR-4", STOP_AT_78),
    # ... and every step is half as long as the recurrence's
    ("HalfMeanBackend", "LR-5", TRAJECTORY),
    # 20 times the gradient: far above the stability bound, the seed-10 run blows up
    ("UndividedMeanBackend", "LR-4", STOP_AT_78),
    # ... and at lr below the bound the loss rises instead of falling
    ("UndividedMeanBackend", "LR-5", DESCENT),
    # w's gradient averaged over the 20 broadcast rows: w barely moves
    ("BroadcastMeanMulBackend", "LR-4", STOP_AT_78),
    ("BroadcastMeanMulBackend", "LR-5", TRAJECTORY),
    # w's gradient from the first point only: a different path from the first step
    ("BroadcastFirstMulBackend", "LR-5", TRAJECTORY),
]


def _verdicts_of(result, test_name: str) -> dict[str, str]:
    """dtype -> verdict of the named check in one run."""
    return {
        t.dtype: t.verdict for t in result.results.tests.values() if f"::{test_name}[" in t.nodeid
    }


@pytest.mark.parametrize(
    ("double", "claim_id", "test_name"), CAUGHT, ids=[f"{d}-{c}" for d, c, _ in CAUGHT]
)
def test_each_convergence_double_is_caught_by_its_named_check(double, claim_id, test_name):
    """Under the ci profile the named check fails in both dtypes, with stage and repro."""
    ref = f"tests.convergence_doubles:{double}"
    result = run(ref, claims=[claim_id], profile="ci", quiet=True, extra_args=["-k", test_name])
    assert result.exit_code == 1
    assert _verdicts_of(result, test_name) == {"float32": "failed", "float64": "failed"}
    for (cid, _dtype), message in result.failures.items():
        assert cid == claim_id
        if message.startswith("ExceptionGroup: Hypothesis found"):
            continue  # several distinct failures: the report keeps only their summary line
        assert "stage:" in message and "ACTUAL" in message and "EXPECTED" in message
        assert "reproduce with:" in message and ref in message


def test_the_reference_backend_passes_every_convergence_check():
    """torch passes LR-1, LR-4 and LR-5 in both dtypes, the checks that catch the doubles
    among them: each catch is the double's bug, not the check's."""
    claims = ["LR-1", "LR-4", "LR-5"]
    result = run("torch", claims=claims, profile="ci", quiet=True)
    assert result.exit_code == 0, result.failures
    assert result.verdicts == {(c, d): "passed" for c in claims for d in ("float32", "float64")}
    for name in {name for _, _, name in CAUGHT}:
        assert _verdicts_of(result, name) == {"float32": "passed", "float64": "passed"}
