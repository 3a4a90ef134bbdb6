"""No vacuous examples: on torch under the ci profile, nearly every example of every
property exercises what its claim is about (recorded through conformance.suite.vacuity)."""

from __future__ import annotations

from conformance import specs
from conformance.run import profiles

FLOOR = 0.9
# every claim checked by drawn examples (properties and the ST-1 state machine)
PROPERTY_CLAIMS = {"GR-2", "CR-1", "NS-1", "DG-1", "LF-1", "LF-2", "NL-1", "NL-2", "LR-2"}
PROPERTY_CLAIMS |= {"ST-1", "LR-5", "HO-2", "FM-1", "NF-1", "KP-1", "SR-1", "CE-1", "GT-1"}


def test_every_drawing_test_records_each_example_and_no_other_test_records(torch_suite):
    """A test that draws records every example (at least the profile's count); a test
    that draws nothing records nothing; every property claim has drawing tests."""
    seen = torch_suite.seen
    assert torch_suite.result.exit_code == 0, torch_suite.result.failures
    for nodeid, test in seen.items():
        total = sum(test.counts.values())
        if test.draws:  # the claim's share of the profile's examples (1 but for a few)
            share = specs.claim(test.claim).params.get("example_share", 1.0)
            assert total >= round(share * profiles.PROFILES["ci"]["max_examples"]), (nodeid, total)
        else:
            assert total == 0, nodeid
    assert {test.claim for test in seen.values() if test.draws} == PROPERTY_CLAIMS


def test_at_least_90_percent_of_each_propertys_examples_exercise_its_subject(torch_suite):
    """Per property and dtype, the share of examples that contain the claim's subject
    (a retained non-leaf, an untracked tensor, a predicted crossing, ...) is >= 90%."""
    low = {
        nodeid: (round(test.share, 2), dict(test.counts))
        for nodeid, test in torch_suite.seen.items()
        if test.draws and test.share < FLOOR
    }
    assert not low
