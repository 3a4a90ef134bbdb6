"""Shared fixtures for the project's own tests."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from conformance.run import cli as cli_module
from conformance.run.runner import RunResult, run

from . import vacuity_probe

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class SuiteRun:
    result: RunResult
    seen: dict[str, vacuity_probe.Seen]  # per test id: its conformance.suite.vacuity records


@pytest.fixture(scope="session")
def torch_suite() -> SuiteRun:
    """The whole suite on torch (ci profile), run once per session: the reference run,
    with the vacuity probe attached."""
    vacuity_probe.SEEN.clear()
    result = run("torch", profile="ci", quiet=True, extra_args=["-p", "tests.vacuity_probe"])
    return SuiteRun(result, dict(vacuity_probe.SEEN))


@dataclass
class Outcome:
    returncode: int
    stdout: str
    stderr: str


def one_line_error(proc: Outcome | subprocess.CompletedProcess[str]) -> str:
    """The one line a configuration error must be, with no traceback."""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


def run_cli(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the console command as a user would, in a child process."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "conformance.run.cli", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=600,
        check=False,
        cwd=cwd,
    )


@pytest.fixture
def cli(capsys, monkeypatch):
    """Run the command's main() in this process (measured by coverage, and fast)."""

    def run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> Outcome:
        for key, value in (env or {}).items():
            monkeypatch.setenv(key, value)
        if cwd is not None:
            monkeypatch.chdir(cwd)
        capsys.readouterr()
        code = cli_module.main(list(args))
        out, err = capsys.readouterr()
        return Outcome(code, out, err)

    return run
