"""The pytest plugin: backend and dtype fixtures, claim ids in test ids, verdicts, reports.

Registered through the ``pytest11`` entry point, so any pytest run in an environment
with the suite installed can run it: ``pytest --pyargs conformance.suite
--autograd-backend=NAME``. It is hermetic: until a run asks for the suite (an
``--autograd-*`` backend option, or the suite's tests among the arguments or collected),
it reads no environment variable, imports no engine and changes no Hypothesis setting,
and its hooks act only on tests that carry a ``claim`` marker.
"""

from __future__ import annotations

import signal
import threading
import time
import unittest
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from conformance import specs
from conformance.engine import Unsupported, ops, xfails
from conformance.errors import ConfigError
from conformance.oracles import verdicts
from conformance.oracles.verdicts import UNSUPPORTED
from conformance.report import op_table
from conformance.report import results as reporting
from conformance.run import hypothesis_scope, isolation, profiles
from conformance.run.state import RunState
from conformance.run.time_limit import time_limit

STATE_KEY = pytest.StashKey[RunState]()
# the expected-failure entry that marked a check
ENTRY_KEY = pytest.StashKey[xfails.ExpectedFailure]()
DEFAULT_TIMEOUT = 300.0
DEFAULT_SHRINK_BUDGET = 5.0
MAX_CURVES = 4  # per check: enough to compare backend with theory, not a plot per example
OUTPUT_CAP = 4096  # bytes of an engine's captured output kept per section of a failure
SUITE_DIR = Path(__file__).resolve().parent.parent / "suite"
SUITE_MODULE = "conformance.suite"


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
        "--autograd-report-dir",
        default=None,
        help="write the run's results under this folder (replaced as a whole at the end)",
    )
    group.addoption(
        "--autograd-report-staging",
        default=None,
        help="where this run writes its reports before they replace the report folder "
        "(default: a new hidden folder beside it)",
    )
    group.addoption(
        "--autograd-engine-card",
        default=None,
        help="(a supervised run's controller) the probe's file describing the engine, read "
        "instead of loading the engine",
    )
    group.addoption(
        "--autograd-timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        help=f"seconds one check may take before it fails (default {DEFAULT_TIMEOUT:g})",
    )
    group.addoption(
        "--autograd-shrink-budget",
        type=float,
        default=DEFAULT_SHRINK_BUDGET,
        help="seconds a failing property may spend shrinking its counterexample before the "
        "smallest found so far is reported; the k-th failing property of a process gets a "
        f"k-th of it (default {DEFAULT_SHRINK_BUDGET:g})",
    )
    group.addoption(
        "--autograd-quiet", action="store_true", default=False, help="omit the verdict table"
    )


def _asks_for_suite(config: pytest.Config) -> bool:
    """Whether this pytest run was asked to run the suite (not merely has it installed)."""
    if config.getoption("autograd_backend") is not None:
        return True
    pyargs = config.getoption("pyargs", False)
    for arg in config.args:
        target = arg.split("::")[0]
        if pyargs and (target == SUITE_MODULE or target.startswith(SUITE_MODULE + ".")):
            return True
        path = (config.invocation_params.dir / target).resolve()
        if path == SUITE_DIR or SUITE_DIR in path.parents or path in SUITE_DIR.parents:
            return path.exists()
    return False


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "claim(id): the spec claim a conformance check verifies")
    state = RunState(config)
    config.stash[STATE_KEY] = state
    config.pluginmanager.register(state, "autograd-conformance-state")
    if _asks_for_suite(config):
        state.activate()
        if state.staging is not None and getattr(config.option, "xmlpath", None) is None:
            # JUnit XML joins the other reports (tryfirst: before the junitxml plugin reads it)
            config.option.xmlpath = str(state.staging / "junit.xml")
        if state.worker_id is None and getattr(config.option, "numprocesses", None):
            isolated = Isolation(state, config)
            config.pluginmanager.register(isolated, "autograd-conformance-isolation")


def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(STATE_KEY, None)
    if state is not None and state.active:
        state.close()


