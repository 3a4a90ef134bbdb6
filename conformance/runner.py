"""Running the suite and reading back its verdicts.

With ``isolate=True`` (the command's default) every check runs in a pytest-xdist worker
process: an engine that crashes, exits or hangs there fails the check it was running and
the run goes on (see :mod:`conformance.isolation`). Otherwise checks run in this process,
which is faster to debug but lets the engine end the run.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from conformance import reporting, specs
from conformance.errors import ConfigError
from conformance.plugin import STATE_KEY
from conformance.reporting import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    Results,
)

__all__ = ["EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE", "RunResult", "run"]

MAX_WORKERS = 4  # each worker imports the engine: more cost memory for little gain


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


def default_workers() -> int:
    """Worker processes for an isolated run: the CPUs this process may use, at most 4."""
    return max(1, min(len(os.sched_getaffinity(0)), MAX_WORKERS))


def pytest_args(
    backend: str | None = None,
    *,
    claims: Sequence[str] | None = None,
    profile: str | None = None,
    device: str | None = None,
    report_dir: str | os.PathLike[str] | None = None,
    timeout: float | None = None,
    shrink_budget: float | None = None,
    xfails: str | os.PathLike[str] | None = None,
    quiet: bool = False,
    isolate: bool = False,
    workers: int | None = None,
    staging: str | os.PathLike[str] | None = None,
    max_restarts: int | None = None,
    extra_args: Sequence[str] = (),
) -> list[str]:
    """The pytest command line that runs the suite with these options.

    ``max_restarts``: how many dead workers an isolated run replaces (default: as many
    as there are checks, each of which can kill one, and one per worker besides).
    """
    # An empty ini file: the user's own pytest configuration (addopts, testpaths) must not
    # leak into the suite; no cache folder: nothing is written outside the report folder.
    args = ["--pyargs", "conformance.suite", "-c", os.devnull, "-p", "no:cacheprovider"]
    # the CLI imports hypothesis before pytest starts; that is expected, not worth a warning
    args += ["-W", "ignore::pytest.PytestAssertRewriteWarning"]
    args += ["--rootdir", os.getcwd()]
    for flag, value in (
        ("--autograd-backend", backend),
        ("--autograd-claims", ",".join(claims) if claims else None),
        ("--autograd-profile", profile),
        ("--autograd-device", device),
        ("--autograd-report-dir", os.fspath(report_dir) if report_dir else None),
        ("--autograd-timeout", None if timeout is None else str(timeout)),
        ("--autograd-shrink-budget", None if shrink_budget is None else str(shrink_budget)),
        ("--autograd-xfails", os.fspath(xfails) if xfails else None),
        ("--autograd-report-staging", os.fspath(staging) if staging else None),
    ):
        if value is not None:
            args.append(f"{flag}={value}")
    if quiet:
        args += ["-q", "--no-header"]
    chose_workers = any(a == "-n" or a.startswith(("-n", "--numprocesses")) for a in extra_args)
    workers = workers or default_workers()
    if isolate and not chose_workers:
        # worksteal: an idle worker takes pending checks from a busy one, so the long
        # checks do not leave one worker running alone at the end
        args += ["-n", str(workers), "--dist", "worksteal"]
    if (isolate or chose_workers) and max_restarts is not None:
        # bounded, so that an engine killing its workers as they start cannot loop forever
        args.append(f"--max-worker-restart={max_restarts + workers}")
    return [*args, *extra_args]


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


def write_status_report(
    report_dir: str | os.PathLike[str] | None,
    status: str,
    error: str,
    backend: str | None,
    profile: str | None,
) -> None:
    """The report of a run that ended before any check ran, when a folder was asked for."""
    if not report_dir:
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
            Path(report_dir), results, backend or "?", profile or "ci", claims
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


def run(
    backend: str | None = None,
    *,
    isolate: bool = False,
    engine_coverage: Sequence[Path] = (),
    **options: Any,
) -> RunResult:
    """Run the suite; options as for :func:`pytest_args`; ``engine_coverage``: package
    folders of the engine to measure (reports beside the others, needs ``report_dir``).

    A usage error found before any check runs comes back as ``RunResult(EXIT_USAGE,
    error=...)``, unprinted. :class:`ConfigError` if ``report_dir`` cannot be written.
    """
    common = {k: v for k, v in options.items() if k not in ("report_dir", "workers")}
    error, checks = _preflight(pytest_args(backend, **common))
    if error:
        write_status_report(
            options.get("report_dir"), "usage-error", error, backend, options.get("profile")
        )
        return RunResult(EXIT_USAGE, error=error)
    report_dir = options.get("report_dir")
    staging = reporting.staging_dir(Path(report_dir)) if report_dir else None
    args = pytest_args(backend, isolate=isolate, staging=staging, max_restarts=checks, **options)
    if staging is not None:
        args += coverage_args(engine_coverage, staging)
    grab = _Grab()
    code = int(pytest.main(args, plugins=[grab]))
    state = grab.state
    if state is None:
        return RunResult(reporting.exit_code(code, False))
    results = state.results
    if results.status == "aborted":
        return RunResult(EXIT_FAILED, results)
    return RunResult(reporting.exit_code(code, results.failed()), results, state.usage_error)
