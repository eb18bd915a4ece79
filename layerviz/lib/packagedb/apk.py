"""apk's database, ``lib/apk/db/installed``: one paragraph per package, one ``K:value`` a
line (``P`` name, ``V`` version, ``A`` arch, ``I`` installed size in bytes, ``L`` license,
``o`` origin; ``F`` a directory, each ``R`` after it a file in that directory), as apk-tools'
``apk_db_index_read`` reads it."""

from __future__ import annotations

from collections.abc import Mapping

from layerviz.lib import names

from . import Package, Unreadable, checked


def _package(fields: dict[str, str], files: list[str], unit: str) -> Package:
    size = fields.get("I", "")
    return Package(
        ecosystem="apk",
        name=checked("name", fields.get("P", "")),
        version=checked("version", fields.get("V", "")),
        location=unit,
        source=unit,
        arch=fields.get("A", "")[:32],
        license=fields.get("L", "")[:200],
        installed_size=int(size) if size.isdigit() and len(size) < 19 else None,
        files=tuple(files),
        upstream=fields.get("o", "") if fields.get("o") != fields.get("P") else "",
    )


def read(unit: str, files: Mapping[str, bytes | None]) -> list[Package]:
    data = files.get(unit)
    if data is None:
        return []
    if b"\x00" in data:
        raise Unreadable(f"{unit} is binary, not apk's installed database")
    out: list[Package] = []
    fields: dict[str, str] = {}
    paths: list[str] = []
    directory = b""
    for number, line in enumerate(data.split(b"\n"), 1):
        if not line.strip():
            if fields:
                out.append(_package(fields, paths, unit))
            fields, paths, directory = {}, [], b""
            continue
        if len(line) < 2 or line[1:2] != b":":
            raise Unreadable(f"{unit} line {number}: expected 'K:value'")
        key, value = chr(line[0]), line[2:]
        if key == "F":
            directory = value.strip(b"/")
            if directory:
                paths.append(names.to_text(directory))
        elif key == "R":
            paths.append(names.to_text(directory + b"/" + value if directory else value))
        elif key not in fields:
            fields[key] = value.decode("utf-8", "replace").strip()
    if fields:
        out.append(_package(fields, paths, unit))
    return out
