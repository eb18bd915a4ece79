"""A container's writable layer, seen against the image it runs.

A container is its image's layers, read only and shared, plus one writable layer of its own on
top. ``docker diff`` lists what that layer holds, a letter per path: ``A`` added, ``C`` changed,
``D`` deleted (a whiteout hiding a lower layer's file). Under a copy-on-write driver, changing a
lower layer's file first copies the *whole* file up into the writable layer, even for a chmod;
so a ``C`` costs the file's full size, and what it replaced is the version of the top-most image
layer holding the path (``from_layer``).

The engine is asked through ``adapters.docker_engine`` only, and only read from: the changes,
then one stat per added or changed path. A ``RecordedContainer`` keeps what the engine said, so
that the same view (``writable_layer``) can be drawn without an engine.
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from typing import Any

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from layerviz.adapters import docker_engine
from layerviz.adapters.docker_engine import Container, NoSuchContainer
from layerviz.lib import changes as change_kinds
from layerviz.lib import filemode, oci
from layerviz.lib.changes import ChangeRow
from layerviz.lib.errors import SourceError

from . import packed
from .models import Image, RecordedContainer

ADDED, CHANGED, DELETED = "A", "C", "D"  # docker diff's letters
KINDS = (ADDED, CHANGED, DELETED)
# The page's badge colours: docker's C is what the rest of layerviz calls modified.
BADGES = {ADDED: change_kinds.ADDED, CHANGED: change_kinds.MODIFIED, DELETED: change_kinds.DELETED}
METADATA, CONTENT, DIRECTORY = "metadata", "content", "dir"  # what a C did
LIST_DIFFS = 50  # live containers whose changes the list page counts; the rest show "–"
# A name or ID docker would accept; anything else never reaches the engine.
_ENGINE_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


class ContainerNotFound(LookupError):
    pass


class ImageNotIndexed(LookupError):
    pass


@dataclasses.dataclass
class Change:
    """One path of the writable layer, as the pages and the API show it."""

    path: str  # as docker diff prints it: "/app/new.txt"
    kind: str  # A, C or D
    size: int | None  # the writable layer's copy (A, C); None for D, or when not read
    type: str  # file, dir, symlink, other; "" when not known
    from_layer: int | None  # 1-based image layer the original came from (C, D)
    lower_size: int | None = None  # the original's size, when there is one
    did: str = ""  # for a C: METADATA, CONTENT or DIRECTORY ("" when it cannot be told)

    @property
    def badge(self) -> str:
        return BADGES[self.kind]

    @property
    def index_path(self) -> str:
        return self.path.strip("/")

    @property
    def directory(self) -> str:
        return self.index_path.rpartition("/")[0]

    def as_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "kind": self.kind,
            "size": self.size,
            "from_layer": self.from_layer,
        }


@dataclasses.dataclass
class WritableLayer:
    changes: list[Change]
    sizes_capped: bool  # some A/C sizes were not read (LAYERVIZ_CONTAINER_SIZE_READS)

    @property
    def counts(self) -> dict[str, int]:
        found = Counter(change.kind for change in self.changes)
        return {kind: found[kind] for kind in KINDS}

    @property
    def added_bytes(self) -> int:
        return _bytes(c for c in self.changes if c.kind == ADDED)

    @property
    def copied_bytes(self) -> int:
        """What copy-ups cost: each changed file whole, however little of it changed."""
        return _bytes(c for c in self.changes if c.kind == CHANGED)

    @property
    def metadata_copies(self) -> list[Change]:
        return [c for c in self.changes if c.did == METADATA]


def _bytes(found) -> int:
    return sum(c.size or 0 for c in found if c.type != "dir")


@dataclasses.dataclass
class Sharing:
    """How many containers stand on this container's image, each with a writable layer of its
    own: on the whole image, and on each of its layers (the same chain: that layer on that same
    stack below it, as the image store shares it)."""

    same_image: int
    per_layer: list[int]
    live: bool  # the engine's containers were counted, not only recorded ones


@dataclasses.dataclass
class ContainerView:
    key: str  # what its URL names it by
    name: str
    id: str  # the engine's ID; "" for one a lesson wrote
    state: str
    image_id: str  # the engine's ID of its image
    image: Image | None  # the indexed image, if it is indexed
    layer: WritableLayer
    recorded: RecordedContainer | None = None

    @property
    def image_digest(self) -> str:
        """The API's ``image``: the manifest digest when indexed, the engine's ID otherwise."""
        return self.image.digest if self.image else self.image_id

    def as_json(self) -> dict[str, Any]:
        return {
            "image": self.image_digest,
            "changes": [change.as_json() for change in self.layer.changes],
        }


@dataclasses.dataclass
class ListedContainer:
    key: str
    name: str
    id: str
    state: str
    image_name: str
    image: Image | None
    change_count: int | None
    recorded: bool


# --- the writable layer -----------------------------------------------------------------


def indexed_image(image_id: str) -> Image | None:
    """The indexed image the engine's image ID names: its config digest (the classic store),
    or the manifest or index digest (the containerd store)."""
    if not image_id:
        return None
    return (
        Image.objects.filter(Q(image_id=image_id) | Q(digest=image_id) | Q(index_digest=image_id))
        .order_by("-indexed_at")
        .first()
    )


def origins(image: Image, paths: list[str]) -> dict[str, ChangeRow]:
    """For each path (in the index's form, no leading "/"), the version the image's top shows:
    the row of the top-most layer holding it. A path whose latest row is a deletion is absent
    from the image, so it has no origin: a whiteout is never where a file came from."""
    wanted = set(paths)
    chain_ids = list(image.image_layers.values_list("chain_id", flat=True))
    latest: dict[str, ChangeRow] = {}
    for row in packed.dirs_rows(chain_ids, {path.rpartition("/")[0] for path in wanted}):
        if row.path in wanted and (row.path not in latest or row.depth > latest[row.path].depth):
            latest[row.path] = row
    return {p: row for p, row in latest.items() if row.kind != change_kinds.DELETED}


def writable_layer(image: Image | None, raw: list[dict[str, Any]], capped: bool) -> WritableLayer:
    """What the engine said of each path (``raw``: ``docker diff`` plus a stat), read against
    the image: where each C or D's original came from, and what each C did; in path order
    (the engine's own order changes from one call to the next)."""
    found = origins(image, [_index_path(item["path"]) for item in raw]) if image else {}
    out = []
    for item in raw:
        kind = item["kind"]
        lower = found.get(_index_path(item["path"])) if kind in (CHANGED, DELETED) else None
        change = Change(
            path=item["path"],
            kind=kind,
            size=None if kind == DELETED else item.get("size"),
            type=item.get("type") or (_type_of(lower) if lower else ""),
            from_layer=lower.depth + 1 if lower else None,
            lower_size=lower.size if lower else None,
        )
        if kind == CHANGED:
            change.did = _what_changed(change, item, lower)
        out.append(change)
    out.sort(key=_by_path)
    return WritableLayer(out, capped)


def _by_path(change: Change) -> str:
    return change.path


def _index_path(path: str) -> str:
    return path.strip("/")


def _type_of(row: ChangeRow) -> str:
    """A tar entry's type in the archive API's words (a deleted path has no stat to say)."""
    name = filemode.TYPE_NAMES.get(row.type, "other")
    return {"hardlink": "file", "char": "other", "block": "other", "fifo": "other"}.get(name, name)


def _what_changed(change: Change, item: dict[str, Any], lower: ChangeRow | None) -> str:
    if change.type == "dir":
        return DIRECTORY
    if lower is None or change.size is None:
        return ""
    # A chmod or chown keeps the size and the modification time; a write changes the time.
    same_time = item.get("mtime") is None or item.get("mtime") == lower.mtime
    return METADATA if change.size == lower.size and same_time else CONTENT


# --- live containers --------------------------------------------------------------------


def read_live(container: str) -> tuple[Container, list[dict[str, Any]], bool]:
    """What the engine says of a container's writable layer: each path of ``docker diff``
    with, for added and changed ones, its size, type, mode and time; whether the size reads
    were capped. Nothing is written to the container."""
    if not _ENGINE_KEY.fullmatch(container):
        raise NoSuchContainer(f"{container!r} cannot be a container's name or ID")
    info = docker_engine.container_inspect(container=container)
    diff = docker_engine.container_changes(container=info.id)
    stats, capped = docker_engine.path_stats(
        container=info.id,
        paths=[path for path, kind in diff if kind != DELETED],
        limit=settings.LAYERVIZ_CONTAINER_SIZE_READS,
    )
    raw = []
    for path, kind in diff:
        stat = stats.get(path)
        raw.append(
            {
                "path": path,
                "kind": kind,
                "size": stat.size if stat else None,
                "type": stat.type if stat else None,
                "mode": stat.mode if stat else None,
                "mtime": stat.mtime if stat else None,
            }
        )
    return info, raw, capped


def live_view(container: str) -> ContainerView:
    info, raw, capped = read_live(container)
    image = indexed_image(info.image_id)
    return ContainerView(
        key=info.name or info.id,
        name=info.name,
        id=info.id,
        state=info.state,
        image_id=info.image_id,
        image=image,
        layer=writable_layer(image, raw, capped),
    )


def recorded_view(recorded: RecordedContainer) -> ContainerView:
    return ContainerView(
        key=recorded.name,
        name=recorded.name,
        id=recorded.container_id,
        state=recorded.state,
        image_id=recorded.image.image_id,
        image=recorded.image,
        layer=writable_layer(recorded.image, recorded.changes, recorded.sizes_capped),
        recorded=recorded,
    )


def find_recorded(key: str) -> RecordedContainer | None:
    """A recorded container by its name, or by its engine ID or a unique prefix of it."""
    found = RecordedContainer.objects.select_related("image")
    exact = found.filter(Q(name=key) | Q(container_id=key)).first()
    if exact is not None or len(key) < 6:
        return exact
    matches = list(found.filter(container_id__startswith=key)[:2])
    return matches[0] if len(matches) == 1 else None


def find(key: str, *, recorded: bool = False) -> ContainerView:
    """The container ``key`` names: a live one when the engine has it (unless ``recorded`` is
    asked for), else a recorded one.

    Raises ``ContainerNotFound``, or the engine's ``SourceError`` when the engine could not be
    asked and no recorded container matches."""
    problem: SourceError | None = None
    if not recorded:
        try:
            return live_view(key)
        except NoSuchContainer:
            pass
        except SourceError as exc:
            problem = exc
    found = find_recorded(key)
    if found is not None:
        return recorded_view(found)
    if problem is not None:
        raise problem
    raise ContainerNotFound(key)


def listing() -> tuple[list[ListedContainer], str]:
    """Live containers (when the engine answers) then recorded ones; and the engine's problem,
    if it did not answer."""
    out: list[ListedContainer] = []
    problem = ""
    try:
        live = docker_engine.containers_list()
    except SourceError as exc:
        live, problem = [], str(exc)
    images = _indexed_images({c.image_id for c in live})
    for n, item in enumerate(live):
        out.append(
            ListedContainer(
                key=item.name or item.id,
                name=item.name,
                id=item.id,
                state=item.state,
                image_name=item.image,
                image=images.get(item.image_id),
                change_count=_change_count(item.id) if n < LIST_DIFFS else None,
                recorded=False,
            )
        )
    for rec in RecordedContainer.objects.select_related("image").prefetch_related(
        "image__references"
    ):
        out.append(
            ListedContainer(
                key=rec.name,
                name=rec.name,
                id=rec.container_id,
                state=rec.state,
                image_name=rec.image.name,
                image=rec.image,
                change_count=len(rec.changes),
                recorded=True,
            )
        )
    return out, problem


def _change_count(container: str) -> int | None:
    try:
        return len(docker_engine.container_changes(container=container))
    except SourceError:
        return None  # removed since listed, or the engine stopped answering


def _indexed_images(image_ids: set[str]) -> dict[str, Image]:
    """engine image ID -> the indexed image, for those indexed."""
    ids = sorted(image_ids - {""})
    out: dict[str, Image] = {}
    found = Image.objects.filter(
        Q(image_id__in=ids) | Q(digest__in=ids) | Q(index_digest__in=ids)
    ).prefetch_related("references")
    for image in found.order_by("indexed_at"):  # the newest wins, as indexed_image picks
        for key in (image.image_id, image.digest, image.index_digest):
            if key in image_ids:
                out[key] = image
    return out


# --- sharing ----------------------------------------------------------------------------


def image_chains(image: Image) -> list[str]:
    return list(image.layers_in_order().values_list("chain__chain_id", flat=True))


def count_sharing(
    image_id: str, chains: list[str], others: list[tuple[str, set[str]]], *, live: bool
) -> Sharing:
    """``others``: each container's image ID and its image's chain IDs, this one's included."""
    return Sharing(
        same_image=sum(1 for other_id, _ in others if other_id == image_id),
        per_layer=[sum(1 for _, theirs in others if chain in theirs) for chain in chains],
        live=live,
    )


def sharing(view: ContainerView) -> Sharing:
    """Every container standing on ``view``'s image or on some of its layers: the engine's, when
    it answers, and the recorded ones that are not also live."""
    try:
        live = docker_engine.containers_list()
        reachable = True
    except SourceError:
        live, reachable = [], False
    chains_of: dict[str, set[str]] = {}
    for image_id in {c.image_id for c in live}:
        chains_of[image_id] = set(_engine_chains(image_id))
    others = [(c.image_id, chains_of[c.image_id]) for c in live]
    live_ids = {c.id for c in live}
    for rec in RecordedContainer.objects.select_related("image"):
        if not (rec.container_id and rec.container_id in live_ids):
            others.append((rec.image.image_id, set(image_chains(rec.image))))
    mine = image_chains(view.image) if view.image else _engine_chains(view.image_id)
    return count_sharing(view.image_id, mine, others, live=reachable)


def _engine_chains(image_id: str) -> list[str]:
    """The chain IDs of an engine's image: from the index when it is indexed, else from the
    diff_ids the engine reports."""
    image = indexed_image(image_id)
    if image is not None:
        return image_chains(image)
    try:
        inspect = docker_engine.image_inspect(ref=image_id)
    except SourceError:
        return []
    return oci.chain_ids(list((inspect.get("RootFS") or {}).get("Layers") or []))


# --- recording --------------------------------------------------------------------------


def record(
    *,
    name: str,
    image: Image,
    changes: list[dict[str, Any]],
    container_id: str = "",
    state: str = "",
    sizes_capped: bool = False,
) -> RecordedContainer:
    """Keep (or replace) a recorded container: a writable layer on ``image``, ``changes`` as
    ``docker diff`` gives them, each ``{"path", "kind"}`` with an optional ``size`` (and
    ``type``, ``mode``, ``mtime``). A lesson can write one without an engine."""
    kept = []
    for item in changes:
        kind = item["kind"]
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
        path = "/" + str(item["path"]).strip("/")
        kept.append(
            {
                "path": path,
                "kind": kind,
                "size": item.get("size"),
                "type": item.get("type"),
                "mode": item.get("mode"),
                "mtime": item.get("mtime"),
            }
        )
    recorded, _ = RecordedContainer.objects.update_or_create(
        name=name,
        defaults={
            "image": image,
            "changes": kept,
            "container_id": container_id,
            "state": state,
            "sizes_capped": sizes_capped,
            "recorded_at": timezone.now(),
        },
    )
    return recorded


def record_live(container: str, *, name: str = "") -> RecordedContainer:
    """Record a live container of the engine; its image must be indexed first."""
    info, raw, capped = read_live(container)
    image = indexed_image(info.image_id)
    if image is None:
        raise ImageNotIndexed(
            f"the image of {info.name or info.id} ({info.image_id}) is not indexed: "
            f"ingest it first with manage.py ingest docker-daemon:{info.image_id}"
        )
    return record(
        name=name or info.name or info.id[:12],
        image=image,
        changes=raw,
        container_id=info.id,
        state=info.state,
        sizes_capped=capped,
    )
