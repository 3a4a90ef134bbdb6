"""The gate cannot be fooled or broken: an engine that kills or freezes its process fails
the check it was in and nothing else; reports are always true; a foreign pytest run is
left alone; interrupting a run says so."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import pytest

from .conftest import ROOT, one_line_error

DTYPES = ("float32", "float64")


def _report(folder: Path) -> dict:
    doc = json.loads((folder / "results.json").read_text())
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(resources.files("conformance").joinpath("report_schema.json").read_text())
    jsonschema.validate(doc, schema)
    return doc


def _claim(doc: dict, claim_id: str) -> dict:
    return next(c for c in doc["claims"] if c["id"] == claim_id)


@pytest.mark.parametrize(
    ("double", "cause"),
    [
        ("ExitZero", "the engine's process exited with status 0 during backward"),
        ("ExitThree", "the engine's process exited with status 3 during backward"),
        ("Abort", "killed by signal SIGABRT (Aborted) during backward"),
        ("Segfault", "killed by signal SIGSEGV (Segmentation fault) during backward"),
        ("NativeHang", "hung inside native code during backward, past the time limit of 5 s"),
    ],
)
def test_an_engine_that_ends_or_freezes_its_process_fails_only_that_check(
    cli, tmp_path, double, cause
):
    """A crash, any exit status, an abort, a segfault or a native hang in neg's backward:
    GR-1 reads error with the cause, LR-1 (no neg) passes, exit 1, valid report."""
    proc = cli(
        "--backend",
        f"tests.hostile_engines:{double}",
        "--claims",
        "GR-1,LR-1",
        "--timeout",
        "5",
        "--report-dir",
        str(tmp_path / "rep"),
        "--quiet",
    )
    assert proc.returncode == 1, proc.stdout[-2000:]
    doc = _report(tmp_path / "rep")
    assert doc["status"] == "complete" and doc["exit_status"] == 1
    assert _claim(doc, "GR-1")["verdicts"] == dict.fromkeys(DTYPES, "error")
    assert _claim(doc, "LR-1")["verdicts"] == dict.fromkeys(DTYPES, "passed")
    for test in _claim(doc, "GR-1")["tests"]:
        assert cause in test["message"], test["message"]


def test_an_engine_killing_every_worker_as_it_starts_fails_the_run(cli, tmp_path):
    """Workers dying before any check: the run ends (no endless restarts), exit 1, status
    aborted with the cause, and the checks read 'not reached', never passed."""
    rep = tmp_path / "rep"
    proc = cli(
        "--backend",
        "tests.hostile_engines:DiesInWorkers",
        "--claims",
        "GR-1",
        "--report-dir",
        str(rep),
    )
    assert proc.returncode == 1
    assert "run aborted" in one_line_error(proc)
    doc = _report(rep)
    assert doc["status"] == "aborted" and doc["exit_status"] == 1
    assert "exited with status 1" in doc["error"]
    assert _claim(doc, "GR-1")["verdicts"] == dict.fromkeys(DTYPES, "not reached")


def test_an_engine_printing_megabytes_gets_its_output_cut(cli):
    """An engine printing 2 MB per call fails GR-1 with at most a few KB of its output
    on the console: 4 KB per section, then how much was cut."""
    proc = cli("--backend", "tests.faulty_engines:ChattyWrongSignNeg", "--claims", "GR-1")
    assert proc.returncode == 1
    assert "more bytes]" in proc.stdout
    assert len(proc.stdout) < 100_000


def test_checks_run_in_process_with_no_isolate(cli, tmp_path):
    """--no-isolate runs the checks in the command's own process (no worker is started)."""
    proc = cli("--backend", "torch", "--claims", "GR-1", "--no-isolate")
    assert proc.returncode == 0
    assert "bringing up nodes" not in proc.stdout and "gw0" not in proc.stdout


FOREIGN_TEST = """
import sys
from hypothesis import given, settings, strategies as st

def test_the_projects_own_profile_is_in_force():
    assert settings.get_current_profile_name() == "mine"
    assert settings.default.max_examples == 7

@given(st.integers())
def test_a_property(n):
    assert "torch" not in sys.modules
"""

FOREIGN_CONFTEST = """
from hypothesis import settings
settings.register_profile("mine", max_examples=7)
"""


