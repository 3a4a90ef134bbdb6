"""The gate's parts on their own: tamper evidence, the reaper, the supervisor's verdict."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Any

import numpy as np

from conformance.oracles import tolerances
from conformance.run import reaper, supervisor, tamper


def test_a_replaced_judging_function_is_named(monkeypatch):
    """Replacing the tolerance check or numpy.allclose is reported by its dotted name."""
    snapshot = tamper.Snapshot()
    assert snapshot.changed() == []
    monkeypatch.setattr(tolerances, "within", lambda *args: True)
    monkeypatch.setattr(np, "allclose", lambda *args, **kwargs: True)
    assert {"conformance.oracles.tolerances.within", "numpy.allclose"} <= set(snapshot.changed())


def test_rewriting_a_functions_code_or_a_suite_class_is_noticed(monkeypatch):
    """Same function object, other code; or a method added to a suite class: both seen."""
    snapshot = tamper.Snapshot()
    monkeypatch.setattr(tolerances.within, "__code__", (lambda a, e, s, d: True).__code__)
    assert "conformance.oracles.tolerances.within" in snapshot.changed()
    monkeypatch.undo()
    monkeypatch.setattr(tolerances.Tolerance, "lenient", lambda self: True, raising=False)
    assert "conformance.oracles.tolerances.Tolerance" in snapshot.changed()


DAEMON = """
import os, sys, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        open(sys.argv[1], "w").write(str(os.getpid()))
        time.sleep(600)
    os._exit(0)
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_the_reaper_kills_a_daemon_that_left_the_session(tmp_path):
    """A double-forked child in a session of its own is adopted and killed by kill_all."""
    assert reaper.become_subreaper()
    keep = reaper.children()
    marker = tmp_path / "pid"
    subprocess.run([sys.executable, "-c", DAEMON, str(marker)], check=True)
    deadline = time.monotonic() + 30
    while not marker.exists() or not marker.read_text():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    daemon = int(marker.read_text())
    assert _alive(daemon) and daemon in reaper.descendants(reaper.children() - keep)
    reaper.kill_all(set(), keep)
    assert not _alive(daemon)
    assert os.getpid() not in reaper.descendants({daemon})


def _doc(status: str, nodeids: list[str], verdict: str = "passed") -> dict[str, Any]:
    tests = [{"nodeid": n, "verdict": verdict} for n in nodeids]
    return {"status": status, "error": "", "exit_status": 0, "claims": [{"tests": tests}]}


def test_a_check_without_a_verdict_makes_the_run_aborted():
    """The probe collected two checks, the controller reported one: aborted, exit 1."""
    doc = _doc("complete", ["a"])
    assert supervisor._judge(doc, ["a", "b"], supervisor._Stop()) == 1
    assert doc["status"] == "aborted" and "b" in doc["error"]


def test_an_interrupt_nobody_here_sent_aborts_the_run():
    """An interrupted controller, with no Ctrl-C or SIGTERM to the command: aborted."""
    doc = _doc("interrupted", ["a"])
    assert supervisor._judge(doc, ["a"], supervisor._Stop()) == 1
    assert doc["status"] == "aborted" and "not by this command's user" in doc["error"]


def test_the_exit_status_comes_from_the_verdicts_not_the_controller():
    """A complete run's exit status is recomputed from its verdicts."""
    doc = _doc("complete", ["a"], verdict="failed")
    assert supervisor._judge(doc, ["a"], supervisor._Stop()) == 1
    assert supervisor._judge(_doc("complete", ["a"]), ["a"], supervisor._Stop()) == 0


def test_the_run_ceiling_grows_with_the_checks_per_worker_and_the_limit():
    """Each worker's share of the checks at the time limit, a restart each, two starts."""
    assert supervisor.ceiling(4, 2, 5) == 2 * (5 + 2 + 30) + 2 * 30
    assert supervisor.ceiling(4, 1, 300) > supervisor.ceiling(4, 2, 300)
