"""OCI and Docker image documents: media types, descriptors, manifests, indexes and configs.

Every document is parsed from its raw bytes with size and nesting caps, and checked against the
rules of the image spec that matter for indexing (``image-format.md`` §1). Digests are always
computed over the raw bytes, never over re-serialised JSON.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import platform as _platform
import re
from typing import Any

from .errors import DigestMismatch, FormatError, LimitExceeded, Unsupported
from .limits import DEFAULT, Limits

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_SCHEMA1 = (
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
)
DOCKER_LAYER_TAR = "application/vnd.docker.image.rootfs.diff.tar"

INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
MANIFEST_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)
CONFIG_TYPES = (OCI_CONFIG, DOCKER_CONFIG)
# Every manifest type we can read, in the order a registry should prefer them.
ACCEPT = (OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST)

LAYER_TYPES = {
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd",
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
    "application/vnd.docker.image.rootfs.diff.tar",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.diff.tar.zstd",
    "application/vnd.docker.image.rootfs.foreign.diff.tar",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
}

ATTESTATION_ANNOTATION = "vnd.docker.reference.type"
REF_NAME = "org.opencontainers.image.ref.name"
CONTAINERD_NAME = "io.containerd.image.name"

MAX_SIZE = 2**63 - 1

_DIGEST = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$")
_HEX = {"sha256": re.compile(r"^[a-f0-9]{64}$"), "sha512": re.compile(r"^[a-f0-9]{128}$")}


def sha256_digest(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def digest_of(data: bytes, like: str) -> str:
    algorithm = like.partition(":")[0]
    if algorithm not in _HEX:
        raise Unsupported(f"digest algorithm {algorithm!r} is not supported")
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


def check_digest(value: Any, what: str) -> str:
    if not isinstance(value, str) or not _DIGEST.match(value):
        raise FormatError(f"{what} has an invalid digest {value!r}")
    algorithm, _, encoded = value.partition(":")
    pattern = _HEX.get(algorithm)
    if pattern is None:
        raise Unsupported(f"{what} uses the unsupported digest algorithm {algorithm!r}")
    if not pattern.match(encoded):
        raise FormatError(f"{what} has an invalid {algorithm} digest {value!r}")
    return value


def verify_blob(data: bytes, digest: str, size: int | None, what: str) -> None:
    if size is not None and len(data) != size:
        raise DigestMismatch(f"{what} is {len(data)} bytes but its descriptor says {size}")
    actual = digest_of(data, digest)
    if actual != digest:
        raise DigestMismatch(f"{what} hashes to {actual}, not to {digest}")


def load_json(data: bytes, what: str, limits: Limits = DEFAULT) -> Any:
    """Parse a JSON document under the size and nesting caps."""
    if len(data) > limits.json_bytes:
        raise LimitExceeded(f"{what} is {len(data)} bytes (limit {limits.json_bytes})")
    try:
        value = json.loads(data)
    except RecursionError:
        raise LimitExceeded(f"{what} is nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise FormatError(f"{what} is not valid JSON: {exc}") from None
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limits.json_depth:
            raise LimitExceeded(f"{what} is nested deeper than {limits.json_depth} levels")
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return value


def _obj(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise FormatError(f"{what} is not a JSON object")
    return value


def _str_map(value: Any, what: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise FormatError(f"{what} must map strings to strings")
    return value


# --- platforms ------------------------------------------------------------------------------


# What names an os, architecture or variant ("linux", "arm64", "v8", "ppc64le"): Go's and the
# OCI spec's values all fit, and a config naming anything else is refused before it is stored.
PLATFORM_WORD = re.compile(r"[A-Za-z0-9._-]{1,40}")


@dataclasses.dataclass(frozen=True)
class Platform:
    os: str
    architecture: str
    variant: str = ""

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)

    @classmethod
    def parse(cls, text: str) -> Platform:
        parts = text.strip().split("/")
        if len(parts) not in (2, 3) or not all(parts):
            raise ValueError(f"platform must look like os/arch[/variant], not {text!r}")
        return cls(*parts).normalized()

    @classmethod
    def from_json(cls, value: Any) -> Platform | None:
        """The platform of an index entry; None when it names none we could match or store."""
        if not isinstance(value, dict):
            return None
        os_ = value.get("os")
        arch = value.get("architecture")
        if not isinstance(os_, str) or not isinstance(arch, str):
            return None
        variant = value.get("variant")
        variant = variant if isinstance(variant, str) else ""
        if not all(PLATFORM_WORD.fullmatch(v) for v in (os_, arch, variant) if v):
            return None
        return cls(os_, arch, variant)

    def normalized(self) -> Platform:
        """containerd's normalisation (platforms/database.go), so x86_64 matches amd64."""
        arch, variant = self.architecture.lower(), self.variant.lower()
        if arch in ("x86_64", "x86-64", "amd64"):
            arch = "amd64"
            variant = "" if variant == "v1" else variant
        elif arch in ("aarch64", "arm64"):
            arch = "arm64"
            variant = "" if variant in ("8", "v8") else variant
        elif arch == "armhf":
            arch, variant = "arm", "v7"
        elif arch == "armel":
            arch, variant = "arm", "v6"
        elif arch == "arm":
            variant = {"": "v7", "5": "v5", "6": "v6", "7": "v7", "8": "v8"}.get(variant, variant)
        elif arch in ("i386", "i686", "x86"):
            arch = "386"
        return Platform(self.os.lower(), arch, variant)

    def matches(self, other: Platform) -> bool:
        a, b = self.normalized(), other.normalized()
        if a.os != b.os or a.architecture != b.architecture:
            return False
        return not a.variant or a.variant == b.variant


