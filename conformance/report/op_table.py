"""The op table: OP-1's rows (op x shape class x dtype) as every report shows them."""

from __future__ import annotations

from typing import Any

from conformance.engine.ops import ALL_OPS

CLAIM = "OP-1"
_MARK = {"passed": "ok", "failed": "FAIL", "unsupported": "n/a"}
LEGEND = "ok: the VJP matches; FAIL: it does not (or the op raised); n/a: the engine lacks the op"


def rows(tests: Any) -> list[dict[str, str]]:
    """Every row OP-1's checks recorded, in protocol op order."""
    found = [row for test in tests for row in getattr(test, "op_table", [])]
    return sorted(found, key=lambda r: ALL_OPS.index(r["op"]) if r["op"] in ALL_OPS else 99)


def failing(table: list[dict[str, str]], dtype: str) -> list[str]:
    """The rows failing in ``dtype``, as "op (shape class)"."""
    return [
        f"{r['op']} ({r['shape']})"
        for r in table
        if r["dtype"] == dtype and r["verdict"] == "failed"
    ]


def annotate(tests: Any) -> None:
    """Add to each failing check of another claim the OP-1 rows failing in its dtype, so
    a property's one counterexample does not hide the other broken ops."""
    table = rows(tests)
    for test in tests:
        bad = failing(table, test.dtype)
        if test.claim != CLAIM and test.verdict == "failed" and bad:
            test.message += f"\n\nOP-1 op diagnosis, rows failing in {test.dtype}: {', '.join(bad)}"


def grid(table: list[dict[str, str]]) -> tuple[list[str], list[list[str]]]:
    """(shape classes, one row per op: the op then one cell per shape class); a cell holds
    each dtype's mark, e.g. "ok/FAIL", or "" where the op does not take the shape."""
    shapes = list(dict.fromkeys(r["shape"] for r in table))
    dtypes = list(dict.fromkeys(r["dtype"] for r in table))
    marks = {
        (r["op"], r["shape"], r["dtype"]): _MARK.get(r["verdict"], r["verdict"]) for r in table
    }
    out = []
    for op in dict.fromkeys(r["op"] for r in table):
        cells = [
            "/".join(marks[op, s, d] for d in dtypes) if (op, s, dtypes[0]) in marks else ""
            for s in shapes
        ]
        out.append([op, *cells])
    return shapes, out


def lines(table: list[dict[str, str]]) -> list[str]:
    """The op table for the terminal."""
    if not table:
        return []
    shapes, body = grid(table)
    dtypes = "/".join(dict.fromkeys(r["dtype"] for r in table))
    widths = [max(len(s), *(len(row[i + 1]) for row in body)) for i, s in enumerate(shapes)]
    first = max(8, *(len(row[0]) for row in body))
    head = f"{'op':<{first}} " + " ".join(f"{s:<{w}}" for s, w in zip(shapes, widths, strict=True))
    out = [f"op diagnosis (OP-1), cells per dtype {dtypes}; {LEGEND}", head, "-" * len(head)]
    for row in body:
        cells = (f"{c or '-':<{w}}" for c, w in zip(row[1:], widths, strict=True))
        out.append(f"{row[0]:<{first}} " + " ".join(cells).rstrip())
    return out
