"""``autograd-conformance-matrix``: run every installed backend, write claims x backends.

Each backend runs in its own process (engines set process-wide state, such as jax's
float64 switch), with the ``ci`` profile, so the table is the same on every run. The
table goes between marker comments in README.md, replacing what was there.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from conformance import specs
from conformance.engine.registry import BUILTIN, load_backend
from conformance.errors import ConfigError

MATRIX_MARKERS = ("<!-- matrix:start -->", "<!-- matrix:end -->")
CLAIMS_MARKERS = ("<!-- claims:start -->", "<!-- claims:end -->")


def claims_table(claims: dict[str, specs.Claim]) -> str:
    """The README's claim table, straight from the specs."""
    rows = ["| id | section | claim | needs | input tiers |", "|---|---|---|---|---|"]
    for c in claims.values():
        text = c.statement + (f" *Informational: {c.reason}*" if c.informational else "")
        needs = ", ".join(c.requires) or "gradients only"
        tiers = ", ".join(c.tiers) or "-"
        rows.append(f"| {c.id} | {c.section} | {text.replace('|', '/')} | {needs} | {tiers} |")
    return "\n".join(rows)


def _cell(verdicts: dict[str, str]) -> str:
    values = set(verdicts.values())
    if len(values) == 1:
        return values.pop()
    return " / ".join(f"{d}: {v}" for d, v in verdicts.items())


def matrix_table(reports: dict[str, dict[str, Any]], claims: dict[str, specs.Claim]) -> str:
    """Claims x backends, with each expected failure's and unsupported check's reason."""
    names = list(reports)
    rows = ["| claim | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    notes: list[str] = []
    by_claim = {n: {c["id"]: c for c in reports[n]["claims"]} for n in names}
    for claim in claims.values():
        if claim.informational:
            rows.append(f"| {claim.id} | " + " | ".join("informational" for _ in names) + " |")
            continue
        cells = []
        for name in names:
            entry = by_claim[name].get(claim.id, {"verdicts": {}, "tests": []})
            cell = _cell(entry["verdicts"]) if entry["verdicts"] else "not run"
            reasons = sorted(
                {t["message"] for t in entry["tests"] if t["verdict"] in ("xfailed", "unsupported")}
            )
            for reason in reasons:
                notes.append(f"{name}, {claim.id}: {reason}")
                cell += f" [{len(notes)}]"
            cells.append(cell)
        rows.append(f"| {claim.id} | " + " | ".join(cells) + " |")
    found = {k: v for n in names for k, v in reports[n]["backend"]["versions"].items()}
    versions = ", ".join(f"{k} {v}" for k, v in found.items() if k != "device")
    notes_md = "\n".join(f"{i}. {note}" for i, note in enumerate(notes, start=1))
    return ("\n".join(rows) + f"\n\nVersions: {versions}; profile ci.\n\n{notes_md}").strip()


def replace_between(text: str, markers: tuple[str, str], content: str) -> str:
    start, end = markers
    if start not in text or end not in text:
        raise ConfigError(f"README lacks the markers {start} ... {end}")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{content}\n{end}{tail}"


def run_backend(name: str, workdir: Path) -> dict[str, Any]:
    """Run the suite against one backend in a child process; its results.json."""
    out = workdir / name
    subprocess.run(
        [
            sys.executable,
            "-m",
            "conformance.run.cli",
            "--backend",
            name,
            "--profile",
            "ci",
            "--quiet",
            "--report-dir",
            str(out),
        ],
        check=False,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    path = out / "results.json"
    if not path.exists():
        raise ConfigError(f"backend {name!r} wrote no results; run it alone to see why")
    return json.loads(path.read_text(encoding="utf-8"))


def read_reports(folders: Sequence[Path]) -> dict[str, dict[str, Any]]:
    """Each folder's results.json by its backend's name, in the built-in backends' order."""
    reports = {}
    for folder in folders:
        path = folder / "results.json"
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"--reports: cannot read {path}: {exc}") from None
        if doc.get("profile") != "ci":
            raise ConfigError(f"--reports: {path} is a {doc.get('profile')!r} run, not ci")
        reports[doc["backend"]["name"]] = doc
    order = list(BUILTIN)
    return dict(sorted(reports.items(), key=lambda kv: (order + [kv[0]]).index(kv[0])))


def installed(names: Sequence[str]) -> list[str]:
    """The backends among ``names`` whose engine imports here."""
    found = []
    for name in names:
        try:
            load_backend(name)
        except ConfigError:
            continue
        found.append(name)
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="autograd-conformance-matrix", description=__doc__)
    parser.add_argument("--backends", default=",".join(BUILTIN), help="comma-separated names")
    parser.add_argument("--readme", default="README.md", help="file to update in place")
    parser.add_argument("--claims-only", action="store_true", help="only the claim table")
    parser.add_argument(
        "--reports",
        nargs="+",
        metavar="DIR",
        help="build the matrix from these report folders (ci-profile runs, e.g. each engine "
        "in its own environment) instead of running the installed backends",
    )
    args = parser.parse_args(argv)
    try:
        readme = Path(args.readme)
        text = readme.read_text(encoding="utf-8")
        claims = specs.all_claims()
        text = replace_between(text, CLAIMS_MARKERS, claims_table(claims))
        if args.reports:
            reports = read_reports([Path(d) for d in args.reports])
            text = replace_between(text, MATRIX_MARKERS, matrix_table(reports, claims))
        elif not args.claims_only:
            names = installed([n.strip() for n in args.backends.split(",") if n.strip()])
            if not names:
                raise ConfigError("no backend in --backends is installed")
            with tempfile.TemporaryDirectory() as tmp:
                reports = {n: run_backend(n, Path(tmp)) for n in names}
            text = replace_between(text, MATRIX_MARKERS, matrix_table(reports, claims))
    except (ConfigError, OSError) as exc:
        print(f"autograd-conformance-matrix: error: {exc}", file=sys.stderr)
        return 2
    readme.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