def host_platform() -> Platform:
    # Containers are Linux images even when the host is not.
    return Platform("linux", _platform.machine() or "amd64").normalized()


# --- descriptors and documents --------------------------------------------------------------


@dataclasses.dataclass
class Descriptor:
    media_type: str
    digest: str
    size: int
    annotations: dict[str, str] = dataclasses.field(default_factory=dict)
    platform: Platform | None = None
    urls: list[str] = dataclasses.field(default_factory=list)
    data: bytes | None = None
    artifact_type: str = ""

    @property
    def is_attestation(self) -> bool:
        if ATTESTATION_ANNOTATION in self.annotations:
            return True
        return self.platform is not None and self.platform.os == "unknown"

    @property
    def ref_name(self) -> str:
        return self.annotations.get(CONTAINERD_NAME) or self.annotations.get(REF_NAME, "")


def parse_descriptor(value: Any, what: str) -> Descriptor:
    value = _obj(value, what)
    media_type = value.get("mediaType")
    if not isinstance(media_type, str) or not media_type:
        raise FormatError(f"{what} has no mediaType")
    digest = check_digest(value.get("digest"), what)
    size = value.get("size")
    # int64 in Go, and in our database: a size outside it is a lie, whatever it would point at.
    if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= MAX_SIZE:
        raise FormatError(f"{what} has an invalid size {size!r}")
    data = None
    if "data" in value:
        try:
            data = base64.b64decode(value["data"], validate=True)
        except (ValueError, TypeError):
            raise FormatError(f"{what} has invalid embedded data") from None
        verify_blob(data, digest, size, f"embedded data of {what}")
    urls = value.get("urls") or []
    if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
        raise FormatError(f"{what} has invalid urls")
    return Descriptor(
        media_type=media_type,
        digest=digest,
        size=size,
        annotations=_str_map(value.get("annotations"), f"annotations of {what}"),
        platform=Platform.from_json(value.get("platform")),
        urls=urls,
        data=data,
        artifact_type=value.get("artifactType")
        if isinstance(value.get("artifactType"), str)
        else "",
    )


