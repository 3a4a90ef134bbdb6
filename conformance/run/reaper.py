"""Every process the engine starts ends with the run (Linux; elsewhere, the process groups).

The supervisor makes itself a *child subreaper*: a process the engine daemonizes (a
double fork, a ``setsid``) is re-parented to the supervisor instead of init, so that it
stays findable as one of the supervisor's descendants, whatever session it moved to.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import time
from pathlib import Path
from typing import Any

_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36
try:
    _prctl: Any = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):  # not Linux
    _prctl = None


def become_subreaper() -> bool:
    """Adopt this process's orphaned descendants; False where the system cannot."""
    return _prctl is not None and _prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0


def die_with_parent() -> None:
    """(In a child, before it runs its program) be killed when the process that started
    it dies: a supervisor killed by engine code leaves no run behind."""
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _parents() -> dict[int, int]:
    """pid -> parent pid of every process visible in /proc."""
    out = {}
    for entry in Path("/proc").iterdir() if Path("/proc/self").exists() else ():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # ended meanwhile
        # the command name (field 2) may hold spaces and parentheses: split after it
        out[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    return out


def children() -> set[int]:
    """This process's direct children now."""
    me = os.getpid()
    return {pid for pid, parent in _parents().items() if parent == me}


def descendants(roots: set[int]) -> set[int]:
    """``roots`` and every process below them."""
    parents = _parents()
    found = set(roots) & set(parents)
    grew = True
    while grew:
        more = {pid for pid, parent in parents.items() if parent in found} - found
        found |= more
        grew = bool(more)
    return found


def _reap(pids: set[int]) -> None:
    """Collect the exit status of those of ``pids`` that are this process's children and
    ended (adopted orphans among them): no zombie left behind. Only these: a caller's
    own children are its business."""
    for pid in pids:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)


def kill_all(groups: set[int], keep: set[int], wait: float = 5.0) -> None:
    """SIGKILL the process groups ``groups`` and every descendant of this process except
    the children in ``keep`` (those that were there before the run) and theirs; return
    once none is left (or after ``wait`` seconds)."""
    for group in groups:
        with contextlib.suppress(OSError):
            os.killpg(group, signal.SIGKILL)
    deadline = time.monotonic() + wait
    while True:
        mine = children() - keep
        left = descendants(mine)
        for pid in left:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        _reap(mine)
        if not left or time.monotonic() > deadline:
            return
        time.sleep(0.02)
