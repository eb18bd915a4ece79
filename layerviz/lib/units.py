"""Numbers for people: sizes in decimal units, like the docker CLI and dive (1 kB = 1000 bytes),
and layer numbers, and times."""

from __future__ import annotations

import datetime

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


def compact_bytes(n: int | float) -> str:
    """A size without the space ("1.5MB"), for progress lines and terminal tables."""
    return human_bytes(n).replace(" ", "")


def layer_number(position: int) -> int:
    """The number people see for a layer: positions are 0-based in data, layers count from 1
    (like dive and the history of ``docker image history``, bottom first)."""
    return position + 1


def layer_no(position: int) -> str:
    """A layer as the pages, charts and commands label it: "#1" for the bottom layer."""
    return f"#{layer_number(position)}"


def utc_time(seconds: int) -> str:
    """A tar mtime as people read it: ``2024-03-09 16:00:00 UTC``; one out of the calendar's
    range (a hostile header) as the raw number of seconds."""
    try:
        moment = datetime.datetime.fromtimestamp(seconds, datetime.UTC)
    except (OverflowError, OSError, ValueError):
        return f"{seconds} s"
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")
