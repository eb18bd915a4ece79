"""``docker-archive:PATH[:REF]`` — a ``docker save`` tarball from any Docker version.

Legacy saves (``manifest.json`` + ``<id>/layer.tar``, symlinked duplicates included), Docker 25+
saves (an OCI layout plus ``manifest.json``, uncompressed blobs) and containerd-store saves
(compressed gzip/zstd blobs, nested index) are all told apart by their content, never by names.
A gzip- or zstd-compressed archive (``docker save | gzip``) is streamed in one pass.
"""

from __future__ import annotations

from .archive import ArchiveSource
from .base import ResolvedImage
from .files import Files
from .layouts import resolve_any


class DockerArchiveSource(ArchiveSource):
    label = "docker archive"

    def resolve(self, files: Files) -> list[ResolvedImage]:
        return resolve_any(files, want=self.want, options=self.options)
