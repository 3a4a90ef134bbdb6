"""Every checked claim has a test, and every conformance test names a known claim."""

from __future__ import annotations

import pytest

from conformance import specs


class _Collect:
    def __init__(self) -> None:
        self.claims: dict[str, list[str]] = {}

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        for item in session.items:
            marker = item.get_closest_marker("claim")
            assert marker is not None, f"{item.nodeid} checks no claim"
            self.claims.setdefault(marker.args[0], []).append(item.nodeid)


@pytest.fixture(scope="module")
def collected() -> dict[str, list[str]]:
    grab = _Collect()
    args = [
        "--pyargs",
        "conformance.suite",
        "--collect-only",
        "-q",
        "-p",
        "no:cacheprovider",
        "--autograd-backend=torch",
    ]
    assert pytest.main(args, plugins=[grab]) == 0
    return grab.claims


def test_every_checked_claim_has_a_conformance_test(collected):
    """No checked claim of the specs is left without a test."""
    checked = {c.id for c in specs.all_claims().values() if not c.informational}
    assert checked - collected.keys() == set()


def test_every_conformance_test_carries_its_claim_in_its_id(collected):
    """Test ids read CLAIM-backend-dtype, e.g. GR-1-torch-float32."""
    for claim_id, nodeids in collected.items():
        for nodeid in nodeids:
            assert f"[{claim_id}-torch-float" in nodeid, nodeid


def test_a_test_naming_an_unknown_claim_is_an_error(pytester):
    """A conformance test marked with a claim that the specs lack stops the run."""
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.claim("ZZ-9")
        def test_something(backend, dtype):
            pass
        """
    )
    result = pytester.runpytest_subprocess("--autograd-backend=torch", "-p", "no:cacheprovider")
    assert result.ret != 0
    result.stderr.fnmatch_lines(["*marked with unknown claim 'ZZ-9'*"])


def test_the_plugin_runs_the_suite_inside_a_users_pytest(pytester):
    """pytest --pyargs conformance.suite --autograd-backend=torch works as a plugin run."""
    result = pytester.runpytest_subprocess(
        "--pyargs",
        "conformance.suite",
        "--autograd-backend=torch",
        "--autograd-claims=GR-1",
        "-p",
        "no:cacheprovider",
    )
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*autograd conformance verdicts*", "GR-1 *passed*passed*"])
