"""One run of the command as a user types it, for the benchmarks: a child process from
the repository root, the ``ci`` profile, ``--quiet``, its own report folder."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conformance.report.results import verdict_map

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Run:
    seconds: float  # wall time
    cpu: float  # user + system time of the command and its workers
    exit_code: int
    doc: dict[str, Any]  # results.json

    def verdicts(self) -> dict[str, Any]:
        """Per claim its verdicts by dtype, and per test its verdict."""
        return verdict_map(self.doc)

    def failed(self) -> set[tuple[str, str]]:
        """The (claim, dtype) pairs that failed."""
        return {
            (c["id"], d)
            for c in self.doc["claims"]
            for d, v in c["verdicts"].items()
            if v == "failed"
        }


def run_suite(
    backend: str,
    report: Path,
    *extra: str,
    env: dict[str, str] | None = None,
    cwd: Path = ROOT,
) -> Run:
    """Run the suite against ``backend`` with the options ``extra``, reports under ``report``
    (from ``cwd``: the checkout whose code runs, where the package is not installed)."""
    argv = [sys.executable, "-m", "conformance.run.cli", "--backend", backend, "--profile", "ci"]
    argv += ["--quiet", "--report-dir", str(report), *extra]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(
        argv, capture_output=True, check=False, cwd=cwd, env={**os.environ, **(env or {})}
    )
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    doc = json.loads((report / "results.json").read_text())
    return Run(seconds, cpu, proc.returncode, doc)
