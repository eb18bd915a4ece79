"""rpm's sqlite database (rpm ≥ 4.16; Fedora 33+, RHEL 9, openSUSE): the ``Packages`` table
holds one header per package, a binary blob in rpm's header format, parsed here.

A stored header is ``il`` and ``dl`` (big-endian int32: index entries, data bytes), ``il``
entries of four int32 (tag, type, offset into the data, count), then the data. Only the tags
read below are decoded; every offset and count is checked against the blob first.
"""

from __future__ import annotations

import sqlite3
import struct
from collections.abc import Mapping

from layerviz.lib import names

from . import Package, Unreadable, checked

NAME, VERSION, RELEASE, EPOCH, SIZE, LICENSE, ARCH = 1000, 1001, 1002, 1003, 1009, 1014, 1022
SOURCERPM, DIRINDEXES, BASENAMES, DIRNAMES, LONGSIZE = 1044, 1116, 1117, 1118, 5009
INT32, INT64, STRING, STRING_ARRAY, I18NSTRING = 4, 5, 6, 8, 9
WANTED = {NAME, VERSION, RELEASE, EPOCH, SIZE, LICENSE, ARCH, SOURCERPM}
WANTED |= {DIRINDEXES, BASENAMES, DIRNAMES, LONGSIZE}
MAX_ENTRIES = 1 << 16
SQLITE_MAGIC = b"SQLite format 3\x00"

Value = int | str | list[int] | list[str]


def header(blob: bytes) -> dict[int, Value]:
    """The wanted tags of one header blob."""
    if len(blob) < 8:
        raise Unreadable("an rpm header is shorter than its own size fields")
    il, dl = struct.unpack_from(">ii", blob)
    if not (0 < il <= MAX_ENTRIES and dl >= 0 and 8 + 16 * il + dl <= len(blob)):
        raise Unreadable("an rpm header's sizes do not fit its blob")
    data = blob[8 + 16 * il : 8 + 16 * il + dl]
    out: dict[int, Value] = {}
    for i in range(il):
        tag, kind, offset, count = struct.unpack_from(">iiii", blob, 8 + 16 * i)
        if tag not in WANTED:
            continue
        if not (0 <= offset < dl and 0 < count <= dl):
            raise Unreadable(f"rpm header tag {tag} points outside the header")
        if kind == INT32:
            if offset + 4 * count > dl:
                raise Unreadable(f"rpm header tag {tag} runs past the header")
            ints = list(struct.unpack_from(f">{count}i", data, offset))
            out[tag] = ints if tag == DIRINDEXES else ints[0]
        elif kind == INT64:
            if offset + 8 * count > dl:
                raise Unreadable(f"rpm header tag {tag} runs past the header")
            out[tag] = struct.unpack_from(">q", data, offset)[0]
        elif kind in (STRING, STRING_ARRAY, I18NSTRING):
            strings = _strings(data, offset, count if kind == STRING_ARRAY else 1, tag)
            out[tag] = strings if kind == STRING_ARRAY else strings[0]
    return out


def _strings(data: bytes, offset: int, count: int, tag: int) -> list[str]:
    out = []
    for _ in range(count):
        end = data.find(b"\x00", offset)
        if end < 0:
            raise Unreadable(f"rpm header tag {tag} has an unterminated string")
        out.append(data[offset:end].decode("utf-8", "surrogateescape"))
        offset = end + 1
    return out


def _files(tags: dict[int, Value]) -> tuple[str, ...]:
    bases, dirs, indexes = tags.get(BASENAMES), tags.get(DIRNAMES), tags.get(DIRINDEXES)
    if not isinstance(bases, list) or not bases:
        return ()
    if not isinstance(dirs, list) or not isinstance(indexes, list) or len(indexes) < len(bases):
        raise Unreadable("an rpm header has file names without their directories")
    out = []
    for base, index in zip(bases, indexes, strict=False):
        if not (isinstance(index, int) and 0 <= index < len(dirs)):
            raise Unreadable("an rpm header's directory index is out of range")
        path = (str(dirs[index]) + str(base)).strip("/")
        out.append(names.to_text(path.encode("utf-8", "surrogateescape")))
    return tuple(out)


def package(tags: dict[int, Value], unit: str) -> Package:
    size = tags.get(LONGSIZE, tags.get(SIZE))
    version, release = str(tags.get(VERSION, "")), str(tags.get(RELEASE, ""))
    epoch = tags.get(EPOCH)
    return Package(
        ecosystem="rpm",
        name=checked("name", str(tags.get(NAME, ""))),
        version=checked("version", f"{version}-{release}" if release else version),
        location=unit,
        source=unit,
        arch=str(tags.get(ARCH, ""))[:32],
        license=str(tags.get(LICENSE, ""))[:200],
        installed_size=size if isinstance(size, int) and size >= 0 else None,
        files=_files(tags),
        epoch=str(epoch) if isinstance(epoch, int) else "",
        upstream=str(tags.get(SOURCERPM, "")),
    )


def read(unit: str, files: Mapping[str, bytes | None]) -> list[Package]:
    data = files.get(unit)
    if data is None:
        return []
    if not data.startswith(SQLITE_MAGIC):
        raise Unreadable(f"{unit} is not an SQLite database")
    if data[18:20] == b"\x02\x02":
        # rpm keeps the database in WAL mode, which an in-memory copy cannot open; marked as
        # a rollback-journal database it reads the same (rpm checkpoints the WAL as it closes).
        data = data[:18] + b"\x01\x01" + data[20:]
    db = sqlite3.connect(":memory:")
    try:
        db.deserialize(data)
        db.execute("PRAGMA query_only = 1")
        blobs = [row[0] for row in db.execute("SELECT blob FROM Packages ORDER BY hnum")]
    except sqlite3.Error as exc:
        raise Unreadable(f"{unit} could not be read as rpm's sqlite database: {exc}") from None
    finally:
        db.close()
    out = []
    for blob in blobs:
        if not isinstance(blob, bytes):
            raise Unreadable(f"{unit} holds a package header that is not a blob")
        out.append(package(header(blob), unit))
    return out
