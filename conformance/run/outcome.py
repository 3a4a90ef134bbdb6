"""What a run comes to, whichever process ran it: :class:`RunResult`, and the report
of a run that ended before any check."""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conformance import specs
from conformance.errors import ConfigError
from conformance.report import results as reporting
from conformance.report.results import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    Results,
    TestResult,
)
from conformance.run.settings import Settings


@dataclass
class RunResult:
    exit_code: int
    results: Results = field(default_factory=Results)
    error: str = ""

    @property
    def verdicts(self) -> dict[tuple[str, str], str]:
        """The verdict per (claim id, dtype)."""
        return self.results.verdicts()

    @property
    def failures(self) -> dict[tuple[str, str], str]:
        """The failure messages per (claim id, dtype), joined when several tests failed."""
        out: dict[tuple[str, str], str] = {}
        for test in self.results.tests.values():
            if test.verdict in ("failed", "error", "xpassed"):
                key = (test.claim, test.dtype)
                out[key] = (out[key] + "\n\n" if key in out else "") + test.message
        return out


def write_status_report(
    settings: Settings, status: str, error: str, exit_status: int | None = None
) -> Results:
    """The results of a run that ended with no verdict to show (a usage error, an
    interrupt before any check, a run that has not finished), written as its report when
    a folder was asked for."""
    results = Results()
    results.status, results.error = status, error
    default = {"interrupted": EXIT_INTERRUPTED, "aborted": EXIT_FAILED}.get(status, EXIT_USAGE)
    results.exit_status = default if exit_status is None else exit_status
    if not settings.report_dir:
        return results
    try:
        claims = specs.all_claims()
    except ConfigError:
        claims = {}  # the specs are what is broken: the report says so in its error
    with contextlib.suppress(ConfigError):  # an unwritable folder was already reported
        reporting.write_status_report(
            settings.report_dir, results, settings.backend or "?", settings.profile or "ci", claims
        )
    return results


def results_from(doc: dict[str, Any]) -> Results:
    """The :class:`Results` a ``results.json`` document holds (as another process wrote it)."""
    results = Results()
    results.status, results.error = doc["status"], doc["error"]
    results.exit_status = doc["exit_status"]
    results.available_ops = doc["backend"].get("ops")
    for claim in doc["claims"]:
        for test in claim["tests"]:
            results.tests[test["nodeid"]] = TestResult(**test)
    return results


def digests(folder: Path) -> dict[str, str]:
    """sha256 of every file under ``folder``, by path relative to it."""
    return {
        path.relative_to(folder).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }
