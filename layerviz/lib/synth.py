"""Real image archives from Python descriptions: layers, configs, manifests, layouts.

Tests, benchmarks and the demo data describe images in a few lines and get the bytes a real
producer would write, with real digests:

    from layerviz.lib import synth
    from layerviz.lib.tarwriter import file, whiteout

    base = synth.layer([file("etc/os-release", b"ID=demo\\n")])
    app = synth.layer([file("app/main.py", b"print(1)\\n"), whiteout("etc/motd")])
    synth.write_docker_archive(path, [synth.Image([base, app], tags=["lv/app:1.0"])])

Everything is deterministic: the same description gives the same bytes, so the same digests, on
every run. The entries and their tar bytes come from ``lib/tarwriter.py``; ``layer`` is here
because it writes a tar the way Docker lays out a layer (each missing parent directory listed
before its first child). This module imports from tarwriter what it uses itself (``Entry``,
``file``, ``symlink``, ``tar``, ``compress``), so ``synth.file(…)`` and ``synth.symlink(…)``
also work; every other constructor is imported from tarwriter.

The layouts follow ``image-format.md`` §1.6: ``legacy`` is Docker <= 24's ``docker save``,
``docker25`` the OCI layout Docker >= 25 writes from its classic store, ``containerd`` what the
containerd image store exports (compressed blobs, nested index, attestations, missing platforms).
Nothing here imports Django.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from collections.abc import Collection, Iterable, Sequence
from pathlib import Path
from typing import Any

from . import oci
from . import reference as refs
from .oci import sha256_digest
from .tarwriter import Entry, compress, file, symlink, tar

CREATED = "2023-11-14T22:13:20Z"
DEFAULT_ENV = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]

LAYER_MEDIA_TYPES = {
    "oci": {
        "none": "application/vnd.oci.image.layer.v1.tar",
        "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
        "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
    },
    "docker": {
        "none": "application/vnd.docker.image.rootfs.diff.tar",
        "gzip": "application/vnd.docker.image.rootfs.diff.tar.gzip",
        "zstd": "application/vnd.docker.image.rootfs.diff.tar.zstd",
    },
}
MANIFEST_MEDIA_TYPES = {"oci": oci.OCI_MANIFEST, "docker": oci.DOCKER_MANIFEST}
CONFIG_MEDIA_TYPES = {"oci": oci.OCI_CONFIG, "docker": oci.DOCKER_CONFIG}
INDEX_MEDIA_TYPES = {"oci": oci.OCI_INDEX, "docker": oci.DOCKER_LIST}
IN_TOTO = "application/vnd.in-toto+json"


@functools.lru_cache(maxsize=32)
def sha256(data: bytes) -> str:
    """``sha256:<hex>`` of ``data``. An archive of many images holds the same base layer in
    each: the bytes object caches its own hash, so a repeat costs a lookup, not a digest."""
    return sha256_digest(data)


def layer(entries: Iterable[Entry], *, fmt: str = "pax", parents: bool = True) -> bytes:
    """An uncompressed layer tar. With ``parents`` every parent directory missing from
    ``entries`` is listed before its first child, as Docker's layer tars do; a directory that
    ``entries`` lists itself keeps its place and attributes."""
    return tar(entries, fmt=fmt, parents=parents)


def dump(doc: Any) -> bytes:
    """Compact JSON with keys in the order given: digests are of these exact bytes."""
    text = json.dumps(doc, separators=(",", ":"), ensure_ascii=False)
    try:
        return text.encode()
    except UnicodeEncodeError:
        # A lone surrogate (hostile-input tests) has no UTF-8 form; JSON's \ud800 escape does.
        return json.dumps(doc, separators=(",", ":")).encode()


# --- images ----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Blob:
    digest: str
    data: bytes
    media_type: str
    annotations: dict[str, str] | None = None  # for the descriptors that point at it

    @classmethod
    def of(cls, data: bytes, media_type: str, annotations: dict[str, str] | None = None) -> Blob:
        return cls(sha256(data), data, media_type, annotations)

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def path(self) -> str:
        """Where an OCI layout keeps it."""
        return "blobs/" + self.digest.replace(":", "/", 1)

    def descriptor(self, **extra: Any) -> dict[str, Any]:
        doc = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        if self.annotations:
            doc["annotations"] = self.annotations
        return doc | extra


@dataclasses.dataclass
class Step:
    """One ``history`` item of an image config."""

    created_by: str
    empty_layer: bool = False
    created: str = CREATED
    comment: str = ""


@dataclasses.dataclass
class Image:
    """One single-platform image. ``layers`` are uncompressed tars, bottom first."""

    layers: list[bytes]
    compression: str | list[str] = "none"  # one for all layers, or one per layer
    history: list[Step] | None = None  # None: one step per layer
    env: list[str] = dataclasses.field(default_factory=lambda: list(DEFAULT_ENV))
    cmd: list[str] | None = None
    entrypoint: list[str] | None = None
    working_dir: str = ""
    user: str = ""
    labels: dict[str, str] | None = None
    exposed_ports: list[str] | None = None  # ["80/tcp"]
    os: str = "linux"
    architecture: str = "amd64"
    variant: str = ""
    created: str = CREATED
    tags: list[str] = dataclasses.field(default_factory=list)
    media_types: str = "oci"  # or "docker" (schema 2 manifest and rootfs.diff media types)
    diff_ids: list[str] | None = None  # what the config claims; None means the true ones

    @property
    def platform(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)

    def is_for(self, platform: str) -> bool:
        """Whether ``platform`` ("linux/arm64", "linux/arm/v7") names this image's platform,
        normalised as readers do (so "linux/arm64" matches arm64/v8)."""
        wanted = oci.Platform.parse(platform)
        return wanted.matches(oci.Platform(self.os, self.architecture, self.variant))

    def compressions(self) -> list[str]:
        if isinstance(self.compression, str):
            return [self.compression] * len(self.layers)
        if len(self.compression) != len(self.layers):
            raise ValueError("give one compression per layer, or one for all")
        return list(self.compression)

    def config_doc(self, diff_ids: list[str]) -> dict[str, Any]:
        settings: dict[str, Any] = {}
        if self.user:
            settings["User"] = self.user
        if self.exposed_ports:
            settings["ExposedPorts"] = {port: {} for port in self.exposed_ports}
        if self.env:
            settings["Env"] = self.env
        if self.entrypoint is not None:
            settings["Entrypoint"] = self.entrypoint
        if self.cmd is not None:
            settings["Cmd"] = self.cmd
        if self.working_dir:
            settings["WorkingDir"] = self.working_dir
        if self.labels:
            settings["Labels"] = self.labels
        history = self.history
        if history is None:
            history = [Step(f"synth layer {i + 1}") for i in range(len(self.layers))]
        doc: dict[str, Any] = {
            "architecture": self.architecture,
            "config": settings,
            "created": self.created,
            "history": [
                {
                    "created": step.created,
                    "created_by": step.created_by,
                    **({"comment": step.comment} if step.comment else {}),
                    **({"empty_layer": True} if step.empty_layer else {}),
                }
                for step in history
            ],
            "os": self.os,
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }
        if self.variant:
            doc["variant"] = self.variant
        return doc

    def build(self) -> BuiltImage:
        kinds = LAYER_MEDIA_TYPES[self.media_types]
        diff_ids = [sha256(tar_bytes) for tar_bytes in self.layers]
        layers = [
            Blob.of(compress(tar_bytes, kind), kinds[kind])
            for tar_bytes, kind in zip(self.layers, self.compressions(), strict=True)
        ]
        claimed = self.diff_ids if self.diff_ids is not None else diff_ids
        config = Blob.of(dump(self.config_doc(claimed)), CONFIG_MEDIA_TYPES[self.media_types])
        built = manifest(config, layers, MANIFEST_MEDIA_TYPES[self.media_types])
        return BuiltImage(self, config, diff_ids, layers, built)


def manifest(config: Blob, layers: Sequence[Blob], media_type: str = oci.OCI_MANIFEST) -> Blob:
    """An image manifest of ``config`` and ``layers``, as stored (any blobs, any types)."""
    doc = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": config.descriptor(),
        "layers": [blob.descriptor() for blob in layers],
    }
    return Blob.of(dump(doc), media_type)


@dataclasses.dataclass(frozen=True)
class BuiltImage:
    image: Image
    config: Blob
    diff_ids: list[str]  # of the layer tars as written (``image.diff_ids`` may claim others)
    layers: list[Blob]
    manifest: Blob

    @property
    def blobs(self) -> list[Blob]:
        return [self.manifest, self.config, *self.layers]


@dataclasses.dataclass
class ImageIndex:
    """A multi-platform image: one ``Image`` per platform, named by the index's ``tags``."""

    images: list[Image]
    tags: list[str] = dataclasses.field(default_factory=list)
    attestations: bool = False  # a BuildKit attestation manifest after each platform's
    media_types: str = "oci"

    def build(self) -> BuiltIndex:
        built = [image.build() for image in self.images]
        extra: list[Blob] = []
        entries = [b.manifest.descriptor(platform=_platform_doc(b.image)) for b in built]
        if self.attestations:
            for b in built:
                attestation, blobs = _attestation(b)
                extra.extend([attestation, *blobs])
                entries.append(
                    attestation.descriptor(
                        annotations={
                            "vnd.docker.reference.digest": b.manifest.digest,
                            oci.ATTESTATION_ANNOTATION: "attestation-manifest",
                        },
                        platform={"architecture": "unknown", "os": "unknown"},
                    )
                )
        media_type = INDEX_MEDIA_TYPES[self.media_types]
        index = Blob.of(
            dump({"schemaVersion": 2, "mediaType": media_type, "manifests": entries}), media_type
        )
        return BuiltIndex(self, index, built, extra)


