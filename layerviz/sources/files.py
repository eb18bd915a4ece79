"""Files inside an image archive or layout, read without extracting anything.

Three ways to hold the files, one interface (``Files``):

* ``TarFiles``: a plain tar on disk, listed by reading only its headers, members then read
  through bounded views (never extracted);
* ``DirFiles``: an OCI layout directory, every name confined to it;
* ``SpoolFiles``: what a one-pass stream kept — small members in memory, big ones already
  handed to the indexer as they passed.

Names from ``manifest.json`` and ``index.json`` are untrusted: they are resolved only against the
archive's own member table, absolute and ``..`` names are refused, symlinks are followed inside
the archive with a hop limit, and a name given twice is an error (``image-format.md`` §5.4).
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import BinaryIO

from layerviz.lib import names, oci
from layerviz.lib.errors import FormatError, LimitExceeded
from layerviz.lib.layer import FileRange
from layerviz.lib.limits import Limits
from layerviz.lib.oci import Descriptor
from layerviz.lib.streams import Readable
from layerviz.lib.tarwalk import DIR, LINK, REG, SYMLINK, TarReader

from .base import OnMember

MAX_HOPS = 8
SMALL_MEMBER = 1 << 20  # streamed members up to this size are kept in memory until the end
SPOOL_BYTES = 512 << 20  # cap on what a stream keeps in memory


def clean_member(name: str, what: str) -> str:
    path, flags = names.clean(name.encode("utf-8", "surrogateescape"))
    if flags or not path:
        raise FormatError(f"{what} names {name!r}, which points outside the archive")
    return names.to_text(path)


class Files:
    """Named files of an archive or layout."""

    label = "archive"

    def resolve(self, name: str) -> str:
        raise NotImplementedError

    def exists(self, name: str) -> bool:
        try:
            self.resolve(name)
        except FormatError:
            return False
        return True

    def size(self, name: str) -> int:
        raise NotImplementedError

    def open(self, name: str) -> AbstractContextManager[Readable]:
        raise NotImplementedError

    def location(self, name: str) -> FileRange | None:
        """Where the member's bytes lie on disk, for another process to read (None: only
        through ``open``)."""
        return None

    def read(self, name: str, what: str, limit: int) -> bytes:
        if self.size(name) > limit:
            raise LimitExceeded(f"{what} is {self.size(name)} bytes (limit {limit})")
        with self.open(name) as f:
            return f.read(limit + 1)

    def blob_name(self, digest: str) -> str:
        algorithm, _, encoded = digest.partition(":")
        return f"blobs/{algorithm}/{encoded}"

    def read_blob(self, descriptor: Descriptor, what: str, limits: Limits) -> bytes:
        if descriptor.data is not None:
            return descriptor.data
        name = self.blob_name(descriptor.digest)
        if not self.exists(name):
            raise FormatError(f"{what} ({descriptor.digest}) is missing from the {self.label}")
        data = self.read(name, what, limits.json_bytes)
        oci.verify_blob(data, descriptor.digest, descriptor.size, what)
        return data


class _Member:
    __slots__ = ("link", "offset", "size", "type")

    def __init__(self, type: str, offset: int, size: int, link: str) -> None:
        self.type, self.offset, self.size, self.link = type, offset, size, link


class _Bounded:
    """Read-only view of ``size`` bytes at ``offset`` of a shared file."""

    def __init__(self, f: BinaryIO, offset: int, size: int, name: str) -> None:
        self._f, self._pos, self._left, self._name = f, offset, size, name

    def read(self, n: int = -1) -> bytes:
        if self._left <= 0:
            return b""
        if n < 0 or n > self._left:
            n = self._left
        self._f.seek(self._pos)
        data = self._f.read(n)
        if not data:
            raise FormatError(f"the archive is truncated: {self._name} ends early")
        self._pos += len(data)
        self._left -= len(data)
        return data


class _MemberTable(Files):
    """Name resolution shared by tar files and spooled streams."""

    def __init__(self) -> None:
        self.members: dict[str, _Member] = {}
        self.duplicates: set[str] = set()

    def _add(self, raw_name: bytes, member: _Member, limits: Limits) -> None:
        path, flags = names.clean(raw_name)
        if flags or not path:
            return  # unreachable through clean names, so it can never be used
        name = names.to_text(path)
        if name in self.members and member.type != DIR:
            self.duplicates.add(name)
        self.members[name] = member
        if len(self.members) > limits.outer_members:
            raise LimitExceeded(f"the archive has more than {limits.outer_members} members")

    def exists(self, name: str) -> bool:
        # A name given twice exists: reading it must fail saying so, not look like it is absent
        # (a duplicated index.json would otherwise send us to manifest.json instead).
        try:
            return clean_member(name, self.label) in self.duplicates or super().exists(name)
        except FormatError:
            return False

    def resolve(self, name: str) -> str:
        current = clean_member(name, self.label)
        for _ in range(MAX_HOPS):
            member = self.members.get(current)
            if member is None:
                raise FormatError(f"{name!r} is not in the {self.label}")
            if current in self.duplicates:
                raise FormatError(
                    f"the {self.label} holds two members named {current!r}; refusing to guess which"
                )
            if member.type in (REG, "7"):
                return current
            if member.type == SYMLINK:
                base = current.rpartition("/")[0]
                target = member.link if member.link.startswith("/") else f"{base}/{member.link}"
                current = clean_member(target, f"the symlink {current!r}")
                continue
            if member.type == LINK:
                current = clean_member(member.link, f"the hard link {current!r}")
                continue
            raise FormatError(f"{current!r} in the {self.label} is not a file")
        raise FormatError(f"{name!r} in the {self.label} is a chain of more than {MAX_HOPS} links")

    def size(self, name: str) -> int:
        return self.members[self.resolve(name)].size


class TarFiles(_MemberTable):
    def __init__(self, f: BinaryIO, limits: Limits, label: str = "archive") -> None:
        super().__init__()
        self.label = label
        self._f = f
        name = getattr(f, "name", None)
        self._path = os.path.abspath(name) if isinstance(name, str) else None
        size = os.fstat(f.fileno()).st_size

        def seek(n: int) -> None:
            # Never past the end: a size claiming more than the file holds (up to 2**63 bytes)
            # would make the seek itself fail; the check below reports the truncation.
            f.seek(min(f.tell() + n, size))

        tar = TarReader(f.read, limits=limits, chunk=64 * 1024, seek=seek)
        last = ""
        while (header := tar.next()) is not None:
            link = names.to_text(header.linkname)
            self._add(
                header.name, _Member(header.type, tar.consumed, header.data_size, link), limits
            )
            last = names.display(header.name)
        # Seeks stop at the end of the file, so a cut inside a member's data would look like a
        # clean end of the listing: check the data we stepped over was really there.
        if tar.consumed > size:
            raise FormatError(
                f"the {label} is truncated: it ends {tar.consumed - size} bytes short, "
                f"inside {last!r}"
            )

    def open(self, name: str) -> AbstractContextManager[Readable]:
        resolved = self.resolve(name)
        member = self.members[resolved]

        @contextmanager
        def view() -> Iterator[Readable]:
            yield _Bounded(self._f, member.offset, member.size, resolved)

        return view()

    def location(self, name: str) -> FileRange | None:
        if not isinstance(self._path, str):
            return None
        member = self.members[self.resolve(name)]
        return FileRange(self._path, member.offset, member.size)


class DirFiles(Files):
    label = "layout directory"

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def _path(self, name: str) -> Path:
        clean = clean_member(name, self.label)
        path = (self.root / names.from_text(clean).decode("utf-8", "surrogateescape")).resolve()
        if not path.is_relative_to(self.root):
            raise FormatError(f"{name!r} resolves outside the {self.label}")
        if not path.is_file():
            raise FormatError(f"{name!r} is not in the {self.label}")
        return path

    def resolve(self, name: str) -> str:
        return str(self._path(name).relative_to(self.root))

    def size(self, name: str) -> int:
        return self._path(name).stat().st_size

    def open(self, name: str) -> AbstractContextManager[Readable]:
        return open(self._path(name), "rb")

    def location(self, name: str) -> FileRange | None:
        path = self._path(name)
        return FileRange(str(path), 0, path.stat().st_size)


class SpoolFiles(_MemberTable):
    """A stream walked once: small members kept, big ones handed to ``on_member``."""

    def __init__(
        self, read: Callable[[int], bytes], on_member: OnMember, limits: Limits, label: str
    ) -> None:
        super().__init__()
        self.label = label
        self.limit = limits.json_bytes
        self.kept: dict[str, bytes] = {}
        self.too_big: set[str] = set()  # JSON documents over limits.json_bytes, skipped
        kept_bytes = 0
        tar = TarReader(read, limits=limits)

        def read_exact(n: int) -> bytes:
            parts = []
            while n > 0:
                part = tar.read(n)
                if not part:
                    break
                parts.append(part)
                n -= len(part)
            return b"".join(parts)

        while (header := tar.next()) is not None:
            self._add(
                header.name,
                _Member(header.type, 0, header.data_size, names.to_text(header.linkname)),
                limits,
            )
            if header.type != REG:
                continue
            name = names.to_text(names.clean(header.name)[0])
            if header.data_size <= SMALL_MEMBER:
                kept_bytes += header.data_size
                if kept_bytes > SPOOL_BYTES:
                    raise LimitExceeded(
                        "too many small members to hold while streaming the archive"
                    )
                self.kept[name] = read_exact(header.data_size)
                continue
            head = tar.read(1)
            if head == b"{":
                # A JSON document, never a layer (no tar, gzip or zstd stream starts so).
                # Too big to be a manifest or config, it is something else the exporter
                # added (an SBOM, say): passed over, an error only if the image needs it.
                if header.data_size <= limits.json_bytes:
                    self.kept[name] = head + read_exact(header.data_size - 1)
                else:
                    self.too_big.add(name)
                    while tar.read(1 << 20):
                        pass
                continue
            on_member(name, header.data_size, _Prefixed(head, tar))
            if tar.read(1):
                raise FormatError(f"{name!r} was not read to its end")

    def open(self, name: str) -> AbstractContextManager[Readable]:
        resolved = self.resolve(name)
        if resolved in self.too_big:
            raise LimitExceeded(f"{resolved!r} is a JSON document over {self.limit} bytes")
        if resolved not in self.kept:
            raise FormatError(f"{resolved!r} was streamed past and cannot be read again")
        return io.BytesIO(self.kept[resolved])


class _Prefixed:
    def __init__(self, head: bytes, tar: TarReader) -> None:
        self._head, self._tar = head, tar

    def read(self, n: int = -1) -> bytes:
        if self._head:
            out, self._head = self._head, b""
            if n < 0 or n > 1:
                return out + self._tar.read(n - 1 if n > 0 else -1)
            return out
        return self._tar.read(n)
