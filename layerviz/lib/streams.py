"""Byte streams of blobs: counting and hashing what is read, and undoing compression.

Compression is detected from the bytes, never from names or media types (containerd sniffs too:
``image-format.md`` §1.6). We decompress ourselves with readers that handle every gzip member
and every zstd frame and raise on a truncated or corrupt stream (§5.1).
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable
from typing import BinaryIO, Protocol

from .errors import DigestMismatch, FormatError, Unsupported

if sys.version_info >= (3, 14):  # pragma: no cover - exercised on 3.14 only
    from compression.zstd import ZstdError, ZstdFile
else:
    from backports.zstd import ZstdError, ZstdFile

from isal.igzip import BadGzipFile
from isal.igzip import GzipFile as _GzipFile

GZIP, ZSTD, NONE = "gzip", "zstd", "none"
DECOMPRESS_ERRORS = (EOFError, BadGzipFile, ZstdError, OSError, ValueError)


class Readable(Protocol):
    def read(self, n: int = -1, /) -> bytes: ...


def sniff(prefix: bytes) -> str:
    """Name the compression of a blob from its first bytes."""
    if prefix[:3] == b"\x1f\x8b\x08":
        return GZIP
    if prefix[:4] == b"\x28\xb5\x2f\xfd":
        return ZSTD
    # A zstd stream may start with a skippable frame: magic 0x184D2A50..5F, little-endian.
    if len(prefix) >= 4 and prefix[1:4] == b"\x2a\x4d\x18" and prefix[0] & 0xF0 == 0x50:
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
    ) -> None:
        self._raw = raw
        self.expected_digest = digest
        self.expected_size = size
        self._cap = size if size is not None else cap
        self.algorithm, self._hash = hasher_for(digest)
        self.count = 0
        self.eof = False
        self._peeked = b""
        self._on_read = on_read

    def peek(self, n: int) -> bytes:
        while len(self._peeked) < n and not self.eof:
            data = self._raw_read(n - len(self._peeked))
            if not data:
                break
            self._peeked += data
        return self._peeked[:n]

    def _raw_read(self, n: int) -> bytes:
        data = self._raw.read(n)
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


def decompressor(blob: VerifyingReader, compression: str) -> Readable:
    if compression == GZIP:
        return _GzipFile(fileobj=blob, mode="rb")
    if compression == ZSTD:
        # The stub asks for a close() too, which ZstdFile calls only on files it opened itself.
        return ZstdFile(blob, mode="rb")  # type: ignore[call-overload]
    return blob
