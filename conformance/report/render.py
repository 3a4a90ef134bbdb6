"""Human-readable reports rendered from the JSON report: Markdown, HTML, loss plots."""

from __future__ import annotations

import html
import math
import re
from pathlib import Path
from typing import Any

from conformance.report import op_table
from conformance.report.sanitize import cap, escape_controls

COLOURS = ("#c0392b", "#2471a3", "#229954", "#7d3c98")
REPRO_MARK = "reproduce with:"


def repro_of(message: str) -> str:
    """The copy-paste reproduction a failure message ends with, if any."""
    _, found, rest = message.partition(REPRO_MARK)
    if not found:
        return ""
    lines = rest.strip("\n").splitlines()
    kept = []
    for line in lines:
        if line and not line.startswith("    "):
            break  # pytest's traceback follows the indented snippet
        kept.append(line[4:])
    return "\n".join(kept).strip()


def _failures(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (claim["id"], test)
        for claim in doc["claims"]
        for test in claim["tests"]
        if test["verdict"] in ("failed", "error", "xpassed")
    ]


# Characters that can start Markdown or HTML markup (GitHub flavour: tables, strikethrough,
# math, entities) when they appear in running text.
_MARKUP = re.compile(r"([\\`*_{}\[\]<>()#!|~&$])")


# The helpers below escape control characters as well: results.json holds them escaped
# already, but a document written by an older suite or by hand may not.


def md_text(text: object) -> str:
    """``text`` (from the engine or a spec) as inert Markdown text on one line."""
    return _MARKUP.sub(r"\\\1", " ".join(escape_controls(str(text)).split()))


def _backticks(text: str, at_least: int) -> str:
    """A backtick run longer than any in ``text``, so that ``text`` cannot close it."""
    longest = max(map(len, re.findall("`+", text)), default=0)
    return "`" * max(at_least, longest + 1)


def md_code(text: object) -> str:
    """``text`` as an inline code span on one line, whatever backticks it holds."""
    one_line = " ".join(escape_controls(str(text)).split())
    ticks = _backticks(one_line, 1)
    return f"{ticks} {one_line} {ticks}"  # the spaces let it start or end with a backtick


def md_block(text: str, info: str = "") -> list[str]:
    """``text`` as a fenced code block that no line of ``text`` can close."""
    text = escape_controls(text)
    fence = _backticks(text, 3)
    return [fence + info, text, fence]


def status_line(doc: dict[str, Any]) -> str:
    """How a run that did not complete ended: its status, and its error if any."""
    return doc["status"] + (f": {doc['error']}" if doc["error"] else "")


def _ops_lines(doc: dict[str, Any]) -> list[str]:
    """Which ops the engine has, and which each claim's checks exercised (plain text)."""
    backend = doc["backend"]
    out = []
    if backend.get("ops") is not None:
        missing = ", ".join(backend["missing_ops"]) or "none"
        out.append(f"Ops the engine has: {', '.join(backend['ops'])}; lacks: {missing}.")
    out += [f"{c['id']} covered: {', '.join(c['ops'])}." for c in doc["claims"] if c.get("ops")]
    return out


def _markdown_ops(doc: dict[str, Any]) -> list[str]:
    out = [""] + [md_text(line) for line in _ops_lines(doc)]
    table = doc.get("op_table") or []
    if table:
        shapes, body = op_table.grid(table)
        dtypes = "/".join(dict.fromkeys(r["dtype"] for r in table))
        out += ["", f"## Op diagnosis (OP-1), cells per dtype {md_text(dtypes)}", ""]
        out += [md_text(op_table.LEGEND), ""]
        out.append("| op | " + " | ".join(map(md_text, shapes)) + " |")
        out.append("|---|" + "---|" * len(shapes))
        out += ["| " + " | ".join(md_text(c or "-") for c in row) + " |" for row in body]
    return out


def _html(text: object) -> str:
    """``text`` as inert HTML text."""
    return html.escape(escape_controls(str(text)))


