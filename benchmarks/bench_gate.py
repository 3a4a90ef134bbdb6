"""What the gate's guarantees cost: the ``ci`` run on torch against a baseline checkout,
then each piece on its own.

The whole run (supervised: probe, controller, workers) is timed with this checkout and
with ``--baseline`` (another checkout of the project, e.g. a git worktree of the commit
before the gate, run from its folder and put first on PYTHONPATH), alternating
``--repeat`` times so that machine load falls on both alike. Then, in this process:
the tamper snapshot (taken once per worker, before the engine loads) and its comparison
(once per check); and, as a child process, the probe (loading the engine and collecting
the checks, before the run).
Run: ``python benchmarks/bench_gate.py --baseline PATH [--repeat 2]``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from suite_run import ROOT, run_suite

from conformance.run import tamper
from conformance.run.settings import make


def _timed(action: object, times: int) -> float:
    """Seconds per call of ``action()``, over ``times`` calls."""
    start = time.perf_counter()
    for _ in range(times):
        action()  # type: ignore[operator]
    return (time.perf_counter() - start) / times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, required=True)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    times: dict[str, list[float]] = {"baseline": [], "this checkout": []}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeat):
            base = args.baseline.resolve()
            for mode, env, cwd in (
                ("baseline", {"PYTHONPATH": str(base)}, base),
                ("this checkout", {}, ROOT),
            ):
                run = run_suite("torch", Path(tmp) / f"{mode}-{i}", env=env, cwd=cwd)
                times[mode].append(run.seconds)
                print(f"{mode:<13} run {i + 1}: {run.seconds:6.1f} s, exit {run.exit_code}")
        median = {mode: statistics.median(ts) for mode, ts in times.items()}
        ratio = median["this checkout"] / median["baseline"]
        before, after = median["baseline"], median["this checkout"]
        print(f"median: {before:.1f} s -> {after:.1f} s ({ratio:.2f}x)")

        snapshot = tamper.Snapshot()
        print(f"tamper snapshot: {_timed(tamper.Snapshot, 5) * 1e3:.1f} ms per worker")
        print(f"tamper check: {_timed(snapshot.changed, 50) * 1e3:.2f} ms per check")

        settings = Path(tmp) / "settings.json"
        settings.write_text(make("torch", profile="ci").to_json())
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "conformance.run.probe", str(settings), f"{tmp}/probe.json"],
            check=True,
        )
        print(f"probe (load torch, collect): {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
