"""Questions about an image's filesystem as of any layer, answered from the stored rows.

Each chain (a layer on its stack) stored one row per path it touched, deletions expanded to
every removed path (``lib/changes.py``), a directory at a time (``DirChanges``). So as of the
layer at depth *k*:

* the layer's own changes in a directory are chain *k*'s rows for it;
* the merged filesystem is, for each path, the row with the highest depth <= *k* among the
  chains below, unless that row is a deletion.

Listings go one directory at a time, so no page ever loads a whole image.
"""

from __future__ import annotations

import dataclasses
import functools

from django.db.models import F, Q, TextField, Value
from django.db.models.functions import Concat, StrIndex

from layerviz.lib import changes
from layerviz.lib.changes import DIR, REG, ChangeRow
from layerviz.lib.layer import AUFS_META, OPAQUE, WH_PREFIX, WHITEOUT
from layerviz.lib.packed_changes import NAME_SEPARATOR

from . import packed
from .models import Chain, DirChanges

LAYER, MERGED = "layer", "merged"
PAGE = 500
TREEMAP_CHILDREN = 12  # biggest children shown per directory; the rest is one "other" box
TREEMAP_DEPTH = 3
TREEMAP_NODES = 160


def lineage_ids(chain: Chain) -> list[int]:
    """Primary keys of the chain and every chain below it."""
    ids = [chain.pk]
    parent = chain.parent_id
    while parent is not None:
        ids.append(parent)
        parent = Chain.objects.filter(pk=parent).values_list("parent_id", flat=True).first()
    return ids


def _latest(rows: list[ChangeRow]) -> dict[str, ChangeRow]:
    """path -> the row of the highest layer."""
    out: dict[str, ChangeRow] = {}
    for row in rows:
        path = row.path
        current = out.get(path)
        if current is None or row.depth > current.depth:
            out[path] = row
    return out


def merged_files(chain: Chain) -> dict[str, ChangeRow]:
    """The whole merged filesystem as of ``chain``: path -> row. For tests and analysis, not
    for pages (it loads every path)."""
    latest = _latest(list(packed.chain_rows(lineage_ids(chain))))
    return {path: row for path, row in latest.items() if row.kind != changes.DELETED}


def shown_size(row: ChangeRow, mode: str) -> int:
    """The size a listing shows and sorts by: a file's size; for a directory, the bytes the
    layer adds beneath it (layer mode), what the whole subtree holds (merged mode), or what was
    removed (a deleted directory)."""
    if row.type != DIR:
        return row.size
    if mode == LAYER and row.kind != changes.DELETED:
        return row.layer_bytes
    return row.tree_bytes


def directory_rows(
    chains: list[Chain], depth: int, mode: str, directory: str, *, raw: bool = False
) -> list[ChangeRow]:
    """One directory of the layer's changes (``layer``) or of the merged view as of ``depth``
    (``merged``: the latest row of each name, without deletions made below, since those paths
    are gone, but with this layer's own deletions, shown struck through as dive's aggregated
    view shows them), sorted by name. ``raw``: the layer's changes with its deletions shown as
    the whiteout entries that made them (``tar_rows``)."""
    if mode == LAYER:
        rows = packed.dir_rows([chains[depth].pk], directory)
        return tar_rows(chains[depth], directory, rows) if raw else rows
    rows = packed.dir_rows([c.pk for c in chains[: depth + 1]], directory)
    latest = _latest(rows).values()
    kept = [r for r in latest if not (r.kind == changes.DELETED and r.depth < depth)]
    kept.sort(key=_name)
    return kept


