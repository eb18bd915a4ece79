"""Byte streams of blobs: counting and hashing what is read, and undoing compression.

Compression is detected from the bytes, never from names or media types (containerd sniffs too:
``image-format.md`` §1.6). We decompress ourselves with readers that handle every gzip member
and every zstd frame and raise on a truncated or corrupt stream (§5.1), and that check what
follows the last member or frame:

* nothing: the usual case;
* zero bytes after a gzip stream: padding (tape and block tools leave it). GNU gzip ignores it
  and so do we, counting it (``padding``) so that the layer is flagged: Go's ``compress/gzip``,
  which Docker and containerd use unless ``unpigz``/``igzip`` is installed, refuses it;
* anything else: an error that names the offset and the bytes. GNU gzip only warns about
  such "trailing garbage" (``gzip -t`` exits 2), but Go's reader fails on it, and ``zstd -t``
  refuses it, zeros included. A zstd skippable frame is a frame, so it is read (and skipped)
  like any other.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable
from typing import BinaryIO, Protocol

from .errors import DigestMismatch, FormatError, Unsupported

if sys.version_info >= (3, 14):  # pragma: no cover - exercised on 3.14 only
    from compression.zstd import ZstdDecompressor, ZstdError
else:
    from backports.zstd import ZstdDecompressor, ZstdError

from isal import igzip_lib
from isal.igzip import BadGzipFile
from isal.igzip_lib import DECOMP_GZIP_NO_HDR, IgzipDecompressor
from isal.isal_zlib import crc32

# A corrupt deflate stream ("Invalid deflate block found"). The stub declares it an instance.
IsalError: type[Exception] = igzip_lib.IsalError  # type: ignore[assignment]

GZIP, ZSTD, NONE = "gzip", "zstd", "none"
DECOMPRESS_ERRORS = (EOFError, BadGzipFile, ZstdError, IsalError, OSError, ValueError)
CHUNK = 1 << 20

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
# The optional parts of a gzip member header (RFC 1952 §2.3.1).
_FHCRC, _FEXTRA, _FNAME, _FCOMMENT = 2, 4, 8, 16
# A gzip header is ten bytes and what its flags add; names and comments have no length, so cap
# them (Go's reader stops at 512 bytes; nothing real comes near this).
MAX_GZIP_HEADER = 1 << 16
TRUNCATED = "Compressed file ended before the end-of-stream marker was reached"


class Readable(Protocol):
    def read(self, n: int = -1, /) -> bytes: ...


def _is_zstd_frame(prefix: bytes) -> bool:
    # A zstd frame, or a skippable frame: magic 0x184D2A50..5F, little-endian.
    return prefix[:4] == ZSTD_MAGIC or (
        len(prefix) >= 4 and prefix[1:4] == b"\x2a\x4d\x18" and prefix[0] & 0xF0 == 0x50
    )


def sniff(prefix: bytes) -> str:
    """Name the compression of a blob from its first bytes."""
    if prefix[:3] == b"\x1f\x8b\x08":
        return GZIP
    if _is_zstd_frame(prefix):
        return ZSTD
    if prefix[:3] == b"BZh":
        raise Unsupported("layer is bzip2-compressed, which no container runtime accepts")
    if prefix[:6] == b"\xfd7zXZ\x00":
        raise Unsupported("layer is xz-compressed, which no container runtime accepts")
    return NONE


def hasher_for(digest: str | None) -> tuple[str, hashlib._Hash]:
    algorithm = digest.partition(":")[0] if digest else "sha256"
    if algorithm not in ("sha256", "sha512"):
        raise Unsupported(f"digest algorithm {algorithm!r} is not supported")
    return algorithm, hashlib.new(algorithm)


class VerifyingReader:
    """Reads a blob while hashing and counting it; refuses to read past its declared size.

    ``verify()`` at the end compares digest and size with the descriptor.
    """

    def __init__(
        self,
        raw: BinaryIO | Readable,
        *,
        digest: str | None,
        size: int | None,
        cap: int,
        on_read: Callable[[int], object] | None = None,
        keep: BinaryIO | None = None,
    ) -> None:
        self._raw = raw
        # Where the blob's bytes are copied as they are read, to be kept (``lib/blobstore``).
        self._keep = keep
        self.expected_digest = digest
        self.expected_size = size
        self._cap = size if size is not None else cap
        self.algorithm, self._hash = hasher_for(digest)
        self.count = 0
        self.eof = False
        self._peeked = b""
        self._on_read = on_read
        # Whether reading the blob's own bytes failed (a compressed archive holding it was cut
        # short, say): that error is its supplier's to name, not this blob's.
        self.supplier_failed = False

    def peek(self, n: int) -> bytes:
        while len(self._peeked) < n and not self.eof:
            data = self._raw_read(n - len(self._peeked))
            if not data:
                break
            self._peeked += data
        return self._peeked[:n]

    def _raw_read(self, n: int) -> bytes:
        try:
            data = self._raw.read(n)
        except DECOMPRESS_ERRORS:
            self.supplier_failed = True
            raise
        if not data:
            self.eof = True
            return b""
        self.count += len(data)
        if self.count > self._cap:
            if self.expected_size is not None:
                raise DigestMismatch(
                    f"blob is larger than the {self.expected_size} bytes its descriptor gives"
                )
            raise FormatError(f"blob is larger than the {self._cap}-byte limit")
        self._hash.update(data)
        if self._keep is not None:
            self._keep.write(data)
        if self._on_read is not None:
            self._on_read(len(data))
        return data

    def read(self, n: int = -1) -> bytes:
        if self._peeked:
            if n < 0 or n >= len(self._peeked):
                out, self._peeked = self._peeked, b""
                return out
            out, self._peeked = self._peeked[:n], self._peeked[n:]
            return out
        if n < 0:
            chunks = []
            while data := self._raw_read(1 << 20):
                chunks.append(data)
            return b"".join(chunks)
        return self._raw_read(n)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    @property
    def digest(self) -> str:
        return f"{self.algorithm}:{self._hash.hexdigest()}"

    def drain(self) -> int:
        extra = 0
        while data := self.read(1 << 20):
            extra += len(data)
        return extra

    def verify(self) -> None:
        if self.expected_size is not None and self.count != self.expected_size:
            raise DigestMismatch(
                f"blob is {self.count} bytes but its descriptor says {self.expected_size}"
                + (" (truncated)" if self.count < self.expected_size else "")
            )
        if self.expected_digest is not None and self.digest != self.expected_digest:
            raise DigestMismatch(
                f"blob content hashes to {self.digest}, not to {self.expected_digest}"
            )


class Members:
    """The decompressed bytes of a gzip or zstd stream: each gzip member (zstd frame) in turn,
    then a check of what follows the last one (see the module docstring).

    ``read(n)`` returns at most ``n`` bytes, however much a member expands, so memory stays
    bounded by the chunk size whatever the ratio.
    """

    kind = ""

    def __init__(self, raw: Readable) -> None:
        self._raw = raw
        self._buf = b""  # compressed bytes read but not yet given to a decompressor
        self._offset = 0  # where ``_buf`` starts in the compressed stream
        self._ended = False
        self.members = 0
        self.padding = 0  # zero bytes after the last member (gzip only)

    # --- what a format says about its members ------------------------------------------------

    def _is_member(self, prefix: bytes) -> bool:
        raise NotImplementedError

    def _start(self) -> bool:
        """Begin the member at the start of ``_buf``; False if more bytes are needed first."""
        raise NotImplementedError

    def _active(self) -> bool:
        """Whether a member is being decompressed."""
        raise NotImplementedError

    def _step(self, n: int) -> bytes:
        """Up to ``n`` more bytes of the current member (maybe none yet); at its end, check
        its trailer and leave what follows in ``_buf``."""
        raise NotImplementedError

    def _pad_ok(self) -> bool:
        """Whether zero bytes may follow the last member."""
        return False

    def _error(self, message: str) -> Exception:
        raise NotImplementedError

    # --- the loop ----------------------------------------------------------------------------

    def _fill(self) -> bool:
        data = self._raw.read(CHUNK)
        if not data:
            return False
        self._buf += data
        return True

    def _take(self, n: int) -> bytes:
        out, self._buf = self._buf[:n], self._buf[n:]
        self._offset += len(out)
        return out

    def read(self, n: int = -1) -> bytes:
        if n < 0:
            return b"".join(iter(lambda: self.read(CHUNK), b""))
        while not self._ended and n:
            if not self._active():
                if not self._begin():
                    break
                continue
            out = self._step(n)
            if out:
                return out
        return b""

    def _begin(self) -> bool:
        """Start the next member, or check that nothing but allowed padding follows the last
        one; False at the end of the stream."""
        while len(self._buf) < 4 and self._fill():
            pass
        if not self._buf:
            if not self.members:
                raise EOFError(TRUNCATED)
            self._ended = True
            return False
        if self._is_member(self._buf):
            while not self._start():
                if not self._fill():
                    raise EOFError(TRUNCATED)
            self.members += 1
            return True
        self._trailing()
        return False

    def _trailing(self) -> None:
        """What follows the last member: zero padding (where allowed) up to the end, or an
        error naming the first byte that is neither."""
        at = self._offset
        zeros = 0
        while True:
            stripped = self._buf.lstrip(b"\0")
            zeros += len(self._buf) - len(stripped)
            if stripped:
                where = at + zeros
                shown = " ".join(f"{b:02x}" for b in stripped[:8])
                what = f"{zeros} zero bytes and then data" if zeros else "data"
                raise self._error(
                    f"{what} that is not a {self.kind} "
                    f"{'member' if self.kind == GZIP else 'frame'} after the end of the "
                    f"{self.kind} stream (at offset {where}: {shown})"
                )
            self._offset += len(self._buf)
            self._buf = b""
            if not self._fill():
                break
        if not self._pad_ok():
            raise self._error(
                f"{zeros} zero bytes after the end of the {self.kind} stream (at offset {at}): "
                f"{self.kind} allows no padding"
            )
        self.padding = zeros
        self._ended = True


class GzipMembers(Members):
    """gzip members: the header read here, the deflate data and its CRC by ISA-L, the
    trailer (CRC-32 and size) checked here, with the messages Python's ``gzip`` gives."""

    kind = GZIP

    def __init__(self, raw: Readable) -> None:
        super().__init__(raw)
        self._inflate: IgzipDecompressor | None = None
        self._out = 0  # bytes the current member gave

    def _is_member(self, prefix: bytes) -> bool:
        return prefix[:2] == GZIP_MAGIC

    def _pad_ok(self) -> bool:
        return True

    def _error(self, message: str) -> Exception:
        return BadGzipFile(message)

    def _active(self) -> bool:
        return self._inflate is not None

    def _start(self) -> bool:
        end = _gzip_header_end(self._buf, self._offset)
        if end is None:
            return False
        self._take(end)
        self._inflate = IgzipDecompressor(flag=DECOMP_GZIP_NO_HDR)
        self._out = 0
        return True

    def _step(self, n: int) -> bytes:
        inflate = self._inflate
        assert inflate is not None
        if inflate.needs_input:
            if not self._buf and not self._fill():
                raise EOFError(TRUNCATED)
            data = self._take(len(self._buf))
        else:
            data = b""
        out = inflate.decompress(data, n)
        self._out += len(out)
        if inflate.eof:
            unused = inflate.unused_data
            self._buf = unused + self._buf
            self._offset -= len(unused)
            while len(self._buf) < 8:
                if not self._fill():
                    raise EOFError(TRUNCATED)
            crc, size = (
                int.from_bytes(self._buf[:4], "little"),
                int.from_bytes(self._buf[4:8], "little"),
            )
            if crc != inflate.crc:
                raise BadGzipFile(f"CRC check failed {hex(crc)} != {hex(inflate.crc)}")
            if size != self._out & 0xFFFFFFFF:
                raise BadGzipFile("Incorrect length of data produced")
            self._take(8)
            self._inflate = None
        return out