def _html_ops(doc: dict[str, Any]) -> list[str]:
    esc = _html
    out = [f"<p>{esc(line)}</p>" for line in _ops_lines(doc)]
    table = doc.get("op_table") or []
    if table:
        shapes, body = op_table.grid(table)
        dtypes = "/".join(dict.fromkeys(r["dtype"] for r in table))
        out += [f"<h2>Op diagnosis (OP-1), cells per dtype {esc(dtypes)}</h2>"]
        out += [f"<p>{esc(op_table.LEGEND)}</p>", '<table id="ops"><thead><tr><th>op</th>']
        out[-1] += "".join(f"<th>{esc(s)}</th>" for s in shapes) + "</tr></thead><tbody>"
        for row in body:
            kinds = ["failed" if "FAIL" in c else "passed" if c else "" for c in row[1:]]
            cells = "".join(
                f'<td class="{k}">{esc(c or "-")}</td>' for k, c in zip(kinds, row[1:], strict=True)
            )
            out.append(f"<tr><td>{esc(row[0])}</td>{cells}</tr>")
        out.append("</tbody></table>")
    return out


def markdown(doc: dict[str, Any]) -> str:
    """A summary for CI pages and pull requests.

    Engine- and spec-controlled text is escaped or fenced, so that a backend's name,
    versions or failure messages cannot inject markup into the page it is shown on.
    """
    backend = doc["backend"]
    dtypes = backend["dtypes"]
    out = [
        f"# Autograd conformance: {md_text(backend['name'])}",
        "",
        f"Profile {md_code(doc['profile'])}, exit status {md_text(doc['exit_status'])}, versions "
        + ", ".join(f"{md_text(k)} {md_text(v)}" for k, v in backend["versions"].items()),
        "",
        *([f"**Run {md_text(status_line(doc))}**", ""] if doc["status"] != "complete" else []),
        "| claim | statement | " + " | ".join(map(md_text, dtypes)) + " |",
        "|---|---|" + "---|" * len(dtypes),
    ]
    for claim in doc["claims"]:
        if claim["kind"] == "informational":
            cells = ["informational"] * len(dtypes)
        else:
            cells = [claim["verdicts"].get(d, "not run") for d in dtypes]
        row = [claim["id"], claim["statement"], *cells]
        out.append("| " + " | ".join(map(md_text, row)) + " |")
    out += _markdown_ops(doc)
    failures = _failures(doc)
    if failures:
        out += ["", "## Failures", ""]
        for claim_id, test in failures:
            out += [f"### {md_text(claim_id)}: {md_code(test['nodeid'])}", ""]
            out += [*md_block(cap(test["message"].strip(), 4000)), ""]
            snippet = test.get("repro") or repro_of(test["message"])
            if snippet:
                out += ["Reproduce:", "", *md_block(snippet, "python"), ""]
    return "\n".join(out) + "\n"


