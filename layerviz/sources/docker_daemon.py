"""``docker-daemon:REF`` — an image in the local Docker engine, streamed from ``docker save``.

With ``--pull`` the engine pulls the image first. The save stream is read once and never
written to disk: layers are indexed as they pass, the manifests that sort last are kept.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import AbstractContextManager

from layerviz.adapters import docker_engine
from layerviz.lib import reference as refs
from layerviz.lib.errors import FormatError
from layerviz.lib.streams import Readable

from .base import LayerRef, OnMember, ResolvedImage, Source, SourceOptions
from .files import SpoolFiles
from .layouts import resolve_any


class _ChunkReader:
    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._buf = b""
        self.count = 0

    def read(self, n: int = -1) -> bytes:
        while not self._buf:
            chunk = next(self._chunks, None)
            if chunk is None:
                return b""
            self._buf = chunk
        if n < 0 or n >= len(self._buf):
            out, self._buf = self._buf, b""
        else:
            out, self._buf = self._buf[:n], self._buf[n:]
        self.count += len(out)
        return out


def is_inspected(image: ResolvedImage, image_id: str) -> bool:
    """Whether ``image`` is the one whose ``docker image inspect`` Id is ``image_id``.

    The classic store's Id is the config digest; the containerd store's (Docker 29's default)
    is the digest of what the name points at: the manifest, or the index of a multi-platform
    image.
    """
    return bool(image_id) and image_id in (
        image.config.digest,
        image.manifest_digest,
        image.index_digest,
    )


class DaemonSource(Source):
    def __init__(self, spec: str, options: SourceOptions, ref: str) -> None:
        super().__init__(spec, options)
        self.ref = ref
        self._reader: _ChunkReader | None = None
        if options.pull:
            docker_engine.image_pull(
                ref=ref, platform=str(options.platform) if options.platform else None
            )
        self.inspect = docker_engine.image_inspect(ref=ref)

    @property
    def streaming(self) -> bool:
        # ``docker save`` is a pipe from the engine, read once.
        return True

    def identity(self) -> tuple[str, list[str]]:
        """The image ID and diff_ids the engine reports, known before any byte is streamed."""
        rootfs = self.inspect.get("RootFS") or {}
        return str(self.inspect.get("Id", "")), list(rootfs.get("Layers") or [])

    def references(self) -> list[str]:
        out = []
        for name in (self.inspect.get("RepoTags") or []) + (self.inspect.get("RepoDigests") or []):
            try:
                out.append(refs.normalize(name))
            except ValueError:
                continue
        return out

    def size_hint(self) -> int:
        return int(self.inspect.get("Size") or 0)

    def position(self) -> int:
        return self._reader.count if self._reader else 0

    def open_layer(self, image: ResolvedImage, layer: LayerRef) -> AbstractContextManager[Readable]:
        return self.files.open(layer.member)

    def stream(self, on_member: OnMember) -> list[ResolvedImage]:
        image_id = self.inspect.get("Id")
        self._reader = _ChunkReader(docker_engine.image_save(ref=image_id or self.ref))
        self.files = files = SpoolFiles(
            self._reader.read, on_member, self.limits, "docker save stream"
        )
        images = [
            i
            for i in resolve_any(files, want=None, options=self.options)
            if is_inspected(i, str(image_id or ""))
        ]
        if not images:
            raise FormatError(f"the engine's save of {self.ref} does not contain image {image_id}")
        image = images[0]
        image.references = self.references()
        return [image]
