"""Bounds on what an engine puts in reports: each message capped, its control characters
escaped, in results.json, summary.md, report.html and what pytest itself shows."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from types import SimpleNamespace
from typing import Literal

import pytest

from conformance.report import sanitize
from conformance.report.render import html_page, markdown
from conformance.report.results import bound_report
from conformance.run.runner import EXIT_FAILED, run

from .noisy_engines import NOISE
from .test_markdown_safety import _document

CLASSES = {
    "C0, CR and ESC": [c for c in map(chr, range(0x20)) if c not in "\t\n"],
    "DEL": ["\x7f"],
    "C1": list(map(chr, range(0x80, 0xA0))),
    "bidi": [*"\u061c\u200e\u200f", *map(chr, range(0x202A, 0x202F)), *"\u2066\u2067\u2068\u2069"],
    "lone surrogates": ["\ud800", "\udcff", "\udfff"],
}
RAW = re.compile("[" + "".join(c for chars in CLASSES.values() for c in chars) + "]")
MB = 1024 * 1024


@pytest.mark.parametrize("kind", CLASSES)
def test_every_control_character_but_newline_and_tab_becomes_a_visible_escape(kind):
    """Each listed class is escaped as \\xNN or \\uNNNN; the escapes are plain ASCII."""
    text = "".join(CLASSES[kind])
    escaped = sanitize.escape_controls(text)
    assert not RAW.search(escaped) and escaped.isascii()
    assert re.fullmatch(r"(\\x[0-9a-f]{2}|\\u[0-9a-f]{4})+", escaped)


def test_escapes_name_the_character():
    """ESC, CR and U+202E read as \\x1b, \\x0d and \\u202e."""
    assert sanitize.escape_controls("a\x1b[2Jb\rc\u202ed") == "a\\x1b[2Jb\\x0dc\\u202ed"


def test_newline_tab_and_printable_text_are_kept():
    """Newlines, tabs, accents, CJK and emoji pass unchanged."""
    text = "line 1\n\tcafé 中文 🙂 \\x1b ~\n"
    assert sanitize.escape_controls(text) == text
    assert sanitize.escape_terminal(text) == text
    assert sanitize.clean(text) == text


def test_the_terminal_keeps_colour_sequences_and_escapes_every_other():
    """SGR (ESC [ digits/semicolons m) stays; cursor moves, titles, modes and bidi do not."""
    colours = "\x1b[31mred\x1b[0m \x1b[1;32mbold green\x1b[m"
    assert sanitize.escape_terminal(colours) == colours
    hostile = "\x1b[2J\x1b[1;1H\x1b[?25l\x1b]0;title\x07\x1bc\u202e"
    assert sanitize.escape_terminal(hostile) == sanitize.escape_controls(hostile)
    assert not RAW.search(sanitize.escape_terminal(colours + hostile).replace(colours, ""))


@pytest.mark.parametrize("char", ["a", "é", "中", "🙂", "\ud800"])
def test_a_cap_keeps_at_most_its_limit_and_never_splits_a_character(char):
    """At every limit, the kept head is a whole-character prefix, marker included within
    the limit, and the marker counts exactly the bytes that went."""
    text = char * 300
    size = len(text.encode("utf-8", "surrogatepass"))
    for limit in range(30, size + 1):
        out = sanitize.cap(text, limit)
        data = out.encode("utf-8", "surrogatepass")
        assert len(data) <= limit
        if limit == size:
            assert out == text
            continue
        head, cut = re.fullmatch(r"(.*)\n\.\.\. \[cut: (\d+) more bytes\]", out, re.S).groups()
        assert text.startswith(head) and set(head) <= {char}
        assert len(head.encode("utf-8", "surrogatepass")) + int(cut) == size


def test_a_clean_text_fits_its_limit_escapes_included_and_stays_as_it_is():
    """A long text dense with controls is cut so that its escapes fit the limit; cleaning
    the result again changes nothing; the marker counts the original's bytes."""
    text = (NOISE + "x" * 10) * 10_000
    out = sanitize.clean(text, 4096)
    assert len(out.encode()) <= 4096 and not RAW.search(out)
    assert sanitize.clean(out, 4096) == out
    shown, cut = re.fullmatch(r"(.*)\n\.\.\. \[cut: (\d+) more bytes\]", out, re.S).groups()
    kept = len(text.encode()) - int(cut)
    assert sanitize.escape_controls(text.encode()[:kept].decode()) == shown


def _failing_report(style: Literal["long", "short", "native"]) -> SimpleNamespace:
    """A failed phase's report as pytest makes it, its exception 1 MB of noise."""
    try:
        raise RuntimeError((NOISE + "y" * 100 + "\n") * 10_000)
    except RuntimeError:
        info = pytest.ExceptionInfo.from_current()
    return SimpleNamespace(
        sections=[("Captured stdout call", NOISE * 100_000)], longrepr=info.getrepr(style=style)
    )


@pytest.mark.parametrize("style", ["long", "short", "native"])
def test_what_pytest_shows_of_a_failure_is_capped_and_escaped(style):
    """bound_report leaves the traceback and crash line bounded and escaped, in every
    traceback style, and each captured output section within its own cap."""
    report = _failing_report(style)
    bound_report(report, 4096)
    text = str(report.longrepr)
    assert len(text) < 3 * sanitize.MESSAGE_CAP and not RAW.search(text)
    assert "more bytes]" in text and "RuntimeError" in text
    crash = report.longrepr.reprcrash.message
    assert len(crash.encode()) <= sanitize.MESSAGE_CAP and not RAW.search(crash)
    ((_, section),) = report.sections
    assert len(section.encode()) <= 4096 and not RAW.search(section)


def test_a_skip_reason_and_a_plain_text_failure_are_bounded_too():
    """A skip's (path, line, reason) and a dead worker's text are cleaned in place."""
    skip = SimpleNamespace(sections=[], longrepr=("x.py", 3, "Skipped: " + NOISE * 50_000))
    plain = SimpleNamespace(sections=[], longrepr=NOISE * 50_000)
    bound_report(skip, 4096)
    bound_report(plain, 4096)
    assert skip.longrepr[:2] == ("x.py", 3) and not RAW.search(skip.longrepr[2])
    assert len(plain.longrepr.encode()) <= sanitize.MESSAGE_CAP and not RAW.search(plain.longrepr)


def test_summary_and_page_escape_controls_in_a_document_written_elsewhere():
    """A results document holding raw controls (an older suite's) renders them escaped."""
    doc = _document(f"engine{NOISE}", {"engine": f"1.0{NOISE}"}, "test_x", NOISE * 3)
    for page in (markdown(doc), html_page(doc)):
        assert not RAW.search(page)
        assert "\\x1b" in page and "\\u202e" in page


@pytest.fixture(scope="module")
def noisy_run(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("noisy")
    result = run(
        "tests.noisy_engines:NoisyNegBackend", claims=["GR-1"], report_dir=directory, quiet=True
    )
    assert result.exit_code == EXIT_FAILED
    assert set(result.verdicts.values()) == {"failed"}
    return directory


def test_a_10_mb_hostile_message_leaves_every_report_small_and_inert(noisy_run):
    """results.json, summary.md and report.html each stay under 1 MB with no raw ESC or
    bidi control, and the engine's message says it was cut."""
    for name in ("results.json", "summary.md", "report.html"):
        path = noisy_run / name
        assert path.stat().st_size < MB, name
        text = path.read_text(encoding="utf-8")
        if name == "results.json":  # JSON would write ESC as \u001b: look at the strings
            text = json.dumps(json.loads(text), ensure_ascii=False)
        assert not RAW.search(text), name
        assert "EngineFault" in text and "\\u202e" in text and "more bytes]" in text, name
    doc = json.loads((noisy_run / "results.json").read_text())
    (claim,) = [c for c in doc["claims"] if c["id"] == "GR-1"]
    for test in claim["tests"]:
        assert len(test["message"].encode()) <= sanitize.MESSAGE_CAP
        assert re.search(r"\[cut: \d{7,} more bytes\]$", test["message"])


def test_junit_xml_holds_the_same_bounded_inert_message(noisy_run):
    """junit.xml, written by pytest from the failure itself, stays under 1 MB, escaped."""
    path = noisy_run / "junit.xml"
    assert path.stat().st_size < MB
    junit = ET.parse(path).getroot()
    texts = [f.get("message", "") + (f.text or "") for f in junit.iter("failure")]
    assert texts and all("more bytes]" in t and not RAW.search(t) for t in texts)
