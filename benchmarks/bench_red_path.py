"""Time to a red verdict: each public mutant's whole ``ci`` run against the passing torch run.

A CI gate should be fastest when it fails. Runs the command as a user would (isolated, the
default shrink budget) for torch and for every mutant of tests/mutants.py, prints each
wall time, its ratio to torch's, and the claims that failed. With ``--compare`` it reruns
each mutant with Hypothesis's own five-minute shrinking limit and checks that the same
claims fail (the budget changes the time, never the verdicts).
Run: ``python benchmarks/bench_red_path.py [--compare] [--mutants NAME,NAME]``.
"""

from __future__ import annotations

import argparse
import inspect
import sys
import tempfile
from pathlib import Path

from suite_run import ROOT, run_suite

sys.path.insert(0, str(ROOT))

from conformance.backends.torch_backend import TorchBackend  # noqa: E402
from tests import mutants  # noqa: E402


def public_mutants() -> list[str]:
    return [
        f"tests.mutants:{name}"
        for name, obj in inspect.getmembers(mutants, inspect.isclass)
        if issubclass(obj, TorchBackend) and obj.__module__ == mutants.__name__
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compare", action="store_true")
    parser.add_argument("--mutants", default=None, help="comma-separated class names")
    args = parser.parse_args()
    chosen = public_mutants()
    if args.mutants:
        chosen = [m for m in chosen if m.split(":")[1] in args.mutants.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        base = run_suite("torch", Path(tmp) / "torch").seconds
        print(f"{'torch (passing)':<48} {base:6.1f} s", flush=True)
        for mutant in chosen:
            red = run_suite(mutant, Path(tmp) / mutant)
            seconds, failed = red.seconds, red.failed()
            claims = ",".join(sorted({c for c, _ in failed}))
            line = f"{mutant:<48} {seconds:6.1f} s  {seconds / base:4.2f}x  failed: {claims}"
            if args.compare:
                full = run_suite(mutant, Path(tmp) / f"{mutant}-full", "--shrink-budget", "300")
                unbudgeted = full.failed()
                line += f"  same verdicts without the budget: {failed == unbudgeted}"
            print(line, flush=True)


if __name__ == "__main__":
    main()
