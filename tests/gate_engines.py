"""Hostile engines: each tries to end, hang, fake or dirty a run from engine code.

Most act inside neg's backward pass, which GR-1's worked example reaches. None of them
may get exit 0 from a run, leave a process behind, or write outside the report folder.
"""

from __future__ import annotations

import ctypes
import glob
import json
import os
import signal
import stat
import tempfile
import time
import unittest
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conformance.backends.torch_backend import TorchBackend
from conformance.oracles import tolerances

from .hostile_engines import hostile


def _pause() -> None:
    """Block in C with the alarm and interrupt signals masked: only SIGKILL ends this."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM, signal.SIGINT, signal.SIGTERM})
    ctypes.CDLL(None).pause()


class ExitsInConstructor(TorchBackend):
    """Ends the process that builds it with status 0: a controller building it would end
    the whole command with 0 and no report."""

    name = "exits-in-constructor"

    def __init__(self, device: str = "cpu") -> None:
        os._exit(0)


class HangsInWorkers(TorchBackend):
    """Loads anywhere but in a worker, where its constructor hangs in native code."""

    name = "hangs-in-workers"

    def __init__(self, device: str = "cpu") -> None:
        if "PYTEST_XDIST_WORKER" in os.environ:
            _pause()
        super().__init__(device)


class DoubledMul(TorchBackend):
    """mul's gradient is twice the true one: GR-2 must fail, whatever else happens."""

    def mul(self, a: Any, b: Any) -> Any:
        out = super().mul(a, b)
        return out + (out - out.detach())  # value unchanged, gradient doubled


def _always_within(actual: Any, expected: Any, scale: Any, dtype: str) -> np.ndarray:
    return np.ones(np.shape(actual), dtype=bool)


class ReplacesTheJudge(DoubledMul):
    """Wrong gradients, and replaces the suite's tolerance check with one that always
    agrees, once its engine runs."""

    name = "replaces-the-judge"

    def mul(self, a: Any, b: Any) -> Any:
        tolerances.within = _always_within
        np.allclose = lambda *args, **kwargs: True
        return super().mul(a, b)


def _runner_skip(message: str) -> None:
    raise unittest.SkipTest(message)


SkipsInBackward = hostile("SkipsInBackward", lambda: pytest.skip("not today"))
XfailsInBackward = hostile("XfailsInBackward", lambda: pytest.xfail("known"))
ExitsPytestInBackward = hostile("ExitsPytestInBackward", lambda: pytest.exit("bye", 0))
UnittestSkipsInBackward = hostile("UnittestSkipsInBackward", lambda: _runner_skip("no"))


def _interrupt() -> None:
    raise KeyboardInterrupt


def _system_exit() -> None:
    raise SystemExit(0)


InterruptsInBackward = hostile("InterruptsInBackward", _interrupt)
SystemExitInBackward = hostile("SystemExitInBackward", _system_exit)
SigintsItsParent = hostile("SigintsItsParent", lambda: os.kill(os.getppid(), signal.SIGINT))
SigkillsItsParent = hostile("SigkillsItsParent", lambda: os.kill(os.getppid(), signal.SIGKILL))


def _flood_pipes() -> None:
    """Write garbage into every pipe this process holds: the worker's channel included."""
    for fd in map(int, os.listdir("/proc/self/fd")):
        try:
            if stat.S_ISFIFO(os.fstat(fd).st_mode):
                os.write(fd, b"\x00garbage\xff" * 1000)
        except OSError:
            continue


FloodsItsPipes = hostile("FloodsItsPipes", _flood_pipes)


def _blind_then_hang() -> None:
    """Delete every file the run keeps in its temporary folders, then hang in C."""
    pattern = os.path.join(tempfile.gettempdir(), "autograd-conformance-*", "**")
    for path in glob.glob(pattern, recursive=True):
        if os.path.isfile(path):
            os.unlink(path)
    _pause()


BlindsTheWatchdog = hostile("BlindsTheWatchdog", _blind_then_hang)


def _outlive_and_rewrite() -> None:
    """Leave a daemon (double fork, own session) that waits for the published report and
    rewrites it as a passing one."""
    target = Path(os.environ["GATE_REPORT_DIR"]) / "results.json"
    if os.fork() != 0:
        return
    os.setsid()
    if os.fork() != 0:
        os._exit(0)
    deadline = time.time() + 120
    while time.time() < deadline:
        time.sleep(0.05)
        try:
            doc = json.loads(target.read_text())
        except (OSError, ValueError):
            continue
        if doc.get("status") == "complete" and doc.get("exit_status") != 0:
            doc.update(exit_status=0)
            for claim in doc["claims"]:
                claim["verdicts"] = dict.fromkeys(claim["verdicts"], "passed")
            target.write_text(json.dumps(doc))
    os._exit(0)


class OutlivesTheRun(DoubledMul):
    """Wrong, and leaves a daemon behind that would make its report read passed."""

    name = "outlives-the-run"
    daemon_left = False

    def mul(self, a: Any, b: Any) -> Any:
        if not OutlivesTheRun.daemon_left:
            OutlivesTheRun.daemon_left = True
            _outlive_and_rewrite()
        return super().mul(a, b)


def _mark_and_hang() -> None:
    """Say so in the file the test named, then hang where only SIGKILL reaches."""
    Path(os.environ["GATE_MARK"]).write_text("stuck")
    _pause()


StuckInBackward = hostile("StuckInBackward", _mark_and_hang)
WritesHere = hostile("WritesHere", lambda: Path("engine-output.txt").write_text("x"))


class PrintsControls(TorchBackend):
    """Writes a clear-screen, a window-title escape and a bidi override straight to the
    terminal (file descriptor 2, outside any capture) whenever it is built."""

    name = "prints-controls"

    def __init__(self, device: str = "cpu") -> None:
        os.write(2, "\x1b[2J\x1b]0;owned\x07\u202e reversed\n".encode())
        super().__init__(device)
