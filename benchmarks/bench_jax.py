"""What compiling saves on jax: the whole ``ci`` profile against jax, with the adapter's
cached ``jax.jit`` vjps and with every vjp traced eagerly (``AUTOGRAD_CONFORMANCE_JAX_JIT=0``).

Runs the command as a user would (a child process each time, a fresh report folder),
``--repeat`` times per mode, alternating the modes so that machine load falls on both
alike, and prints each run's wall time and CPU time (user + system, of the command and
its workers: less sensitive than wall time to other load on a shared machine), the
medians per mode, their ratios, and whether the verdicts agree, claim by claim and test
by test. Run: ``python benchmarks/bench_jax.py [--repeat 2] [--workers N]``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODES = {"eager": "0", "jit": "1"}  # the value of AUTOGRAD_CONFORMANCE_JAX_JIT


def run_once(jit: str, report: Path, extra: list[str]) -> tuple[float, float, int, dict]:
    argv = [sys.executable, "-m", "conformance.cli", "--backend", "jax", "--profile", "ci"]
    argv += ["--quiet", "--report-dir", str(report), *extra]
    env = {**os.environ, "AUTOGRAD_CONFORMANCE_JAX_JIT": jit}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, env=env)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    doc = json.loads((report / "results.json").read_text())
    verdicts = {c["id"]: c["verdicts"] for c in doc["claims"]}
    verdicts |= {t["nodeid"]: t["verdict"] for c in doc["claims"] for t in c["tests"]}
    return seconds, cpu, proc.returncode, verdicts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()
    extra = ["--workers", str(args.workers)] if args.workers else []
    wall: dict[str, list[float]] = {mode: [] for mode in MODES}
    cpu: dict[str, list[float]] = {mode: [] for mode in MODES}
    verdicts: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeat):
            for mode, jit in MODES.items():
                report = Path(tmp) / f"{mode}-{i}"
                seconds, used, code, verdicts[mode] = run_once(jit, report, extra)
                wall[mode].append(seconds)
                cpu[mode].append(used)
                print(
                    f"{mode:<5} run {i + 1}: {seconds:6.1f} s wall, {used:6.1f} s CPU, exit {code}"
                )
    for mode in MODES:
        print(
            f"{mode:<5} median {statistics.median(wall[mode]):6.1f} s wall,"
            f" {statistics.median(cpu[mode]):6.1f} s CPU"
        )
    for name, times in (("wall", wall), ("CPU", cpu)):
        ratio = statistics.median(times["jit"]) / statistics.median(times["eager"])
        print(f"jit / eager, {name}: {ratio:.2f}")
    print("verdicts agree:", verdicts["jit"] == verdicts["eager"])


if __name__ == "__main__":
    main()
