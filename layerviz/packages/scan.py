"""Which layer of an image installed, upgraded and removed each package, and the bytes of each:
worked out once per image from the package database files copied at ingest
(``CapturedFile``) and stored as ``ImagePackage`` rows, or again when ``PackageScan.VERSION``
changes.

The merged view of the database files as of each layer is the view below it, less the files
this layer deleted (its ``DirChanges`` rows of kind deleted: a whiteout, an opaque directory,
a replacement), plus this layer's own copies. Each database unit (``packagedb.unit_of``) is
read again only when one of its files changed; a package is keyed by ``Package.key``, so a
new version under the same key is an upgrade, and a key that disappears is a removal.
"""

from __future__ import annotations

import dataclasses
import logging
import zlib
from collections import defaultdict
from collections.abc import Iterable

from django.db import IntegrityError, transaction

from layerviz.images import bulk, packed
from layerviz.images.models import DirChanges, Image
from layerviz.lib import changes, packagedb
from layerviz.lib.changes import DIR
from layerviz.lib.packagedb import Package, Unreadable, osrelease, purls

from .models import CapturedFile, ImagePackage, PackageScan

logger = logging.getLogger(__name__)

DIR_BATCH = 500
Signature = frozenset[tuple[str, int]]


@dataclasses.dataclass
class Span:
    """One version of a package, from the layer that installed it to the one that ended it."""

    package: Package
    layer: int
    previous: str = ""
    gone_at: int | None = None
    gone_how: str = ""


@dataclasses.dataclass
class Result:
    spans: list[Span]
    problems: list[dict[str, object]]
    distro: tuple[str, str]


def _parent(path: str) -> str:
    return path.rpartition("/")[0]


def _deleted(chain_pk: int, paths: Iterable[str]) -> set[str]:
    """Which of ``paths`` the chain's layer deleted."""
    wanted = set(paths)
    dirs = sorted({_parent(p) for p in wanted})
    gone: set[str] = set()
    for start in range(0, len(dirs), DIR_BATCH):
        values = DirChanges.objects.filter(
            chain_id=chain_pk, dir__in=dirs[start : start + DIR_BATCH], kinds__contains="D"
        ).values_list(*packed.ROW_VALUES)
        gone.update(
            row.path
            for row in packed.decode_rows(values)
            if row.kind == changes.DELETED and row.path in wanted
        )
    return gone


def timeline(image: Image) -> Result:
    """Every package version of the image, with the layers that installed and ended it."""
    chains = image.chains()
    tracked: dict[str, tuple[int, bytes | None]] = {}  # path -> (layer of its version, data)
    parsed: dict[tuple[str, str, Signature], list[Package]] = {}
    problems: dict[tuple[str, str, Signature], dict[str, object]] = {}
    current: dict[tuple[str, str, str, str], Package] = {}
    open_spans: dict[tuple[str, str, str, str], Span] = {}
    spans: list[Span] = []
    for depth, chain in enumerate(chains):
        changed = False
        if tracked:
            for path in _deleted(chain.pk, tracked):
                del tracked[path]
                changed = True
        for path, data in CapturedFile.objects.filter(layer_id=chain.layer_id).values_list(
            "path", "data"
        ):
            tracked[path] = (depth, None if data is None else bytes(data))
            changed = True
        if not changed:
            continue
        units: dict[tuple[str, str], dict[str, tuple[int, bytes | None]]] = defaultdict(dict)
        for path, version in tracked.items():
            found = packagedb.unit_of(path)
            if found is not None:
                units[found][path] = version
        now: dict[tuple[str, str, str, str], Package] = {}
        for (ecosystem, unit), files in units.items():
            signature = frozenset((path, at) for path, (at, _) in files.items())
            key = (ecosystem, unit, signature)
            if key not in parsed:
                try:
                    parsed[key] = packagedb.read(
                        ecosystem, unit, {path: data for path, (_, data) in files.items()}
                    )
                except Unreadable as exc:
                    parsed[key] = []
                    problems[key] = {
                        "path": unit,
                        "layer": max(at for _, at in signature),
                        "ecosystem": ecosystem,
                        "message": str(exc),
                    }
            for package in parsed[key]:
                now.setdefault(package.key, package)
        _advance(depth, current, now, open_spans, spans)
        current = now
    distro = osrelease.distro({p: data for p, (_, data) in tracked.items()})
    spans.sort(key=lambda s: (s.package.ecosystem, s.package.name.lower(), s.layer))
    return Result(spans, sorted(problems.values(), key=lambda p: (p["layer"], p["path"])), distro)


def _advance(
    depth: int,
    before: dict[tuple[str, str, str, str], Package],
    now: dict[tuple[str, str, str, str], Package],
    open_spans: dict[tuple[str, str, str, str], Span],
    spans: list[Span],
) -> None:
    for key, package in now.items():
        old = before.get(key)
        if old is not None and old.version == package.version:
            continue
        if old is not None:
            ended = open_spans.pop(key)
            ended.gone_at, ended.gone_how = depth, ImagePackage.UPGRADED
        span = Span(package, depth, previous=old.version if old is not None else "")
        open_spans[key] = span
        spans.append(span)
    for key in before.keys() - now.keys():
        ended = open_spans.pop(key)
        ended.gone_at, ended.gone_how = depth, ImagePackage.REMOVED


