"""Run isolation: checks run in pytest-xdist workers, and an engine that kills, hangs or
silences its worker fails only the check that was running, with a message saying what
happened.

Worker side: a breadcrumb, a small file mapped into memory (so it outlives the process),
names the adapter method the running check is inside; the fault handler writes a native
crash's traceback beside it. Controller side: a watchdog kills a worker that has work
but has been silent past the time limit (a hang inside native code, which the in-process
alarm cannot interrupt, or a corrupted channel), judged by what the controller itself
sees; when a worker dies its check gets the verdict *error* with the cause.
"""

from __future__ import annotations

import contextlib
import faulthandler
import mmap
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conformance.engine import CAPABILITIES, REQUIRED_METHODS
from conformance.engine.ops import ALL_OPS

_SIZE = 128  # bytes of the adapter method's name kept
#: The adapter methods whose calls the breadcrumb follows.
TRACKED = tuple(
    dict.fromkeys((*REQUIRED_METHODS, *ALL_OPS, *(m for ms in CAPABILITIES.values() for m in ms)))
)
FAULT_LINES = 12  # of the fault handler's traceback, in a failure message


def make_crumb(path: Path) -> int:
    """Create a worker's breadcrumb file (before the worker starts) and return a
    descriptor the controller reads it through: the engine deleting the file or its
    name does not blind the controller."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    os.ftruncate(fd, _SIZE)
    return fd


def read_stage(fd: int) -> str:
    """The adapter method a breadcrumb names ('' for none, or if it cannot be read)."""
    try:
        return os.pread(fd, _SIZE, 0).rstrip(b"\0").decode("utf-8", "replace")
    except OSError:
        return ""


class Breadcrumb:
    """The worker's side: written as adapter methods are entered and left."""

    def __init__(self, path: Path) -> None:
        # the controller made it (a run without one: this process makes it)
        with open(path, "r+b" if path.exists() else "w+b") as f:
            f.truncate(_SIZE)
            self._map = mmap.mmap(f.fileno(), _SIZE)
        self.stage = ""

    def enter(self, stage: str) -> str:
        """Record ``stage``; return the one it replaces."""
        previous, self.stage = self.stage, stage
        self._map[:] = stage.encode("utf-8", "replace")[:_SIZE].ljust(_SIZE, b"\0")
        return previous


def _compiling() -> bool:
    """Is an engine's compiler tracing the running code (torch.compile's dynamo)? It
    cannot trace a breadcrumb's writes, and the compiled call as a whole is inside the
    adapter's ``compiled_vjp``, whose own breadcrumb names the stage."""
    torch = sys.modules.get("torch")
    return torch is not None and bool(torch.compiler.is_compiling())


def _tracked(method: Callable[..., Any], stage: str, crumb: Breadcrumb) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        if _compiling():
            return method(*args, **kwargs)
        previous = crumb.enter(stage)
        try:
            return method(*args, **kwargs)
        finally:
            crumb.enter(previous)

    return call


def track(backend: Any, crumb: Breadcrumb) -> None:
    """Make every protocol method of ``backend`` record itself in ``crumb`` while it runs.

    The wrappers are instance attributes, so the adapter's calls to its own methods (the
    inherited ``vjp`` calling ``backward``) are followed too. An adapter that takes no
    instance attributes is left as it is: its crashes then name no method.
    """
    for name in TRACKED:
        method = getattr(backend, name, None)
        if callable(method):
            try:
                setattr(backend, name, _tracked(method, name, crumb))
            except (AttributeError, TypeError):
                return


def catch_faults(scratch: Path, worker_id: str) -> None:
    """Send a native crash's traceback to the worker's fault file, for the controller.
    Called once pytest's own fault handler is set up (at session start), to replace it."""
    # kept open for the worker's life: the fault handler writes to its descriptor
    fault_file = open(scratch / f"{worker_id}.fault", "w")  # noqa: SIM115
    faulthandler.enable(file=fault_file, all_threads=False)


def grace(limit: float) -> float:
    """How long past the time limit the watchdog waits for the in-process alarm first."""
    return min(30.0, max(2.0, 0.1 * limit))


STARTUP_FLOOR = 30.0  # seconds: importing a large engine and collecting, on a busy machine


def startup_deadline(limit: float) -> float:
    """How long a process may take to load the engine and collect the checks: as long as
    a check, and never less than :data:`STARTUP_FLOOR`, whatever the time limit."""
    return max(limit + grace(limit), STARTUP_FLOOR)


@dataclass
class _Watch:
    """The controller's own record of one worker: nothing the engine can write to."""

    node: Any
    crumb_fd: int
    heard: float  # when the worker last reported (or started)
    collected: bool = False