def document_type(doc: dict[str, Any], declared: str | None, what: str) -> str:
    """The media type of a manifest or index, reconciling the body with what the transport said."""
    body_type = doc.get("mediaType")
    if body_type is not None and not isinstance(body_type, str):
        raise FormatError(f"{what} has an invalid mediaType")
    if declared and body_type and declared != body_type:
        raise FormatError(f"{what} is served as {declared} but says it is {body_type}")
    media_type = body_type or declared
    if media_type in DOCKER_SCHEMA1 or doc.get("schemaVersion") == 1:
        raise Unsupported(
            f"{what} is a Docker schema 1 manifest, deprecated and refused by Docker itself"
        )
    if not media_type:
        # mediaType is optional in OCI documents; the shape tells them apart.
        if "manifests" in doc:
            media_type = OCI_INDEX
        elif "config" in doc and "layers" in doc:
            media_type = OCI_MANIFEST
        else:
            raise FormatError(f"{what} is neither an image manifest nor an index")
    return media_type


@dataclasses.dataclass
class Index:
    media_type: str
    manifests: list[Descriptor]
    annotations: dict[str, str]


def parse_index(
    data: bytes, what: str, declared: str | None = None, limits: Limits = DEFAULT
) -> Index:
    doc = _obj(load_json(data, what, limits), what)
    media_type = document_type(doc, declared, what)
    if media_type not in INDEX_TYPES:
        raise FormatError(f"{what} is a {media_type}, not an image index")
    manifests = doc.get("manifests")
    if not isinstance(manifests, list):
        raise FormatError(f"{what} has no manifests list")
    return Index(
        media_type=media_type,
        manifests=[parse_descriptor(m, f"entry {i} of {what}") for i, m in enumerate(manifests)],
        annotations=_str_map(doc.get("annotations"), f"annotations of {what}"),
    )


@dataclasses.dataclass
class Manifest:
    media_type: str
    config: Descriptor
    layers: list[Descriptor]
    annotations: dict[str, str]


def parse_manifest(
    data: bytes, what: str, declared: str | None = None, limits: Limits = DEFAULT
) -> Manifest:
    doc = _obj(load_json(data, what, limits), what)
    media_type = document_type(doc, declared, what)
    if media_type not in MANIFEST_TYPES:
        raise FormatError(f"{what} is a {media_type}, not an image manifest")
    config = parse_descriptor(doc.get("config"), f"config descriptor of {what}")
    layers = doc.get("layers")
    if not isinstance(layers, list):
        raise FormatError(f"{what} has no layers list")
    if len(layers) > limits.layers_per_image:
        raise LimitExceeded(f"{what} has {len(layers)} layers (limit {limits.layers_per_image})")
    manifest = Manifest(
        media_type=media_type,
        config=config,
        layers=[
            parse_descriptor(layer, f"layer {i + 1} of {what}") for i, layer in enumerate(layers)
        ],
        annotations=_str_map(doc.get("annotations"), f"annotations of {what}"),
    )
    if config.media_type not in CONFIG_TYPES:
        kind = doc.get("artifactType") or config.media_type
        raise Unsupported(f"{what} is not a container image (it is a {kind} artifact)")
    for i, layer in enumerate(manifest.layers):
        check_layer_type(layer, f"layer {i + 1} of {what}")
    return manifest


def check_layer_type(layer: Descriptor, what: str) -> None:
    media_type = layer.media_type
    if media_type.endswith("+encrypted"):
        raise Unsupported(f"{what} is encrypted ({media_type}) and cannot be indexed")
    if media_type not in LAYER_TYPES:
        raise Unsupported(f"{what} has the unknown media type {media_type!r}")


@dataclasses.dataclass
class HistoryItem:
    created: str
    created_by: str
    comment: str
    author: str
    empty_layer: bool


