"""The owner of an isolated run: the command's own process, where no engine code runs.

It starts the engine's processes in a session of their own, each working in a scratch
folder inside the run's temporary folder: first the probe (:mod:`conformance.run.probe`:
loads the adapter, collects the checks, writes the engine card), then the controller
(:mod:`conformance.run.controller`) and its workers. It relays their terminal output with
control characters escaped, bounds each process by a deadline derived from the time
limit, turns Ctrl-C and SIGTERM into an orderly stop, and kills every process the run
started (those the engine daemonized too: see :mod:`conformance.run.reaper`). Then it
checks the reports against the digest the controller sent, decides the exit status from
the verdicts, and publishes the reports last, in one rename.

Until then the report folder holds a results.json saying the run has not finished: a
killed run never leaves an earlier run's report looking current.
"""

from __future__ import annotations

import codecs
import contextlib
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import IO, Any

from conformance.engine.registry import CALLER_DIR_VAR
from conformance.report import render
from conformance.report import results as reporting
from conformance.report.results import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE
from conformance.report.sanitize import escape_controls, escape_terminal
from conformance.run import reaper
from conformance.run.isolation import grace, startup_deadline
from conformance.run.outcome import RunResult, digests, results_from, write_status_report
from conformance.run.settings import Settings

DEFAULT_LIMIT = 300.0  # the plugin's per-check time limit when none is given
STOP_GRACE = 10.0  # seconds the controller has, after an interrupt, to write its reports
EXIT_TERMINATED = 128 + signal.SIGTERM
UNFINISHED = (
    "this run has not finished: it is still running, or it was killed before it could "
    "write its reports"
)


def ceiling(checks: int, workers: int, limit: float) -> float:
    """Seconds the whole run may take: each worker's share of the checks, each at its time
    limit (and the watchdog's grace) and then killing its worker, whose replacement takes
    as long to start as a start may; plus the first start and the reports."""
    per_check = limit + grace(limit) + startup_deadline(limit)
    return math.ceil(checks / max(1, workers)) * per_check + 2 * startup_deadline(limit)


def describe_end(code: int) -> str:
    """How a child process ended, in words."""
    if code < 0:
        sig = signal.Signals(-code)
        return f"was killed by {sig.name} ({signal.strsignal(sig) or 'no description'})"
    return f"exited with status {code}"


class _Stop:
    """Ctrl-C and SIGTERM while the run is supervised: the first asks the running child to
    stop (the controller then writes the verdicts so far), a second kills it."""

    def __init__(self) -> None:
        self.signal = 0
        self.forced = False
        self.child: subprocess.Popen[bytes] | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _Stop:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signal:
            self.forced = True
        self.signal = self.signal or signum
        child = self.child
        if child is not None and child.poll() is None:
            with contextlib.suppress(OSError):
                os.kill(child.pid, signal.SIGKILL if self.forced else signal.SIGINT)

    @property
    def exit_code(self) -> int:
        return EXIT_TERMINATED if self.signal == signal.SIGTERM else EXIT_INTERRUPTED


