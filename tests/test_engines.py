"""The real engines against the whole suite (ci profile): torch, and the others where
installed (CI installs MyGrad and HIPS autograd, so there they must run; jax and tinygrad
are optional).

Each engine must exit 0 with exactly the verdicts that its adapter and its own
expected-failure file predict, never read from a run: a claim is xfailed where the file
lists it, unsupported where it needs a capability the adapter does not declare, passed
otherwise; informational claims get none. Test by test, exactly the tests an entry names
fail (as expected), so an entry cannot hide a right part of a claim. These runs take
minutes (tinygrad, which schedules every value it reads, is the slowest).
"""

from __future__ import annotations

import importlib.util
import os

import pytest

from conformance import specs
from conformance.engine import xfails
from conformance.engine.registry import load_backend
from conformance.oracles.verdicts import UNSUPPORTED
from conformance.run.runner import RunResult, run

# registered backends, each named as its engine's module (skipped when not installed)
ENGINES = ("autograd", "jax", "mygrad", "paddle", "tensorflow", "tinygrad", "torch")
INSTALLED_BY_CI = {"torch", "mygrad", "autograd"}  # where CI is set, these must run
LACKS = UNSUPPORTED + "backend lacks capability "  # how a check reports a missing capability


@pytest.fixture(scope="module", params=ENGINES)
def engine(request: pytest.FixtureRequest) -> tuple[object, RunResult]:
    """The backend and its run; torch's is the session's shared reference run."""
    name = request.param
    missing = f"{name} is not installed: pip install 'autograd-conformance[{name}]'"
    if os.environ.get("CI") and name in INSTALLED_BY_CI and not importlib.util.find_spec(name):
        pytest.fail(f"{missing} (.ci/run installs it, and CI is set)")
    pytest.importorskip(name, reason=missing)
    if name == "torch":
        return load_backend(name), request.getfixturevalue("torch_suite").result
    return load_backend(name), run(name, profile="ci", quiet=True)


# checks that need more than their claim does: DG-1's stale-read check updates inputs in
# place, so an engine without it gets DG-1 partial (its other checks pass)
EXTRA_NEEDS = {"DG-1": {"backward", "inplace_update"}}
# the size tier's checks (10^6 elements) are unsupported on an engine that declares a
# smaller max_elements (tinygrad's interpreter device, scalar engines)
SIZE_TESTS = {
    "CR-1": "test_arrays_of_realistic_size_have_the_analytic_gradient",
    "CE-1": "test_arrays_of_realistic_size_compile_to_the_analytic_value_and_gradient",
}
SIZE_UNSUPPORTED = "unsupported: no size case fits"


def _too_small(backend: object) -> bool:
    limit = getattr(backend, "max_elements", None)
    return limit is not None and limit < 2**20


def _size_unsupported(backend: object, claim: str) -> bool:
    return claim in SIZE_TESTS and _too_small(backend)


def _expected(backend: object) -> dict[tuple[str, str], str]:
    entries = xfails.for_backend(backend)
    declared = set(getattr(backend, "capabilities", ()))
    out = {}
    for claim in specs.all_claims().values():
        if claim.informational:
            continue
        for dtype in getattr(backend, "dtypes", ()):
            if any(e.claim == claim.id and e.dtype in (None, dtype) for e in entries):
                out[claim.id, dtype] = "xfailed"
            elif set(claim.requires) - declared:
                out[claim.id, dtype] = "unsupported"
            elif EXTRA_NEEDS.get(claim.id, set()) - declared or _size_unsupported(
                backend, claim.id
            ):
                out[claim.id, dtype] = "partial"
            else:
                out[claim.id, dtype] = "passed"
    return out


def test_every_engine_exits_0_with_its_expected_failures(engine):
    """Documented deviations are expected failures, and nothing else fails."""
    _, result = engine
    assert result.exit_code == 0, result.failures


def test_every_claim_gets_the_verdict_its_adapter_and_expected_failures_predict(engine):
    """Each claim and dtype: xfailed if listed, unsupported if a capability is missing,
    else passed; informational claims have no verdict (so none slides to unsupported)."""
    backend, result = engine
    assert result.verdicts == _expected(backend)


def test_exactly_the_tests_an_expected_failure_names_fail(engine):
    """A test an entry names is xfailed; any other passes, or is unsupported for a
    capability the adapter does not declare."""
    backend, result = engine
    entries = xfails.for_backend(backend)
    declared = set(getattr(backend, "capabilities", ()))
    for test in result.results.tests.values():
        name = test.nodeid.split("::")[-1].split("[")[0]
        if any(e.matches(test.claim, name, test.dtype) for e in entries):
            assert test.verdict == "xfailed", (test.nodeid, test.verdict, test.message)
        elif name == SIZE_TESTS.get(test.claim) and _too_small(backend):
            assert test.verdict == "unsupported", (test.nodeid, test.verdict)
            assert test.message.startswith(SIZE_UNSUPPORTED), (test.nodeid, test.message)
        elif test.verdict != "passed":
            assert test.verdict == "unsupported", (test.nodeid, test.verdict, test.message)
            assert test.message.startswith(LACKS), (test.nodeid, test.message)
            lacking = set(test.message.removeprefix(LACKS).split(", "))
            assert not lacking & declared, (test.nodeid, test.message)