def _gzip_header_end(buf: bytes, offset: int) -> int | None:
    """Where the gzip member header at the start of ``buf`` ends, None if ``buf`` holds only
    the start of it (RFC 1952 §2.3)."""
    if len(buf) >= 3 and buf[2] != 8:
        raise BadGzipFile(f"Unknown compression method (gzip member at offset {offset})")
    pos = 10
    if len(buf) < pos:
        return None
    flags = buf[3]
    if flags & _FEXTRA:
        if len(buf) < pos + 2:
            return None
        pos += 2 + int.from_bytes(buf[pos : pos + 2], "little")
    for flag in (_FNAME, _FCOMMENT):
        if flags & flag and pos <= len(buf):
            end = buf.find(b"\0", pos)
            pos = end + 1 if end >= 0 else len(buf) + 1
    if flags & _FHCRC:
        pos += 2
    if pos > len(buf):
        if len(buf) > MAX_GZIP_HEADER:
            raise BadGzipFile(
                f"gzip member header at offset {offset} is longer than {MAX_GZIP_HEADER} bytes"
            )
        return None
    if flags & _FHCRC:
        stored = int.from_bytes(buf[pos - 2 : pos], "little")
        if stored != crc32(buf[: pos - 2]) & 0xFFFF:
            raise BadGzipFile(f"Corrupted gzip header at offset {offset}: its CRC does not match")
    return pos


class ZstdFrames(Members):
    """zstd frames, each read by its own decompressor (skippable frames give nothing)."""

    kind = ZSTD

    def __init__(self, raw: Readable) -> None:
        super().__init__(raw)
        self._frame: ZstdDecompressor | None = None

    def _is_member(self, prefix: bytes) -> bool:
        return _is_zstd_frame(prefix)

    def _error(self, message: str) -> Exception:
        return ZstdError(message)

    def _active(self) -> bool:
        return self._frame is not None

    def _start(self) -> bool:
        self._frame = ZstdDecompressor()
        return True

    def _step(self, n: int) -> bytes:
        frame = self._frame
        assert frame is not None
        if frame.needs_input:
            if not self._buf and not self._fill():
                raise EOFError(TRUNCATED)
            data = self._take(len(self._buf))
        else:
            data = b""
        out = frame.decompress(data, n)
        if frame.eof:
            unused = frame.unused_data
            self._buf = unused + self._buf
            self._offset -= len(unused)
            self._frame = None
        return out


def decompressor(blob: Readable, compression: str) -> Readable:
    if compression == GZIP:
        return GzipMembers(blob)
    if compression == ZSTD:
        return ZstdFrames(blob)
    return blob
