"""What isolation costs: the whole ``ci`` profile against torch, isolated and in-process.

Runs the command as a user would (a child process each time, a fresh report folder),
``--repeat`` times per mode, alternating the modes so that machine load falls on both
alike, and prints each wall time, the median per mode, the ratio, and whether the
verdicts agree. Run: ``python benchmarks/bench_isolation.py [--repeat 3] [--workers N]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODES = {"in-process": ["--no-isolate"], "isolated": []}


def run_once(extra: list[str], report: Path) -> tuple[float, int, dict]:
    argv = [sys.executable, "-m", "conformance.cli", "--backend", "torch", "--profile", "ci"]
    argv += ["--quiet", "--report-dir", str(report), *extra]
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    doc = json.loads((report / "results.json").read_text())
    verdicts = {c["id"]: c["verdicts"] for c in doc["claims"]}
    return seconds, proc.returncode, verdicts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()
    if args.workers:
        MODES["isolated"] = ["--workers", str(args.workers)]
    times: dict[str, list[float]] = {mode: [] for mode in MODES}
    verdicts: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeat):
            for mode, extra in MODES.items():
                seconds, code, verdicts[mode] = run_once(extra, Path(tmp) / f"{mode}-{i}")
                times[mode].append(seconds)
                print(f"{mode:<11} run {i + 1}: {seconds:6.1f} s, exit {code}", flush=True)
    median = {mode: statistics.median(ts) for mode, ts in times.items()}
    for mode, value in median.items():
        print(f"{mode:<11} median {value:6.1f} s")
    print(f"isolated / in-process: {median['isolated'] / median['in-process']:.2f}")
    print("verdicts agree:", verdicts["isolated"] == verdicts["in-process"])


if __name__ == "__main__":
    main()
