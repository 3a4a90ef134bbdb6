"""Whether two runs gave the same verdicts: ``python scripts/same_verdicts.py A B``.

A and B are report folders (or their ``results.json``). Compares every claim's verdict per
dtype and every test's verdict; prints each difference and exits 1 if there is one, 0 if
none. Used by CI (the wheel's verdicts against the editable install's) and to check that a
refactoring changed no verdict.
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
    if len(argv) != 2:
        print(__doc__.splitlines()[0], file=sys.stderr)
        return 2
    a, b = (_load(p) for p in argv)
    differences = [
        f"{key}: {a.get(key, 'absent')} | {b.get(key, 'absent')}"
        for key in sorted(set(a) | set(b))
        if a.get(key) != b.get(key)
    ]
    print("\n".join(differences) or f"same verdicts ({len(a)} claims and tests)")
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
