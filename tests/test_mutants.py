"""The suite catches every mutant in tests/mutants.py, under the claim that should (ci
profile). torch itself passes them all: tests/test_engines.py's reference run."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import Phase, settings

from conformance import profiles
from conformance.runner import run

DTYPES = ("float32", "float64")

# mutant -> the claims that must fail, in every dtype. Each claim listed catches its
# mutant on most generated examples (measured over random runs), so a verdict does not
# hang on one lucky draw.
CAUGHT_BY = {
    "tests.mutants:SignFlipBackend": ["GR-2"],
    "tests.mutants:WrongOperandMulBackend": ["GR-2", "CR-1"],
    "tests.mutants:NoSharedAccumulationBackend": ["GR-2", "CR-1"],
    "tests.mutants:BroadcastMeanBackend": ["GR-2"],
    "tests.mutants:Float16BackwardBackend": ["GR-2", "CR-1"],
    "tests.mutants:NegativeInputBackend": ["CR-1"],
    "tests.mutants:ForgetsPassesBackend": ["LR-2", "ST-1"],
    "tests.mutants:SilentSumBackend": ["NS-1"],
    "tests.doubles:KeepsNonLeafGradsBackend": ["NL-1", "ST-1"],
}
# bugs confined to a narrow range of inputs show in a few percent of random
# expressions: over both dtypes' 100 ci examples, at least one must catch them
CAUGHT_IN_SOME_DTYPE = {"tests.mutants:LargeInputBackend": ["CR-1"]}


@pytest.fixture
def ci_without_shrinking() -> Iterator[str]:
    """The ci profile's examples, without the shrink and explain phases: a verdict does
    not depend on them, and shrinking a mutant's failures takes minutes."""
    name, active = f"autograd-{profiles.DEFAULT}", settings.get_current_profile_name()
    original = settings.get_profile(name)
    phases = [p for p in original.phases if p not in (Phase.shrink, Phase.explain)]
    settings.register_profile(name, parent=original, phases=phases)
    try:
        yield profiles.DEFAULT
    finally:
        settings.register_profile(name, parent=original)
        settings.load_profile(active)  # the runs loaded the profile process-wide


@pytest.mark.parametrize("mutant", sorted(CAUGHT_BY))
def test_each_mutant_fails_the_claims_that_should_catch_it(
    mutant: str, ci_without_shrinking: str
) -> None:
    """A seeded backward bug turns the expected claims to failed, in every dtype."""
    claims = CAUGHT_BY[mutant]
    result = run(mutant, claims=claims, profile=ci_without_shrinking)
    assert result.exit_code == 1, result.verdicts
    for claim in claims:
        for dtype in DTYPES:
            assert result.verdicts.get((claim, dtype)) == "failed", (claim, dtype, result.verdicts)


@pytest.mark.parametrize("mutant", sorted(CAUGHT_IN_SOME_DTYPE))
def test_each_narrow_mutant_fails_its_claim_in_at_least_one_dtype(
    mutant: str, ci_without_shrinking: str
) -> None:
    """A backward bug confined to large inputs turns its claim to failed in some dtype."""
    claims = CAUGHT_IN_SOME_DTYPE[mutant]
    result = run(mutant, claims=claims, profile=ci_without_shrinking)
    assert result.exit_code == 1, result.verdicts
    for claim in claims:
        verdicts = {result.verdicts.get((claim, d)) for d in DTYPES}
        assert "failed" in verdicts, (claim, result.verdicts)
