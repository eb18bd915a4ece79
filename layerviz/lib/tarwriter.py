"""A tar encoder: entries described in Python, written as the bytes Go's ``archive/tar`` (so
Docker) writes, in PAX, GNU or ustar format.

``lib/tarwalk.py`` reads tars; this module writes them, for ``lib/synth.py``'s images and for
tests that need a header crafted just so. It is our own rather than ``tarfile`` because
everything here must be deterministic (the same entries give the same bytes, so the same
digests, on every run) and because names are bytes: an entry may hold any name, including
ones that are not UTF-8. The typeflags and the block size are tarwalk's, so the writer and the
reader cannot disagree on them. Nothing here imports Django.
"""

from __future__ import annotations

import dataclasses
import gzip
import sys
from collections.abc import Iterable, Sequence

from .tarwalk import (
    BLOCK,
    BLOCKDEV,
    CHAR,
    DIR,
    FIFO,
    LINK,
    MAGIC_GNU,
    MAGIC_USTAR,
    REG,
    SYMLINK,
    VERSION_GNU,
)

if sys.version_info >= (3, 14):  # pragma: no cover - exercised on 3.14 only
    from compression import zstd
else:
    from backports import zstd

END_OF_ARCHIVE = bytes(2 * BLOCK)  # what Go's tar.Writer.Close writes
MTIME = 1_700_000_000  # 2023-11-14: any fixed time keeps the bytes reproducible

# The magic and version fields together (header bytes 257-265), as each format writes them.
USTAR_MAGIC_VERSION = MAGIC_USTAR + b"00"
GNU_MAGIC_VERSION = MAGIC_GNU + VERSION_GNU


def _bytes(value: str | bytes) -> bytes:
    return value.encode() if isinstance(value, str) else value


# --- entries ---------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Entry:
    """One tar entry. ``path`` is written exactly as given (directories get a trailing ``/``)."""

    path: bytes
    type: str = REG
    data: bytes = b""
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    mtime: int = MTIME
    link: bytes = b""
    devmajor: int = 0
    devminor: int = 0
    xattrs: dict[str, bytes] | None = None


def file(
    path: str | bytes,
    data: bytes = b"",
    *,
    mode: int = 0o644,
    uid: int = 0,
    gid: int = 0,
    mtime: int = MTIME,
    xattrs: dict[str, bytes] | None = None,
) -> Entry:
    return Entry(_bytes(path), REG, data, mode, uid, gid, mtime, xattrs=xattrs)


def directory(
    path: str | bytes,
    *,
    mode: int = 0o755,
    uid: int = 0,
    gid: int = 0,
    mtime: int = MTIME,
    xattrs: dict[str, bytes] | None = None,
) -> Entry:
    return Entry(_bytes(path), DIR, b"", mode, uid, gid, mtime, xattrs=xattrs)


def symlink(
    path: str | bytes, target: str | bytes, *, uid: int = 0, gid: int = 0, mtime: int = MTIME
) -> Entry:
    return Entry(_bytes(path), SYMLINK, b"", 0o777, uid, gid, mtime, link=_bytes(target))


def hardlink(
    path: str | bytes,
    target: str | bytes,
    *,
    mode: int = 0o644,
    uid: int = 0,
    gid: int = 0,
    mtime: int = MTIME,
) -> Entry:
    """A type-1 entry; ``target`` is an archive path, as Docker writes it (no leading ``/``)."""
    return Entry(_bytes(path), LINK, b"", mode, uid, gid, mtime, link=_bytes(target))


def whiteout(path: str | bytes, *, mtime: int = MTIME) -> Entry:
    """Deletes ``path`` from the layers below: the entry ``dir/.wh.name``."""
    head, sep, name = _bytes(path).rstrip(b"/").rpartition(b"/")
    return Entry(head + sep + b".wh." + name, REG, mode=0o644, mtime=mtime)


def opaque(dir: str | bytes, *, mtime: int = MTIME) -> Entry:
    """Hides every lower child of ``dir``: the entry ``dir/.wh..wh..opq``."""
    head = _bytes(dir).rstrip(b"/")
    return Entry(head + b"/.wh..wh..opq" if head else b".wh..wh..opq", REG, mtime=mtime)


def device(
    path: str | bytes, kind: str, major: int, minor: int, *, mode: int = 0o666, mtime: int = MTIME
) -> Entry:
    """A ``"char"`` or ``"block"`` device node."""
    types = {"char": CHAR, "block": BLOCKDEV}
    if kind not in types:
        raise ValueError(f"device kind must be 'char' or 'block', not {kind!r}")
    return Entry(_bytes(path), types[kind], b"", mode, mtime=mtime, devmajor=major, devminor=minor)