@dataclasses.dataclass(frozen=True)
class BuiltIndex:
    source: ImageIndex
    index: Blob
    images: list[BuiltImage]
    attestation_blobs: list[Blob]

    def blobs(self, omit: Collection[str] = ()) -> list[Blob]:
        """Every blob, leaving out the manifests, configs and layers of ``omit`` platforms
        (as containerd's exporter does for platforms it never pulled)."""
        out = [self.index]
        for built in self.images:
            if not any(built.image.is_for(p) for p in omit):
                out.extend(built.blobs)
        return out + self.attestation_blobs


def _platform_doc(image: Image) -> dict[str, str]:
    doc = {"architecture": image.architecture, "os": image.os}
    if image.variant:
        doc["variant"] = image.variant
    return doc


def _attestation(built: BuiltImage) -> tuple[Blob, list[Blob]]:
    """A BuildKit-style attestation manifest (an in-toto SBOM statement) for ``built``."""
    statement = Blob.of(
        dump(
            {
                "_type": "https://in-toto.io/Statement/v0.1",
                "predicateType": "https://spdx.dev/Document",
                "subject": [{"name": "synth", "digest": {"sha256": built.manifest.digest[7:]}}],
                "predicate": {"spdxVersion": "SPDX-2.3", "name": "synth"},
            }
        ),
        IN_TOTO,
        {"in-toto.io/predicate-type": "https://spdx.dev/Document"},
    )
    config = Blob.of(
        dump(
            {
                "architecture": "unknown",
                "os": "unknown",
                "config": {},
                "rootfs": {"type": "layers", "diff_ids": [statement.digest]},
            }
        ),
        oci.OCI_CONFIG,
    )
    return manifest(config, [statement]), [config, statement]


