"""dpkg's database: ``var/lib/dpkg/status`` (deb822 paragraphs, one per package) with each
package's file list in ``info/<name>.list`` (``<name>:<arch>.list`` for a Multi-Arch: same
package); or distroless's ``status.d/<name>``, one paragraph per file, its files in
``status.d/<name>.md5sums``."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from layerviz.lib import names

from . import DPKG_INFO, DPKG_STATUS, Package, Unreadable, checked

# Status words of a package dpkg no longer has installed: "config-files" keeps only conffiles.
_GONE = frozenset({"not-installed", "config-files"})


def paragraphs(data: bytes, source: str) -> Iterator[dict[str, str]]:
    """The deb822 paragraphs of ``data``: field name -> value (continuation lines joined)."""
    if b"\x00" in data:
        raise Unreadable(f"{source} is binary, not a dpkg status file")
    text = data.decode("utf-8", "replace")
    fields: dict[str, str] = {}
    last = ""
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            if fields:
                yield fields
            fields, last = {}, ""
        elif line[0] in " \t":
            if not last:
                raise Unreadable(f"{source} line {number}: a continuation line with no field")
            fields[last] += "\n" + line[1:]
        else:
            name, colon, value = line.partition(":")
            if not colon or not name or " " in name:
                raise Unreadable(f"{source} line {number}: expected 'Field: value'")
            last = name.strip()
            fields[last] = value.strip()
    if fields:
        yield fields


def _size(value: str | None) -> int | None:
    if value and value.isdigit() and len(value) < 16:
        return int(value) * 1024  # Installed-Size is in KiB
    return None


def _installed(fields: Mapping[str, str]) -> bool:
    words = fields.get("Status", "install ok installed").split()
    return not (len(words) == 3 and words[2] in _GONE)


def _package(
    fields: Mapping[str, str], source: str, location: str, files: tuple[str, ...]
) -> Package:
    name = checked("name", fields.get("Package", ""))
    upstream = fields.get("Source", "").partition(" ")[0]
    return Package(
        ecosystem="dpkg",
        name=name,
        version=checked("version", fields.get("Version", "")),
        location=location,
        source=source,
        arch=fields.get("Architecture", "")[:32],
        installed_size=_size(fields.get("Installed-Size")),
        files=files,
        upstream=upstream if upstream != name else "",
    )


def list_paths(data: bytes | None) -> tuple[str, ...]:
    """A ``.list`` file's paths (absolute, one a line), clean: "/." and empty lines dropped."""
    if not data:
        return ()
    out = []
    for line in data.split(b"\n"):
        path = line.strip(b"/")
        if path and path != b".":
            out.append(names.to_text(path))
    return tuple(out)


def _md5sums_paths(data: bytes | None) -> tuple[str, ...]:
    if not data:
        return ()
    return tuple(
        names.to_text(parts[1].strip(b"/"))
        for line in data.split(b"\n")
        if len(parts := line.split(maxsplit=1)) == 2
    )


def read(unit: str, files: Mapping[str, bytes | None]) -> list[Package]:
    if unit == DPKG_STATUS:
        data = files.get(DPKG_STATUS)
        if data is None:
            return []  # file lists left behind without a status file: nothing is installed
        out = []
        for fields in paragraphs(data, unit):
            if not _installed(fields):
                continue
            name, arch = fields.get("Package", ""), fields.get("Architecture", "")
            listed = files.get(f"{DPKG_INFO}{name}:{arch}.list") or files.get(
                f"{DPKG_INFO}{name}.list"
            )
            out.append(_package(fields, unit, DPKG_STATUS, list_paths(listed)))
        return out
    # distroless: status.d/<name>, its files in status.d/<name>.md5sums
    data = files.get(unit)
    if data is None:
        return []
    location = unit.rpartition("/")[0]
    return [
        _package(fields, unit, location, _md5sums_paths(files.get(f"{unit}.md5sums")))
        for fields in paragraphs(data, unit)
        if _installed(fields)
    ]