def fifo(path: str | bytes, *, mode: int = 0o644, mtime: int = MTIME) -> Entry:
    return Entry(_bytes(path), FIFO, b"", mode, mtime=mtime)


# --- tar writing -----------------------------------------------------------------------------


def pad(data: bytes) -> bytes:
    """``data`` followed by zeros up to the next block boundary."""
    return data + bytes(-len(data) % BLOCK)


def seal(block: bytearray | bytes) -> bytes:
    """Write the checksum of a 512-byte header (computed with the field as spaces)."""
    block = bytearray(block)
    block[148:156] = b" " * 8
    block[148:156] = b"%06o\x00 " % sum(block)
    return bytes(block)


def _octal(value: int, width: int) -> bytes | None:
    text = b"%o" % value
    if value < 0 or len(text) > width - 1:
        return None
    return text.rjust(width - 1, b"0") + b"\x00"


def _base256(value: int, width: int) -> bytes:
    # GNU's extension for numbers octal cannot hold: big-endian with the top bit set.
    if not 0 <= value < 1 << (8 * width - 1):
        raise ValueError(f"{value} does not fit a {width}-byte tar field")
    raw = bytearray(value.to_bytes(width, "big"))
    raw[0] |= 0x80
    return bytes(raw)


def number(value: int, width: int, *, gnu: bool = False) -> bytes:
    """A numeric header field: octal, or base-256 in GNU format when octal cannot hold it."""
    field = _octal(value, width)
    if field is not None:
        return field
    if gnu:
        return _base256(value, width)
    raise ValueError(f"{value} does not fit a {width}-byte octal tar field")


def header(
    name: bytes,
    *,
    type: str = REG,
    size: int = 0,
    mode: int = 0o644,
    uid: int = 0,
    gid: int = 0,
    mtime: int = MTIME,
    link: bytes = b"",
    devmajor: int = 0,
    devminor: int = 0,
    prefix: bytes = b"",
    gnu: bool = False,
) -> bytes:
    """One header block. Fields are truncated to their width; the caller decides what fits."""
    block = bytearray(BLOCK)
    block[0:100] = name[:100].ljust(100, b"\x00")
    block[100:108] = number(mode, 8, gnu=gnu)
    block[108:116] = number(uid, 8, gnu=gnu)
    block[116:124] = number(gid, 8, gnu=gnu)
    block[124:136] = number(size, 12, gnu=gnu)
    block[136:148] = number(mtime, 12, gnu=gnu)
    block[156:157] = type.encode("latin-1")
    block[157:257] = link[:100].ljust(100, b"\x00")
    block[257:265] = GNU_MAGIC_VERSION if gnu else USTAR_MAGIC_VERSION
    block[265:297] = (b"root" if uid == 0 else b"").ljust(32, b"\x00")
    block[297:329] = (b"root" if gid == 0 else b"").ljust(32, b"\x00")
    if type in (CHAR, BLOCKDEV):
        block[329:337] = number(devmajor, 8, gnu=gnu)
        block[337:345] = number(devminor, 8, gnu=gnu)
    if prefix:
        block[345:500] = prefix[:155].ljust(155, b"\x00")
    return seal(block)


def pax_record(key: str, value: bytes) -> bytes:
    """``"%d %s=%s\\n"`` where the length counts itself."""
    body = b" " + key.encode() + b"=" + value + b"\n"
    length = len(body) + 1
    while len(b"%d" % length) + len(body) != length:
        length += 1
    return b"%d" % length + body


def pax_header(
    records: dict[str, bytes], *, name: bytes = b"PaxHeaders.0/x", kind: str = "x"
) -> bytes:
    """An ``x`` (or global ``g``) extended header with its data, padded."""
    data = b"".join(pax_record(k, v) for k, v in records.items())
    return header(name, type=kind, size=len(data), mode=0o644) + pad(data)


def gnu_long(kind: str, value: bytes) -> bytes:
    """A GNU ``L`` (long name) or ``K`` (long link) header with its data, padded."""
    data = value + b"\x00"
    return header(b"././@LongLink", type=kind, size=len(data), gnu=True) + pad(data)