# --- archives and layouts --------------------------------------------------------------------


def _names(tag: str) -> tuple[str, str, str]:
    """``"lv/app:1.0"`` -> (full name, familiar repository, tag)."""
    ref = refs.parse(tag)
    return str(ref), ref.with_tag(None).familiar(), ref.tag or "latest"


def _familiar(tag: str) -> str:
    return refs.parse(tag).familiar()


def _blob_entries(blobs: Iterable[Blob]) -> list[Entry]:
    seen: dict[str, Entry] = {}
    for blob in blobs:
        seen.setdefault(blob.path, file(blob.path, blob.data))
    return list(seen.values())


def _layout_files(index_doc: dict[str, Any]) -> list[Entry]:
    return [
        file("oci-layout", dump({"imageLayoutVersion": "1.0.0"})),
        file("index.json", dump(index_doc)),
    ]


def _lexical(entries: list[Entry]) -> list[Entry]:
    # moby tars its temporary directory in lexical order: blobs/ before index.json.
    return sorted(entries, key=lambda e: e.path)


def _repositories(tags_to_ids: list[tuple[str, str]]) -> Entry:
    repos: dict[str, dict[str, str]] = {}
    for tag, top in tags_to_ids:
        _, repo, name = _names(tag)
        repos.setdefault(repo, {})[name] = top
    return file("repositories", dump(repos))


