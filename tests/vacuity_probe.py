"""A pytest plugin for suite runs (``-p tests.vacuity_probe``): which test made which
:mod:`conformance.suite.vacuity` records, and whether that test draws examples at all."""

from __future__ import annotations

import inspect
from collections import Counter
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

import pytest

from conformance.suite import vacuity

# how a suite test draws examples: @given (on itself or an inner check) or a state machine
DRAWING = ("@given(", "run_state_machine_as_test(")


@dataclass
class Seen:
    claim: str
    draws: bool
    counts: Counter[tuple[str, bool]]

    @property
    def share(self) -> float:
        """The share of the test's examples that exercised its subject."""
        hits = sum(n for (_, hit), n in self.counts.items() if hit)
        return hits / max(1, sum(self.counts.values()))


SEEN: dict[str, Seen] = {}
"""Per test id, what the last run saw."""


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, Any, Any]:
    before = vacuity.COUNTS.copy()
    try:
        return (yield)
    finally:
        source = inspect.getsource(item.function)  # type: ignore[attr-defined]
        SEEN[item.nodeid] = Seen(
            claim=str(item.get_closest_marker("claim").args[0]),  # type: ignore[union-attr]
            draws=any(marker in source for marker in DRAWING),
            counts=vacuity.COUNTS - before,
        )
