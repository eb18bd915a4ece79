"""A strict, streaming tar header reader that agrees with Go's ``archive/tar``.

Docker and containerd unpack layers with Go. Where Python's ``tarfile`` and Go read the same
bytes differently, a file can hide from an index, so this reader follows Go and refuses the
ambiguous cases outright (``image-format.md`` §5.1, §5.2):

* checksums are verified; a bad header is an error, never a silent end of the listing;
* one zero block followed by data is an error (Go: "zero block and then non-zero block");
* PAX ``x``/``g``, GNU ``L``/``K`` and old GNU sparse ``S`` headers are understood, each capped
  at 1 MiB like Go's ``maxSpecialFileSize``. A global ``g`` header is checked and then ignored:
  Go hands it out as an entry of its own and never applies it to later entries, and containerd
  and Docker skip it, so it renames or resizes nothing in what a runtime unpacks;
* a PAX path and a GNU long name that disagree for one entry, or two PAX headers (or two long
  names) in a row, are rejected: Go and Python resolve them differently;
* numeric fields are parsed like Go (octal with only leading/trailing spaces or NULs, or
  base-256; PAX numbers as Go's ``strconv.ParseInt``), anything else is an error.

It reads forward only and never holds more than one chunk plus one special header, so memory
does not grow with the archive. Data of the current entry can be read, fed to a callback, or
skipped (jumped over when the caller gives a ``seek``).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from zlib import adler32

from .errors import FormatError, LimitExceeded
from .limits import DEFAULT, Limits

BLOCK = 512
CHUNK = 1 << 20
ZERO_BLOCK = bytes(BLOCK)

# Normalised entry types (tar typeflags, with "\0" and "7" folded into "0").
REG, LINK, SYMLINK, CHAR, BLOCKDEV, DIR, FIFO = "0", "1", "2", "3", "4", "5", "6"
HEADER_ONLY = {LINK, SYMLINK, CHAR, BLOCKDEV, DIR, FIFO}

MAGIC_USTAR = b"ustar\x00"
MAGIC_GNU = b"ustar "
VERSION_GNU = b" \x00"
TRAILER_STAR = b"tar\x00"
_INT64 = 1 << 63  # Go parses every number as an int64
_OCTAL_DIGITS = b"01234567"
XATTR_PREFIX = "SCHILY.xattr."


@dataclasses.dataclass(slots=True)
class Header:
    name: bytes  # raw name as the tar gives it (after PAX / GNU long-name processing)
    type: str
    size: int  # apparent size (for sparse files the logical size, like Go's Header.Size)
    mode: int
    uid: int
    gid: int
    mtime: int
    linkname: bytes
    offset: int  # byte offset of the entry's first header block in the tar stream
    data_size: int  # bytes of data stored in the archive for this entry
    sparse: bool = False
    pax: dict[str, bytes] | None = None
    devmajor: int = 0
    devminor: int = 0

    @property
    def xattrs(self) -> dict[str, bytes]:
        if not self.pax:
            return {}
        return {
            k.removeprefix(XATTR_PREFIX): v
            for k, v in self.pax.items()
            if k.startswith(XATTR_PREFIX)
        }


class Truncated(FormatError):
    pass


def _parse_numeric(field: bytes, what: str, offset: int) -> int:
    """Go's ``parser.parseNumeric``: base-256 if the top bit is set, else trimmed octal."""
    if field and field[0] & 0x80:
        # Base-256 (GNU extension): two's complement, big-endian, first byte's top bit is the
        # marker and its next bit the sign.
        first = field[0] & 0x7F
        negative = bool(first & 0x40)
        value = int.from_bytes(bytes([first]) + field[1:], "big")
        if negative:
            value -= 1 << (len(field) * 8 - 1)
        if not -_INT64 <= value < _INT64:
            # Go refuses what does not fit an int64; so must we (and a database column).
            raise FormatError(f"{what} field out of range in tar header at offset {offset}")
        return value
    text = field.strip(b" \x00")
    if not text:
        return 0
    if text.translate(None, _OCTAL_DIGITS):  # anything left is not an octal digit
        raise FormatError(f"invalid {what} field {field!r} in tar header at offset {offset}")
    return int(text, 8)