def legacy_entries(images: Sequence[Image]) -> list[Entry]:
    """Members of a Docker <= 24 ``docker save``: ``<id>/layer.tar`` dirs and ``manifest.json``.

    A layer repeated (in one image or across images) is stored once; every other copy is a
    ``layer.tar`` symlink to ``../<first id>/layer.tar``, as old moby wrote it.
    """
    members: dict[str, Entry] = {}
    stored: dict[str, str] = {}  # diff_id -> v1 id holding the tar
    manifest_json = []
    tags_to_ids: list[tuple[str, str]] = []
    for image in images:
        image = dataclasses.replace(image, compression="none")
        built = image.build()
        parent = ""
        layer_names = []
        chain = oci.chain_ids(built.diff_ids)
        for i, diff_id in enumerate(built.diff_ids):
            v1_id = hashlib.sha256(f"{parent} {chain[i]}".encode()).hexdigest()
            layer_names.append(f"{v1_id}/layer.tar")
            if f"{v1_id}/json" not in members:
                v1 = {"id": v1_id, **({"parent": parent} if parent else {})}
                v1 |= {"created": image.created, "os": image.os}
                members[f"{v1_id}/VERSION"] = file(f"{v1_id}/VERSION", b"1.0")
                members[f"{v1_id}/json"] = file(f"{v1_id}/json", dump(v1))
                if diff_id in stored:
                    target = f"../{stored[diff_id]}/layer.tar"
                    members[f"{v1_id}/layer.tar"] = symlink(f"{v1_id}/layer.tar", target)
                else:
                    stored[diff_id] = v1_id
                    members[f"{v1_id}/layer.tar"] = file(f"{v1_id}/layer.tar", image.layers[i])
            parent = v1_id
        config_name = f"{built.config.digest[7:]}.json"
        members[config_name] = file(config_name, built.config.data)
        manifest_json.append(
            {
                "Config": config_name,
                "RepoTags": [_familiar(t) for t in image.tags] or None,
                "Layers": layer_names,
            }
        )
        tags_to_ids.extend((tag, parent) for tag in image.tags)
    members["manifest.json"] = file("manifest.json", dump(manifest_json))
    members["repositories"] = _repositories(tags_to_ids)
    return _lexical(list(members.values()))


def docker25_entries(images: Sequence[Image]) -> list[Entry]:
    """Members of a Docker >= 25 classic-store ``docker save``: an OCI layout of uncompressed
    blobs, plus ``manifest.json`` and ``repositories`` for older loaders."""
    blobs: list[Blob] = []
    index = []
    manifest_json = []
    tags_to_ids: list[tuple[str, str]] = []
    for image in images:
        image = dataclasses.replace(image, compression="none")
        built = image.build()
        blobs.extend(built.blobs)
        for tag in image.tags:
            full, _, short = _names(tag)
            index.append(
                built.manifest.descriptor(
                    annotations={oci.CONTAINERD_NAME: full, oci.REF_NAME: short}
                )
            )
        if not image.tags:
            index.append(built.manifest.descriptor())
        manifest_json.append(
            {
                "Config": built.config.path,
                "RepoTags": [_familiar(t) for t in image.tags] or None,
                "Layers": [blob.path for blob in built.layers],
            }
        )
        tags_to_ids.extend((tag, built.config.digest[7:]) for tag in image.tags)
    entries = _blob_entries(blobs)
    entries += _layout_files({"schemaVersion": 2, "mediaType": oci.OCI_INDEX, "manifests": index})
    entries += [file("manifest.json", dump(manifest_json)), _repositories(tags_to_ids)]
    return _lexical(entries)


def _pick(built: BuiltIndex, platform: str | None, omit: Collection[str]) -> BuiltImage:
    present = [b for b in built.images if not any(b.image.is_for(p) for p in omit)]
    for b in present:
        if platform is None or b.image.is_for(platform):
            return b
    raise ValueError(f"no platform {platform!r} left to name in manifest.json")


