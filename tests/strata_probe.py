"""A pytest plugin for suite runs (``-p tests.strata_probe``): in how many judged examples
each check had each op designated (:mod:`conformance.generation.strata`)."""

from __future__ import annotations

import pytest

from conformance.engine import ops

DESIGNATED: dict[str, dict[str, int]] = {}
"""Per test id, the last run's count per op."""


def pytest_runtest_teardown(item: pytest.Item) -> None:
    # the plugin's call wrapper has settled the check's last example by now
    DESIGNATED[item.nodeid] = {op: ops.times_designated(op) for op in ops.ALL_OPS}
