"""Text from an image (config, history, annotations, error messages that quote it) in a form
both databases store: a reversible escape, the twin of ``names.to_text`` for names.

PostgreSQL's text and jsonb cannot hold NUL, and neither database (nor UTF-8) can hold a lone
surrogate, which JSON's ``\\ud800`` escapes produce. Both are legal in an image config, so
they are escaped: a backslash becomes ``\\\\``, NUL ``\\x00``, a lone surrogate ``\\uXXXX``.
Everything else is kept as it is, and ``unescape(escape(s)) == s`` for every string, so the
same input gives the same stored row and the same page on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import re
from typing import Any

_NEEDS_ESCAPE = re.compile(r"[\\\x00\ud800-\udfff]")
_UNESCAPE = re.compile(r"\\(\\|x00|u[0-9a-f]{4})")


def _escape(match: re.Match[str]) -> str:
    ch = match.group(0)
    if ch == "\\":
        return "\\\\"
    if ch == "\x00":
        return "\\x00"
    return f"\\u{ord(ch):04x}"


def _unescape(match: re.Match[str]) -> str:
    token = match.group(1)
    if token == "\\":
        return "\\"
    if token == "x00":
        return "\x00"
    return chr(int(token[1:], 16))


def escape(text: str) -> str:
    if "\\" not in text and _NEEDS_ESCAPE.search(text) is None:
        return text
    return _NEEDS_ESCAPE.sub(_escape, text)


def unescape(text: str) -> str:
    if "\\" not in text:
        return text
    return _UNESCAPE.sub(_unescape, text)


def escape_json(value: Any) -> Any:
    """``value`` (decoded JSON) with every string in it, keys too, escaped."""
    return _walk(value, escape)


def unescape_json(value: Any) -> Any:
    return _walk(value, unescape)


def _walk(value: Any, convert: Any) -> Any:
    if isinstance(value, str):
        return convert(value)
    if isinstance(value, dict):
        return {
            convert(k) if isinstance(k, str) else k: _walk(v, convert) for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_walk(v, convert) for v in value]
    return value


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def visible(text: str) -> str:
    """``text`` for a page: control characters (and bidi overrides, which reorder what is
    shown, and lone surrogates) as ``\\xNN`` / ``\\uNNNN``, so a hostile config is shown as it
    is rather than as what it pretends to be. Tabs and newlines stay."""
    return _CONTROL.sub(
        lambda m: (
            f"\\x{ord(m.group(0)):02x}" if ord(m.group(0)) < 0x100 else f"\\u{ord(m.group(0)):04x}"
        ),
        text,
    )


def visible_json(value: Any) -> Any:
    """``value`` (decoded JSON) with every string in it, keys too, made ``visible``."""
    return _walk(value, visible)