def containerd_entries(
    images: Sequence[Image | ImageIndex],
    *,
    platform: str | None = None,
    omit: Collection[str] = (),
) -> list[Entry]:
    """Members of a containerd-store ``docker save``: blobs as stored (compressed, named by the
    compressed digest), a nested index for multi-platform images, ``manifest.json`` naming
    one platform (``platform``, else the first one present)."""
    blobs: list[Blob] = []
    index = []
    manifest_json = []
    for image in images:
        built = image.build()
        if isinstance(built, BuiltIndex):
            blobs.extend(built.blobs(omit))
            top, tags = built.index, built.source.tags
            named = _pick(built, platform, omit)
        else:
            blobs.extend(built.blobs)
            top, tags, named = built.manifest, built.image.tags, built
        for tag in tags:
            full, _, short = _names(tag)
            index.append(
                top.descriptor(annotations={oci.CONTAINERD_NAME: full, oci.REF_NAME: short})
            )
        if not tags:
            index.append(top.descriptor())
        manifest_json.append(
            {
                "Config": named.config.path,
                "RepoTags": [_familiar(t) for t in tags] or None,
                "Layers": [blob.path for blob in named.layers],
            }
        )
    entries = _blob_entries(blobs)
    entries += _layout_files({"schemaVersion": 2, "mediaType": oci.OCI_INDEX, "manifests": index})
    entries.append(file("manifest.json", dump(manifest_json)))
    return _lexical(entries)


def oci_entries(images: Sequence[Image | ImageIndex], *, omit: Collection[str] = ()) -> list[Entry]:
    """Files of an OCI image layout: one ``index.json`` entry per tag, each carrying the tag
    verbatim in ``org.opencontainers.image.ref.name`` (skopeo writes a bare ``latest``; a
    full reference is allowed too)."""
    blobs: list[Blob] = []
    index: list[dict[str, Any]] = []
    for image in images:
        built = image.build()
        if isinstance(built, BuiltIndex):
            blobs.extend(built.blobs(omit))
            top, tags = built.index, built.source.tags
        else:
            blobs.extend(built.blobs)
            top, tags = built.manifest, built.image.tags
        index.extend(top.descriptor(annotations={oci.REF_NAME: tag}) for tag in tags)
        if not tags:
            index.append(top.descriptor())
    entries = _blob_entries(blobs)
    entries += _layout_files({"schemaVersion": 2, "mediaType": oci.OCI_INDEX, "manifests": index})
    return _lexical(entries)


def write_tar(path: str | Path, entries: Iterable[Entry], *, compression: str = "none") -> Path:
    """An archive of ``entries`` (parent directories added), optionally compressed whole."""
    path = Path(path)
    path.write_bytes(compress(tar(entries, parents=True), compression))
    return path


def write_docker_archive(
    path: str | Path,
    images: Sequence[Image | ImageIndex],
    *,
    layout: str = "legacy",
    compression: str = "none",
    platform: str | None = None,
    omit: Collection[str] = (),
) -> Path:
    """A ``docker save`` tarball (``compression`` as if piped through ``gzip``/``zstd``).

    ``legacy`` and ``docker25`` store layers uncompressed whatever ``Image.compression`` says,
    as Docker's classic store does, and hold single-platform images only. ``containerd`` keeps
    each layer's compression and takes ``ImageIndex`` too; ``platform`` names the one platform
    ``manifest.json`` lists and ``omit`` leaves platforms' content out.
    """
    if layout == "containerd":
        entries = containerd_entries(images, platform=platform, omit=omit)
    else:
        single = [i for i in images if isinstance(i, Image)]
        if len(single) != len(images):
            raise ValueError(f"the {layout} layout holds single-platform images only")
        if layout == "legacy":
            entries = legacy_entries(single)
        elif layout == "docker25":
            entries = docker25_entries(single)
        else:
            raise ValueError(f"layout must be legacy, docker25 or containerd, not {layout!r}")
    return write_tar(path, entries, compression=compression)


def write_directory(path: str | Path, entries: Iterable[Entry]) -> Path:
    """Regular files of ``entries`` written under the directory ``path``."""
    root = Path(path)
    for entry in entries:
        target = root / entry.path.decode()
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(entry.data)
    return root


def write_oci_layout(
    path: str | Path,
    images: Sequence[Image | ImageIndex],
    *,
    as_tar: bool = False,
    omit: Collection[str] = (),
) -> Path:
    """An OCI image layout: a directory (``oci:``) or, with ``as_tar``, a tar (``oci-archive:``)."""
    entries = oci_entries(images, omit=omit)
    if as_tar:
        return write_tar(path, entries)
    return write_directory(path, entries)
