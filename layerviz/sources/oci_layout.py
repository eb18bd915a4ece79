"""``oci:DIR[:REF]`` and ``oci-archive:PATH[:REF]`` — OCI image layouts, as a directory or a tar.

Layers may be uncompressed, gzip or zstd; indexes may nest; blobs of platforms that were not
exported may be missing, as the layout spec allows.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path

from layerviz.lib.errors import SourceError
from layerviz.lib.layer import FileRange
from layerviz.lib.streams import Readable

from .archive import ArchiveSource
from .base import LayerRef, ResolvedImage, Source, SourceOptions
from .files import DirFiles, Files
from .layouts import resolve_layout


class OciArchiveSource(ArchiveSource):
    label = "OCI archive"

    def resolve(self, files: Files) -> list[ResolvedImage]:
        return resolve_layout(files, want=self.want, options=self.options)


class OciDirSource(Source):
    def __init__(self, spec: str, options: SourceOptions, path: str, want: str | None) -> None:
        super().__init__(spec, options)
        root = Path(path)
        if not root.is_dir():
            raise SourceError(f"no such OCI layout directory: {path}")
        self.files = DirFiles(root)
        self.want = want

    def images(self) -> list[ResolvedImage]:
        return resolve_layout(self.files, want=self.want, options=self.options)

    def open_layer(self, image: ResolvedImage, layer: LayerRef) -> AbstractContextManager[Readable]:
        return self.files.open(layer.member)

    def layer_file(self, image: ResolvedImage, layer: LayerRef) -> FileRange | None:
        return self.files.location(layer.member)