def test_a_foreign_pytest_run_is_left_alone(tmp_path):
    """Installed but not asked for, the plugin reads no env var, imports no engine and
    keeps the project's Hypothesis profile, even with garbage in the suite's variables."""
    (tmp_path / "test_foreign.py").write_text(FOREIGN_TEST)
    (tmp_path / "conftest.py").write_text(FOREIGN_CONFTEST)
    env = {
        **os.environ,
        "AUTOGRAD_CONFORMANCE_BACKEND": "garbage",
        "AUTOGRAD_CONFORMANCE_PROFILE": "garbage",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--hypothesis-profile=mine"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "2 passed" in proc.stdout


def test_a_run_writes_nothing_outside_its_report_folder(cli, tmp_path):
    """After a default run in an empty folder, the folder holds the report folder only."""
    proc = cli("--backend", "torch", "--claims", "GR-1,CR-1", "--report-dir", "rep", cwd=tmp_path)
    assert proc.returncode == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rep"]


def test_the_report_folder_holds_exactly_the_last_run(cli, tmp_path):
    """A later run replaces the folder whole: an earlier run's curves and files are gone."""
    rep = tmp_path / "rep"
    first = cli("--backend", "torch", "--claims", "LR-4", "--report-dir", str(rep), "--no-isolate")
    assert first.returncode == 0 and (rep / "curves").is_dir()
    (rep / "stale.txt").write_text("from another run")
    second = cli("--backend", "torch", "--claims", "GR-1", "--report-dir", str(rep), "--no-isolate")
    assert second.returncode == 0
    assert sorted(p.name for p in rep.iterdir()) == [
        "junit.xml",
        "report.html",
        "results.json",
        "summary.md",
    ]
    assert [p.name for p in tmp_path.iterdir()] == ["rep"]


def test_a_usage_error_still_writes_a_report_saying_so(cli, tmp_path):
    """A configuration error replaces the previous report by one with status usage-error."""
    rep = tmp_path / "rep"
    assert cli("--backend", "torch", "--claims", "GR-1", "--report-dir", str(rep)).returncode == 0
    proc = cli("--backend", "nosuch", "--report-dir", str(rep))
    assert proc.returncode == 2
    doc = _report(rep)
    assert doc["status"] == "usage-error" and doc["exit_status"] == 2
    assert "unknown backend 'nosuch'" in doc["error"]
    assert all(not c["tests"] for c in doc["claims"])


@pytest.mark.parametrize("kind", ["file", "beneath a file"])
def test_a_report_folder_that_cannot_be_written_is_refused_before_the_run(cli, tmp_path, kind):
    """--report-dir naming a file, or a folder that cannot be made, is one line, exit 2."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    target = blocker if kind == "file" else blocker / "rep"
    proc = cli("--backend", "torch", "--claims", "GR-1", "--report-dir", str(target))
    assert proc.returncode == 2
    assert f"--report-dir {target}" in one_line_error(proc)


def _interrupt(when: Callable[[], bool], tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """Run the command in a child process and send it SIGINT once ``when()`` holds."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    argv = [sys.executable, "-m", "conformance.run.cli", "--report-dir", "rep", "--quiet", *args]
    proc = subprocess.Popen(
        argv, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 120
    while not when() and time.monotonic() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


def test_an_interrupted_run_exits_130_and_says_what_was_reached(tmp_path):
    """SIGINT mid-run: exit 130, one line, results.json with status interrupted; the hung
    check reads 'not reached', the finished one keeps its verdict."""
    started = time.monotonic()
    proc = _interrupt(
        lambda: time.monotonic() - started > 20,  # LR-1 is done by then, GR-1 hangs
        tmp_path,
        "--backend",
        "tests.faulty_engines:HangingNegBackend",
        "--claims",
        "GR-1,LR-1",
        "--timeout",
        "100",
    )
    assert proc.returncode == 130
    assert "interrupted" in one_line_error(proc)
    doc = _report(tmp_path / "rep")
    assert doc["status"] == "interrupted" and doc["exit_status"] == 130
    assert _claim(doc, "GR-1")["verdicts"] == dict.fromkeys(DTYPES, "not reached")
    assert _claim(doc, "LR-1")["verdicts"] == dict.fromkeys(DTYPES, "passed")
    assert _claim(doc, "CR-1")["verdicts"] == dict.fromkeys(DTYPES, "not run")


def test_an_interrupt_during_start_up_is_one_line_and_exit_130(tmp_path):
    """SIGINT while the backend is still loading: exit 130, one line, no traceback."""
    loading = tmp_path / "importing"
    proc = _interrupt(loading.exists, tmp_path, "--backend", "tests.slow_import:Backend")
    assert proc.returncode == 130
    assert "interrupted" in one_line_error(proc)
    assert _report(tmp_path / "rep")["status"] == "interrupted"