def _cstring(field: bytes) -> bytes:
    end = field.find(b"\x00")
    return field if end < 0 else field[:end]


def _byte_sum(data: bytes) -> int:
    """The sum of up to 512 bytes, computed in C: the low half of Adler-32 is 1 + the sum of
    the bytes modulo 65521, exact for up to 256 bytes (256 * 255 < 65521)."""
    return (adler32(data[:256]) & 0xFFFF) + (adler32(data[256:]) & 0xFFFF) - 2


# The numeric fields as Go's, Python's and GNU tar's writers format them (zero-padded octal
# and a NUL; the checksum six digits, a NUL and a space): read in one match. Anything else
# goes through _parse_numeric field by field, which accepts these forms with the same values.
_STANDARD = re.compile(
    rb"([0-7]{7})\x00([0-7]{7})\x00([0-7]{7})\x00([0-7]{11})\x00([0-7]{11})\x00([0-7]{6})\x00 "
)


def _checksum_ok(block: bytes, offset: int, stored: int | None = None) -> bool:
    field = block[148:156]
    if stored is None:
        stored = _parse_numeric(field, "checksum", offset)
    # The checksum is taken with its own field read as eight spaces.
    unsigned = _byte_sum(block) - sum(field) + 8 * 32
    if stored == unsigned:
        return True
    signed = sum(b - 256 if b > 127 else b for b in block[:148]) + 8 * 32
    signed += sum(b - 256 if b > 127 else b for b in block[156:])
    return stored == signed


# What Go's strconv.ParseInt accepts for PAX numbers (Python's int() also takes "1_0", " 1"
# and float("1e400") overflows); mtime may carry a fraction, which Go drops as we do.
_PAX_INT = re.compile(rb"([+-]?[0-9]+)")
_PAX_TIME = re.compile(rb"([+-]?[0-9]+)(?:\.[0-9]*)?")


def _pax_int(value: bytes, pattern: re.Pattern[bytes], offset: int) -> int:
    match = pattern.fullmatch(value)
    if match is None or not -_INT64 <= (number := int(match.group(1))) < _INT64:
        raise FormatError(f"invalid numeric PAX record {value!r} at offset {offset}")
    return number


def parse_pax(data: bytes, offset: int, limits: Limits) -> dict[str, bytes]:
    """PAX extended header records ``"%d %s=%s\\n"``; malformed records are an error (as in Go)."""
    records: dict[str, bytes] = {}
    pos = 0
    count = 0
    while pos < len(data):
        space = data.find(b" ", pos)
        if space < 0 or space == pos:
            raise FormatError(f"malformed PAX record at offset {offset}")
        if _PAX_INT.fullmatch(data[pos:space]) is None:
            raise FormatError(f"malformed PAX record length at offset {offset}")
        length = int(data[pos:space])
        if length <= space - pos + 1 or pos + length > len(data) or data[pos + length - 1] != 10:
            raise FormatError(f"malformed PAX record at offset {offset}")
        record = data[space + 1 : pos + length - 1]
        key, eq, value = record.partition(b"=")
        if not eq or not key:
            raise FormatError(f"malformed PAX record at offset {offset}")
        if key in (b"path", b"linkpath", b"uname", b"gname") and b"\x00" in value:
            # Go refuses these (validPAXRecord): a runtime would not unpack the layer.
            raise FormatError(f"NUL byte in the PAX {key.decode()} record at offset {offset}")
        count += 1
        if count > limits.pax_records:
            raise LimitExceeded(f"more than {limits.pax_records} PAX records at offset {offset}")
        records[key.decode("utf-8", "surrogateescape")] = value
        pos += length
    return records