def tar_rows(chain: Chain, directory: str, rows: list[ChangeRow]) -> list[ChangeRow]:
    """A directory of a layer's changes as its tar records them: a deletion is not one row per
    removed path but the entry that removed them, ``.wh.<name>`` beside what it deletes and
    ``.wh..wh..opq`` inside an opaque directory, named exactly as the layer wrote it.

    The change rows keep the deleted paths (cleaned) and the opaque flag, but not the names as
    written ("./a/.wh.b" is cleaned to "a/.wh.b"), nor a whiteout that found nothing below, nor
    one that an opaque marker in its directory made moot; the layer's stored entries keep all of
    it, so the whiteouts are read from there. A path removed because its directory was replaced
    by a file has no whiteout: the entry that replaced it is already a row.
    """
    kept = [row for row in rows if row.kind != changes.DELETED]
    removed = {row.name: row for row in rows if row.kind == changes.DELETED}
    lower = {row.name: row for row in rows if row.prev_depth is not None}
    for path, entry, flags, seq, mode, uid, gid, mtime in _whiteouts(
        chain.layer_id, chain.chain_id
    ):
        parent, _, name = path.rpartition("/")
        if parent != directory:
            continue
        if flags & OPAQUE:
            detail, target = changes.BY_OPAQUE, None
        else:
            detail = changes.BY_WHITEOUT
            deleted = name[len(WH_PREFIX) :]
            target = removed.get(deleted) or lower.get(deleted)
        kept.append(
            ChangeRow(
                dir=directory,
                name=name,
                kind=changes.DELETED,
                detail=detail,
                type=REG,
                size=0,
                mode=mode,
                uid=uid,
                gid=gid,
                mtime=mtime,
                link="",
                digest=b"",
                seq=seq,
                # What it deleted came from this layer (None: the layers below had no such path).
                prev_depth=target.prev_depth if target else None,
                prev_size=target.prev_size if target else None,
                depth=chain.depth,
                entry=entry,
            )
        )
    kept.sort(key=_name)
    return kept


# Whiteouts are few, but finding them reads every entry of the layer: a listing asks for one
# directory's, and a page opens several directories of the same layer. A chain ID names its
# layer's content, so what is cached for it is never stale.
@functools.lru_cache(maxsize=32)
def _whiteouts(
    layer_id: int, chain_id: str
) -> tuple[tuple[str, str, int, int, int, int, int, int], ...]:
    """The layer's whiteout and opaque entries: (clean path, name as written, flags, seq, mode,
    uid, gid, mtime)."""
    found = []
    for batch in packed.entry_batches(layer_id):
        for i, flags in enumerate(batch.flags):
            if flags & (WHITEOUT | OPAQUE) and not flags & AUFS_META:
                path = batch.path[i]
                found.append(
                    (
                        path,
                        batch.raw[i] or path,
                        flags,
                        batch.first_seq + i,
                        batch.mode[i],
                        batch.uid[i],
                        batch.gid[i],
                        batch.mtime[i],
                    )
                )
    return tuple(found)


def whiteout_entries(chain: Chain) -> list[str]:
    """The layer's whiteout and opaque entries, named exactly as its tar wrote them (``./``
    prefixes and all): what the tar really holds for what the layer deleted."""
    return [entry for _, entry, *_ in _whiteouts(chain.layer_id, chain.chain_id)]


def _name(row: ChangeRow) -> str:
    return row.name


def _place(row: ChangeRow) -> tuple[str, str]:
    return row.dir, row.name


def listing(
    chains: list[Chain],
    depth: int,
    mode: str,
    directory: str,
    *,
    sort: str = "name",
    kinds: set[str] | None = None,
    offset: int = 0,
    limit: int = PAGE,
    raw: bool = False,
) -> tuple[list[ChangeRow], int]:
    """One directory of the layer's changes (``layer``) or of the merged filesystem
    (``merged``) as of ``chains[depth]``; returns one page of rows and the total count.
    ``raw``: the layer's deletions as the whiteout entries that made them (``tar_rows``)."""
    rows = directory_rows(chains, depth, mode, directory, raw=raw)
    if kinds:
        rows = [row for row in rows if keeps(row, kinds, mode, depth)]
    for row in rows:
        row.shown_size = shown_size(row, mode)
    if sort == "size":
        rows.sort(key=_by_size)
    return rows[offset : offset + limit], len(rows)


