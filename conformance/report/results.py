"""Verdicts per claim and dtype, the terminal table, and the JSON report."""

from __future__ import annotations

import json
import os
import platform
import shutil
import tempfile
import textwrap
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from conformance.engine.ops import ALL_OPS
from conformance.errors import ConfigError
from conformance.oracles.verdicts import UNSUPPORTED
from conformance.report import op_table, render, sanitize
from conformance.specs import Claim

SCHEMA_VERSION = 2
# the suite's exit codes: all passed, a claim failed, usage or configuration error, SIGINT
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
# pytest's exit status -> the run's status
_STATUS = {2: "interrupted", 3: "internal-error", 4: "usage-error", 5: "usage-error"}
NOTHING_SELECTED = "no check was selected (the claims and filters given select none)"
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
    ops: list[str] = field(default_factory=list)  # the ops the check's examples exercised
    op_table: list[dict[str, str]] = field(default_factory=list)  # OP-1's rows


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
        # a plain-text longrepr (a dead worker's cause) is the message as it is
        text = report.longrepr if isinstance(report.longrepr, str) else report.longreprtext
        message = crash.message if crash is not None else text
        return ("failed" if report.when == "call" else "error"), message
    if report.when == "call":
        return ("xpassed", str(report.wasxfail)) if hasattr(report, "wasxfail") else ("passed", "")
    return None


def bound_report(report: Any, output_cap: int) -> None:
    """Cap and escape, in place, what pytest itself shows of a check (on the terminal, in
    junit.xml): each captured output section to ``output_cap`` bytes, and its failure's
    text (the skip reason, the exception, each entry of its traceback) to a message's."""
    report.sections = [(name, sanitize.clean(text, output_cap)) for name, text in report.sections]
    longrepr = report.longrepr
    if isinstance(longrepr, str):
        report.longrepr = sanitize.clean(longrepr)
    elif isinstance(longrepr, tuple):  # a skip: (path, line, reason)
        path, line, reason = longrepr
        report.longrepr = (path, line, sanitize.clean(reason))
    elif longrepr is not None:
        # pytest's exception repr: a traceback and a crash line per exception of the chain
        chain = getattr(longrepr, "chain", None) or [
            (longrepr.reprtraceback, longrepr.reprcrash, "")
        ]
        for traceback, crash, _ in chain:
            if crash is not None:
                crash.message = sanitize.clean(crash.message)
            for entry in traceback.reprentries:
                _bound_entry(entry)


def _bound_entry(entry: Any) -> None:
    if entry.style == "native":  # the whole traceback in one entry, its lines ending in "\n"
        entry.lines = [sanitize.clean("".join(entry.lines))]
        return
    entry.lines = sanitize.clean("\n".join(entry.lines)).split("\n")
    if entry.reprfileloc is not None:  # names the exception's type, which the engine names
        entry.reprfileloc.message = sanitize.clean(entry.reprfileloc.message)


def exit_code(pytest_status: int, failed: bool) -> int:
    """The suite's exit code for a pytest exit status and whether a claim failed."""
    if pytest_status in (0, 1):
        return EXIT_FAILED if pytest_status or failed else EXIT_OK
    return {2: EXIT_INTERRUPTED, 4: EXIT_USAGE, 5: EXIT_USAGE}.get(pytest_status, EXIT_FAILED)


