"""Many small records packed column by column into one compressed blob.

The index holds one record per tar entry and per changed path: tens of thousands per image,
millions per store. As a database row each, they cost ~500 bytes on disk (row headers, a key
and indexes repeated for every path) and 3-60 µs to insert. Packed a directory or a chunk at a
time, each column stored together (names with names, sizes with sizes) and compressed with
zstd, they cost under a third of that, a few rows per thousand records, and decode at C speed:
text columns are one ``split``, all integer columns together one ``array``.

A ``Schema`` names the columns and their kinds:

* ``text``: strings without NUL (the index's path text form, ``names.to_text``, has none),
  stored ``"\\0"``-joined;
* ``int``: 64-bit signed integers; ``nint`` the same with ``None``, stored as -1 (for fields
  that are never negative: sequence numbers, depths, sizes);
* ``digest``: 32-byte sha256 digests, ``b""`` for none (stored as 32 zero bytes);
* ``json``: small JSON values or ``None``.

A blob is: a format byte, a compression byte (0 none, 1 zstd, 2 zlib), the record count and
the length of each non-integer column as little-endian uint32; then the body: every integer
column (schema order) as one array of int64, then the other columns in schema order.

The body is compressed with zlib (by isal) when it is small, zstd when it is big. Most
directories are small, and a zstd decompression context costs ~14 µs to set up, more than the
whole blob takes with zlib; the two come out the same size there. On chunks of thousands of
entries zstd is 25% smaller.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import struct
import sys
import threading
from array import array
from collections.abc import Mapping, Sequence
from itertools import chain
from typing import Any

from isal import isal_zlib

if sys.version_info >= (3, 14):  # pragma: no cover - exercised on 3.14 only
    from compression import zstd
else:
    from backports import zstd

FORMAT = 1
DIGEST_BYTES = 32
_ZERO_DIGEST = bytes(DIGEST_BYTES)
# Level 3 is zstd's default: ~300 MB/s here on this kind of data, within a few percent of the
# size level 9 gives at a fifth of the speed.
LEVEL = 3
# Bodies shorter than this are stored as they are: compression would save nothing on them.
SMALL = 128
ZSTD_FROM = 64 * 1024
NONE, ZSTD, ZLIB = 0, 1, 2
ZLIB_LEVEL = 2  # isal's levels: 2 is as small as zlib's default, at a third of the time

TEXT, INT, NINT, DIGEST, JSON = "text", "int", "nint", "digest", "json"
_INTEGERS = (INT, NINT)


class PackError(ValueError):
    """A packed blob that does not decode (a damaged database, or a newer format)."""


@dataclasses.dataclass(frozen=True)
class Schema:
    columns: tuple[tuple[str, str], ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.columns)

    @functools.cached_property
    def integers(self) -> tuple[tuple[str, bool], ...]:
        """(name, nullable) of each integer column."""
        return tuple((n, k == NINT) for n, k in self.columns if k in _INTEGERS)

    @functools.cached_property
    def others(self) -> tuple[tuple[str, str], ...]:
        return tuple((n, k) for n, k in self.columns if k not in _INTEGERS)

    @functools.cached_property
    def header(self) -> struct.Struct:
        return struct.Struct(f"<BBI{len(self.others)}I")


# Column values are Any: a column's kind in the schema, not an annotation, says what they are.
def _encode(kind: str, values: Sequence[Any]) -> bytes:
    if kind == TEXT:
        return "\0".join(values).encode("utf-8")
    if kind == DIGEST:
        return b"".join(v or _ZERO_DIGEST for v in values)
    if kind == JSON:
        if not any(values):
            return b"\0" * (len(values) - 1) if values else b""
        return "\0".join("" if v is None else json.dumps(v) for v in values).encode("utf-8")
    raise ValueError(f"unknown column kind {kind!r}")


def _decode(kind: str, raw: bytes, count: int) -> list:
    if kind == TEXT:
        return raw.decode("utf-8").split("\0") if count else []
    if kind == DIGEST:
        if len(raw) != count * DIGEST_BYTES:
            raise PackError("a digest column has the wrong length")
        out = [raw[i : i + DIGEST_BYTES] for i in range(0, len(raw), DIGEST_BYTES)]
        return [b"" if d == _ZERO_DIGEST else d for d in out]
    if kind == JSON:
        if not count:
            return []
        return [json.loads(v) if v else None for v in raw.decode("utf-8").split("\0")]
    raise ValueError(f"unknown column kind {kind!r}")


_local = threading.local()


def _compressor() -> zstd.ZstdCompressor:
    # One compressor per thread, reused: making one costs more than compressing a small blob.
    found = getattr(_local, "compressor", None)
    if found is None:
        found = _local.compressor = zstd.ZstdCompressor(LEVEL)
    return found


def pack(schema: Schema, columns: Mapping[str, Sequence[Any]]) -> bytes:
    """One blob holding every column of ``schema`` (all of the same length)."""
    count = len(columns[schema.columns[0][0]])
    for name, _ in schema.columns:
        if len(columns[name]) != count:
            raise ValueError(f"column {name} has {len(columns[name])} values, not {count}")
    numbers = array(
        "q",
        chain.from_iterable(
            [-1 if v is None else v for v in columns[name]] if nullable else columns[name]
            for name, nullable in schema.integers
        ),
    ).tobytes()
    encoded = [_encode(kind, columns[name]) for name, kind in schema.others]
    body = b"".join([numbers, *encoded])
    lengths = map(len, encoded)
    if len(body) < SMALL:
        return schema.header.pack(FORMAT, NONE, count, *lengths) + body
    if len(body) < ZSTD_FROM:
        codec, compressed = ZLIB, isal_zlib.compress(body, ZLIB_LEVEL)
    else:
        codec, compressed = ZSTD, _compressor().compress(body, zstd.ZstdCompressor.FLUSH_FRAME)
    if len(compressed) >= len(body):
        return schema.header.pack(FORMAT, NONE, count, *lengths) + body
    return schema.header.pack(FORMAT, codec, count, *lengths) + compressed


def unpack(
    schema: Schema, blob: bytes | memoryview, only: frozenset[str] | None = None
) -> dict[str, list]:
    """The columns of a blob ``pack`` made, as lists (``only``: just those columns)."""
    blob = bytes(blob)
    header = schema.header
    if len(blob) < header.size or blob[0] != FORMAT or blob[1] not in (NONE, ZSTD, ZLIB):
        raise PackError("packed records of an unknown format")
    _, codec, count, *lengths = header.unpack_from(blob)
    body = blob[header.size :]
    try:
        if codec == ZSTD:
            body = zstd.decompress(body)
        elif codec == ZLIB:
            body = isal_zlib.decompress(body)
    # isal's stub declares ``error`` an Exception instance; it is the module's exception class.
    except (zstd.ZstdError, isal_zlib.error) as exc:  # type: ignore[misc]
        raise PackError(f"packed records do not decompress: {exc}") from None
    width = 8 * count * len(schema.integers)
    if len(body) != width + sum(lengths):
        raise PackError("packed records have the wrong length")
    numbers = array("q")
    numbers.frombytes(body[:width])
    values = numbers.tolist()
    out: dict[str, list] = {}
    for i, (name, nullable) in enumerate(schema.integers):
        if only is not None and name not in only:
            continue
        column = values[i * count : (i + 1) * count]
        out[name] = [None if v == -1 else v for v in column] if nullable else column
    start = width
    for (name, kind), length in zip(schema.others, lengths, strict=True):
        if only is None or name in only:
            out[name] = _decode(kind, body[start : start + length], count)
        start += length
    return out


def count_of(blob: bytes | memoryview) -> int:
    """How many records a blob holds, without decompressing it."""
    if len(blob) < 6 or blob[0] != FORMAT:
        raise PackError("packed records of an unknown format")
    return struct.unpack_from("<I", bytes(blob[2:6]))[0]
