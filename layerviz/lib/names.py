"""Paths inside layers: normalisation, and a text form that keeps every byte.

Tar names are bytes. We store them as text so both SQLite and PostgreSQL can index, compare and
search them, using a reversible escape: valid UTF-8 is kept as is, a backslash becomes ``\\\\``,
and any byte that is not valid UTF-8 (and NUL, which PostgreSQL text cannot hold) becomes
``\\xNN``. ``to_text`` and ``from_text`` are exact inverses, so non-UTF-8 names survive.
"""

from __future__ import annotations

import re

# Flags describing how a name had to be changed to become a clean path.
ABSOLUTE = 1  # started with "/": Docker strips it
CLAMPED = 2  # ".." went above the root: containerd clamps, Docker rejects the layer
# The name is the root itself ("..", "x/..", "/", an empty name), which runtimes skip
# (containerd: "resolved to root"). Not set for "." and "./", the root entry that
# ``tar -C dir .`` writes first in every archive it makes. The bit is above the entry flags
# of ``layer.py``, which share the integer with these.
ROOT = 256
PLAIN_ROOT = (b".", b"./")

_NEEDS_ESCAPE = re.compile(r"[\\\x00\udc80-\udcff]")
_UNESCAPE = re.compile(r"\\(\\|x[0-9a-f]{2})")


def _escape(match: re.Match[str]) -> str:
    ch = match.group(0)
    if ch == "\\":
        return "\\\\"
    if ch == "\x00":
        return "\\x00"
    return f"\\x{ord(ch) - 0xDC00:02x}"


def to_text(raw: bytes) -> str:
    text = raw.decode("utf-8", "surrogateescape")
    if _NEEDS_ESCAPE.search(text) is None:
        return text
    return _NEEDS_ESCAPE.sub(_escape, text)


def _unescape(match: re.Match[str]) -> str:
    token = match.group(1)
    if token == "\\":
        return "\\"
    value = int(token[1:], 16)
    return "\x00" if value == 0 else chr(0xDC00 + value)


def from_text(text: str) -> bytes:
    if "\\" not in text:
        return text.encode("utf-8")
    return _UNESCAPE.sub(_unescape, text).encode("utf-8", "surrogateescape")


def _is_clean(raw: bytes) -> bool:
    """No empty, "." or ".." component (a trailing "/" aside): nothing for ``clean`` to do."""
    body = raw[:-1] if raw.endswith(b"/") else raw
    if not body or b"//" in body or body.endswith(b"/"):
        return False
    if b"." not in body:
        return True
    framed = b"/" + body + b"/"
    return b"/./" not in framed and b"/../" not in framed


def clean(raw: bytes) -> tuple[bytes, int]:
    """Normalise a tar name the way containerd does: relative, no ``.``, ``..`` clamped at root.

    Returns the clean path (``b""`` for the root itself) and the flags saying what was changed.
    """
    flags = ABSOLUTE if raw.startswith(b"/") else 0
    if not flags and _is_clean(raw):
        return (raw[:-1] if raw.endswith(b"/") else raw), 0  # the common case
    parts: list[bytes] = []
    for part in raw.split(b"/"):
        if part in (b"", b"."):
            continue
        if part == b"..":
            if parts:
                parts.pop()
            else:
                flags |= CLAMPED
            continue
        parts.append(part)
    if not parts and raw not in PLAIN_ROOT:
        flags |= ROOT
    return b"/".join(parts), flags


def split(path: bytes) -> tuple[bytes, bytes]:
    """``b"usr/bin/env"`` -> ``(b"usr/bin", b"env")``; top-level names have dir ``b""``."""
    head, _, tail = path.rpartition(b"/")
    return head, tail


def parents(path: bytes) -> list[bytes]:
    """Every ancestor directory of ``path``, nearest first, root (``b""``) excluded."""
    out = []
    while b"/" in path:
        path = path.rpartition(b"/")[0]
        out.append(path)
    return out


def display(raw: bytes) -> str:
    """A readable form for messages (never used as a key)."""
    return raw.decode("utf-8", "backslashreplace")