def svg_plot(name: str, series: dict[str, list[float]], width: int = 420, height: int = 240) -> str:
    """A loss-curve plot as inline SVG (log scale), so the page needs no plotting library."""
    pad = 36
    finite = [v for vals in series.values() for v in vals if math.isfinite(v) and v > 0]
    if not finite:
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" class="plot" width="{width}" height="40">'
            f'<text x="2" y="20" font-size="11">{html.escape(name)}: no finite positive values'
            " to plot</text></svg>"
        )
    lo, hi = math.log10(min(finite)), math.log10(max(finite))
    hi = hi if hi > lo else lo + 1
    longest = max(len(v) for v in series.values())

    def point(i: int, v: float) -> str:
        x = pad + (width - 2 * pad) * i / max(longest - 1, 1)
        y = height - pad - (height - 2 * pad) * (math.log10(v) - lo) / (hi - lo)
        return f"{x:.1f},{y:.1f}"

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="plot" width="{width}" height="{height}"'
        f' role="img" aria-label="{html.escape(name)}">',
        f'<rect x="{pad}" y="{pad // 2}" width="{width - 2 * pad}" height="{height - 1.5 * pad}"'
        ' fill="none" stroke="#999"/>',
        f'<text x="{pad}" y="12" font-size="11">{html.escape(name)} (log scale)</text>',
        f'<text x="2" y="{pad}" font-size="9">{10**hi:.3g}</text>',
        f'<text x="2" y="{height - pad}" font-size="9">{10**lo:.3g}</text>',
        f'<text x="{width - pad}" y="{height - 8}" font-size="9">{longest - 1}</text>',
    ]
    for k, (label, vals) in enumerate(series.items()):
        pts = " ".join(point(i, v) for i, v in enumerate(vals) if math.isfinite(v) and v > 0)
        colour = COLOURS[k % len(COLOURS)]
        dash = ' stroke-dasharray="4 3"' if k else ""
        parts.append(f'<polyline fill="none" stroke="{colour}"{dash} points="{pts}"/>')
        parts.append(
            f'<text x="{width - 2 * pad}" y="{pad + 12 * (k + 1)}" font-size="10" fill="{colour}">'
            f"{html.escape(label)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


_STYLE = """
body{font-family:sans-serif;margin:1.5em;max-width:1200px}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 6px;text-align:left}
.passed{background:#e8f6ec}.failed,.error,.xpassed{background:#fbe3e1}
.unsupported,.partial{background:#fdf3d8}.xfailed{background:#eee8f7}
pre{background:#f6f6f6;padding:6px;overflow-x:auto;font-size:12px}
"""
_SCRIPT = """
function show(kind){for(const r of document.querySelectorAll('#claims tbody tr')){
r.style.display=(kind==='all'||r.dataset.verdicts.split(' ').includes(kind))?'':'none'}}
"""


def html_page(doc: dict[str, Any]) -> str:
    """One self-contained page: claim table with filters, failures, loss curves."""
    backend = doc["backend"]
    dtypes = backend["dtypes"]
    esc = _html
    rows = []
    for claim in doc["claims"]:
        verdicts = (
            ["informational"] * len(dtypes)
            if claim["kind"] == "informational"
            else [claim["verdicts"].get(d, "not run") for d in dtypes]
        )
        cells = "".join(f'<td class="{v}">{v}</td>' for v in verdicts)
        rows.append(
            f'<tr data-verdicts="{" ".join(sorted(set(verdicts)))}"><td>{esc(claim["id"])}</td>'
            f"<td>{esc(claim['statement'])}</td>{cells}</tr>"
        )
    buttons = "".join(
        f"<button onclick=\"show('{k}')\">{k}</button> "
        for k in ("all", "failed", "unsupported", "xfailed", "passed")
    )
    failures = []
    for claim_id, test in _failures(doc):
        snippet = test.get("repro") or repro_of(test["message"])
        message = esc(cap(test["message"], 6000))
        failures.append(
            f"<h3>{esc(claim_id)}: {esc(test['nodeid'])}</h3><pre>{message}</pre>"
            + (f"<p>Reproduce:</p><pre>{esc(snippet)}</pre>" if snippet else "")
        )
    plots = [
        svg_plot(f"{curve['name']} [{test['dtype']}]", curve["series"])
        for claim in doc["claims"]
        for test in claim["tests"]
        for curve in test.get("curves", [])
    ]
    versions = ", ".join(f"{k} {v}" for k, v in backend["versions"].items())
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>Autograd conformance: {esc(backend['name'])}</title>",
            f"<style>{_STYLE}</style><script>{_SCRIPT}</script></head><body>",
            f"<h1>Autograd conformance: {esc(backend['name'])}</h1>",
            f"<p>Profile {esc(doc['profile'])}; exit status {doc['exit_status']};"
            f" {esc(versions)}</p>",
            *(
                [f"<p><b>Run {esc(status_line(doc))}</b></p>"]
                if doc["status"] != "complete"
                else []
            ),
            f"<p>Show: {buttons}</p>",
            '<table id="claims"><thead><tr><th>claim</th><th>statement</th>'
            + "".join(f"<th>{esc(d)}</th>" for d in dtypes)
            + "</tr></thead><tbody>",
            *rows,
            "</tbody></table>",
            *_html_ops(doc),
            f"<h2>Failures ({len(failures)})</h2>",
            *failures,
            f"<h2>Loss curves ({len(plots)})</h2>",
            '<div id="curves">',
            *plots,
            "</div></body></html>",
        ]
    )


def write_svg_curves(doc: dict[str, Any], directory: Path) -> list[Path]:
    """Each loss curve as a standalone SVG file, drawn as the page draws it (milliseconds
    for all of them: PNGs through matplotlib cost ~5 s at the end of every run)."""
    written: list[Path] = []
    for claim in doc["claims"]:
        for test in claim["tests"]:
            for i, curve in enumerate(test.get("curves", [])):
                path = directory / f"{claim['id']}-{test['dtype']}-{len(written)}-{i}.svg"
                plot = svg_plot(f"{curve['name']} [{test['dtype']}]", curve["series"])
                path.write_text(plot + "\n", encoding="utf-8")
                written.append(path)
    return written