class Isolation:
    """The controller's hooks in a pytest-xdist run: workers get the run's scratch folder,
    a watchdog stops hung or silent workers, a dead worker's check gets the verdict
    *error*, and a run whose workers keep dying before any check ends, failed."""

    def __init__(self, state: RunState, config: pytest.Config) -> None:
        assert state.scratch is not None
        self.state = state
        self.config = config
        self.watchdog = isolation.Watchdog(state.scratch, state.timeout, self._pending)
        self.workers = int(config.option.numprocesses)
        self.watchdog.start()

    def _pending(self, node: Any) -> int:
        sched = getattr(self.config.pluginmanager.getplugin("dsession"), "sched", None)
        return len(getattr(sched, "node2pending", {}).get(node, ()))

    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        self.watchdog.heard(node, collected=True)
        self.state.expected.update(ids)

    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput["autograd_scratch"] = str(self.state.scratch)
        self.watchdog.add(node)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.watchdog.heard(getattr(report, "node", None))

    def pytest_testnodedown(self, node: Any, error: object | None) -> None:
        if error is None:
            return
        # xdist names the check that died (pytest_handlecrashitem) right after this
        self.state.last_death = self.watchdog.diagnose(node.gateway.id, isolation.exit_status(node))
        # as many workers dead before collecting as the run has: the engine kills (or
        # hangs) every worker as it starts, and replacing them would go on for ever
        if self.watchdog.early_deaths > self.workers:
            pytest.exit("the engine's processes keep dying as they start", returncode=1)

    def pytest_handlecrashitem(self, crashitem: str, report: Any, sched: Any) -> None:
        report.longrepr = self.state.last_death or (
            "the engine's process died while running this check (cause unknown)"
        )
        claim, dtype = self.state.results.identity(crashitem)
        repro = command_repro(self.state, crashitem, claim, dtype)
        report.user_properties = [("claim", claim), ("dtype", dtype), ("repro", repro)]

    @pytest.hookimpl(tryfirst=True)  # before pytest-xdist waits for the workers to end
    def pytest_sessionfinish(self, exitstatus: int) -> None:
        if exitstatus == pytest.ExitCode.INTERRUPTED:
            # an interrupted run does not wait for a worker stuck in its check: its check
            # reads "not reached" either way
            self.watchdog.kill_all()

    def pytest_unconfigure(self) -> None:
        self.watchdog.stop()