@dataclasses.dataclass
class ImageConfig:
    digest: str
    raw: dict[str, Any]
    platform: Platform
    created: str
    author: str
    config: dict[str, Any]
    diff_ids: list[str]
    history: list[HistoryItem]

    def history_positions(self) -> list[int | None]:
        """For each history item, the index of the layer it made (None for metadata steps).

        Only trusted when the non-empty steps match the diff_ids one to one; otherwise every
        step is left without a layer rather than guessing (``image-format.md`` §1.4).
        """
        producing = [i for i, h in enumerate(self.history) if not h.empty_layer]
        if len(producing) != len(self.diff_ids):
            return [None] * len(self.history)
        positions: list[int | None] = [None] * len(self.history)
        for layer_index, history_index in enumerate(producing):
            positions[history_index] = layer_index
        return positions


# The settings of a config's ``config`` object we keep, with the type each must have (the Go
# types of the image spec); null is allowed for all, as Go writes a nil slice or map that way.
_LIST = "a list of strings"
_TEXT = "a string"
_MAP = "an object mapping strings to strings"
_OBJECT = "an object"
CONFIG_KEYS = {
    "Env": _LIST,
    "Cmd": _LIST,
    "Entrypoint": _LIST,
    "WorkingDir": _TEXT,
    "User": _TEXT,
    "Labels": _MAP,
    "ExposedPorts": _OBJECT,
    "Volumes": _OBJECT,
    "StopSignal": _TEXT,
    "Shell": _LIST,
    "Healthcheck": _OBJECT,
    "OnBuild": _LIST,
    "ArgsEscaped": "true or false",
}


def _has_type(value: Any, kind: str) -> bool:
    if value is None:
        return True
    if kind == _LIST:
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if kind == _TEXT:
        return isinstance(value, str)
    if kind == _MAP:
        return isinstance(value, dict) and all(isinstance(v, str) for v in value.values())
    if kind == _OBJECT:
        return isinstance(value, dict)
    return isinstance(value, bool)


def _text(doc: dict[str, Any], key: str, what: str) -> str:
    value = doc.get(key)
    if value is not None and not isinstance(value, str):
        raise FormatError(f"{key} of {what} must be a string, not {type(value).__name__}")
    return value or ""


def parse_config(data: bytes, digest: str, limits: Limits = DEFAULT) -> ImageConfig:
    what = f"image config {digest[:19]}"
    doc = _obj(load_json(data, what, limits), what)
    rootfs = _obj(doc.get("rootfs"), f"rootfs of {what}")
    if rootfs.get("type") != "layers":
        raise FormatError(f"{what} has rootfs type {rootfs.get('type')!r}; it must be 'layers'")
    diff_ids = rootfs.get("diff_ids")
    if diff_ids is None:
        raise FormatError(f"{what} has no rootfs.diff_ids")
    if not isinstance(diff_ids, list):
        raise FormatError(
            f"rootfs.diff_ids of {what} must be a list, not {type(diff_ids).__name__}"
        )
    if len(diff_ids) > limits.layers_per_image:
        raise LimitExceeded(f"{what} has {len(diff_ids)} layers (limit {limits.layers_per_image})")
    for i, diff_id in enumerate(diff_ids):
        check_digest(diff_id, f"diff_id {i + 1} of {what}")
        if not diff_id.startswith("sha256:"):
            raise Unsupported(f"diff_id {i + 1} of {what} is not a sha256 digest")
    os_, arch = doc.get("os"), doc.get("architecture")
    if not isinstance(os_, str) or not isinstance(arch, str):
        raise FormatError(f"{what} does not say its os and architecture")
    variant = _text(doc, "variant", what)
    for key, value in (("os", os_), ("architecture", arch), ("variant", variant)):
        if value and not PLATFORM_WORD.fullmatch(value):
            raise FormatError(
                f"{what} has {key} {value[:60]!r}: a platform is named by letters, digits, "
                "'.', '_' and '-', at most 40 of them"
            )
    config = doc.get("config")
    if config is None:
        config = {}
    config = _obj(config, f"config of {what}")
    for key, kind in CONFIG_KEYS.items():
        if not _has_type(config.get(key), kind):
            raise FormatError(f"config.{key} of {what} must be {kind}")
    items = doc.get("history")
    if items is None:
        items = []
    if not isinstance(items, list):
        raise FormatError(f"history of {what} must be a list, not {type(items).__name__}")
    history = []
    for i, item in enumerate(items):
        step = f"history item {i} of {what}"
        item = _obj(item, step)
        empty_layer = item.get("empty_layer")
        if empty_layer is not None and not isinstance(empty_layer, bool):
            raise FormatError(f"empty_layer of {step} must be true or false")
        history.append(
            HistoryItem(
                created=_text(item, "created", step),
                created_by=_text(item, "created_by", step),
                comment=_text(item, "comment", step),
                author=_text(item, "author", step),
                empty_layer=empty_layer is True,
            )
        )
    return ImageConfig(
        digest=digest,
        raw=doc,
        platform=Platform(os_, arch, variant),
        created=_text(doc, "created", what),
        author=_text(doc, "author", what),
        config={k: config[k] for k in CONFIG_KEYS if k in config},
        diff_ids=list(diff_ids),
        history=history,
    )


