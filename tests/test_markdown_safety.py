"""summary.md: engine-controlled text cannot break out of its fence or inject markup."""

from __future__ import annotations

import re
from typing import Any

from conformance.report.render import markdown

OPENING_FENCE = re.compile(r" {0,3}(`{3,})[^`]*")


def _document(name: str, versions: dict[str, str], nodeid: str, message: str) -> dict[str, Any]:
    """A results document (the shape of reporting.to_json) with one failed GR-1 test."""
    test = {
        "nodeid": nodeid,
        "claim": "GR-1",
        "dtype": "float32",
        "verdict": "failed",
        "message": message,
        "repro": "",
        "seconds": 0.0,
        "curves": [],
    }
    claim = {
        "id": "GR-1",
        "section": "§2.2 Derivatives through backward",
        "kind": "checked",
        "origin": "seed",
        "statement": "dy/dm = 4 and dy/dn = -6",
        "verdicts": {"float32": "failed"},
        "tests": [test],
    }
    backend = {"name": name, "capabilities": [], "dtypes": ["float32"], "versions": versions}
    return {
        "schema_version": 2,
        "backend": backend,
        "python": "3.11.9",
        "profile": "ci",
        "status": "complete",
        "error": "",
        "exit_status": 1,
        "seconds": 0.0,
        "claims": [claim],
    }


def _fenced_blocks(text: str) -> list[str]:
    """The fenced code blocks' contents as CommonMark reads them: a block ends at the first
    line holding only backticks, at least as many as its opening fence has."""
    blocks, lines = [], iter(text.splitlines())
    for line in lines:
        opening = OPENING_FENCE.fullmatch(line)
        if opening:
            closing = re.compile(rf" {{0,3}}`{{{len(opening.group(1))},}} *")
            body = []
            for inner in lines:
                if closing.fullmatch(inner):
                    break
                body.append(inner)
            blocks.append("\n".join(body))
    return blocks


def test_a_failure_message_with_code_fences_stays_inside_its_own_block():
    """Backtick runs in a message or its snippet cannot close the fence around it."""
    message = (
        "stage: gradient\n```\n</code><script>alert(1)</script>\n````\n# Injected heading\n"
        "reproduce with:\n    print('```')\n"
    )
    text = markdown(_document("engine", {}, "test_x[GR-1-engine-float32]", message))
    assert _fenced_blocks(text) == [message.strip(), "print('```')"]


def test_a_hostile_backend_name_and_versions_are_escaped_as_plain_text():
    """Markup in the backend's name and versions is rendered as literal characters."""
    name = "<img src=x onerror=alert(1)> **pwn** [link](http://evil) | col"
    doc = _document(name, {"engine_x": "1.0 <b>&amp;</b>"}, "test_x", "failed")
    lines = markdown(doc).splitlines()
    assert lines[0] == (
        r"# Autograd conformance: \<img src=x onerror=alert\(1\)\> \*\*pwn\*\*"
        r" \[link\]\(http://evil\) \| col"
    )
    assert lines[2] == r"Profile ` ci `, exit status 1, versions engine\_x 1.0 \<b\>\&amp;\</b\>"


def test_a_node_id_with_backticks_stays_one_code_span():
    """A test id holding backticks (from the backend's name) is delimited by longer ones."""
    doc = _document("``evil``", {}, "test_x[GR-1-``evil``-float32]", "failed")
    assert "### GR-1: ``` test_x[GR-1-``evil``-float32] ```" in markdown(doc).splitlines()
