"""Python distributions: a ``*.dist-info`` directory (``METADATA`` in the core-metadata
format, read with the standard library's ``email.parser`` as pip reads it; ``RECORD``, a CSV of
the installed files relative to the site directory), or a ``*.egg-info`` directory (``PKG-INFO``
and ``installed-files.txt``, relative to the egg-info directory) or file (its ``PKG-INFO``)."""

from __future__ import annotations

import csv
import email.parser
import posixpath
from collections.abc import Mapping

from . import Package, Unreadable, checked


def metadata(data: bytes, source: str) -> tuple[str, str, str]:
    """(Name, Version, License) of core metadata."""
    if b"\x00" in data:
        raise Unreadable(f"{source} is binary, not Python package metadata")
    # The headers end at the first blank line; the description after it can be long.
    head = data.split(b"\n\n", 1)[0].decode("utf-8", "replace")
    fields = email.parser.HeaderParser().parsestr(head)
    license_ = str(fields.get("License-Expression") or fields.get("License") or "").strip()
    name, version = str(fields.get("Name") or "").strip(), str(fields.get("Version") or "").strip()
    # A License field sometimes holds the whole licence text: its first line names it.
    first = license_.splitlines()[0][:200] if license_ else ""
    return checked("name", name), checked("version", version), first


def _under(base: str, relative: str) -> str | None:
    """``relative`` (to ``base``, or absolute) as a clean path; ``..`` stops at the root."""
    return posixpath.normpath(posixpath.join("/" + base, relative)).lstrip("/") or None


def _record(data: bytes | None, site: str) -> tuple[str, ...]:
    if not data:
        return ()
    text = data.decode("utf-8", "surrogateescape")
    out = []
    for row in csv.reader(text.splitlines()):
        if row and row[0]:
            path = _under(site, row[0])
            if path:
                out.append(path)
    return tuple(out)


def _installed_files(data: bytes | None, egg: str) -> tuple[str, ...]:
    if not data:
        return ()
    text = data.decode("utf-8", "surrogateescape")
    return tuple(p for line in text.splitlines() if line and (p := _under(egg, line)))


def read(unit: str, files: Mapping[str, bytes | None]) -> list[Package]:
    site = posixpath.dirname(unit)
    if unit.endswith(".dist-info"):
        data = files.get(f"{unit}/METADATA")
        if data is None:
            raise Unreadable(f"{unit} has no METADATA")
        name, version, license_ = metadata(data, f"{unit}/METADATA")
        listed = _record(files.get(f"{unit}/RECORD"), site)
    else:
        data = files.get(f"{unit}/PKG-INFO") or files.get(unit)
        if data is None:
            if f"{unit}/SOURCES.txt" in files or f"{unit}/installed-files.txt" in files:
                raise Unreadable(f"{unit} has no PKG-INFO")
            return []
        name, version, license_ = metadata(data, unit)
        listed = _installed_files(files.get(f"{unit}/installed-files.txt"), unit)
    return [
        Package(
            ecosystem="python",
            name=name,
            version=version,
            location=site,
            source=unit,
            license=license_,
            files=listed,
        )
    ]
