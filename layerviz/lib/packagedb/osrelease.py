"""``os-release`` (``etc/os-release``, else ``usr/lib/os-release``): which distribution the
system packages are of, as package URLs name it (``pkg:deb/debian/…``)."""

from __future__ import annotations

import shlex
from collections.abc import Mapping

from . import OS_RELEASE


def fields(data: bytes) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in data.decode("utf-8", "replace").splitlines()[:200]:
        key, eq, value = line.partition("=")
        if not eq or not key.isidentifier():
            continue
        try:
            words = shlex.split(value)
        except ValueError:
            continue
        out[key] = words[0][:64] if words else ""
    return out


def distro(files: Mapping[str, bytes | None]) -> tuple[str, str]:
    """(ID, VERSION_ID) of the first os-release file present: ``("debian", "12")``."""
    for path in OS_RELEASE:
        data = files.get(path)
        if data:
            found = fields(data)
            return found.get("ID", "").lower(), found.get("VERSION_ID", "")
    return "", ""
