"""The pytest plugin: backend and dtype fixtures, claim ids in test ids, verdicts, reports.

Registered through the ``pytest11`` entry point, so any pytest run in an environment
with the suite installed can run it: ``pytest --pyargs conformance.suite
--autograd-backend=NAME``. Its hooks act only on tests that carry a ``claim`` marker.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from conformance import profiles, reporting, specs, xfails
from conformance.backend import Unsupported
from conformance.errors import ConfigError
from conformance.registry import load_backend
from conformance.verdicts import UNSUPPORTED

STATE_KEY = pytest.StashKey["RunState"]()
DEFAULT_TIMEOUT = 300.0
MAX_CURVES = 4  # per check: enough to compare backend with theory, not a plot per example


class CheckTimeout(BaseException):
    """A check ran past its time limit. A BaseException, so that Hypothesis does not
    catch it and retry (shrink) a hanging backend over and over."""


class RunState:
    """What one run knows: options, the backend (loaded once), the verdicts so far."""

    def __init__(self, config: pytest.Config) -> None:
        opt = config.getoption
        self.backend_name: str | None = opt("autograd_backend")
        self.device: str | None = opt("autograd_device")
        self.report_dir: Path | None = (
            Path(opt("autograd_report_dir")) if opt("autograd_report_dir") else None
        )
        claims = opt("autograd_claims")
        self.selected = [c.strip() for c in claims.split(",") if c.strip()] if claims else None
        self.xfail_file: str | None = opt("autograd_xfails")
        self.timeout: float = opt("autograd_timeout")
        self.profile: str = profiles.choose(opt("autograd_profile"))
        self.quiet: bool = opt("autograd_quiet")
        self._backend: Any = None
        self.results = reporting.Results()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if any(key == "claim" for key, _ in report.user_properties):
            self.results.add(report)

    @property
    def backend(self) -> Any:
        if self._backend is None:
            try:
                self._backend = load_backend(self.backend_name, self.device)
            except ConfigError as exc:
                raise pytest.UsageError(str(exc)) from None
        return self._backend


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("autograd-conformance", "autograd conformance suite")
    group.addoption(
        "--autograd-backend",
        default=None,
        help="backend: a registered name (torch), 'module:attribute', or an entry point; "
        "default $AUTOGRAD_CONFORMANCE_BACKEND, else torch",
    )
    group.addoption("--autograd-device", default=None, help="device for the backend, e.g. cuda")
    group.addoption(
        "--autograd-profile",
        default=None,
        choices=sorted(profiles.PROFILES),
        help=f"Hypothesis profile; default ${profiles.ENV_VAR}, else ci",
    )
    group.addoption(
        "--autograd-claims", default=None, help="comma-separated claim ids to run (default all)"
    )
    group.addoption(
        "--autograd-xfails",
        default=None,
        help="an expected-failure file, in addition to the backend's own",
    )
    group.addoption(
        "--autograd-report-dir", default=None, help="write the run's results under this folder"
    )
    group.addoption(
        "--autograd-timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        help=f"seconds one check may take before it fails (default {DEFAULT_TIMEOUT:g})",
    )
    group.addoption(
        "--autograd-quiet", action="store_true", default=False, help="omit the verdict table"
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "claim(id): the spec claim a conformance check verifies")
    try:
        state = RunState(config)
        claims = specs.all_claims()
    except ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[STATE_KEY] = state
    config.pluginmanager.register(state, "autograd-conformance-state")
    unknown = [c for c in state.selected or () if c not in claims]
    if unknown:
        raise pytest.UsageError(f"--autograd-claims: unknown claim id(s) {', '.join(unknown)}")
    profiles.load(state.profile)
    if state.backend_name or os.environ.get("AUTOGRAD_CONFORMANCE_BACKEND"):
        state.backend  # noqa: B018 - fail fast on a bad backend, before collection


def _claim_of(node: Any) -> str | None:
    marker = node.get_closest_marker("claim") if hasattr(node, "get_closest_marker") else None
    return str(marker.args[0]) if marker else None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    claim_id = _claim_of(metafunc.definition)
    if claim_id is None or "dtype" not in metafunc.fixturenames:
        return
    backend = metafunc.config.stash[STATE_KEY].backend
    metafunc.parametrize(
        "dtype",
        list(backend.dtypes),
        ids=[f"{claim_id}-{backend.name}-{d}" for d in backend.dtypes],
        scope="function",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    state = config.stash[STATE_KEY]
    claims = specs.all_claims()
    claim_items = [item for item in items if _claim_of(item) is not None]
    expected = _expected_failures(state) if claim_items else []
    used: set[xfails.ExpectedFailure] = set()
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        claim_id = _claim_of(item)
        if claim_id is None:
            keep.append(item)
            continue
        if claim_id not in claims:
            raise pytest.UsageError(f"{item.nodeid}: marked with unknown claim {claim_id!r}")
        callspec = getattr(item, "callspec", None)
        dtype = callspec.params.get("dtype", "-") if callspec else "-"
        # user_properties travel with the reports, across pytest-xdist workers too
        item.user_properties += [("claim", claim_id), ("dtype", dtype)]
        name = getattr(item, "originalname", item.name)
        for entry in expected:
            if entry.matches(claim_id, name, dtype):
                used.add(entry)
                _expect_failure(item, entry)
                break
        (keep if state.selected is None or claim_id in state.selected else drop).append(item)
    stale = [e for e in expected if e not in used]
    if stale:
        where = ", ".join(f"{e.source} (claim {e.claim}, test {e.test or '*'})" for e in stale)
        raise pytest.UsageError(f"expected-failure entries match no test: {where}; remove them")
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def _expected_failures(state: RunState) -> list[xfails.ExpectedFailure]:
    try:
        return xfails.for_backend(state.backend, state.xfail_file)
    except ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None


def _expect_failure(item: pytest.Item, entry: xfails.ExpectedFailure) -> None:
    item.add_marker(pytest.mark.xfail(strict=True, reason=f"{entry.source}: {entry.reason}"))
    test = getattr(item, "obj", None)
    inner = getattr(getattr(test, "hypothesis", None), "inner_test", None)
    if inner is not None:
        # the same examples every run: an expected failure must not pass at random
        current = getattr(test, "_hypothesis_internal_use_settings", settings())
        test._hypothesis_internal_use_settings = settings(current, derandomize=True)  # type: ignore[union-attr]


@pytest.fixture(scope="session")
def backend(request: pytest.FixtureRequest) -> Any:
    """The adapter under test, loaded once per run."""
    return request.config.stash[STATE_KEY].backend


@pytest.fixture
def record_curve(request: pytest.FixtureRequest) -> Callable[[str, dict[str, list[float]]], None]:
    """Record a named series (e.g. backend loss vs theory) for the report's plots."""

    def record(name: str, series: dict[str, list[float]]) -> None:
        props = request.node.user_properties
        if sum(key == "curve" for key, _ in props) >= MAX_CURVES:
            return
        clean = {k: [float(v) for v in vals] for k, vals in series.items()}
        props.append(("curve", {"name": name, "series": clean}))

    return record


@contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    if seconds <= 0 or not hasattr(signal, "setitimer"):
        yield
        return
    message = f"the check ran past its time limit of {seconds:g} s"
    fired = False

    def expire(signum: int, frame: Any) -> None:
        nonlocal fired
        fired = True
        raise CheckTimeout(message)

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    except BaseException:
        # the alarm may land anywhere (inside Hypothesis, even inside compile()), and what
        # surfaces is then some other error: report the time limit, which is the cause
        if fired:
            raise CheckTimeout(message) from None
        raise
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, Any, Any]:
    if _claim_of(item) is None:
        return (yield)
    state = item.config.stash[STATE_KEY]
    expected_to_fail = item.get_closest_marker("xfail") is not None
    if expected_to_fail:
        # the same examples every run, for Hypothesis checks defined inside the test too:
        # an expected failure must not pass at random
        profiles.load(state.profile, derandomize=True)
    start = time.perf_counter()
    try:
        with _time_limit(state.timeout):
            return (yield)
    finally:
        item.user_properties.append(("seconds", round(time.perf_counter() - start, 4)))
        if expected_to_fail:
            profiles.load(state.profile)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    excinfo = call.excinfo
    if excinfo is not None and excinfo.errisinstance(Unsupported) and report.failed:
        # the adapter says its engine cannot express this: its own verdict
        report.outcome = "skipped"
        report.longrepr = (str(item.path), 0, UNSUPPORTED + str(excinfo.value))
    return report


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if hasattr(session.config, "workerinput"):
        return  # pytest-xdist workers send their reports to the controller, which writes
    state = session.config.stash[STATE_KEY]
    state.results.finish(exitstatus)
    if state.report_dir is not None and state.results.ran_any:
        reporting.write_reports(state.report_dir, state, specs.all_claims())


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    state = config.stash.get(STATE_KEY, None)
    if hasattr(config, "workerinput") or state is None or state.quiet or not state.results.ran_any:
        return
    terminalreporter.write_sep("=", "autograd conformance verdicts")
    for line in reporting.verdict_table(state.results, specs.all_claims(), state.backend):
        terminalreporter.write_line(line)