def _claim_of(node: Any) -> str | None:
    marker = node.get_closest_marker("claim") if hasattr(node, "get_closest_marker") else None
    return str(marker.args[0]) if marker else None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    claim_id = _claim_of(metafunc.definition)
    if claim_id is None or "dtype" not in metafunc.fixturenames:
        return
    state = metafunc.config.stash[STATE_KEY]
    state.activate()  # the suite was collected without being named: it acts from now on
    backend = state.backend
    metafunc.parametrize(
        "dtype",
        list(backend.dtypes),
        ids=[f"{claim_id}-{backend.name}-{d}" for d in backend.dtypes],
        scope="function",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    state = config.stash[STATE_KEY]
    claim_items = [item for item in items if _claim_of(item) is not None]
    if not claim_items:
        return
    claims = specs.all_claims()
    expected = _expected_failures(state)
    xfails.note_known_ops(expected, ("float32", "float64"))
    used: set[xfails.ExpectedFailure] = set()
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        claim_id = _claim_of(item)
        if claim_id is None:
            keep.append(item)
            continue
        if claim_id not in claims:
            _usage_error(state, f"{item.nodeid}: marked with unknown claim {claim_id!r}")
        callspec = getattr(item, "callspec", None)
        dtype = callspec.params.get("dtype", "-") if callspec else "-"
        # user_properties travel with the reports, across pytest-xdist workers too
        item.user_properties += [("claim", claim_id), ("dtype", dtype)]
        name = getattr(item, "originalname", item.name)
        for entry in expected:
            if entry.matches(claim_id, name, dtype):
                used.add(entry)
                item.stash[ENTRY_KEY] = entry
                item.add_marker(
                    pytest.mark.xfail(strict=True, reason=f"{entry.source}: {entry.reason}")
                )
                break
        (keep if state.selected is None or claim_id in state.selected else drop).append(item)
        hypothesis_scope.reject_unsupported(item)
    stale = [e for e in expected if e not in used]
    if stale:
        where = ", ".join(f"{e.source} (claim {e.claim}, test {e.test or '*'})" for e in stale)
        _usage_error(state, f"expected-failure entries match no test: {where}; remove them")
    if drop:
        config.hook.pytest_deselected(items=drop)
    items[:] = sorted(keep, key=_run_order)


def _run_order(item: pytest.Item) -> int:
    """The op diagnosis first (fast, and what a failing property's report points to), then
    the long checks, so that parallel workers finish together: properties before the
    seed's fixed examples, and the longest first among them: the stateful machine and
    the compiled checks (a compiler's warm-up and a compilation per expression)."""
    if _claim_of(item) == op_table.CLAIM:
        return 0
    module = getattr(getattr(item, "module", None), "__name__", "")
    if module.endswith((".test_stateful", ".test_compiled")):
        return 1
    return 2 if getattr(getattr(item, "obj", None), "hypothesis", None) is not None else 3


def _usage_error(state: RunState, message: str) -> None:
    state.usage_error = message
    raise pytest.UsageError(message)


def _expected_failures(state: RunState) -> list[xfails.ExpectedFailure]:
    try:
        return xfails.for_backend(state.backend, state.xfail_file)
    except ConfigError as exc:
        _usage_error(state, str(exc))
        raise  # unreachable: _usage_error raises


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


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, Any, Any]:
    if _claim_of(item) is None:
        return (yield)
    state = item.config.stash[STATE_KEY]
    # an expected failure draws the same examples every run: it must not pass at random
    derandomize = item.get_closest_marker("xfail") is not None
    start = time.perf_counter()
    ops.start_check()
    verdicts.pending_repro()  # forget the previous check's
    try:
        with (
            hypothesis_scope.suite_settings(item, state.profile, derandomize, state.scratch),
            state.shrinking.check(),
            time_limit(state.timeout),
            _user_interrupts(state),
        ):
            outcome = yield
    except Unsupported:
        ops.settle(judged=False)
        raise
    except BaseException as exc:
        escaped = _escape(exc)
        if escaped is None or (isinstance(escaped, KeyboardInterrupt) and state.user_interrupted):
            raise
        raise EngineEscape(
            f"the engine raised {type(escaped).__module__}.{type(escaped).__qualname__}"
            f"({str(escaped)[:200]!r}) inside the check: only conformance.Unsupported "
            "excuses a check, and only the user's Ctrl-C stops the run"
        ) from None
    finally:
        ops.settle(judged=True)
        _record_check(item, state, time.perf_counter() - start)
    replaced = state.snapshot.changed() if state.snapshot is not None else []
    if replaced:
        raise EngineEscape(
            f"the engine replaced {', '.join(replaced[:5])}: the suite's judging code was "
            "changed while the check ran, so its verdict cannot stand"
        )
    return outcome


class EngineEscape(Exception):
    """Engine code tried to end a check without a verdict (a test runner's skip, xfail or
    exit, an interrupt, a process exit) or changed the code judging it: a failure."""


# what a check may raise only if the engine's code did: the suite's own skip is
# CheckUnsupported (an Unsupported), its own failures are assertions
_ESCAPES = (
    pytest.skip.Exception,
    pytest.fail.Exception,  # pytest.xfail's exception too
    pytest.exit.Exception,
    unittest.SkipTest,
    KeyboardInterrupt,
    SystemExit,
)


def _escape(exc: BaseException) -> BaseException | None:
    """The engine's escape in ``exc`` (or in a group of failures Hypothesis raised)."""
    if isinstance(exc, BaseExceptionGroup):
        found = [_escape(e) for e in exc.exceptions]
        return next((e for e in found if e is not None), None)
    return exc if isinstance(exc, _ESCAPES) else None