@dataclasses.dataclass
class Measured:
    paths: list[str]
    files: int
    bytes: int
    hidden_bytes: int


_MODULES = "node_modules/"


def _npm_owner(path: str, packages: set[str]) -> str:
    """The npm package directory of ``packages`` a path lies in: the nearest
    ``node_modules/NAME`` (or ``node_modules/@SCOPE/NAME``) above it that is one, found from the
    name alone (every row of an image passes here); "" when there is none."""
    at = path.rfind(_MODULES)
    while at != -1:
        if at == 0 or path[at - 1] == "/":
            start = at + len(_MODULES)
            end = path.find("/", start)
            if end != -1 and path[start] == "@":
                end = path.find("/", end + 1)
            if end != -1 and path[:end] in packages:
                return path[:end]
        at = path.rfind(_MODULES, 0, at)
    return ""


def measure(image: Image, spans: list[Span]) -> list[Measured]:
    """The files of each span as of the layer that installed it: how many, their bytes, and
    the bytes a later layer deleted or replaced. Reads every change row of the image once,
    keeping those of the paths some package owns."""
    wanted: set[str] = set()
    npm_dirs: set[str] = set()
    for span in spans:
        if span.package.listed:
            wanted.update(span.package.files)
        else:
            npm_dirs.add(span.package.location)
    history: dict[str, list[tuple[int, str, str, int]]] = defaultdict(list)
    owned: dict[str, set[str]] = defaultdict(set)  # npm package directory -> its paths
    chain_ids = [chain.pk for chain in image.chains()]
    for row in packed.chain_rows(chain_ids):
        path = row.path
        keep = path in wanted
        if npm_dirs and (owner := _npm_owner(path, npm_dirs)):
            owned[owner].add(path)
            keep = True
        if keep:
            history[path].append((row.depth, row.kind, row.type, row.size))
    for versions in history.values():
        versions.sort()
    out = []
    for span in spans:
        package = span.package
        paths = list(package.files) if package.listed else sorted(owned[package.location])
        files = size = hidden = 0
        present = []
        for path in paths:
            versions = history.get(path, [])
            below = [v for v in versions if v[0] <= span.layer]
            if not below or below[-1][1] == changes.DELETED:
                continue
            present.append(path)
            if below[-1][2] == DIR:
                continue
            files += 1
            size += below[-1][3]
            if any(
                v[0] > span.layer and v[1] in (changes.DELETED, changes.MODIFIED) for v in versions
            ):
                hidden += below[-1][3]
        out.append(Measured(paths if package.listed else present, files, size, hidden))
    return out


# ``scan``'s rows, in order: plain tuples through ``images.bulk`` (a COPY on PostgreSQL), a
# few times quicker than ``bulk_create`` for the thousand packages of a node image.
ROW_FIELDS = [
    "image",
    "ecosystem",
    "name",
    "normalized",
    "version",
    "arch",
    "location",
    "source",
    "license",
    "purl",
    "layer",
    "previous",
    "gone_at",
    "gone_how",
    "installed_size",
    "files",
    "bytes",
    "hidden_bytes",
    "file_list",
]


def scan(image: Image, *, force: bool = False) -> PackageScan:
    """The stored package scan of ``image``, computed now if missing or out of date."""
    existing = PackageScan.objects.filter(image=image).first()
    if existing is not None and existing.version == PackageScan.VERSION and not force:
        return existing
    result = timeline(image)
    rows = [
        (
            image.pk,
            span.package.ecosystem,
            span.package.name,
            packagedb.normalized(span.package.ecosystem, span.package.name),
            span.package.version,
            span.package.arch,
            span.package.location,
            span.package.source,
            span.package.license,
            purls.purl(span.package, result.distro),
            span.layer,
            span.previous,
            span.gone_at,
            span.gone_how,
            span.package.installed_size,
            measured.files,
            measured.bytes,
            measured.hidden_bytes,
            zlib.compress("\n".join(measured.paths).encode()) if measured.paths else b"",
        )
        for span, measured in zip(result.spans, measure(image, result.spans), strict=True)
    ]
    try:
        with transaction.atomic():
            PackageScan.objects.filter(image=image).delete()
            ImagePackage.objects.filter(image=image).delete()
            done = PackageScan.objects.create(image=image, problems=result.problems)
            bulk.insert(ImagePackage, ROW_FIELDS, rows)
    except IntegrityError:  # another request stored it first
        return PackageScan.objects.get(image=image)
    return done


def owners(image: Image, path: str) -> list[ImagePackage]:
    """The packages of the image's final filesystem that list ``path`` among their files."""
    scan(image)
    return [p for p in image.packages.shipped().order_by("name") if path in p.paths()]


def scan_all() -> int:
    """Scan every image whose packages are not stored at the current version (what a search
    across images needs first); how many were scanned."""
    current = PackageScan.objects.filter(version=PackageScan.VERSION).values("image")
    todo = list(Image.objects.exclude(pk__in=current))
    for image in todo:
        scan(image)
    return len(todo)