class Supervisor:
    """One isolated run: its temporary folder, its processes, its verdict."""

    def __init__(self, settings: Settings, stop: _Stop) -> None:
        caller = Path.cwd()
        xfails = settings.xfails and os.fspath(caller / settings.xfails)
        self.settings = replace(settings, xfails=xfails)
        self.stop = stop
        self.home = Path(tempfile.mkdtemp(prefix="autograd-conformance-"))
        self.work = self.home / "work"  # every engine process's current folder
        self.staging = self.home / "reports"
        self.work.mkdir()
        self.staging.mkdir()
        self.settings_file = self.home / "settings.json"
        self.settings_file.write_text(self.settings.to_json(), encoding="utf-8")
        self.env = {**os.environ, CALLER_DIR_VAR: os.fspath(caller)}
        self.keep = reaper.children()  # the caller's own children are not the run's
        self.groups: set[int] = set()
        self.limit = settings.timeout or DEFAULT_LIMIT

    def close(self) -> None:
        self._kill_all()
        shutil.rmtree(self.home, ignore_errors=True)

    def _kill_all(self) -> None:
        """Kill every process the run started so far (a group killed once: its number may
        be reused after)."""
        reaper.kill_all(self.groups, self.keep)
        self.groups.clear()

    def _start(self, args: list[str], out: IO[bytes] | int, **kw: Any) -> subprocess.Popen[bytes]:
        child = subprocess.Popen(
            [sys.executable, "-m", *args],
            cwd=self.work,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group: the terminal's Ctrl-C comes here only
            preexec_fn=reaper.die_with_parent,
            **kw,
        )
        self.groups.add(child.pid)
        self.stop.child = child
        return child

    def _wait(self, child: subprocess.Popen[bytes], seconds: float) -> int | None:
        """The child's exit status; None if it ran past ``seconds`` or past the grace after
        an interrupt (it is killed then)."""
        deadline = time.monotonic() + seconds
        stop_deadline = math.inf
        while True:
            with contextlib.suppress(subprocess.TimeoutExpired):
                return child.wait(timeout=0.1)
            now = time.monotonic()
            if self.stop.signal and stop_deadline == math.inf:
                stop_deadline = now + STOP_GRACE
            if now > min(deadline, stop_deadline):
                with contextlib.suppress(OSError):
                    os.killpg(child.pid, signal.SIGKILL)
                child.wait()
                return None

    def probe(self) -> tuple[str, dict[str, Any]]:
        """Load the adapter and collect, in a throwaway child: (error, the probe's doc)."""
        out = self.home / "probe.json"
        with open(self.home / "probe.log", "wb") as log:
            child = self._start(
                ["conformance.run.probe", os.fspath(self.settings_file), os.fspath(out)], log
            )
            code = self._wait(child, startup_deadline(self.limit))
        self._kill_all()
        if self.stop.signal:
            return "", {}
        try:
            doc = json.loads(out.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            if code is None:
                what = f"ran past {startup_deadline(self.limit):g} s and was killed"
            else:
                what = describe_end(code)
            return (
                f"the engine's process {what} while loading the backend, before any check "
                f"ran{self._last_line()}"
            ), {}
        return str(doc["error"]), doc

    def _last_line(self) -> str:
        try:
            lines = (self.home / "probe.log").read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return f" (its last output: {escape_controls(lines[-1][:200])})" if lines else ""

    def control(self, checks: int) -> tuple[int | None, dict[str, Any] | None]:
        """Run the controller: (its exit status, None if killed; the digests it sent)."""
        read_end, write_end = os.pipe()
        settings = self.settings
        if sys.stdout.isatty() and not any(a.startswith("--color") for a in settings.extra_args):
            settings = replace(settings, extra_args=("--color=yes", *settings.extra_args))
            self.settings_file.write_text(settings.to_json(), encoding="utf-8")
        args = [
            "conformance.run.controller",
            os.fspath(self.settings_file),
            os.fspath(self.home / "probe.json"),
            os.fspath(self.staging),
            str(write_end),
        ]
        child = self._start(args, subprocess.PIPE, pass_fds=(write_end,))
        os.close(write_end)
        assert child.stdout is not None
        relay = threading.Thread(target=_relay, args=(child.stdout,), daemon=True)
        relay.start()
        workers = settings.worker_count
        code = self._wait(child, ceiling(checks, workers, self.limit))
        self._kill_all()  # nothing of the run's is left to write
        relay.join(timeout=5)
        with os.fdopen(read_end, encoding="utf-8") as channel:
            sent = channel.read()
        try:
            return code, json.loads(sent)
        except ValueError:
            return code, None


def _relay(stream: IO[bytes]) -> None:
    """Copy the run's terminal output to ours, control characters escaped (colours kept)."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    for chunk in iter(lambda: stream.read1(65536), b""):  # type: ignore[attr-defined]
        sys.stdout.write(escape_terminal(decoder.decode(chunk)))
        sys.stdout.flush()


def supervise(settings: Settings) -> RunResult:
    """Run the suite in child processes (see the module's docstring)."""
    if settings.report_dir:
        write_status_report(settings, "aborted", UNFINISHED)
    reaper.become_subreaper()
    with _Stop() as stop:
        run = Supervisor(settings, stop)
        try:
            return _supervised(run)
        finally:
            run.close()


def _supervised(run: Supervisor) -> RunResult:
    settings, stop = run.settings, run.stop
    error, probed = run.probe()
    if stop.signal:
        write_status_report(settings, "interrupted", "", stop.exit_code)
        return RunResult(stop.exit_code)
    if error:
        write_status_report(settings, "usage-error", error)
        return RunResult(EXIT_USAGE, error=error)
    checks = list(probed["checks"])
    code, sent = run.control(len(checks))
    doc, problem = _trusted_report(run.staging, code, sent, run.limit, len(checks), settings)
    if doc is None:
        status = "interrupted" if stop.signal else "aborted"
        exit_code = stop.exit_code if stop.signal else EXIT_FAILED
        results = write_status_report(settings, status, "" if stop.signal else problem, exit_code)
        return RunResult(exit_code, results)
    written = (doc["status"], doc["error"], doc["exit_status"])
    exit_code = _judge(doc, checks, stop)
    if (doc["status"], doc["error"], doc["exit_status"]) != written:
        _rewrite(run.staging, doc)
    if settings.report_dir:
        _publish(run.staging, settings.report_dir)
    results = results_from(doc)
    error = doc["error"] if doc["status"] == "usage-error" else ""
    return RunResult(exit_code, results, error)


def _trusted_report(
    staging: Path,
    code: int | None,
    sent: dict[str, Any] | None,
    limit: float,
    checks: int,
    settings: Settings,
) -> tuple[dict[str, Any] | None, str]:
    """The controller's results.json if it finished and its reports are as it wrote them;
    else None and what went wrong."""
    if code is None:
        seconds = ceiling(checks, settings.worker_count, limit)
        return None, (
            f"the run passed its ceiling of {seconds:g} s (every check at its time limit) "
            "and was killed"
        )
    if sent is None:
        return None, (
            f"the run's controller process {describe_end(code)} before it wrote its reports "
            "(engine code can signal the run's processes)"
        )
    found = digests(staging)
    changed = sorted(
        name
        for name in set(sent["files"]) | set(found)
        if sent["files"].get(name) != found.get(name)
    )
    if changed:
        return None, (
            f"the reports were changed after the run wrote them ({', '.join(changed[:5])}): "
            "an engine process outlived its check"
        )
    try:
        doc = json.loads((staging / "results.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None, f"the run's controller {describe_end(code)} and wrote no results.json"
    return doc, ""


def _judge(doc: dict[str, Any], checks: list[str], stop: _Stop) -> int:
    """The run's exit status from its verdicts; ``doc``'s status amended where the run
    did not end as its controller thought (an interrupt nobody here asked for, checks
    that got no verdict)."""
    status = doc["status"]
    tests = {t["nodeid"] for c in doc["claims"] for t in c["tests"]}
    failed = any(t["verdict"] in reporting.FAILING for c in doc["claims"] for t in c["tests"])
    if stop.signal and status != "complete":
        doc.update(status="interrupted", exit_status=stop.exit_code)
    elif status == "interrupted":
        doc.update(
            status="aborted",
            error="the run was interrupted, but not by this command's user (a signal from "
            "engine code?)",
            exit_status=EXIT_FAILED,
        )
    elif status == "complete" and set(checks) - tests:
        missing = sorted(set(checks) - tests)
        doc.update(
            status="aborted",
            error=f"{len(missing)} check(s) got no verdict, e.g. {missing[0]}",
            exit_status=EXIT_FAILED,
        )
    elif status == "complete":
        doc["exit_status"] = EXIT_FAILED if failed else EXIT_OK
    elif status == "usage-error":
        doc["exit_status"] = EXIT_USAGE
    elif status != "aborted":  # an internal error of pytest's: not a verdict
        doc["exit_status"] = EXIT_FAILED
    return int(doc["exit_status"])


def _rewrite(staging: Path, doc: dict[str, Any]) -> None:
    """results.json, and what is rendered from it, with the supervisor's amendments."""
    (staging / "results.json").write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    (staging / "summary.md").write_text(render.markdown(doc), encoding="utf-8")
    if (staging / "report.html").exists():
        (staging / "report.html").write_text(render.html_page(doc), encoding="utf-8")


def _publish(staging: Path, final: Path) -> None:
    """Replace the report folder by the run's reports, in one rename."""
    beside = reporting.staging_dir(final)  # on the report folder's own file system
    shutil.copytree(staging, beside, dirs_exist_ok=True)
    reporting.publish(beside, final)