class Results:
    """Every claim-carrying test's outcome in one run."""

    def __init__(self) -> None:
        self.tests: dict[str, TestResult] = {}
        self._identity: dict[str, tuple[str, str]] = {}
        self.exit_status: int | None = None
        self.status = "complete"
        self.error = ""
        self.selected: list[str] | None = None
        self.available_ops: list[str] | None = None  # once a check has asked the engine

    def add(self, report: Any) -> None:
        props = dict(report.user_properties)
        self._identity[report.nodeid] = (props["claim"], props["dtype"])
        outcome = verdict_of(report)
        if outcome is None:
            return
        verdict, message = outcome
        if verdict == "passed" and props.get("note"):
            message = str(props["note"])  # e.g. how many examples the engine could not run
        if verdict == "failed" and props.get("shrinking"):
            message += f"\n{props['shrinking']}"
        # the test id holds the backend's name; the rest can hold the engine's own text
        nodeid = sanitize.clean(report.nodeid)
        test = self.tests.setdefault(
            report.nodeid, TestResult(nodeid, props["claim"], props["dtype"], verdict)
        )
        if PRECEDENCE.index(verdict) <= PRECEDENCE.index(test.verdict):
            test.verdict, test.message = verdict, sanitize.clean(message)
            # the message's own snippet (found before the cap can cut it), else the one the
            # check named for the engine's error
            named = textwrap.dedent(str(props.get("repro", ""))).strip()
            test.repro = sanitize.clean(render.repro_of(message) or named)
        test.seconds = float(props.get("seconds", test.seconds))
        test.curves = [v for k, v in report.user_properties if k == "curve"] or test.curves
        test.ops = list(props.get("ops", test.ops))
        test.op_table = list(props.get("op_table", test.op_table))
        if "available_ops" in props:
            self.available_ops = list(props["available_ops"])

    def identity(self, nodeid: str) -> tuple[str, str]:
        """(claim, dtype) of a check seen in this run, else as its test id spells them."""
        if nodeid in self._identity:
            return self._identity[nodeid]
        params = nodeid.rpartition("[")[2].rstrip("]").split("-")
        claim = "-".join(params[:2]) if len(params) >= 4 else "?"
        return claim, params[-1] if len(params) >= 4 else "-"

    def finish(self, pytest_status: int, selected: list[str] | None, error: str = "") -> None:
        self.status = _STATUS.get(int(pytest_status), "complete")
        self.exit_status = exit_code(int(pytest_status), self.failed())
        self.selected = selected
        self.error = error or (NOTHING_SELECTED if pytest_status == 5 else "")
        op_table.annotate(self.tests.values())

    def abort(self, error: str) -> None:
        """The run ended with checks it never ran (not by an interrupt): a failed run."""
        self.status, self.error, self.exit_status = "aborted", error, EXIT_FAILED

    def unrun_label(self, claim_id: str) -> str:
        """What a claim with no verdict is called: filtered out, or never reached."""
        chosen = self.selected is None or claim_id in self.selected
        return "not reached" if chosen and self.status != "complete" else "not run"

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
    # a run cut short lists every dtype: its unreached checks are part of the story
    every = results.status != "complete"
    return [d for d in getattr(backend, "dtypes", ()) if every or d in seen] or sorted(seen)


def verdict_table(results: Results, claims: dict[str, Claim], backend: Any) -> list[str]:
    """The terminal table: one row per claim of the specs, one column per dtype."""
    dtypes = _dtypes(results, backend)
    verdicts = results.verdicts()
    width = 54
    head = f"{'claim':<6} {'statement':<{width}} " + " ".join(f"{d:<12}" for d in dtypes)
    lines = [f"backend: {sanitize.clean(getattr(backend, 'name', '?'))}", head, "-" * len(head)]
    for claim in claims.values():
        statement = textwrap.shorten(claim.statement, width=width, placeholder="...")
        if claim.informational:
            cells = "informational (not testable: see the spec's reason)"
        else:
            unrun = results.unrun_label(claim.id)
            cells = " ".join(f"{verdicts.get((claim.id, d), unrun):<12}" for d in dtypes)
        lines.append(f"{claim.id:<6} {statement:<{width}} {cells}".rstrip())
    counts: dict[str, int] = defaultdict(int)
    for verdict in verdicts.values():
        counts[verdict] += 1
    lines.append("-" * len(head))
    lines.append("claim x dtype: " + ", ".join(f"{n} {v}" for v, n in sorted(counts.items())))
    if results.status != "complete":
        error = f": {sanitize.clean(results.error)}" if results.error else ""
        lines.append(f"run {results.status}{error}")
    table = op_table.rows(results.tests.values())
    if table:
        lines += ["", *op_table.lines(table)]
    return lines