class Watchdog:
    """The controller's side: kills a worker that has work but has said nothing for longer
    than the time limit allows (a hang in native code, which the in-process alarm cannot
    interrupt, or a corrupted channel), and explains dead workers.

    It goes by what the controller itself observes (the reports each worker sends, the
    work the scheduler gave it), never by a file the engine could delete or rewrite; the
    breadcrumb only names the check and the adapter method in the diagnosis.
    """

    def __init__(self, scratch: Path, limit: float, pending: Callable[[Any], int]) -> None:
        self.scratch = scratch
        self.limit = limit
        self.pending = pending  # how many checks the scheduler has given a worker
        self.watches: dict[str, _Watch] = {}
        self.killed: dict[str, float] = {}  # worker id -> seconds it had been silent
        self.early_deaths = 0  # workers that died before they collected the checks
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="conformance-watchdog")
        self._thread.daemon = True

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def add(self, node: Any) -> None:
        worker = node.gateway.id
        fd = make_crumb(self.scratch / f"{worker}.crumb")
        self.watches[worker] = _Watch(node, fd, time.monotonic())

    def heard(self, node: Any, collected: bool = False) -> None:
        watch = self.watches.get(getattr(getattr(node, "gateway", None), "id", ""))
        if watch is not None:
            watch.heard = time.monotonic()
            watch.collected = watch.collected or collected

    def kill_all(self) -> None:
        """Kill every worker now."""
        for watch in list(self.watches.values()):
            _kill(worker_pid(watch.node))

    def _watch(self) -> None:
        in_check, starting = self.limit + grace(self.limit), startup_deadline(self.limit)
        while not self._stop.wait(0.25):
            for worker, watch in list(self.watches.items()):
                deadline = in_check if watch.collected else starting
                busy = not watch.collected or self.pending(watch.node) > 0
                silent = time.monotonic() - watch.heard
                if busy and silent > deadline and worker not in self.killed:
                    self.killed[worker] = silent
                    _kill(worker_pid(watch.node))

    def diagnose(self, worker: str, exit_status: int | None) -> str:
        """What happened to a worker that died, and where."""
        watch = self.watches.pop(worker, None)
        stage = ""
        if watch is not None:
            stage = read_stage(watch.crumb_fd)
            os.close(watch.crumb_fd)
            self.early_deaths += not watch.collected
        where = f"during {stage}" if stage else "outside the adapter's methods"
        if watch is not None and not watch.collected:
            where = "while loading the engine, before any check"
        if worker in self.killed:
            cause = (
                f"killed after {self.killed[worker]:.0f} s without a word from it: hung inside "
                f"native code {where}, past the time limit of {self.limit:g} s, where the "
                "in-process alarm could not stop it (or its channel to the run was corrupted)"
                if watch is None or watch.collected
                else f"killed after {self.killed[worker]:.0f} s without a word from it: hung "
                f"{where}, past the {startup_deadline(self.limit):g} s a start may take"
            )
        elif watch is not None and not watch.collected:
            cause = "the engine's process died before any check started"
            if exit_status is not None:
                cause += f" ({_ended(exit_status)})"
        elif exit_status is None:
            cause = f"the engine's process ended unexpectedly {where}"
        else:
            cause = f"the engine's process {_ended(exit_status)} {where}"
        fault = self._fault(worker)
        if fault:
            cause += "\nfault handler:\n" + fault
        return cause

    def _fault(self, worker_id: str) -> str:
        try:
            text = (self.scratch / f"{worker_id}.fault").read_text(errors="replace")
        except OSError:
            return ""
        lines = text.strip().splitlines()
        cut = len(lines) - FAULT_LINES
        return "\n".join(lines[:FAULT_LINES] + ([f"... {cut} more lines"] if cut > 0 else []))


def _kill(pid: int | None) -> None:
    if pid is not None:
        with contextlib.suppress(OSError):  # it ended on its own meanwhile
            os.kill(pid, signal.SIGKILL)


def _ended(code: int) -> str:
    if code < 0:
        sig = signal.Signals(-code)
        return f"was killed by signal {sig.name} ({signal.strsignal(sig) or 'no description'})"
    return f"exited with status {code}"


def _popen(node: Any) -> Any:
    """The subprocess.Popen of an xdist worker, where execnet exposes it."""
    return getattr(getattr(getattr(node, "gateway", None), "_io", None), "popen", None)


def worker_pid(node: Any) -> int | None:
    popen = _popen(node)
    return None if popen is None else int(popen.pid)


def exit_status(node: Any) -> int | None:
    """The exit status of an xdist worker's process, when execnet exposes it."""
    popen = _popen(node)
    if popen is None:
        return None
    try:
        return int(popen.wait(timeout=5))
    except Exception:  # noqa: BLE001 - a status we cannot read is reported as unknown
        return None
