"""Running the suite in-process and reading back its verdicts."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from conformance.plugin import STATE_KEY
from conformance.reporting import Results

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


@dataclass
class RunResult:
    exit_code: int
    results: Results = field(default_factory=Results)

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
    """Keeps the run's state once pytest is done with it."""

    state: Any = None

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        self.state = session.config.stash.get(STATE_KEY, None)


def pytest_args(
    backend: str | None = None,
    *,
    claims: Sequence[str] | None = None,
    profile: str | None = None,
    device: str | None = None,
    report_dir: str | os.PathLike[str] | None = None,
    timeout: float | None = None,
    xfails: str | os.PathLike[str] | None = None,
    quiet: bool = False,
    extra_args: Sequence[str] = (),
) -> list[str]:
    """The pytest command line that runs the suite with these options."""
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
        ("--junitxml", os.path.join(report_dir, "junit.xml") if report_dir else None),
        ("--autograd-timeout", None if timeout is None else str(timeout)),
        ("--autograd-xfails", os.fspath(xfails) if xfails else None),
    ):
        if value is not None:
            args.append(f"{flag}={value}")
    if quiet:
        args += ["-q", "--no-header"]
    return [*args, *extra_args]


def run(backend: str | None = None, **options: Any) -> RunResult:
    """Run the suite in this process; options as for :func:`pytest_args`."""
    grab = _Grab()
    code = int(pytest.main(pytest_args(backend, **options), plugins=[grab]))
    results = grab.state.results if grab.state is not None else Results()
    if code in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
        return RunResult(EXIT_FAILED if code or results.failed() else EXIT_OK, results)
    return RunResult(EXIT_USAGE if code == pytest.ExitCode.USAGE_ERROR else EXIT_FAILED, results)
