"""Bounds on the text an engine puts in reports and on the terminal.

An engine's exception message is evidence, not the report: each one is kept up to
:data:`MESSAGE_CAP` bytes, and its control characters are shown as escapes, so that it
cannot move the cursor, recolour, retitle or clear a terminal, nor reorder what a page
shows around it (bidi controls).
"""

from __future__ import annotations

import re

MESSAGE_CAP = 64 * 1024  # bytes of one message kept in a report

# every control character but tab and newline (C0 with CR and ESC, DEL, C1), the bidi
# controls, and lone surrogates (from surrogateescape decoding): they are no characters,
# UTF-8 cannot hold them, and writing one would fail the whole report
_RANGES = (
    (0x00, 0x08),
    (0x0B, 0x1F),
    (0x7F, 0x9F),
    (0x061C, 0x061C),
    (0x200E, 0x200F),
    (0x202A, 0x202E),
    (0x2066, 0x2069),
    (0xD800, 0xDFFF),
)
_TABLE = {
    chr(c): f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"
    for low, high in _RANGES
    for c in range(low, high + 1)
}
# a regex finds the few controls in a long text ten times faster than str.translate,
# which looks every character up in the table
_CLASS = "[" + "".join(f"\\u{low:04x}-\\u{high:04x}" for low, high in _RANGES) + "]"
_CONTROL = re.compile(_CLASS)
# pytest's own colours (SGR: ESC [ parameters m) match first, and stay
_CONTROL_OR_COLOUR = re.compile(r"\x1b\[[0-9;]*m|" + _CLASS)


def _escape(match: re.Match[str]) -> str:
    return _TABLE.get(match.group(), match.group())


def escape_controls(text: str) -> str:
    """``text`` with every control character but newline and tab as a visible escape."""
    return _CONTROL.sub(_escape, text)


def escape_terminal(text: str) -> str:
    """Like :func:`escape_controls`, but colour (SGR) sequences stay as they are."""
    return _CONTROL_OR_COLOUR.sub(_escape, text)


def _size(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def _marker(cut: int) -> str:
    return f"\n... [cut: {cut} more bytes]"


def cap(text: str, limit: int = MESSAGE_CAP) -> str:
    """At most ``limit`` bytes of ``text`` as UTF-8, the cut marker included, never
    splitting a character; a cut text ends with a line saying how many bytes went (a
    ``limit`` shorter than that line keeps the line alone)."""
    if 4 * len(text) <= limit:  # no character takes more than 4 bytes
        return text
    data = text.encode("utf-8", "surrogatepass")
    if len(data) <= limit:
        return text
    end = max(0, limit - len(_marker(len(data))))  # the marker can only be shorter
    while end and data[end] & 0xC0 == 0x80:  # a continuation byte: back to the start
        end -= 1
    return data[:end].decode("utf-8", "surrogatepass") + _marker(len(data) - end)


def clean(text: str, limit: int = MESSAGE_CAP) -> str:
    """:func:`cap` then :func:`escape_controls`, the escapes counted in ``limit``: the
    result is at most ``limit`` bytes, and cleaning it again leaves it as it is."""
    head = text[:limit]  # at least ``limit`` bytes, escaped or not, when ``text`` is longer
    shown = escape_controls(head)
    if shown == head:
        return cap(text, limit)
    if len(head) == len(text) and _size(shown) <= limit:
        return shown
    total = _size(text)
    budget = limit - len(_marker(total))
    # the longest head that fits once escaped: escaping only lengthens, so bisect
    low, high = 0, len(head)
    while low < high:
        mid = (low + high + 1) // 2
        if _size(escape_controls(head[:mid])) <= budget:
            low = mid
        else:
            high = mid - 1
    return escape_controls(head[:low]) + _marker(total - _size(head[:low]))