def to_json(results: Results, claims: dict[str, Claim], backend: Any, profile: str) -> dict:
    """The machine-readable report (schema: docs/report-schema.json)."""
    verdicts = results.verdicts()
    dtypes = _dtypes(results, backend)
    by_claim: dict[str, list[TestResult]] = defaultdict(list)
    for test in results.tests.values():
        by_claim[test.claim].append(test)
    versions = dict(backend.versions()) if hasattr(backend, "versions") else {}
    return {
        "schema_version": SCHEMA_VERSION,
        "backend": {
            "name": sanitize.clean(getattr(backend, "name", "?")),
            "capabilities": sorted(getattr(backend, "capabilities", ())),
            "dtypes": list(getattr(backend, "dtypes", ())),
            "versions": {sanitize.clean(k): sanitize.clean(v) for k, v in versions.items()},
            "ops": results.available_ops,
            "missing_ops": None
            if results.available_ops is None
            else [op for op in ALL_OPS if op not in results.available_ops],
        },
        "python": platform.python_version(),
        "profile": profile,
        "status": results.status,
        "error": sanitize.clean(results.error),  # an adapter's or a dead worker's words
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
                else {d: verdicts.get((c.id, d), results.unrun_label(c.id)) for d in dtypes},
                "ops": [op for op in ALL_OPS if any(op in t.ops for t in by_claim.get(c.id, []))],
                "tests": [asdict(t) for t in by_claim.get(c.id, [])],
            }
            for c in claims.values()
        ],
        "op_table": op_table.rows(results.tests.values()),
    }


def verdict_map(doc: dict[str, Any]) -> dict[str, Any]:
    """A ``results.json`` document's verdicts: per claim by dtype, and per test (named by
    its module and parametrized name, not by where the suite was installed)."""
    claims = doc["claims"]
    return {c["id"]: c["verdicts"] for c in claims} | {
        t["nodeid"].rsplit("/", 1)[-1]: t["verdict"] for c in claims for t in c["tests"]
    }


def staging_dir(final: Path) -> Path:
    """A fresh hidden folder beside ``final`` that this run writes into, moved into place
    by :func:`publish` at the end; :class:`ConfigError` if ``final`` cannot be written."""
    if final.exists() and not final.is_dir():
        raise ConfigError(f"--report-dir {final}: exists and is not a folder; give a folder")
    parent = final.absolute().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".partial", dir=parent))
        mask = os.umask(0)
        os.umask(mask)
        staging.chmod(0o777 & ~mask)  # a report folder, not a private temporary one
        return staging
    except OSError as exc:
        raise ConfigError(
            f"--report-dir {final}: cannot write there ({exc.strerror or exc});"
            " give a writable folder"
        ) from None


def publish(staging: Path, final: Path) -> None:
    """Replace ``final`` by ``staging`` as a whole: the folder holds exactly one run."""
    old = staging.with_suffix(".old")
    if final.exists():
        final.rename(old)
    staging.rename(final)
    shutil.rmtree(old, ignore_errors=True)


def write_status_report(
    final: Path, results: Results, backend_name: str, profile: str, claims: dict[str, Claim]
) -> None:
    """The report of a run that ended before any check (usage error, interrupted)."""
    staging = staging_dir(final)
    doc = to_json(results, claims, _NamedOnly(backend_name), profile)
    (staging / "results.json").write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    (staging / "summary.md").write_text(render.markdown(doc), encoding="utf-8")
    publish(staging, final)


@dataclass
class _NamedOnly:
    """A backend known by name only: it could not be loaded, or was never reached."""

    name: str


def write_reports(directory: Path, state: Any, claims: dict[str, Claim]) -> None:
    """Write the run's reports under ``directory`` and nowhere else.

    results.json (the data; everything else is rendered from it), summary.md,
    report.html, and each loss curve as data and as an SVG image in curves/.
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
        render.write_svg_curves(doc, directory / "curves")
