"""A gate nothing can fake: hostile engines and bad command lines, run as a user runs the
command (a child process, a fresh folder holding an earlier run's passing report).

Whatever the engine does, the run exits 1 or 2 (never 0 for a wrong or absent engine),
results.json is this run's, no process of the run is left, and the user's folder holds
nothing but the report folder.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .conftest import ROOT

DTYPES = ("float32", "float64")
STALE = {"status": "complete", "exit_status": 0, "stale": "an earlier run's passing report"}


@dataclass
class Gate:
    returncode: int
    stdout: str
    stderr: str
    doc: dict[str, Any]

    def verdicts(self, claim: str) -> dict[str, str]:
        return next(c["verdicts"] for c in self.doc["claims"] if c["id"] == claim)

    def messages(self, claim: str) -> list[str]:
        tests = next(c["tests"] for c in self.doc["claims"] if c["id"] == claim)
        return [t["message"] for t in tests]


def _left_behind(tag: str) -> list[int]:
    """The processes whose environment carries ``tag``: the run's, if any is left."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and tag.encode() in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def _start(tmp_path: Path, args: tuple[str, ...], env: dict[str, str]) -> tuple[Any, Path, str]:
    home = tmp_path / "user"
    (home / "report").mkdir(parents=True)
    (home / "report" / "results.json").write_text(json.dumps(STALE))
    tag = f"GATE_TAG_{uuid.uuid4().hex}"
    full_env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        tag: "1",
        "GATE_REPORT_DIR": str(home / "report"),
        **env,
    }
    argv = [sys.executable, "-m", "conformance.run.cli", "--report-dir", "report", *args]
    proc = subprocess.Popen(
        argv, cwd=home, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    return proc, home, tag


def _finish(proc: Any, home: Path, tag: str) -> Gate:
    out, err = proc.communicate(timeout=400)
    deadline = time.monotonic() + 3  # the kernel takes a moment to clear killed processes
    while _left_behind(tag) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _left_behind(tag) == [], "processes of the run are still alive"
    assert sorted(os.listdir(home)) == ["report"], os.listdir(home)
    doc = json.loads((home / "report" / "results.json").read_text())
    assert "stale" not in doc, "the earlier run's report was left looking current"
    return Gate(proc.returncode, out, err, doc)


def gate(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> Gate:
    """Run the command to its end (see the module's docstring for what always holds)."""
    proc, home, tag = _start(tmp_path, args, env or {})
    return _finish(proc, home, tag)


def _engine(name: str, *args: str, claims: str = "GR-1,LR-1") -> tuple[str, ...]:
    return ("--backend", f"tests.gate_engines:{name}", "--claims", claims, *args, "--quiet")


def test_an_adapter_ending_its_process_as_it_is_built_is_a_usage_error(tmp_path):
    """A constructor calling os._exit(0): exit 2, one line naming what happened."""
    run = gate(tmp_path, *_engine("ExitsInConstructor"))
    assert run.returncode == 2
    assert "exited with status 0 while loading the backend" in run.stderr
    assert run.doc["status"] == "usage-error" and run.doc["exit_status"] == 2


@pytest.mark.parametrize(
    ("engine", "raised"),
    [
        ("SkipsInBackward", "Skipped"),
        ("XfailsInBackward", "XFailed"),
        ("ExitsPytestInBackward", "Exit"),
        ("UnittestSkipsInBackward", "SkipTest"),
        ("InterruptsInBackward", "KeyboardInterrupt"),
        ("SystemExitInBackward", "SystemExit"),
    ],
)
def test_a_runner_outcome_or_an_interrupt_raised_by_engine_code_fails_that_check(
    tmp_path, engine, raised
):
    """pytest.skip/xfail/exit, unittest's skip, KeyboardInterrupt or SystemExit from
    backward: GR-1 fails naming what was raised, LR-1 still passes, exit 1."""
    run = gate(tmp_path, *_engine(engine, "--workers", "1"))
    assert run.returncode == 1
    assert run.doc["status"] == "complete"
    assert run.verdicts("GR-1") == dict.fromkeys(DTYPES, "failed")
    assert all("the engine raised" in m and raised in m for m in run.messages("GR-1"))
    assert run.verdicts("LR-1") == dict.fromkeys(DTYPES, "passed")


def test_an_engine_replacing_the_judging_functions_fails_the_checks_it_ran(tmp_path):
    """Doubled gradients, and the tolerance check and numpy.allclose replaced from engine
    code: GR-2 fails, naming what was replaced."""
    run = gate(tmp_path, *_engine("ReplacesTheJudge", "--workers", "1", claims="GR-2"))
    assert run.returncode == 1
    assert run.verdicts("GR-2") == dict.fromkeys(DTYPES, "failed")
    assert all("the engine replaced" in m for m in run.messages("GR-2"))
    assert any("conformance.oracles.tolerances.within" in m for m in run.messages("GR-2"))


def test_an_adapter_module_patching_the_exit_code_cannot_pass_a_wrong_engine(tmp_path):
    """An adapter module that patches the exit-code functions when imported: the command's
    process never imports it, so the wrong engine still exits 1."""
    args = ("--backend", "tests.gate_patcher:PatchesTheExitCode", "--claims", "GR-2", "--quiet")
    run = gate(tmp_path, *args, "--workers", "1")
    assert run.returncode == 1
    assert run.verdicts("GR-2") == dict.fromkeys(DTYPES, "failed")


@pytest.mark.parametrize(
    ("engine", "cause"),
    [
        ("SigintsItsParent", "interrupted, but not by this command's user"),
        ("SigkillsItsParent", "killed by SIGKILL"),
    ],
)
def test_engine_code_signalling_the_run_ends_it_aborted(tmp_path, engine, cause):
    """SIGINT or SIGKILL sent to the run's controller from a backward pass: exit 1, status
    aborted with the cause, the earlier report replaced."""
    run = gate(tmp_path, *_engine(engine, "--workers", "1"))
    assert run.returncode == 1
    assert run.doc["status"] == "aborted" and run.doc["exit_status"] == 1
    assert cause in run.doc["error"]


@pytest.mark.parametrize("engine", ["FloodsItsPipes", "BlindsTheWatchdog"])
def test_a_worker_corrupting_its_channel_or_blinding_the_watchdog_is_killed(tmp_path, engine):
    """Garbage written into the worker's pipes, or the run's files deleted before a native
    hang: the worker is killed past the time limit, GR-1 reads error, LR-1 passes."""
    run = gate(tmp_path, *_engine(engine, "--timeout", "5", "--workers", "1"))
    assert run.returncode == 1
    assert run.verdicts("GR-1") == dict.fromkeys(DTYPES, "error")
    assert all("without a word from it" in m for m in run.messages("GR-1"))
    assert run.verdicts("LR-1") == dict.fromkeys(DTYPES, "passed")


def test_a_constructor_hanging_only_in_workers_ends_the_run_aborted(tmp_path):
    """Workers that hang while building the engine are killed after the start-up bound;
    once more of them died than the run has, the run ends: exit 1, aborted."""
    run = gate(tmp_path, *_engine("HangsInWorkers", "--timeout", "5", "--workers", "1"))
    assert run.returncode == 1
    assert run.doc["status"] == "aborted"
    assert "kept dying" in run.doc["error"] and "hung while loading" in run.doc["error"]


def test_a_daemon_left_by_the_engine_cannot_rewrite_the_report(tmp_path):
    """A double-forked, session-leaving child that waits to rewrite results.json as
    passing is killed before the reports are published: GR-2 stays failed, exit 1."""
    run = gate(tmp_path, *_engine("OutlivesTheRun", "--workers", "1", claims="GR-2"))
    time.sleep(1)  # what the daemon would have had, had it survived
    doc = json.loads((tmp_path / "user" / "report" / "results.json").read_text())
    assert run.returncode == 1
    assert doc == run.doc
    assert run.verdicts("GR-2") == dict.fromkeys(DTYPES, "failed")


def test_files_an_engine_writes_to_relative_paths_stay_out_of_the_users_folder(tmp_path):
    """An engine writing 'engine-output.txt' in its current folder writes into the run's
    scratch folder, which goes with the run."""
    run = gate(tmp_path, *_engine("WritesHere", "--workers", "1", claims="GR-1"))
    assert run.returncode == 0  # a correct engine: writing files is not a deviation


def test_control_characters_from_engine_processes_reach_the_terminal_escaped(tmp_path):
    """A clear-screen, a title escape and a bidi override written straight to the workers'
    stderr arrive escaped in the command's output."""
    run = gate(tmp_path, *_engine("PrintsControls", "--workers", "1", claims="GR-1"))
    assert run.returncode == 0
    assert "\x1b[2J" not in run.stdout and "\u202e" not in run.stdout
    assert "\\x1b[2J" in run.stdout and "\\u202e" in run.stdout


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("--profile", "garbage"), "--profile"),
        (("--timeout", "abc"), "--timeout"),
        (("--workers", "0"), "--workers"),
        (("--workers", "1000"), "--workers 1000: at most"),
        (("--no-such-flag",), "--no-such-flag"),
        (("--backend", "torch", "--", "--bad-pytest-option"), "--bad-pytest-option"),
    ],
)
def test_every_usage_error_replaces_the_report_with_one_saying_so(tmp_path, args, named):
    """A bad option, argparse's or pytest's: exit 2, one line naming it, and results.json
    with status usage-error instead of the earlier passing report."""
    run = gate(tmp_path, "--claims", "GR-1", *args)
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and named in lines[0], run.stderr
    assert run.doc["status"] == "usage-error" and run.doc["exit_status"] == 2


