"""Go's formatting and parsing, emulated: how dive v0.13.1 (a Go program) turns numbers,
sizes, strings and JSON into text and back.

Python's own ``float``, ``repr``, ``json.dumps`` and friends disagree with Go's ``strconv``,
``fmt``, ``encoding/json`` and go-humanize in small ways (exponents, ``NaN``, underscores,
escapes, rounding). Wherever layerviz shows or reads a figure as dive does (``lib/dive.py``'s
``--json`` export, ``lib/dive_ci.py``'s CI report and ``.dive-ci`` values), it goes through
these functions so the text matches dive's to the byte. Each one names the Go function it
follows.
"""

from __future__ import annotations

import decimal
import json
import math
import re


def go_quote(text: str) -> str:
    """Go's ``strconv.Quote``, as its parse errors show a value."""
    out = ['"']
    for char in text:
        code = ord(char)
        if char in '"\\':
            out.append("\\" + char)
        elif char in _GO_SHORT_ESCAPES:
            out.append(_GO_SHORT_ESCAPES[char])
        elif 0xDC80 <= code <= 0xDCFF:  # a byte that is not UTF-8
            out.append(f"\\x{code - 0xDC00:02x}")
        elif char.isprintable():
            out.append(char)
        elif code < 0x80:
            out.append(f"\\x{code:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


_GO_SHORT_ESCAPES = {
    "\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v",
}  # fmt: skip
_GO_DECIMAL = re.compile(r"[+-]?([0-9_]+\.?[0-9_]*|\.[0-9_]+)([eE][+-]?[0-9_]+)?", re.ASCII)
_GO_HEX = re.compile(r"[+-]?0[xX]([0-9a-fA-F_]+\.?[0-9a-fA-F_]*|\.[0-9a-fA-F_]+)[pP][+-]?[0-9_]+")
_GO_INF = re.compile(r"[+-]?(inf|infinity)", re.IGNORECASE)


def _go_underscores_ok(text: str) -> bool:
    """``strconv.underscoreOK``: an underscore only between digits (or after a base prefix)."""
    body = text[1:] if text[:1] in "+-" else text
    prefix = body[:2].lower()
    start, saw = (2, "0") if prefix in ("0x", "0b", "0o") else (0, "^")
    for char in body[start:]:
        if "0" <= char <= "9" or (prefix == "0x" and char.lower() in "abcdef"):
            saw = "0"
        elif char == "_":
            if saw != "0":
                return False
            saw = "_"
        elif saw == "_":
            return False
        else:
            saw = "!"
    return saw != "_"


def go_parse_float(text: str) -> float:
    """Go's ``strconv.ParseFloat(text, 64)``, its errors worded as Go words them.

    Stricter than Python's ``float``: no surrounding spaces, no non-ASCII digits, no signed
    NaN; but it takes hexadecimal mantissas (``0x1p-2``)."""
    if _GO_INF.fullmatch(text):
        return -math.inf if text.startswith("-") else math.inf
    if text.lower() == "nan":
        return math.nan
    if _GO_DECIMAL.fullmatch(text) and _go_underscores_ok(text):
        value = float(text.replace("_", ""))
    elif _GO_HEX.fullmatch(text) and _go_underscores_ok(text):
        try:
            value = float.fromhex(text.replace("_", ""))
        except OverflowError:
            value = math.inf
    else:
        raise ValueError(f"strconv.ParseFloat: parsing {go_quote(text)}: invalid syntax")
    if math.isinf(value):
        raise ValueError(f"strconv.ParseFloat: parsing {go_quote(text)}: value out of range")
    return value


def go_format_float(value: float) -> str:
    """``strconv.FormatFloat(value, 'f', -1, 64)``: the shortest digits, never an exponent."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    text = format(decimal.Decimal(repr(value)), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def go_float(value: float) -> str:
    """Go's ``%v`` for a float64 (``strconv.FormatFloat(v, 'g', -1, 64)``): the shortest digits
    that round-trip, in exponent form when the exponent is below -4 or at least 6."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "0"
    sign, digits, exponent = decimal.Decimal(repr(value)).as_tuple()
    assert isinstance(exponent, int)  # only NaN and the infinities have a letter, returned above
    text = "".join(map(str, digits)).rstrip("0") or "0"
    point = len(digits) + exponent  # position of the decimal point in the digit string
    exp = point - 1
    minus = "-" if sign else ""
    if exp < -4 or exp >= 6:
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        return f"{minus}{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if point <= 0:
        return f"{minus}0.{'0' * -point}{text}"
    if point >= len(text):
        return f"{minus}{text}{'0' * (point - len(text))}"
    return f"{minus}{text[:point]}.{text[point:]}"


def go_fixed(value: float, decimals: int = 4) -> str:
    """Go's ``%.4f`` (``decimals`` digits after the point), which writes ``NaN``, ``+Inf`` and
    ``-Inf`` where Python writes ``nan``, ``inf`` and ``-inf``."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return f"{value:.{decimals}f}"


def go_parse_int(text: str, *, signed: bool) -> int | None:
    """``strconv.ParseInt(text, 0, 64)`` (``ParseUint`` when not ``signed``); None on error."""
    body, negative = text, False
    if signed and body[:1] in ("+", "-"):
        body, negative = body[1:], body[0] == "-"
    base = {"0x": 16, "0o": 8, "0b": 2}.get(body[:2].lower(), 0)
    if base:
        digits = body[2:]
    elif body[:1] == "0" and len(body) > 1:
        base, digits = 8, body[1:]  # a leading 0 means octal
    else:
        base, digits = 10, body
    if not digits or any(char not in "0123456789abcdef"[:base] for char in digits.lower()):
        return None
    value = -int(digits, base) if negative else int(digits, base)
    low, high = (-(2**63), 2**63 - 1) if signed else (0, 2**64 - 1)
    return value if low <= value <= high else None


_BYTE_UNITS = {
    "b": 1, "": 1,
    "kib": 1 << 10, "ki": 1 << 10, "kb": 1000, "k": 1000,
    "mib": 1 << 20, "mi": 1 << 20, "mb": 1000**2, "m": 1000**2,
    "gib": 1 << 30, "gi": 1 << 30, "gb": 1000**3, "g": 1000**3,
    "tib": 1 << 40, "ti": 1 << 40, "tb": 1000**4, "t": 1000**4,
    "pib": 1 << 50, "pi": 1 << 50, "pb": 1000**5, "p": 1000**5,
    "eib": 1 << 60, "ei": 1 << 60, "eb": 1000**6, "e": 1000**6,
}  # fmt: skip


def parse_bytes(text: str) -> int:
    """go-humanize ``ParseBytes``: ``20MB`` is 20,000,000 and ``20MiB`` 20,971,520."""
    digits = 0
    for char in text:
        if not (char.isdecimal() or char in ".,"):
            break
        digits += 1
    # Go counts the digits in characters but cuts the string in bytes.
    raw = text.encode("utf-8", "surrogateescape")
    number = raw[:digits].decode("utf-8", "surrogateescape").replace(",", "")
    value = go_parse_float(number)
    unit = raw[digits:].decode("utf-8", "surrogateescape").strip().lower()
    if unit not in _BYTE_UNITS:
        raise ValueError(f"unhandled size name: {unit}")
    value *= _BYTE_UNITS[unit]
    if value >= 2**64:
        raise ValueError(f"too large: {text}")
    return int(value)


def human(n: int) -> str:
    """go-humanize ``Bytes``."""
    if n < 10:
        return f"{n} B"
    exponent = math.floor(math.log(n) / math.log(1000))
    suffix = ("B", "kB", "MB", "GB", "TB", "PB", "EB")[exponent]
    value = math.floor(n / 1000**exponent * 10 + 0.5) / 10
    return f"{value:.1f} {suffix}" if value < 10 else f"{value:.0f} {suffix}"


# What Go's encoding/json escapes beyond what Python's does: HTML characters, the line and
# paragraph separators, and bytes that are not UTF-8 (held here as surrogate escapes).
_GO_ESCAPED = re.compile("[<>&\u2028\u2029\udc80-\udcff]")


def _go_escape(match: re.Match[str]) -> str:
    char = match.group(0)
    if "\udc80" <= char <= "\udcff":
        # utf8.DecodeRune reads a byte that is not UTF-8 as RuneError of width 1, so Go
        # writes one \ufffd per byte.
        return "\\ufffd"
    return f"\\u{ord(char):04x}"


def dumps(document: dict) -> str:
    """JSON as Go's ``json.MarshalIndent(…, "", "  ")`` writes it: HTML characters and the
    line and paragraph separators escaped, bytes that are not UTF-8 written as ``\\ufffd``."""
    return _GO_ESCAPED.sub(_go_escape, json.dumps(document, indent=2, ensure_ascii=False))
