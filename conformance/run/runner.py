"""Running the suite and reading back its verdicts.

With ``isolate=True`` (the command's default) the run is supervised
(:mod:`conformance.run.supervisor`): the engine runs only in child processes, every check
in a pytest-xdist worker, so an engine that crashes, exits, hangs or misbehaves there
fails the check it was running and the run goes on (see :mod:`conformance.run.isolation`).
Otherwise checks run in this process, which is faster to debug but lets the engine end
the run (and reach the judge).
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

import conformance
from conformance.report import results as reporting
from conformance.report.results import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE
from conformance.run import supervisor
from conformance.run.outcome import RunResult, write_status_report
from conformance.run.plugin import STATE_KEY
from conformance.run.settings import Settings, make

PACKAGE_HOME = Path(conformance.__file__).resolve().parent.parent
SUITE_HOME = PACKAGE_HOME / "conformance" / "suite"

__all__ = ["EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE", "RunResult", "run"]


class _Grab:
    """Keeps the run's state, and the checks it collected, once pytest is done."""

    state: Any = None
    collected: tuple[str, ...] = ()

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.collected = tuple(item.nodeid for item in session.items)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        self.state = session.config.stash.get(STATE_KEY, None)


def pytest_args(
    settings: Settings,
    *,
    staging: str | os.PathLike[str] | None = None,
    max_restarts: int | None = None,
    card: str | os.PathLike[str] | None = None,
) -> list[str]:
    """The pytest command line that runs the suite with these settings.

    ``max_restarts``: how many dead workers an isolated run replaces (default: as many
    as there are checks, each of which can kill one, and one per worker besides).
    ``card``: the engine card (:mod:`conformance.run.card`) a controller reads instead of
    loading the engine.
    """
    # An empty ini file: the user's own pytest configuration (addopts, testpaths) must not
    # leak into the suite; no cache folder: nothing is written outside the report folder.
    args = ["--pyargs", "conformance.suite", "-c", os.devnull, "-p", "no:cacheprovider"]
    # the CLI imports hypothesis before pytest starts; that is expected, not worth a warning
    args += ["-W", "ignore::pytest.PytestAssertRewriteWarning"]
    # test ids relative to the installed package's folder, wherever the run works; no
    # conftest.py from the folders above the suite (site-packages, the user's tree) loads
    args += ["--rootdir", os.fspath(PACKAGE_HOME), "--confcutdir", os.fspath(SUITE_HOME)]
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
        ("--autograd-engine-card", os.fspath(card) if card else None),
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


def preflight(args: list[str]) -> tuple[str, tuple[str, ...]]:
    """Collect without running, quietly, in this process: the one-line error that stops the
    run before any check (stale expected failure, nothing selected, a bad pytest option,
    ...), or '', and the checks selected."""
    grab = _Grab()
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        # -n 0 last: collected here, whatever workers the run itself asks for
        code = int(pytest.main([*args, "--collect-only", "-q", "-n", "0"], plugins=[grab]))
    if code == pytest.ExitCode.NO_TESTS_COLLECTED:
        return reporting.NOTHING_SELECTED, ()
    if code == pytest.ExitCode.OK:
        return "", grab.collected
    state = grab.state
    if state is not None and state.usage_error:
        return str(state.usage_error), ()
    return _first_error(out.getvalue()), ()


def _first_error(output: str) -> str:
    """pytest's own error, in one line: argparse's ``error:`` line (it names the bad
    option) before a generic ``ERROR:`` line (which may be the usage synopsis)."""
    lines = output.splitlines()
    for line in lines:
        if ": error: " in line:
            return "pytest option: " + line.split(": error: ", 1)[1]
    errors = [ln.removeprefix("ERROR: ") for ln in lines if ln.startswith("ERROR: ")]
    return errors[0] if errors else output.strip()[-500:]


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


def run_controlled(settings: Settings, card: Path, checks: int, staging: Path) -> int:
    """The controller's pytest run of a supervised run: workers run the checks, reports
    go to ``staging``; the engine is known from its ``card`` only. pytest's exit status."""
    args = pytest_args(
        replace(settings, report_dir=None), staging=staging, max_restarts=checks, card=card
    )
    return int(pytest.main([*args, *coverage_args(settings.engine_coverage, staging)]))


def run(backend: str | None = None, **options: Any) -> RunResult:
    """Run the suite; ``options`` named as :class:`~conformance.run.settings.Settings`'
    fields (``claims``, ``profile``, ``report_dir``, ``isolate``, ...)."""
    return run_settings(make(backend, **options))


def run_settings(settings: Settings) -> RunResult:
    """Run the suite with ``settings``: supervised when ``settings.isolate``, else here.

    A usage error found before any check runs comes back as ``RunResult(EXIT_USAGE,
    error=...)``, unprinted. :class:`ConfigError` if the report folder cannot be written.
    """
    if settings.isolate:
        return supervisor.supervise(settings)
    error, checks = preflight(pytest_args(replace(settings, report_dir=None)))
    if error:
        write_status_report(settings, "usage-error", error)
        return RunResult(EXIT_USAGE, error=error)
    staging = reporting.staging_dir(settings.report_dir) if settings.report_dir else None
    args = pytest_args(settings, staging=staging, max_restarts=len(checks))
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
