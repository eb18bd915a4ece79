"""Files inside an image archive or layout, and reading image layouts out of them.

Three ways to hold the files, one interface (``Files``):

* ``TarFiles``: a plain tar on disk, listed by reading only its headers, members then read
  through bounded views (never extracted);
* ``DirFiles``: an OCI layout directory, every name confined to it;
* ``SpoolFiles``: what a one-pass stream kept — small members in memory, big ones already
  handed to the indexer as they passed.

Names from ``manifest.json`` and ``index.json`` are untrusted: they are resolved only against the
archive's own member table, absolute and ``..`` names are refused, symlinks are followed inside
the archive with a hop limit, and a name given twice is an error (``image-format.md`` §5.4).

``resolve_layout`` reads OCI layouts (``oci:``, ``oci-archive:``, Docker 25+ and containerd-store
``docker save``); ``resolve_docker_manifest`` reads the legacy ``manifest.json`` of older saves.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import BinaryIO

from layerviz.lib import names, oci
from layerviz.lib import reference as refs
from layerviz.lib.errors import FormatError, LimitExceeded, SourceError, Unsupported
from layerviz.lib.layer import FileRange
from layerviz.lib.limits import Limits
from layerviz.lib.oci import Descriptor, Platform
from layerviz.lib.streams import (
    DECOMPRESS_ERRORS,
    NONE,
    Readable,
    VerifyingReader,
    decompressor,
    sniff,
)
from layerviz.lib.tarwalk import DIR, LINK, REG, SYMLINK, TarReader

from .base import LayerRef, OnMember, ResolvedImage, Source, SourceOptions

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
        tar = TarReader(
            f.read, limits=limits, chunk=64 * 1024, seek=lambda n: f.seek(n, os.SEEK_CUR)
        )
        last = ""
        while (header := tar.next()) is not None:
            link = names.to_text(header.linkname)
            self._add(
                header.name, _Member(header.type, tar.consumed, header.data_size, link), limits
            )
            last = names.display(header.name)
        # Seeking past the end of a file succeeds, so a cut inside a member's data would look
        # like a clean end of the listing: check the data we stepped over was really there.
        size = os.fstat(f.fileno()).st_size
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

    def __init__(self, read, on_member: OnMember, limits: Limits, label: str) -> None:
        super().__init__()
        self.label = label
        self.limit = limits.json_bytes
        self.kept: dict[str, bytes] = {}
        self.passed: set[str] = set()  # big members already handed to the indexer
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
            self.passed.add(name)
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


# --- OCI image layouts ----------------------------------------------------------------------


def _reference_names(name: str) -> list[str]:
    """Normalise a name from an annotation or RepoTags; bare tags cannot name an image."""
    if not name or (":" not in name and "/" not in name and "@" not in name):
        return []
    try:
        return [refs.normalize(name)]
    except ValueError:
        return []


def _matches(want: str, names_: list[str], raw: str) -> bool:
    if want == raw:
        return True
    try:
        return refs.normalize(want) in names_
    except ValueError:
        return False


def _choose(
    candidates: list[tuple[Descriptor, str]], options: SourceOptions, what: str
) -> tuple[Descriptor, str]:
    images = [(d, via) for d, via in candidates if not d.is_attestation]
    if not images:
        raise FormatError(f"{what} lists no image manifest")
    if len(images) == 1 and options.platform is None:
        return images[0]
    wanted = options.platform or oci.host_platform()
    chosen = oci.select_platform([d for d, _ in images], wanted, what)
    return next((d, via) for d, via in images if d is chosen)


class _Expander:
    """Manifests reachable from descriptors, each with the index it was found in.

    Indexes may share nested indexes, so each is read and parsed once per depth (its digest
    fixes its content); and every descriptor met counts against ``limits.index_entries``, the
    ones a shared index yields again included, so a small layout cannot fan out into millions.
    """

    def __init__(self, files: Files, limits: Limits) -> None:
        self.files, self.limits = files, limits
        self.seen: dict[tuple[str, int, Platform | None], list[tuple[Descriptor, str]]] = {}
        self.count = 0

    def _visit(self, n: int) -> None:
        self.count += n
        if self.count > self.limits.index_entries:
            raise LimitExceeded(
                f"the image indexes of the {self.files.label} list more than "
                f"{self.limits.index_entries} entries in all"
            )

    def expand(self, descriptor: Descriptor, via: str, depth: int) -> list[tuple[Descriptor, str]]:
        self._visit(1)
        if descriptor.media_type in oci.MANIFEST_TYPES:
            return [(descriptor, via)]
        if descriptor.media_type not in oci.INDEX_TYPES:
            return []  # unknown media types in an index must not cause an error
        # An index without a platform passes the one it was listed with to its children.
        key = (descriptor.digest, depth, descriptor.platform)
        if key in self.seen:
            self._visit(len(self.seen[key]))
            return self.seen[key]
        if depth >= self.limits.index_depth:
            raise LimitExceeded(
                f"image indexes nested deeper than {self.limits.index_depth} levels"
            )
        name = self.files.blob_name(descriptor.digest)
        if descriptor.data is None and not self.files.exists(name):
            return []  # a platform the exporter left out: allowed by the layout spec
        what = f"index {descriptor.digest[:19]}"
        data = self.files.read_blob(descriptor, what, self.limits)
        index = oci.parse_index(data, what, descriptor.media_type, self.limits)
        out = []
        for child in index.manifests:
            if child.platform is None and descriptor.platform is not None:
                child.platform = descriptor.platform
            out.extend(self.expand(child, descriptor.digest, depth + 1))
        self.seen[key] = out
        return out


def load_image(
    files: Files,
    descriptor: Descriptor,
    index_digest: str,
    references: list[str],
    options: SourceOptions,
) -> ResolvedImage:
    """Read a chosen manifest and its config from ``files``; both verified by digest."""
    limits = options.limits
    what = f"manifest {descriptor.digest[:19]}"
    data = files.read_blob(descriptor, what, limits)
    manifest = oci.parse_manifest(data, what, descriptor.media_type, limits)
    return image_from_manifest(
        manifest_bytes=data,
        manifest_digest=descriptor.digest,
        manifest=manifest,
        config_bytes=files.read_blob(manifest.config, f"config of {what}", limits),
        index_digest=index_digest,
        references=references,
        options=options,
        member_for=files.blob_name,
    )


def image_from_manifest(
    *,
    manifest_bytes: bytes,
    manifest_digest: str,
    manifest: oci.Manifest,
    config_bytes: bytes,
    index_digest: str,
    references: list[str],
    options: SourceOptions,
    member_for=lambda digest: "",
) -> ResolvedImage:
    config = oci.parse_config(config_bytes, manifest.config.digest, options.limits)
    check_platform(config.platform, options)
    if len(manifest.layers) != len(config.diff_ids):
        raise FormatError(
            f"manifest {manifest_digest[:19]} lists {len(manifest.layers)} layers "
            f"but its config has {len(config.diff_ids)} diff_ids"
        )
    layers = [
        LayerRef(index=i, descriptor=d, diff_id=config.diff_ids[i], member=member_for(d.digest))
        for i, d in enumerate(manifest.layers)
    ]
    for layer in layers:
        if layer.descriptor.urls and "foreign" in layer.descriptor.media_type:
            raise FormatError(
                f"{layer.label(len(layers))} is a foreign layer to be fetched from "
                f"{layer.descriptor.urls[0]!r}; layerviz does not fetch foreign URLs"
            )
    return ResolvedImage(
        manifest_digest=manifest_digest,
        manifest_media_type=manifest.media_type,
        manifest=oci.load_json(manifest_bytes, "manifest", options.limits),
        manifest_synthesized=False,
        index_digest=index_digest,
        config=config,
        layers=layers,
        references=references,
    )


def check_platform(platform: Platform, options: SourceOptions) -> None:
    if options.platform is not None and not options.platform.matches(platform):
        raise FormatError(f"the image is for {platform}, not for the requested {options.platform}")


def read_layout_index(files: Files, limits: Limits) -> oci.Index:
    """``index.json`` of an OCI layout, after checking ``oci-layout`` when there is one."""
    if files.exists("oci-layout"):
        layout = oci.load_json(
            files.read("oci-layout", "oci-layout", limits.json_bytes), "oci-layout", limits
        )
        version = layout.get("imageLayoutVersion") if isinstance(layout, dict) else None
        if not isinstance(version, str) or not version.startswith("1."):
            raise FormatError(f"unsupported OCI layout version {version!r}")
    return oci.parse_index(
        files.read("index.json", "index.json", limits.json_bytes), "index.json", None, limits
    )


def resolve_layout(
    files: Files,
    *,
    want: str | None,
    options: SourceOptions,
    repo_tags: dict[str, list[str]] | None = None,
    index: oci.Index | None = None,
) -> list[ResolvedImage]:
    """Images of an OCI layout: one per named entry of ``index.json`` (or ``want`` only)."""
    limits = options.limits
    if index is None:
        index = read_layout_index(files, limits)
    if not index.manifests:
        raise FormatError(f"the {files.label} holds no image: its index.json lists nothing")

    groups: dict[str, list[Descriptor]] = {}
    for descriptor in index.manifests:
        groups.setdefault(descriptor.ref_name, []).append(descriptor)
    if want is not None:
        selected = {
            raw: ds
            for raw, ds in groups.items()
            if raw and _matches(want, _reference_names(raw), raw)
        }
        if not selected:
            available = ", ".join(sorted(n for n in groups if n)) or "no named images"
            raise FormatError(
                f"the {files.label} has no image named {want!r} (it has: {available})"
            )
        groups = selected

    expander = _Expander(files, limits)
    images: dict[str, ResolvedImage] = {}
    for raw_name, descriptors in groups.items():
        candidates = []
        for descriptor in descriptors:
            candidates.extend(expander.expand(descriptor, "", 0))
        label = f"the image {raw_name!r}" if raw_name else f"index.json of the {files.label}"
        if not candidates:
            # Say what is there instead (schema 1, an unknown artifact type...).
            types = ", ".join(sorted({d.media_type for d in descriptors}))
            raise Unsupported(f"{label} lists no image manifest, only {types}")
        chosen, via = _choose(candidates, options, label)
        names_ = _reference_names(raw_name)
        if chosen.digest in images:
            images[chosen.digest].references.extend(
                n for n in names_ if n not in images[chosen.digest].references
            )
            continue
        image = load_image(files, chosen, via, names_, options)
        for tag in (repo_tags or {}).get(image.config.digest, []):
            if tag not in image.references:
                image.references.append(tag)
        images[chosen.digest] = image
    return list(images.values())


def docker_repo_tags(files: Files, limits: Limits) -> dict[str, list[str]]:
    """Config digest -> RepoTags from a ``manifest.json`` (Docker 25+ saves have both files)."""
    if not files.exists("manifest.json"):
        return {}
    out: dict[str, list[str]] = {}
    for item in _manifest_items(files, limits):
        config_name = clean_member(str(item.get("Config")), "manifest.json")
        if not config_name.startswith("blobs/"):
            continue
        digest = config_name.removeprefix("blobs/").replace("/", ":", 1)
        out.setdefault(digest, []).extend(_repo_tags(item))
    return out


def _manifest_items(files: Files, limits: Limits) -> list[dict]:
    items = oci.load_json(
        files.read("manifest.json", "manifest.json", limits.json_bytes), "manifest.json", limits
    )
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise FormatError("manifest.json is not a list of images")
    return items


def _repo_tags(item: dict) -> list[str]:
    tags = item.get("RepoTags") or []
    if not isinstance(tags, list):
        raise FormatError("manifest.json has invalid RepoTags")
    out = []
    for tag in tags:
        out.extend(_reference_names(str(tag)))
    return out


def resolve_docker_manifest(
    files: Files, *, want: str | None, options: SourceOptions
) -> list[ResolvedImage]:
    """Images of a legacy ``docker save`` (``manifest.json`` + ``<id>/layer.tar``)."""
    limits = options.limits
    items = _manifest_items(files, limits)
    if not items:
        raise FormatError("manifest.json lists no images")
    images: list[ResolvedImage] = []
    for n, item in enumerate(items):
        tags = _repo_tags(item)
        if want is not None and not _matches(want, tags, want):
            continue
        config_name = clean_member(str(item.get("Config")), "manifest.json")
        config_bytes = files.read(config_name, f"config {config_name}", limits.json_bytes)
        config_digest = oci.sha256_digest(config_bytes)
        config = oci.parse_config(config_bytes, config_digest, limits)
        check_platform(config.platform, options)
        members = item.get("Layers")
        if not isinstance(members, list):
            raise FormatError(f"image {n + 1} of manifest.json has no Layers list")
        if len(members) != len(config.diff_ids):
            raise FormatError(
                f"manifest.json lists {len(members)} layers but the config has "
                f"{len(config.diff_ids)} diff_ids"
            )
        layers = []
        sizes = []
        for i, member in enumerate(members):
            listed = clean_member(str(member), "manifest.json")
            name = files.resolve(listed)
            size = files.size(name)
            diff_id = config.diff_ids[i]
            sizes.append((diff_id, size))
            # Name-addressed: the blob digest is only known once read (it is the diff_id when
            # the file is an uncompressed tar), so the descriptor carries none.
            descriptor = Descriptor(media_type=oci.DOCKER_LAYER_TAR, digest="", size=size)
            layers.append(
                LayerRef(
                    index=i, descriptor=descriptor, diff_id=diff_id, member=name, listed_as=listed
                )
            )
        manifest = oci.synthesize_manifest(config_digest, len(config_bytes), sizes)
        images.append(
            ResolvedImage(
                manifest_digest=oci.sha256_digest(manifest),
                manifest_media_type=oci.DOCKER_MANIFEST,
                manifest=oci.load_json(manifest, "manifest", limits),
                manifest_synthesized=True,
                index_digest="",
                config=config,
                layers=layers,
                references=tags,
            )
        )
    if not images:
        raise FormatError(f"the {files.label} has no image named {want!r}")
    return images


def resolve_any(files: Files, *, want: str | None, options: SourceOptions) -> list[ResolvedImage]:
    """A ``docker save`` of any Docker version: OCI layout when there is one, else legacy."""
    if files.exists("index.json"):
        index = read_layout_index(files, options.limits)
        # Docker 25.0.0-25.0.2 wrote an empty index.json for ``docker save img@digest``
        # (moby#47294); the manifest.json beside it is right.
        if index.manifests or not files.exists("manifest.json"):
            return resolve_layout(
                files,
                want=want,
                options=options,
                repo_tags=docker_repo_tags(files, options.limits),
                index=index,
            )
    if files.exists("manifest.json"):
        return resolve_docker_manifest(files, want=want, options=options)
    raise FormatError(
        f"the {files.label} has neither index.json nor manifest.json: not an image archive"
    )


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
        self.streaming = self.compression != NONE
        self.files: Files | None = None
        if not self.streaming:
            self.files = TarFiles(self._file, options.limits, self.label)

    def resolve(self, files: Files) -> list[ResolvedImage]:
        raise NotImplementedError

    def images(self) -> list[ResolvedImage]:
        return self.resolve(self.files)

    def open_layer(self, image: ResolvedImage, layer: LayerRef) -> AbstractContextManager[Readable]:
        return self.files.open(layer.member)

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