def chain_ids(diff_ids: list[str]) -> list[str]:
    """ChainID(L0) = DiffID(L0); ChainID(L0..n) = sha256(ChainID(L0..n-1) + " " + DiffID(Ln))."""
    out: list[str] = []
    for diff_id in diff_ids:
        if not out:
            out.append(diff_id)
        else:
            out.append(sha256_digest(f"{out[-1]} {diff_id}".encode()))
    return out


def select_platform(candidates: list[Descriptor], wanted: Platform | None, what: str) -> Descriptor:
    """The image an index's entries offer for ``wanted`` (None: nothing asked for).

    Every source that meets an index chooses here: a registry from one index at a time, a layout
    from all the manifests its nested indexes expand to.

    1. Attestations, and entries neither an image manifest nor an index, are passed over:
       artifacts and signatures may sit in an index and must not cause an error. (Layouts pass
       manifests only, their nested indexes already expanded, so there this drops attestations.)
    2. When nothing is asked for and one image remains, it is taken whatever its platform:
       with no choice to make, an image built for another machine is still read.
    3. Otherwise the first entry matching ``wanted``, or else the host's platform, is taken
       (image-index.md: first wins); an entry that names no platform matches any.
    """
    images = [
        d
        for d in candidates
        if not d.is_attestation and d.media_type in (*MANIFEST_TYPES, *INDEX_TYPES)
    ]
    if not images:
        raise FormatError(f"{what} lists no image manifest")
    if len(images) == 1 and wanted is None:
        return images[0]
    wanted = wanted or host_platform()
    for descriptor in images:
        if descriptor.platform is None or wanted.matches(descriptor.platform):
            return descriptor
    available = ", ".join(sorted({str(d.platform) for d in images if d.platform})) or "none"
    raise FormatError(f"{what} has no image for platform {wanted} (it has: {available})")


def synthesize_manifest(
    config_digest: str, config_size: int, layers: list[tuple[str, int]]
) -> bytes:
    """The Docker schema 2 manifest of an image that came without one (a legacy ``docker save``).

    Layers are the uncompressed tars the archive holds, so their digests are the diff_ids. The
    result gives such images a stable manifest digest: the same image loaded twice, from the
    archive or from the engine, gets the same one.
    """
    doc = {
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST,
        "config": {"mediaType": DOCKER_CONFIG, "size": config_size, "digest": config_digest},
        "layers": [
            {"mediaType": DOCKER_LAYER_TAR, "size": size, "digest": digest}
            for digest, size in layers
        ],
    }
    return json.dumps(doc, indent=3).encode()
