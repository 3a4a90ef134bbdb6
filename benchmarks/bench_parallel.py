"""The parallel speed-up: the whole ``ci`` profile against torch, serial and on N workers.

Runs the command as a user would (a child process each time, a fresh report folder) in
three modes: in one process (``--no-isolate``), isolated on one worker, and isolated on
``--workers`` workers (default 2, the default path on a 2-core machine). It alternates the
modes ``--repeat`` times so that machine load falls on all alike, and prints each wall
time, the median per mode, the speed-up of the N-worker run over each serial mode, and
whether all modes gave the same verdicts.
Run: ``python benchmarks/bench_parallel.py [--repeat 3] [--workers N] [--backend NAME]``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from suite_run import run_suite


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--backend", default="torch")
    args = parser.parse_args()
    parallel = f"{args.workers} workers"
    modes = {
        "in-process": ["--no-isolate"],
        "1 worker": ["--workers", "1"],
        parallel: ["--workers", str(args.workers)],
    }
    times: dict[str, list[float]] = {mode: [] for mode in modes}
    verdicts: dict[str, list[dict]] = {mode: [] for mode in modes}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeat):
            for k, (mode, extra) in enumerate(modes.items()):
                run = run_suite(args.backend, Path(tmp) / f"{k}-{i}", *extra)
                times[mode].append(run.seconds)
                verdicts[mode].append(run.verdicts())
                print(
                    f"{mode:<11} run {i + 1}: {run.seconds:6.1f} s, exit {run.exit_code}",
                    flush=True,
                )
    median = {mode: statistics.median(ts) for mode, ts in times.items()}
    for mode, value in median.items():
        print(f"{mode:<11} median {value:6.1f} s")
    for mode in ("in-process", "1 worker"):
        print(f"speed-up of {parallel} over {mode}: {median[mode] / median[parallel]:.2f}x")
    every = [v for found in verdicts.values() for v in found]
    print("same verdicts in every run:", all(v == every[0] for v in every))


if __name__ == "__main__":
    main()
