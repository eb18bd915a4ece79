"""npm packages: each ``package.json`` at the root of a package in a ``node_modules`` folder
(``node_modules/name`` or ``node_modules/@scope/name``), nested folders included, as
``npm ls --all`` walks them. The files of a package are those of its directory, less the
packages nested in it, worked out from the index (``listed`` is False)."""

from __future__ import annotations

import json
from collections.abc import Mapping

from . import Package, Unreadable, checked

MAX_BYTES = 4 * 1024 * 1024  # a real package.json is a few KB; the largest known ~1 MB


def _license(value: object) -> str:
    if isinstance(value, str):
        return value[:200]
    if isinstance(value, dict) and isinstance(value.get("type"), str):
        return value["type"][:200]
    return ""


def read(unit: str, files: Mapping[str, bytes | None]) -> list[Package]:
    path = f"{unit}/package.json"
    data = files.get(path)
    if data is None:
        return []
    if len(data) > MAX_BYTES:
        raise Unreadable(f"{path} is {len(data)} bytes, more than a package.json is read for")
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise Unreadable(f"{path} is not valid JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise Unreadable(f"{path} is not a JSON object")
    # The folder is the name npm resolves (an alias installs a package under another name).
    folder = unit.rpartition("node_modules/")[2]
    name = doc.get("name") if isinstance(doc.get("name"), str) else folder
    version = doc.get("version")
    if not isinstance(version, str):
        raise Unreadable(f"{path} has no version")
    return [
        Package(
            ecosystem="npm",
            name=checked("name", name or folder),
            version=checked("version", version.strip()),
            location=unit,
            source=path,
            license=_license(doc.get("license")),
            listed=False,
        )
    ]
