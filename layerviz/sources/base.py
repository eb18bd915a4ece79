"""The interface every image source implements, and what it hands to the indexer.

To add a source, copy the module of the closest one (``oci_layout`` for files on disk,
``registry`` for a remote API, ``docker_daemon`` for a stream), subclass ``Source``, and name
its transport in ``open_source`` (``__init__.py``). ``Source`` declares every method the indexer
calls; the optional ones have defaults that are right for a source that does not know.

A source is one of two kinds, told apart by its ``streaming`` property:

* **random access** (archive files, OCI directories, registries): ``images()`` reads only the
  small JSON documents and returns the resolved images; ``open_layer()`` then opens the blobs
  the indexer still needs, in any order. Layers already indexed are never read again.
* **streaming** (``docker save`` from the engine, compressed archives): ``stream()`` walks the
  archive once; every member that may be a layer goes to ``on_member`` as it passes, and the
  resolved images come back at the end, once the manifests (which sort last) have been seen.
  Members too small to be handed over were kept, and ``open_layer()`` reads them afterwards.

==================  =======================  ============================================
method              asked of                 default
==================  =======================  ============================================
``streaming``       every source             False: random access
``images()``        random access            required
``open_layer()``    both kinds               required
``prefetch()``      random access, optional  nothing: blobs are fetched when opened
``prefetched()``    with ``prefetch()``      (0, True): nothing downloading
``layer_file()``    random access, optional  None: only ``open_layer()`` reads the blob
``stream()``        streaming                required
``size_hint()``     streaming, optional      0: size unknown
``position()``      streaming, optional      None: no progress within the stream
``identity()``      streaming, optional      None: image not known before streaming
``references()``    with ``identity()``      []: no names to add
``close()``         every source             nothing to release
==================  =======================  ============================================

Both kinds return ``ResolvedImage`` objects whose config has already been checked against its
digest.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

from layerviz.lib.layer import FileRange
from layerviz.lib.limits import Limits
from layerviz.lib.oci import Descriptor, ImageConfig, Platform
from layerviz.lib.streams import Readable


@dataclasses.dataclass
class SourceOptions:
    platform: Platform | None = None  # asked for explicitly; else the host's where a choice exists
    pull: bool = False  # docker-daemon: let the engine pull the image first
    insecure: bool = False  # registries: allow plain HTTP (and unverified TLS) to any host
    username: str | None = None
    password: str | None = None
    # Read when the options are made, so a worker sees LAYERVIZ_MAX_* as set for its run.
    limits: Limits = dataclasses.field(default_factory=Limits.from_env)


@dataclasses.dataclass
class LayerRef:
    index: int
    descriptor: Descriptor  # digest None-like "" when the source names layers by path only
    diff_id: str
    member: str = ""  # the archive member holding the blob, for name-addressed layers
    listed_as: str = ""  # the name the archive's manifest gives it (before following symlinks)

    def label(self, count: int) -> str:
        return f"layer {self.index + 1}/{count} ({self.diff_id[:19]}…)"


@dataclasses.dataclass
class ResolvedImage:
    manifest_digest: str
    manifest_media_type: str
    manifest: dict
    manifest_synthesized: bool
    index_digest: str
    config: ImageConfig
    layers: list[LayerRef]
    references: list[str]  # names the source gives the image (fully normalised)


class Source:
    """An image source; the module docstring lists what each kind must define."""

    def __init__(self, spec: str, options: SourceOptions) -> None:
        self.spec = spec
        self.options = options

    @property
    def limits(self) -> Limits:
        return self.options.limits

    @property
    def streaming(self) -> bool:
        """Whether the indexer must walk the source once with ``stream()`` rather than ask
        ``images()`` and then ``open_layer()`` for the layers it lacks."""
        return False

    def images(self) -> list[ResolvedImage]:
        raise NotImplementedError

    def open_layer(self, image: ResolvedImage, layer: LayerRef) -> AbstractContextManager[Readable]:
        """The layer's blob as stored (compressed or not); for a streaming source, only after
        ``stream()`` and only for the members it kept rather than handed to ``on_member``."""
        raise NotImplementedError

    def prefetch(self, image: ResolvedImage, layers: list[LayerRef], *, directory: Path) -> None:
        """The indexer will read ``layers`` of ``image`` (those it lacks), before it asks
        ``layer_file()`` of each: a remote source may start fetching them, side by side, into
        temporary files under ``directory``, removed by ``close()``."""

    def prefetched(self, timeout: float) -> tuple[int, bool]:
        """Wait up to ``timeout`` seconds for what ``prefetch()`` started: the bytes downloaded
        so far, and whether every download has ended (a failed one too: ``layer_file()``
        raises its error). The indexer keeps its heartbeats and shows the bytes meanwhile."""
        return 0, True

    def layer_file(self, image: ResolvedImage, layer: LayerRef) -> FileRange | None:
        """Where the layer's blob lies on this machine, so that another process can read it
        (several layers are then read at once); None when only ``open_layer`` can."""
        return None

    def stream(self, on_member: OnMember) -> list[ResolvedImage]:
        raise NotImplementedError

    def identity(self) -> tuple[str, list[str]] | None:
        """A streaming source that knows the image before reading it: (image ID, diff_ids),
        so an image already indexed need not be streamed at all. None: not known."""
        return None

    def size_hint(self) -> int:
        """Bytes a streaming source will pass through ``on_member`` (0 when unknown)."""
        return 0

    def position(self) -> int | None:
        """Bytes of the source read so far while streaming, for progress against
        ``size_hint()``; None when the source cannot tell."""
        return None

    def references(self) -> list[str]:
        """Names (fully normalised) the source gives the image ``identity()`` names, added to it
        when that image is found already indexed; asked only of sources with ``identity()``."""
        return []

    def close(self) -> None:
        """Release what the source holds open; also called on leaving a ``with`` block."""

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# name, size of the member, a reader bounded to its data
OnMember = Callable[[str, int, Readable], None]
