"""Verdicts per claim and dtype, the terminal table, and the JSON report."""

from __future__ import annotations

import json
import platform
import textwrap
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from conformance import render
from conformance.specs import Claim
from conformance.verdicts import UNSUPPORTED

SCHEMA_VERSION = 1
# A claim's verdict is its worst test's: the first of these that any of its tests got.
# "partial": some checks passed and the others were unsupported by the backend.
PRECEDENCE = ("failed", "error", "xpassed", "xfailed", "unsupported", "skipped", "passed")
FAILING = frozenset({"failed", "error", "xpassed"})


@dataclass
class TestResult:
    nodeid: str
    claim: str
    dtype: str
    verdict: str
    message: str = ""
    repro: str = ""
    seconds: float = 0.0
    curves: list[dict[str, Any]] = field(default_factory=list)


def _skip_reason(report: Any) -> str:
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    return reason.removeprefix("Skipped: ")


def verdict_of(report: Any) -> tuple[str, str] | None:
    """(verdict, message) of one phase's report, or None when the phase says nothing."""
    if report.skipped:
        if hasattr(report, "wasxfail"):
            return "xfailed", str(report.wasxfail)
        reason = _skip_reason(report)
        return ("unsupported" if reason.startswith(UNSUPPORTED) else "skipped"), reason
    if report.failed and str(report.longrepr).startswith("[XPASS(strict)]"):
        return "xpassed", f"expected to fail, but passed: {report.longrepr}"
    if report.failed:
        crash = getattr(report.longrepr, "reprcrash", None)
        message = crash.message if crash is not None else report.longreprtext
        return ("failed" if report.when == "call" else "error"), message
    if report.when == "call":
        return ("xpassed", str(report.wasxfail)) if hasattr(report, "wasxfail") else ("passed", "")
    return None


class Results:
    """Every claim-carrying test's outcome in one run."""

    def __init__(self) -> None:
        self.tests: dict[str, TestResult] = {}
        self.exit_status: int | None = None

    def add(self, report: Any) -> None:
        props = dict(report.user_properties)
        outcome = verdict_of(report)
        if outcome is None:
            return
        verdict, message = outcome
        test = self.tests.setdefault(
            report.nodeid, TestResult(report.nodeid, props["claim"], props["dtype"], verdict)
        )
        if PRECEDENCE.index(verdict) <= PRECEDENCE.index(test.verdict):
            test.verdict, test.message = verdict, message
            test.repro = render.repro_of(message)
        test.seconds = float(props.get("seconds", test.seconds))
        test.curves = [v for k, v in report.user_properties if k == "curve"] or test.curves

    def finish(self, exit_status: int) -> None:
        self.exit_status = int(exit_status)

    @property
    def ran_any(self) -> bool:
        return bool(self.tests)

    def verdicts(self) -> dict[tuple[str, str], str]:
        """The verdict per (claim id, dtype)."""
        grouped: dict[tuple[str, str], list[str]] = defaultdict(list)
        for test in self.tests.values():
            grouped[test.claim, test.dtype].append(test.verdict)
        out = {}
        for key, verdicts in grouped.items():
            worst = min(verdicts, key=PRECEDENCE.index)
            mixed = worst == "unsupported" and "passed" in verdicts
            out[key] = "partial" if mixed else worst
        return out

    def failed(self) -> bool:
        return any(t.verdict in FAILING for t in self.tests.values())


def _dtypes(results: Results, backend: Any) -> list[str]:
    seen = {t.dtype for t in results.tests.values()}
    return [d for d in getattr(backend, "dtypes", ()) if d in seen] or sorted(seen)


def verdict_table(results: Results, claims: dict[str, Claim], backend: Any) -> list[str]:
    """The terminal table: one row per claim of the specs, one column per dtype."""
    dtypes = _dtypes(results, backend)
    verdicts = results.verdicts()
    width = 54
    head = f"{'claim':<6} {'statement':<{width}} " + " ".join(f"{d:<12}" for d in dtypes)
    lines = [f"backend: {getattr(backend, 'name', '?')}", head, "-" * len(head)]
    for claim in claims.values():
        statement = textwrap.shorten(claim.statement, width=width, placeholder="...")
        if claim.informational:
            cells = "informational (not testable: see the spec's reason)"
        else:
            cells = " ".join(f"{verdicts.get((claim.id, d), 'not run'):<12}" for d in dtypes)
        lines.append(f"{claim.id:<6} {statement:<{width}} {cells}".rstrip())
    counts: dict[str, int] = defaultdict(int)
    for verdict in verdicts.values():
        counts[verdict] += 1
    lines.append("-" * len(head))
    lines.append("claim x dtype: " + ", ".join(f"{n} {v}" for v, n in sorted(counts.items())))
    return lines


def to_json(results: Results, claims: dict[str, Claim], backend: Any, profile: str) -> dict:
    """The machine-readable report (schema: docs/report-schema.json)."""
    verdicts = results.verdicts()
    dtypes = _dtypes(results, backend)
    by_claim: dict[str, list[TestResult]] = defaultdict(list)
    for test in results.tests.values():
        by_claim[test.claim].append(test)
    return {
        "schema_version": SCHEMA_VERSION,
        "backend": {
            "name": getattr(backend, "name", "?"),
            "capabilities": sorted(getattr(backend, "capabilities", ())),
            "dtypes": list(getattr(backend, "dtypes", ())),
            "versions": dict(backend.versions()) if hasattr(backend, "versions") else {},
        },
        "python": platform.python_version(),
        "profile": profile,
        "exit_status": results.exit_status,
        "seconds": round(sum(t.seconds for t in results.tests.values()), 3),
        "claims": [
            {
                "id": c.id,
                "section": c.section,
                "kind": c.kind,
                "origin": c.origin,
                "statement": c.statement,
                "verdicts": {}
                if c.informational
                else {d: verdicts.get((c.id, d), "not run") for d in dtypes},
                "tests": [asdict(t) for t in by_claim.get(c.id, [])],
            }
            for c in claims.values()
        ],
    }


def write_reports(directory: Path, state: Any, claims: dict[str, Claim]) -> None:
    """Write the run's reports under ``directory`` and nowhere else.

    results.json (the data; everything else is rendered from it), summary.md,
    report.html, and each loss curve as data (and PNG, with matplotlib) in curves/.
    """
    directory.mkdir(parents=True, exist_ok=True)
    doc = to_json(state.results, claims, state.backend, state.profile)
    (directory / "results.json").write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    (directory / "summary.md").write_text(render.markdown(doc), encoding="utf-8")
    (directory / "report.html").write_text(render.html_page(doc), encoding="utf-8")
    curves = [
        {"claim": c["id"], "dtype": t["dtype"], "test": t["nodeid"], **curve}
        for c in doc["claims"]
        for t in c["tests"]
        for curve in t["curves"]
    ]
    if curves:
        (directory / "curves").mkdir(exist_ok=True)
        (directory / "curves" / "curves.json").write_text(json.dumps(curves), encoding="utf-8")
        render.write_png_curves(doc, directory / "curves")
