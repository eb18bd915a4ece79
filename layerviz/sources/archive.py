"""A tar archive on disk as an image source: ``docker-archive:`` and ``oci-archive:`` build on it.

A plain tar is read in place (its members located from their headers, layers opened in any
order); a gzip- or zstd-compressed one is streamed once, its layers indexed as they pass.
Subclasses say only how the archive's files hold images (``resolve``).
"""

from __future__ import annotations

import os
from contextlib import AbstractContextManager
from typing import BinaryIO

from layerviz.lib.errors import FormatError, SourceError
from layerviz.lib.layer import FileRange
from layerviz.lib.streams import (
    DECOMPRESS_ERRORS,
    NONE,
    Readable,
    VerifyingReader,
    decompressor,
    sniff,
)

from .base import LayerRef, OnMember, ResolvedImage, Source, SourceOptions
from .files import Files, SpoolFiles, TarFiles


def open_archive_file(path: str) -> BinaryIO:
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise SourceError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise SourceError(f"{path} is a directory, not an archive") from None
    except OSError as exc:
        raise SourceError(f"cannot open {path}: {exc.strerror}") from None


class ArchiveSource(Source):
    """A tar archive on disk: read in place when plain, streamed once when compressed."""

    label = "archive"

    def __init__(self, spec: str, options: SourceOptions, path: str, want: str | None) -> None:
        super().__init__(spec, options)
        self.path, self.want = path, want
        self._file = open_archive_file(path)
        self._counted = _Counting(self._file)
        self.compression = sniff(self._file.read(6))
        self._file.seek(0)
        self.files: Files | None = None
        if not self.streaming:
            self.files = TarFiles(self._file, options.limits, self.label)

    @property
    def streaming(self) -> bool:
        # A compressed tar cannot be read at an offset: it is decompressed once, front to back.
        return self.compression != NONE

    def resolve(self, files: Files) -> list[ResolvedImage]:
        raise NotImplementedError

    def _opened(self) -> Files:
        if self.files is None:  # the indexer asks a streamed archive only after stream()
            raise RuntimeError("a compressed archive's members are known only after stream()")
        return self.files

    def images(self) -> list[ResolvedImage]:
        return self.resolve(self._opened())

    def open_layer(self, image: ResolvedImage, layer: LayerRef) -> AbstractContextManager[Readable]:
        return self._opened().open(layer.member)

    def layer_file(self, image: ResolvedImage, layer: LayerRef) -> FileRange | None:
        return self.files.location(layer.member) if self.files is not None else None

    def stream(self, on_member: OnMember) -> list[ResolvedImage]:
        blob = VerifyingReader(self._counted, digest=None, size=None, cap=self.limits.image_bytes)
        reader = decompressor(blob, self.compression)
        try:
            self.files = SpoolFiles(reader.read, on_member, self.limits, self.label)
        except DECOMPRESS_ERRORS as exc:
            raise FormatError(
                f"the {self.compression}-compressed archive is corrupt: {exc}"
            ) from exc
        return self.resolve(self.files)

    def size_hint(self) -> int:
        return os.path.getsize(self.path)

    def position(self) -> int:
        return self._counted.count

    def close(self) -> None:
        self._file.close()


class _Counting:
    def __init__(self, f: BinaryIO) -> None:
        self._f, self.count = f, 0

    def read(self, n: int = -1) -> bytes:
        data = self._f.read(n)
        self.count += len(data)
        return data