@contextmanager
def _user_interrupts(state: RunState) -> Iterator[None]:
    """Tell the user's Ctrl-C from a KeyboardInterrupt raised by engine code, in a run of
    the checks in this process (a worker of an isolated run is never sent one)."""
    if state.worker_id is not None or threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupted(signum: int, frame: Any) -> None:
        state.user_interrupted = True
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, interrupted)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _record_check(item: pytest.Item, state: RunState, seconds: float) -> None:
    """What the reports say about a check besides its verdict."""
    props = item.user_properties
    props.append(("seconds", round(seconds, 4)))
    note = hypothesis_scope.rejection_note()
    if note:
        props.append(("note", note))
    shrinking = hypothesis_scope.shrinking_note()
    if shrinking:
        props.append(("shrinking", shrinking))
    if ops.covered():
        props.append(("ops", ops.covered()))
    have = getattr(state.backend, "conformance_ops", None)
    if have is not None:  # the checks asked which ops the engine has
        props.append(("available_ops", [op for op in ops.ALL_OPS if op in have]))


# outermost (tryfirst), so that pytest has already turned an expected failure into xfailed
@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if _claim_of(item) is None:
        return report
    excinfo = call.excinfo
    entry = item.stash.get(ENTRY_KEY, None)
    if entry is not None and excinfo is not None and hasattr(report, "wasxfail"):
        why = entry.uncovered(excinfo.value)
        if why:  # an entry excuses only the ops it names
            del report.wasxfail
            report.outcome = "failed"
            report.longrepr = (
                f"expected-failure entry {entry.source} excuses only op(s) "
                f"{', '.join(entry.ops)}, and {why}:\n{excinfo.value}"
            )
            reporting.bound_report(report, OUTPUT_CAP)
            return report
    if excinfo is not None and report.failed:
        reason = hypothesis_scope.unsupported_reason(excinfo.value)
        if reason is not None:
            # the adapter says its engine cannot express this: its own verdict
            report.outcome = "skipped"
            report.longrepr = (str(item.path), 0, UNSUPPORTED + reason)
        elif not getattr(excinfo.value, "repro", None):
            # the engine's own error (or a crash, a hang): the example's snippet if the
            # check named one before asking the engine, else the command rerunning it
            state = item.config.stash[STATE_KEY]
            props = dict(item.user_properties)
            text = verdicts.pending_repro() or command_repro(
                state, item.nodeid, str(props["claim"]), str(props["dtype"])
            )
            report.user_properties.append(("repro", text))
    # what pytest shows (terminal, junit.xml) holds the engine's text: a bounded, inert head
    reporting.bound_report(report, OUTPUT_CAP)
    return report


def command_repro(state: RunState, nodeid: str, claim: str, dtype: str) -> str:
    """The command that reruns one check, in one process, against the same backend."""
    ref = getattr(state.backend, "conformance_ref", state.backend_name or "torch")
    test = nodeid.split("::")[-1].split("[")[0]
    return (
        f"autograd-conformance --backend {ref} --claims {claim} --profile {state.profile}"
        f' --no-isolate -- -k "{test} and {dtype}"'
    )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    state = session.config.stash.get(STATE_KEY, None)
    if hasattr(session.config, "workerinput") or state is None or not state.active:
        return  # pytest-xdist workers send their reports to the controller, which writes
    if state.card is not None and threading.current_thread() is threading.main_thread():
        # a supervised run's controller: the checks are over, and an interrupt now would
        # only lose their verdicts (the supervisor bounds this process anyway)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    state.results.finish(exitstatus, state.selected, state.usage_error)
    never_ran = state.expected - set(state.results.tests)
    dying = state.last_death and not state.usage_error and state.results.status != "interrupted"
    if dying and (never_ran or not state.results.tests):
        # workers that die before their checks (e.g. as they start) leave checks unrun:
        # that is a failed run, never a passed or empty one
        count = f"{len(never_ran)} check(s)" if never_ran else "the checks"
        state.results.abort(
            f"{count} never ran: the engine's processes kept dying (the last: {state.last_death})"
        )
    if state.staging is not None:
        reporting.write_reports(state.staging, state, specs.all_claims())


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    state = config.stash.get(STATE_KEY, None)
    if hasattr(config, "workerinput") or state is None or state.quiet or not state.results.ran_any:
        return
    terminalreporter.write_sep("=", "autograd conformance verdicts")
    for line in reporting.verdict_table(state.results, specs.all_claims(), state.backend):
        terminalreporter.write_line(line)
