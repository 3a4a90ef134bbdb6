"""The suite catches every mutant in tests/mutants.py, under the claim that should, and
passes torch itself on the same claims (ci profile)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import Phase, settings

from conformance import profiles, xfails
from conformance.registry import load_backend
from conformance.runner import run

PROPERTY_CLAIMS = ["GR-2", "CR-1", "NS-1", "DG-1", "LF-1", "LF-2", "NL-1", "NL-2", "LR-2", "ST-1"]

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
        for dtype in ("float32", "float64"):
            assert result.verdicts.get((claim, dtype)) == "failed", (claim, dtype, result.verdicts)


def test_torch_passes_every_property_claim(ci_without_shrinking: str) -> None:
    """The reference engine is never blamed: every property claim passes on torch, but
    for the deviations torch's own expected-failure file lists."""
    result = run("torch", claims=PROPERTY_CLAIMS, profile=ci_without_shrinking)
    assert result.exit_code == 0, result.failures
    known = {entry.claim for entry in xfails.for_backend(load_backend("torch"))}
    for claim in PROPERTY_CLAIMS:
        for dtype in ("float32", "float64"):
            want = "xfailed" if claim in known else "passed"
            assert result.verdicts.get((claim, dtype)) == want, (claim, dtype)
