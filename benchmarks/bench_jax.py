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
import statistics
import tempfile
from pathlib import Path

from suite_run import run_suite

MODES = {"eager": "0", "jit": "1"}  # the value of AUTOGRAD_CONFORMANCE_JAX_JIT


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
                run = run_suite("jax", report, *extra, env={"AUTOGRAD_CONFORMANCE_JAX_JIT": jit})
                wall[mode].append(run.seconds)
                cpu[mode].append(run.cpu)
                verdicts[mode] = run.verdicts()
                print(
                    f"{mode:<5} run {i + 1}: {run.seconds:6.1f} s wall, {run.cpu:6.1f} s CPU,"
                    f" exit {run.exit_code}"
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
