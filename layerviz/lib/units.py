"""Sizes for people: decimal units, like the docker CLI and dive (1 kB = 1000 bytes)."""

from __future__ import annotations

UNITS = ("B", "kB", "MB", "GB", "TB")


def human_bytes(n: int | float | None) -> str:
    if n is None:
        return "–"
    value = float(n)
    negative = value < 0
    value = abs(value)
    for unit in UNITS:
        if value < 1000 or unit == UNITS[-1]:
            text = f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
            return f"-{text}" if negative else text
        value /= 1000
    raise AssertionError("unreachable")