class TarReader:
    """Iterate the headers of a tar stream read through ``read(n)``.

    ``on_chunk`` sees every byte read from the underlying stream, in order (for hashing the
    whole stream). Call ``next()`` for each header; between calls the current entry's data may be
    consumed with ``read``/``feed``; whatever is left is skipped by the next ``next()``.
    """

    def __init__(
        self,
        read: Callable[[int], bytes],
        *,
        limits: Limits = DEFAULT,
        on_chunk: Callable[[bytes], object] | None = None,
        chunk: int = CHUNK,
        seek: Callable[[int], object] | None = None,
    ) -> None:
        self._raw_read = read
        # With ``seek`` (skip n bytes forward), entry data we do not read is jumped over,
        # which makes listing a big archive on disk cost only its headers.
        self._raw_seek = seek
        self._on_chunk = on_chunk
        self._chunk = chunk
        self._limits = limits
        self._buf = b""
        self._pos = 0
        self.consumed = 0  # bytes handed out of the buffer so far
        self._left = 0  # unread data bytes of the current entry
        self._pad = 0  # padding after the current entry's data
        self.ended = False
        self.eof_marker = False  # True once two zero blocks were seen

    # --- buffer -------------------------------------------------------------------------

    def _fill(self) -> bool:
        data = self._raw_read(self._chunk)
        if not data:
            return False
        if self._on_chunk is not None:
            self._on_chunk(data)
        if self._pos < len(self._buf):
            self._buf = self._buf[self._pos :] + data
        else:
            self._buf = data
        self._pos = 0
        return True

    def _take(self, n: int, what: str) -> bytes:
        while len(self._buf) - self._pos < n:
            if not self._fill():
                raise Truncated(
                    f"tar stream ends in the middle of {what} at offset {self.consumed}"
                )
        out = self._buf[self._pos : self._pos + n]
        self._pos += n
        self.consumed += n
        return out

    def _take_block_or_eof(self) -> bytes | None:
        """A whole block, or None at a clean end of stream exactly on a block boundary."""
        while len(self._buf) - self._pos < BLOCK:
            if not self._fill():
                if len(self._buf) == self._pos:
                    return None
                raise Truncated(
                    f"tar stream ends in the middle of a header at offset {self.consumed}"
                )
        out = self._buf[self._pos : self._pos + BLOCK]
        self._pos += BLOCK
        self.consumed += BLOCK
        return out

    def _skip(self, n: int) -> None:
        while n > 0:
            avail = len(self._buf) - self._pos
            if avail == 0 and self._raw_seek is not None:
                self._raw_seek(n)
                self.consumed += n
                return
            if avail == 0:
                if not self._fill():
                    raise Truncated(
                        f"tar stream ends in the middle of entry data at offset {self.consumed}"
                    )
                continue
            step = min(avail, n)
            self._pos += step
            self.consumed += step
            n -= step

    # --- data of the current entry -------------------------------------------------------

    def read(self, n: int = -1) -> bytes:
        """Up to ``n`` bytes of the current entry's data (``b""`` at its end)."""
        if self._left == 0:
            return b""
        if n < 0 or n > self._left:
            n = self._left
        avail = len(self._buf) - self._pos
        if avail == 0:
            if not self._fill():
                raise Truncated(
                    f"tar stream ends in the middle of entry data at offset {self.consumed}"
                )
            avail = len(self._buf) - self._pos
        n = min(n, avail)
        out = self._buf[self._pos : self._pos + n]
        self._pos += n
        self.consumed += n
        self._left -= n
        return out

    def feed(self, sink: Callable[[memoryview], object]) -> None:
        """Pass the rest of the current entry's data to ``sink`` in buffer-sized slices."""
        while self._left:
            avail = len(self._buf) - self._pos
            if avail == 0:
                if not self._fill():
                    raise Truncated(
                        f"tar stream ends in the middle of entry data at offset {self.consumed}"
                    )
                continue
            step = min(avail, self._left)
            sink(memoryview(self._buf)[self._pos : self._pos + step])
            self._pos += step
            self.consumed += step
            self._left -= step

    def drain(self) -> int:
        """Read the underlying stream to its end (after the tar's end marker); bytes drained."""
        self._skip(self._left + self._pad)
        self._left = self._pad = 0
        drained = len(self._buf) - self._pos
        self.consumed += drained
        self._buf, self._pos = b"", 0
        while True:
            data = self._raw_read(self._chunk)
            if not data:
                return drained
            if self._on_chunk is not None:
                self._on_chunk(data)
            drained += len(data)
            self.consumed += len(data)

    # --- headers ------------------------------------------------------------------------

    def next(self) -> Header | None:
        if self.ended:
            return None
        self._skip(self._left + self._pad)
        self._left = self._pad = 0

        pax: dict[str, bytes] | None = None
        long_name: bytes | None = None
        long_link: bytes | None = None
        first_offset: int | None = None
        while True:
            offset = self.consumed
            block = self._take_block_or_eof()
            if block is None:
                if pax is not None or long_name is not None or long_link is not None:
                    raise Truncated(f"tar stream ends after an extended header at offset {offset}")
                self.ended = True
                return None
            if block == ZERO_BLOCK:
                if pax is not None or long_name is not None or long_link is not None:
                    raise FormatError(
                        f"extended header not followed by an entry at offset {offset}"
                    )
                second = self._take_block_or_eof()
                if second is not None and second != ZERO_BLOCK:
                    raise FormatError(
                        f"a single zero block followed by more data at offset {offset}: "
                        "Go's archive/tar rejects this, so an entry could hide behind it"
                    )
                self.ended = True
                self.eof_marker = second is not None
                return None
            standard = _STANDARD.match(block, 100)
            if standard is not None:
                mode_, uid_, gid_, size_, mtime_, sum_ = standard.groups()
                numbers: tuple[int, int, int, int] | None = (
                    int(mode_, 8),
                    int(uid_, 8),
                    int(gid_, 8),
                    int(mtime_, 8),
                )
                size = int(size_, 8)
                stored: int | None = int(sum_, 8)
            else:
                numbers = stored = None
            if not _checksum_ok(block, offset, stored):
                raise FormatError(f"invalid tar header at offset {offset} (checksum mismatch)")
            if standard is None:
                size = _parse_numeric(block[124:136], "size", offset)
            if first_offset is None:
                first_offset = offset

            typeflag = block[156:157]
            if size < 0:
                raise FormatError(f"negative size in tar header at offset {offset}")

            if typeflag in (b"x", b"g", b"L", b"K"):
                if size > self._limits.special_header_bytes:
                    raise LimitExceeded(
                        f"extended tar header of {size} bytes at offset {offset} "
                        f"(limit {self._limits.special_header_bytes})"
                    )
                data = self._take(size, "an extended header")
                self._skip(-size % BLOCK)
                if typeflag == b"g":
                    if pax is not None or long_name is not None or long_link is not None:
                        # Go would drop the pending header's records here; refuse to guess.
                        raise FormatError(
                            f"extended header not followed by an entry at offset {offset}"
                        )
                    parse_pax(data, offset, self._limits)
                elif typeflag == b"x":
                    if pax is not None:
                        raise FormatError(f"two PAX extended headers in a row at offset {offset}")
                    pax = parse_pax(data, offset, self._limits)
                elif typeflag == b"L":
                    if long_name is not None:
                        raise FormatError(f"two GNU long-name headers in a row at offset {offset}")
                    long_name = _cstring(data)
                else:
                    if long_link is not None:
                        raise FormatError(f"two GNU long-link headers in a row at offset {offset}")
                    long_link = _cstring(data)
                continue

            return self._entry(
                block, typeflag, size, numbers, offset, first_offset, pax, long_name, long_link
            )

    def _entry(
        self,
        block: bytes,
        typeflag: bytes,
        size: int,
        numbers: tuple[int, int, int, int] | None,
        offset: int,
        first_offset: int,
        pax: dict[str, bytes] | None,
        long_name: bytes | None,
        long_link: bytes | None,
    ) -> Header:
        magic = block[257:263]
        name = _cstring(block[0:100])
        if magic == MAGIC_USTAR:
            prefix_field = block[345:476] if block[508:512] == TRAILER_STAR else block[345:500]
            prefix = _cstring(prefix_field)
            if prefix:
                name = prefix + b"/" + name
        is_gnu = magic == MAGIC_GNU and block[263:265] == VERSION_GNU

        records = pax or {}
        linkname = _cstring(block[157:257])

        if "path" in records:
            if long_name is not None and long_name != records["path"]:
                raise FormatError(
                    f"ambiguous entry name at offset {offset}: the PAX path and the GNU long "
                    "name disagree, and Go and Python would each pick a different one"
                )
            name = records["path"]
        if long_name is not None:
            name = long_name
        if "linkpath" in records:
            if long_link is not None and long_link != records["linkpath"]:
                raise FormatError(
                    f"ambiguous link target at offset {offset}: the PAX linkpath and the GNU "
                    "long link disagree"
                )
            linkname = records["linkpath"]
        if long_link is not None:
            linkname = long_link
        if typeflag in (b"\x00", b"7"):
            # Like Go, judge the trailing slash on the final name (after PAX and GNU names):
            # a directory stores no data, so judging the raw name would desync from Go.
            typ = DIR if typeflag == b"\x00" and name.endswith(b"/") else REG
        else:
            typ = typeflag.decode("latin-1")

        if numbers is not None:
            mode, uid, gid, mtime = numbers
        else:
            mode = _parse_numeric(block[100:108], "mode", offset)
            uid = _parse_numeric(block[108:116], "uid", offset)
            gid = _parse_numeric(block[116:124], "gid", offset)
            mtime = _parse_numeric(block[136:148], "mtime", offset)
        data_size = size
        if "size" in records:
            data_size = size = _pax_int(records["size"], _PAX_INT, offset)
        if "uid" in records:
            uid = _pax_int(records["uid"], _PAX_INT, offset)
        if "gid" in records:
            gid = _pax_int(records["gid"], _PAX_INT, offset)
        if "mtime" in records:
            mtime = _pax_int(records["mtime"], _PAX_TIME, offset)
        if size < 0:
            raise FormatError(f"negative size in tar header at offset {offset}")

        devmajor = devminor = 0
        if typ in (CHAR, BLOCKDEV) and magic in (MAGIC_USTAR, MAGIC_GNU):
            devmajor = _parse_numeric(block[329:337], "devmajor", offset)
            devminor = _parse_numeric(block[337:345], "devminor", offset)

        sparse = False
        if typ == "S" and not is_gnu:
            # STAR uses the same typeflag with another layout; Go refuses it, so do we.
            raise FormatError(f"sparse entry in a non-GNU header at offset {offset}")
        if typ == "S":
            # Old GNU sparse: the stored data is the non-hole parts; the real size is in the
            # header, and the sparse map may continue in extension blocks we must step over.
            sparse = True
            typ = REG
            size = _parse_numeric(block[483:495], "realsize", offset)
            extended = block[482]
            blocks = 0
            while extended:
                blocks += 1
                if blocks > self._limits.sparse_blocks:
                    raise LimitExceeded(f"too many sparse map blocks at offset {offset}")
                ext = self._take(BLOCK, "a sparse map")
                extended = ext[504]
        elif (
            "GNU.sparse.major" in records
            or "GNU.sparse.size" in records
            or "GNU.sparse.realsize" in records
        ):
            sparse = True
            real = records.get("GNU.sparse.realsize") or records.get("GNU.sparse.size")
            if real is not None:
                size = _pax_int(real, _PAX_INT, offset)
            if "GNU.sparse.name" in records:
                name = records["GNU.sparse.name"]

        if len(name) > self._limits.path_bytes:
            raise LimitExceeded(
                f"entry name of {len(name)} bytes at offset {offset} (limit {self._limits.path_bytes})"
            )
        if len(linkname) > self._limits.link_bytes:
            raise LimitExceeded(
                f"link target of {len(linkname)} bytes at offset {offset} (limit {self._limits.link_bytes})"
            )
        if pax:
            xattr_bytes = sum(len(k) + len(v) for k, v in pax.items() if k.startswith(XATTR_PREFIX))
            if xattr_bytes > self._limits.xattrs_bytes:
                raise LimitExceeded(
                    f"extended attributes of {xattr_bytes} bytes at offset {offset}"
                )

        # Go stores no data for header-only types whatever the size field says.
        stored = 0 if typ in HEADER_ONLY else data_size
        self._left = stored
        self._pad = -stored % BLOCK
        return Header(
            name=name,
            type=typ,
            size=size,
            mode=mode,
            uid=uid,
            gid=gid,
            mtime=mtime,
            linkname=linkname,
            offset=first_offset,
            data_size=stored,
            sparse=sparse,
            pax=records or None,
            devmajor=devmajor,
            devminor=devminor,
        )
