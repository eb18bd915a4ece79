"""The images held in an archive's or layout's files, read from their JSON documents.

``resolve_layout`` reads OCI layouts (``oci:``, ``oci-archive:``, Docker 25+ and containerd-store
``docker save``); ``resolve_docker_manifest`` reads the legacy ``manifest.json`` of older saves;
``resolve_any`` tells the two apart for a ``docker save``. ``image_from_manifest`` builds the
image from a manifest and its config wherever they came from (registries use it too).
"""

from __future__ import annotations

from collections.abc import Callable

from layerviz.lib import oci
from layerviz.lib import reference as refs
from layerviz.lib.errors import FormatError, LimitExceeded, Unsupported
from layerviz.lib.limits import Limits
from layerviz.lib.oci import Descriptor, Platform

from .base import LayerRef, ResolvedImage, SourceOptions
from .files import Files, clean_member


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
    member_for: Callable[[str], str] = lambda digest: "",
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
        chosen = oci.select_platform([d for d, _ in candidates], options.platform, label)
        # The chooser sees descriptors only: the index the chosen one came from is found again.
        via = next(via for d, via in candidates if d is chosen)
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