def _signal_when_stuck(tmp_path: Path, sig: int) -> Gate:
    """Run LR-1 and GR-1 on one worker, on an engine whose neg backward hangs; send
    ``sig`` to the command once it hangs (LR-1's module, collected first, has passed)."""
    mark = tmp_path / "stuck"
    args = _engine("StuckInBackward", "--timeout", "100", "--workers", "1", claims="GR-1,LR-1")
    proc, home, tag = _start(tmp_path, args, {"GATE_MARK": str(mark)})
    deadline = time.monotonic() + 120
    while not mark.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    proc.send_signal(sig)
    return _finish(proc, home, tag)


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_ctrl_c_or_sigterm_mid_run_keeps_the_verdicts_so_far(tmp_path, sig, code):
    """SIGINT or SIGTERM while a check hangs in native code: exit 130 or 143, status
    interrupted, the hung check 'not reached', every worker gone, no partial folder."""
    run = _signal_when_stuck(tmp_path, sig)
    assert run.returncode == code
    assert run.doc["status"] == "interrupted" and run.doc["exit_status"] == code
    assert run.verdicts("LR-1") == dict.fromkeys(DTYPES, "passed")
    assert run.verdicts("GR-1") == dict.fromkeys(DTYPES, "not reached")


def test_ctrl_c_after_the_last_check_keeps_the_whole_report(tmp_path):
    """SIGINT once the checks are done (the verdict table is printed): the run is complete,
    results.json holds every verdict, and the HTML and JUnit reports are there."""
    proc, home, tag = _start(tmp_path, ("--backend", "torch", "--claims", "GR-1"), {})
    assert proc.stdout is not None
    for line in proc.stdout:
        if "autograd conformance verdicts" in line:
            proc.send_signal(signal.SIGINT)
            break
    run = _finish(proc, home, tag)
    assert run.returncode == 0
    assert run.doc["status"] == "complete"
    assert run.verdicts("GR-1") == dict.fromkeys(DTYPES, "passed")
    assert {"report.html", "junit.xml"} <= set(os.listdir(home / "report"))