def _by_size(row: ChangeRow) -> tuple[int, str]:
    return -row.shown_size, row.name


def keeps(row: ChangeRow, kinds: set[str], mode: str, depth: int) -> bool:
    """Whether the kind filter keeps a row: an entry of a chosen kind, or a directory that
    leads to one."""
    if mode == MERGED and row.depth < depth:
        # Rows from the layers below are unchanged by this layer.
        return changes.UNCHANGED in kinds
    if row.kind in kinds:
        return True
    return row.type == DIR and (
        (changes.ADDED in kinds and row.sub_added > 0)
        or (changes.MODIFIED in kinds and row.sub_modified > 0)
        or (changes.DELETED in kinds and row.sub_deleted > 0)
    )


def search(
    chains: list[Chain],
    depth: int,
    mode: str,
    needle: str,
    *,
    kinds: set[str] | None = None,
    offset: int = 0,
    limit: int | None = PAGE,
) -> tuple[list[ChangeRow], int]:
    """Paths containing ``needle`` anywhere, as a flat list (the filter box), sorted by path,
    of the ``kinds`` asked for (every kind when empty; in the merged view a path from a layer
    below is unchanged by this one): ``limit`` of them from ``offset`` (all when None) and how
    many there are.

    1. The database keeps only the directories where a match can be: the directory's own
       path holds the needle, or one of its children's names does (or, for a needle with a
       "/", the two joined do). Every version of a matching path sits in such a row.
    2. Matches are worked out and counted from the names and kinds beside each blob (merged
       view: the latest version of each path, deletions below gone), directory by directory
       in path order; no blob is unpacked for that.
    3. Only the rows of the page are unpacked.
    """
    ids = [chains[depth].pk] if mode == LAYER else [c.pk for c in chains[: depth + 1]]
    needle_value = Value(needle, output_field=TextField())
    qs = DirChanges.objects.filter(chain_id__in=ids)
    if "/" in needle:
        joined = Concat(F("dir"), Value("/"), F("names"), output_field=TextField())
        qs = qs.annotate(at=StrIndex(joined, needle_value)).filter(at__gt=0)
    else:
        qs = qs.annotate(
            in_dir=StrIndex(F("dir"), needle_value), in_names=StrIndex(F("names"), needle_value)
        ).filter(Q(in_dir__gt=0) | Q(in_names__gt=0))
    groups: dict[str, list[tuple[int, str, str, int]]] = {}
    for directory, row_depth, names, codes, pk in qs.values_list(
        "dir", "depth", "names", "kinds", "pk"
    ).iterator(chunk_size=2000):
        groups.setdefault(directory, []).append((row_depth, names, codes, pk))
    gone = changes.DELETED
    total = 0
    end = None if limit is None else offset + limit  # matches past this need no unpacking
    page: list[tuple[int, int]] = []  # (DirChanges pk, index of the child) in path order
    for directory in sorted(groups):
        rows = sorted(groups[directory])
        prefix = f"{directory}/" if directory else ""
        if len(rows) == 1:
            row_depth, names, codes, pk = rows[0]
            listed = names.split(NAME_SEPARATOR) if names else []
            below = mode == MERGED and row_depth < depth
            found = [
                (name, i, pk, codes[i], changes.UNCHANGED if below else codes[i])
                for i, name in enumerate(listed)
                if (needle in name if "/" not in needle else needle in prefix + name)
                or needle in directory
            ]
            if below:
                found = [f for f in found if f[3] != gone]
        else:
            latest: dict[str, tuple[int, int, str, int]] = {}  # name -> index, pk, kind, depth
            for row_depth, names, codes, pk in rows:
                for i, name in enumerate(names.split(NAME_SEPARATOR) if names else []):
                    latest[name] = (i, pk, codes[i], row_depth)
            found = [
                (name, i, pk, kind, changes.UNCHANGED if row_depth < depth else kind)
                for name, (i, pk, kind, row_depth) in sorted(latest.items())
                if (needle in prefix + name)
                and not (mode == MERGED and kind == gone and row_depth < depth)
            ]
        if kinds:
            found = [f for f in found if f[4] in kinds]
        if end is None or total < end:
            page.extend((pk, i) for _name, i, pk, _kind, _shown in found)
        total += len(found)
    page = page[offset:] if limit is None else page[offset : offset + limit]
    wanted = {pk for pk, _ in page}
    unpacked = {pk: rows for pk, rows in packed.rows_by_pk(wanted).items()}
    out = [unpacked[pk][i] for pk, i in page]
    for row in out:
        row.shown_size = shown_size(row, mode)
    return out, total


