"""Whether two runs gave the same verdicts: ``python scripts/same_verdicts.py [--common] A B``.

A and B are report folders (or their ``results.json``). Compares every claim's verdict per
dtype and every test's verdict; prints each difference and exits 1 if there is one, 0 if
none. ``--common``: only the tests both runs have (claims whose tests changed are then
compared test by test only), for a run of a suite that has grown since. Used by CI (the
wheel's verdicts against the editable install's) and to check that a refactoring changed
no verdict.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from conformance.report.results import verdict_map


def _load(path: str) -> dict[str, object]:
    file = Path(path)
    return verdict_map(json.loads((file / "results.json" if file.is_dir() else file).read_text()))


def main(argv: list[str]) -> int:
    common = "--common" in argv
    argv = [a for a in argv if a != "--common"]
    if len(argv) != 2:
        print(__doc__.splitlines()[0], file=sys.stderr)
        return 2
    a, b = (_load(p) for p in argv)
    if common:
        tests = set(a) & set(b)
        grown = {
            k.split("[")[1].split("-")[0] + "-" + k.split("[")[1].split("-")[1]
            for k in set(a) ^ set(b)
            if "[" in k
        }
        a = {k: v for k, v in a.items() if k in tests and k not in grown}
        b = {k: v for k, v in b.items() if k in tests and k not in grown}
    differences = [
        f"{key}: {a.get(key, 'absent')} | {b.get(key, 'absent')}"
        for key in sorted(set(a) | set(b))
        if a.get(key) != b.get(key)
    ]
    print("\n".join(differences) or f"same verdicts ({len(a)} claims and tests)")
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
