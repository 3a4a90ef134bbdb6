"""Run isolation: checks run in pytest-xdist workers, and an engine that kills or hangs
its worker fails only the check that was running, with a message saying what happened.

Worker side: a breadcrumb, a small file mapped into memory (so it outlives the process),
holds the worker's pid, the running check and since when, and the adapter method the
check is inside; the fault handler writes a native crash's traceback beside it.
Controller side: a watchdog kills a worker stuck in one check well past the time limit
(a hang inside native code, which the in-process alarm cannot interrupt), and when a
worker dies its check gets the verdict *error* with the cause.
"""

from __future__ import annotations

import contextlib
import faulthandler
import mmap
import os
import signal
import struct
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conformance.engine import CAPABILITIES, REQUIRED_METHODS
from conformance.engine.ops import ALL_OPS

_SIZE = 4096
_HEAD = struct.Struct("<qd")  # pid, start of the running check (0: none)
_NODE = slice(_HEAD.size, 2048)
_STAGE = slice(2048, 2176)
#: The adapter methods whose calls the breadcrumb follows.
TRACKED = tuple(
    dict.fromkeys((*REQUIRED_METHODS, *ALL_OPS, *(m for ms in CAPABILITIES.values() for m in ms)))
)
FAULT_LINES = 12  # of the fault handler's traceback, in a failure message


def _pad(text: str, width: int) -> bytes:
    return text.encode("utf-8", "replace")[:width].ljust(width, b"\0")


def _text(raw: bytes) -> str:
    return raw.rstrip(b"\0").decode("utf-8", "replace")


@dataclass(frozen=True)
class Crumb:
    """What a worker's breadcrumb said when it was read."""

    pid: int
    started: float
    nodeid: str
    stage: str


def read_crumb(path: Path) -> Crumb | None:
    try:
        raw = path.read_bytes()
    except OSError:
        return None
    if len(raw) < _SIZE:
        return None
    pid, started = _HEAD.unpack_from(raw)
    return Crumb(pid, started, _text(raw[_NODE]), _text(raw[_STAGE]))


class Breadcrumb:
    """The worker's side: written as checks start and adapter methods are entered."""

    def __init__(self, path: Path) -> None:
        with open(path, "w+b") as f:
            f.truncate(_SIZE)
            self._map = mmap.mmap(f.fileno(), _SIZE)
        _HEAD.pack_into(self._map, 0, os.getpid(), 0.0)
        self.stage = ""

    def start(self, nodeid: str) -> None:
        self._map[_NODE] = _pad(nodeid, _NODE.stop - _NODE.start)
        self.enter("")
        _HEAD.pack_into(self._map, 0, os.getpid(), time.time())

    def stop(self) -> None:
        _HEAD.pack_into(self._map, 0, os.getpid(), 0.0)

    def enter(self, stage: str) -> str:
        """Record ``stage``; return the one it replaces."""
        previous, self.stage = self.stage, stage
        self._map[_STAGE] = _pad(stage, _STAGE.stop - _STAGE.start)
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


class Watchdog:
    """The controller's side: kills workers stuck in one check; explains dead workers."""

    def __init__(self, scratch: Path, limit: float) -> None:
        self.scratch = scratch
        self.limit = limit
        self.killed: dict[int, float] = {}  # pid -> seconds the check had run
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="conformance-watchdog")
        self._thread.daemon = True

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _watch(self) -> None:
        deadline = self.limit + grace(self.limit)
        while not self._stop.wait(0.25):
            for path in self.scratch.glob("*.crumb"):
                crumb = read_crumb(path)
                if crumb is None or not crumb.started or crumb.pid in self.killed:
                    continue
                ran = time.time() - crumb.started
                if ran > deadline:
                    self.killed[crumb.pid] = ran
                    with contextlib.suppress(OSError):  # it ended on its own meanwhile
                        os.kill(crumb.pid, signal.SIGKILL)

    def diagnose(self, worker_id: str, exit_status: int | None) -> tuple[str, str]:
        """(the check that was running, what happened to it) for a worker that died."""
        crumb = read_crumb(self.scratch / f"{worker_id}.crumb")
        if crumb is None:
            return "", "the engine's process died before any check started"
        where = f"during {crumb.stage}" if crumb.stage else "outside the adapter's methods"
        if crumb.pid in self.killed:
            ran = self.killed[crumb.pid]
            cause = (
                f"killed after {ran:.0f} s: hung inside native code {where}, past the "
                f"time limit of {self.limit:g} s, where the in-process alarm could not stop it"
            )
        elif exit_status is None:
            cause = f"the engine's process ended unexpectedly {where}"
        elif exit_status < 0:
            sig = signal.Signals(-exit_status)
            cause = (
                f"the engine's process was killed by signal {sig.name} "
                f"({signal.strsignal(sig) or 'no description'}) {where}"
            )
        else:
            cause = f"the engine's process exited with status {exit_status} {where}"
        fault = self._fault(worker_id)
        if fault:
            cause += "\nfault handler:\n" + fault
        return crumb.nodeid if crumb.started else "", cause

    def _fault(self, worker_id: str) -> str:
        try:
            text = (self.scratch / f"{worker_id}.fault").read_text(errors="replace")
        except OSError:
            return ""
        lines = text.strip().splitlines()
        cut = len(lines) - FAULT_LINES
        return "\n".join(lines[:FAULT_LINES] + ([f"... {cut} more lines"] if cut > 0 else []))


def exit_status(node: Any) -> int | None:
    """The exit status of an xdist worker's process, when execnet exposes it."""
    popen = getattr(getattr(getattr(node, "gateway", None), "_io", None), "popen", None)
    if popen is None:
        return None
    try:
        return int(popen.wait(timeout=5))
    except Exception:  # noqa: BLE001 - a status we cannot read is reported as unknown
        return None
