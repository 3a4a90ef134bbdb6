"""Running the suite and reading back its verdicts.

With ``isolate=True`` (the command's default) every check runs in a pytest-xdist worker
process: an engine that crashes, exits or hangs there fails the check it was running and
the run goes on (see :mod:`conformance.run.isolation`). Otherwise checks run in this process,
which is faster to debug but lets the engine end the run.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from conformance import specs
from conformance.errors import ConfigError
from conformance.report import results as reporting
from conformance.report.results import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    Results,
)
from conformance.run.plugin import STATE_KEY
from conformance.run.settings import Settings, make

__all__ = ["EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE", "RunResult", "run"]


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


class _Grab:
    """Keeps the run's state, and how many checks it collected, once pytest is done."""

    state: Any = None
    collected = 0

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.collected = len(session.items)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        self.state = session.config.stash.get(STATE_KEY, None)


def pytest_args(
    settings: Settings,
    *,
    staging: str | os.PathLike[str] | None = None,
    max_restarts: int | None = None,
) -> list[str]:
    """The pytest command line that runs the suite with these settings.

    ``max_restarts``: how many dead workers an isolated run replaces (default: as many
    as there are checks, each of which can kill one, and one per worker besides).
    """
    # An empty ini file: the user's own pytest configuration (addopts, testpaths) must not
    # leak into the suite; no cache folder: nothing is written outside the report folder.
    args = ["--pyargs", "conformance.suite", "-c", os.devnull, "-p", "no:cacheprovider"]
    # the CLI imports hypothesis before pytest starts; that is expected, not worth a warning
    args += ["-W", "ignore::pytest.PytestAssertRewriteWarning"]
    args += ["--rootdir", os.getcwd()]
    s = settings
    for flag, value in (
        ("--autograd-backend", s.backend),
        ("--autograd-claims", ",".join(s.claims) if s.claims else None),
        ("--autograd-profile", s.profile),
        ("--autograd-device", s.device),
        ("--autograd-report-dir", os.fspath(s.report_dir) if s.report_dir else None),
        ("--autograd-timeout", None if s.timeout is None else str(s.timeout)),
        ("--autograd-shrink-budget", None if s.shrink_budget is None else str(s.shrink_budget)),
        ("--autograd-xfails", s.xfails),
        ("--autograd-report-staging", os.fspath(staging) if staging else None),
    ):
        if value is not None:
            args.append(f"{flag}={value}")
    if s.quiet:
        args += ["-q", "--no-header"]
    extra = s.extra_args
    chose_workers = any(a == "-n" or a.startswith(("-n", "--numprocesses")) for a in extra)
    if s.isolate and not chose_workers:
        # worksteal: an idle worker takes pending checks from a busy one, so the long
        # checks do not leave one worker running alone at the end
        args += ["-n", str(s.worker_count), "--dist", "worksteal"]
    if (s.isolate or chose_workers) and max_restarts is not None:
        # bounded, so that an engine killing its workers as they start cannot loop forever
        args.append(f"--max-worker-restart={max_restarts + s.worker_count}")
    return [*args, *extra]


def _preflight(args: list[str]) -> tuple[str, int]:
    """Collect without running, quietly, in this process: the one-line error that stops the
    run before any check (stale expected failure, nothing selected, ...), or '', and the
    number of checks selected."""
    grab = _Grab()
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        # -n 0 last: collected here, whatever workers the run itself asks for
        code = int(pytest.main([*args, "--collect-only", "-q", "-n", "0"], plugins=[grab]))
    if code == pytest.ExitCode.NO_TESTS_COLLECTED:
        return reporting.NOTHING_SELECTED, 0
    if code == pytest.ExitCode.OK:
        return "", grab.collected
    state = grab.state
    if state is not None and state.usage_error:
        return str(state.usage_error), 0
    lines = [ln for ln in out.getvalue().splitlines() if ln.startswith("ERROR: ")]
    return (lines[0].removeprefix("ERROR: ") if lines else out.getvalue().strip()[-500:]), 0


def write_status_report(settings: Settings, status: str, error: str) -> None:
    """The report of a run that ended before any check ran, when a folder was asked for."""
    if not settings.report_dir:
        return
    results = Results()
    results.status, results.error = status, error
    results.exit_status = EXIT_INTERRUPTED if status == "interrupted" else EXIT_USAGE
    try:
        claims = specs.all_claims()
    except ConfigError:
        claims = {}  # the specs are what is broken: the report says so in its error
    with contextlib.suppress(ConfigError):  # an unwritable folder was already reported
        reporting.write_status_report(
            settings.report_dir, results, settings.backend or "?", settings.profile or "ci", claims
        )


def coverage_args(folders: Sequence[Path], out: Path) -> list[str]:
    """pytest-cov options measuring the engine's package ``folders``, reports under ``out``."""
    if not folders:
        return []
    return [
        *(f"--cov={folder}" for folder in folders),
        "--cov-branch",
        # the engine's coverage has nothing to do with any coverage config in the cwd
        f"--cov-config={os.devnull}",
        f"--cov-report=html:{out / 'engine-coverage'}",
        f"--cov-report=xml:{out / 'engine-coverage.xml'}",
        "--cov-report=term",
    ]


def run(backend: str | None = None, **options: Any) -> RunResult:
    """Run the suite; ``options`` named as :class:`~conformance.run.settings.Settings`'
    fields (``claims``, ``profile``, ``report_dir``, ``isolate``, ...)."""
    return run_settings(make(backend, **options))


def run_settings(settings: Settings) -> RunResult:
    """Run the suite with ``settings``.

    A usage error found before any check runs comes back as ``RunResult(EXIT_USAGE,
    error=...)``, unprinted. :class:`ConfigError` if the report folder cannot be written.
    """
    collect = replace(settings, report_dir=None, workers=None, isolate=False)
    error, checks = _preflight(pytest_args(collect))
    if error:
        write_status_report(settings, "usage-error", error)
        return RunResult(EXIT_USAGE, error=error)
    staging = reporting.staging_dir(settings.report_dir) if settings.report_dir else None
    args = pytest_args(settings, staging=staging, max_restarts=checks)
    if staging is not None:
        args += coverage_args(settings.engine_coverage, staging)
    grab = _Grab()
    code = int(pytest.main(args, plugins=[grab]))
    state = grab.state
    if state is None:
        return RunResult(reporting.exit_code(code, False))
    results = state.results
    if results.status == "aborted":
        return RunResult(EXIT_FAILED, results)
    return RunResult(reporting.exit_code(code, results.failed()), results, state.usage_error)