def previous_versions(chains: list[Chain], rows: list[ChangeRow]) -> dict[str, ChangeRow]:
    """For the rows a layer changed in metadata only, the version they replaced (path -> row),
    so a page can say what changed: one query per directory and lower layer."""
    wanted: dict[tuple[int, str], set[str]] = {}
    for row in rows:
        metadata_only = row.kind == changes.MODIFIED and row.detail == changes.METADATA
        if metadata_only and row.prev_depth is not None and row.prev_depth < len(chains):
            wanted.setdefault((row.prev_depth, row.dir), set()).add(row.name)
    found: dict[str, ChangeRow] = {}
    for (depth, directory), names in wanted.items():
        for old in packed.dir_rows([chains[depth].pk], directory):
            if old.name in names:
                found[old.path] = old
    return found


def path_history(chains: list[Chain], path: str) -> list[ChangeRow]:
    """Every row for ``path`` from the bottom layer to the top: who touched it, and how."""
    directory, _, name = path.rpartition("/")
    rows = packed.dir_rows([c.pk for c in chains], directory)
    return [row for row in rows if row.name == name]


@dataclasses.dataclass
class Box:
    """One box of a treemap: a path (``row``), the root, or the rest of a directory
    (``row`` None and an id ending in "\0other")."""

    id: str
    parent: str
    value: int
    row: ChangeRow | None = None


def _biggest_children(
    chains: list[Chain], depth: int, mode: str, directory: str
) -> list[tuple[ChangeRow, int]]:
    rows = directory_rows(chains, depth, mode, directory)
    sized = [(row, shown_size(row, mode)) for row in rows if row.kind != changes.DELETED]
    sized = [(row, value) for row, value in sized if value]
    sized.sort(key=lambda pair: (-pair[1], pair[0].name))
    return sized


def treemap_boxes(chains: list[Chain], depth: int, mode: str) -> list[Box]:
    """Where the bytes go by directory, as of ``chains[depth]``, aggregated to stay readable:
    the biggest children of each directory, the rest as "other", a few levels deep."""
    top = _biggest_children(chains, depth, mode, "")
    total = sum(value for _, value in top) if mode == LAYER else chains[depth].total_bytes
    if total <= 0:
        return []
    boxes = [Box("/", "", total)]
    # (directory, its box, its size, its depth, its biggest children when already known)
    queue: list[tuple[str, str, int, int, list[tuple[ChangeRow, int]] | None]]
    queue = [("", "/", total, 0, top)]
    while queue and len(boxes) < TREEMAP_NODES:
        directory, node_id, size, level, children = queue.pop(0)
        if children is None:
            children = _biggest_children(chains, depth, mode, directory)
        shown = 0
        for row, value in children[:TREEMAP_CHILDREN]:
            if len(boxes) >= TREEMAP_NODES:
                break
            child_id = f"{node_id}{row.name}/" if row.type == DIR else f"{node_id}{row.name}"
            boxes.append(Box(child_id, node_id, value, row))
            shown += value
            if row.type == DIR and level + 1 < TREEMAP_DEPTH and value >= total / 100:
                queue.append((row.path, child_id, value, level + 1, None))
        if size - shown > 0 and shown:
            boxes.append(Box(f"{node_id}\x00other", node_id, size - shown))
    return boxes