def _ustar_split(name: bytes) -> tuple[bytes, bytes] | None:
    """(prefix, name) for the ustar fields as Go's ``splitUSTARPath`` picks them, or None when
    the name cannot be stored there."""
    if len(name) <= 100:
        return b"", name
    # The last "/" leaving a prefix of at most 155 bytes and a non-empty name.
    i = name.rfind(b"/", 0, min(len(name) - 1, 156))
    if i <= 0 or len(name) - i - 1 > 100:
        return None
    return name[:i], name[i + 1 :]


def encode(entry: Entry, fmt: str = "pax") -> bytes:
    """The header block(s) and data of one entry, in the given format.

    ``pax`` is what Go's writer (so Docker) produces: plain ustar headers, with a PAX header in
    front only when a name, link, number or xattr does not fit. ``gnu`` uses ``L``/``K`` long
    names and base-256 numbers; ``ustar`` refuses anything that does not fit.
    """
    if fmt not in ("pax", "gnu", "ustar"):
        raise ValueError(f"tar format must be pax, gnu or ustar, not {fmt!r}")
    name = entry.path
    if entry.type == DIR and not name.endswith(b"/"):
        name += b"/"
    size = len(entry.data)
    fields = {"uid": entry.uid, "gid": entry.gid, "size": size, "mtime": entry.mtime}
    widths = {"uid": 8, "gid": 8, "size": 12, "mtime": 12}
    out = b""
    prefix = b""
    if fmt == "pax":
        records: dict[str, bytes] = {}
        split = _ustar_split(name) if name.isascii() else None
        if split is None:
            records["path"] = name
            name = name[:100]
        else:
            prefix, name = split
        if len(entry.link) > 100 or not entry.link.isascii():
            records["linkpath"] = entry.link
        for key, value in fields.items():
            if _octal(value, widths[key]) is None:
                records[key] = b"%d" % value
                fields[key] = 0
        for attribute, data in sorted((entry.xattrs or {}).items()):
            records[f"SCHILY.xattr.{attribute}"] = data
        if records:
            head, _, base = entry.path.rstrip(b"/").rpartition(b"/")
            pax_name = (head + b"/" if head else b"") + b"PaxHeaders.0/" + base
            out += pax_header(records, name=pax_name)
    elif fmt == "gnu":
        if entry.xattrs:
            raise ValueError("the GNU tar format cannot hold xattrs; use pax")
        if len(name) > 100:
            out += gnu_long("L", name)
        if len(entry.link) > 100:
            out += gnu_long("K", entry.link)
    else:
        if entry.xattrs:
            raise ValueError("the ustar format cannot hold xattrs; use pax")
        split = _ustar_split(name)
        if split is None or len(entry.link) > 100:
            raise ValueError(f"{name!r} does not fit the ustar format; use pax or gnu")
        prefix, name = split
    out += header(
        name,
        type=entry.type,
        size=fields["size"],
        mode=entry.mode,
        uid=fields["uid"],
        gid=fields["gid"],
        mtime=fields["mtime"],
        link=entry.link,
        devmajor=entry.devmajor,
        devminor=entry.devminor,
        prefix=prefix,
        gnu=fmt == "gnu",
    )
    return out + pad(entry.data)


def _missing_parents(entries: Sequence[Entry]) -> list[Entry]:
    """``entries`` with a directory entry before each first use of an undeclared parent."""
    declared = {e.path.rstrip(b"/") for e in entries if e.type == DIR}
    out: list[Entry] = []
    for entry in entries:
        parts = entry.path.rstrip(b"/").split(b"/")[:-1]
        # Odd names (absolute, "..", "//") are what the caller asked for: add nothing to them.
        if all(p not in (b"", b".", b"..") for p in parts):
            for i in range(1, len(parts) + 1):
                parent = b"/".join(parts[:i])
                if parent not in declared:
                    declared.add(parent)
                    out.append(directory(parent))
        out.append(entry)
    return out


def tar(entries: Iterable[Entry], *, fmt: str = "pax", parents: bool = False) -> bytes:
    """A whole tar stream, ended by two zero blocks."""
    entries = list(entries)
    if parents:
        entries = _missing_parents(entries)
    return b"".join(encode(e, fmt) for e in entries) + END_OF_ARCHIVE


def compress(data: bytes, kind: str) -> bytes:
    """``"none"``, ``"gzip"`` (no timestamp, so reproducible) or ``"zstd"``."""
    if kind == "none":
        return data
    if kind == "gzip":
        return gzip.compress(data, compresslevel=6, mtime=0)
    if kind == "zstd":
        return zstd.compress(data, level=3)
    raise ValueError(f"compression must be none, gzip or zstd, not {kind!r}")
