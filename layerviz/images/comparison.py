"""Two images side by side: where their layers are shared, what each adds, what differs.

Two images share a layer only when the same diff sits on the same parent chain, that is when
their chain IDs agree; so the shared part of two stacks is always a common prefix. Past the
point where they diverge nothing is shared, even a layer with the very same content on another
base, or a layer made by the same instruction (``image-format.md`` §3).

The file-level diff compares the two final filesystems. Only paths some diverging layer touched
can differ (every change gives each of its ancestor directories a row in that layer, see
``lib/changes.py``), so the work is proportional to what the images do differently, not to
their size.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable

from layerviz.lib.changes import ChangeRow, ancestors

from . import packed
from .models import ChangeKind, Image, ImageLayer

SAME, ADDED, REMOVED, CHANGED = "same", "added", "removed", "changed"
CONFIG_KEYS = (
    "Entrypoint",
    "Cmd",
    "WorkingDir",
    "User",
    "Env",
    "Labels",
    "ExposedPorts",
    "Volumes",
)


@dataclasses.dataclass
class StackPair:
    shared: list[tuple[ImageLayer, ImageLayer]]
    only_a: list[ImageLayer]
    only_b: list[ImageLayer]
    # Layers past the divergence that are shared by content only (same diff_id, other parent):
    # stored once as content, but not shared by an engine that keys layers by chain.
    same_content: dict[int, int]  # position in A -> position in B

    @property
    def diverge_at(self) -> int:
        return len(self.shared)


def align(a: Image, b: Image) -> StackPair:
    layers_a = list(a.layers_in_order())
    layers_b = list(b.layers_in_order())
    shared = []
    for la, lb in zip(layers_a, layers_b, strict=False):
        if la.chain_id != lb.chain_id:
            break
        shared.append((la, lb))
    n = len(shared)
    by_diff_b = {lb.layer_id: lb.position for lb in layers_b[n:]}
    same_content = {
        la.position: by_diff_b[la.layer_id] for la in layers_a[n:] if la.layer_id in by_diff_b
    }
    return StackPair(shared, layers_a[n:], layers_b[n:], same_content)


@dataclasses.dataclass
class Numbers:
    shared_bytes: int
    only_a_bytes: int
    only_b_bytes: int
    shared_compressed: int
    only_a_compressed: int
    only_b_compressed: int
    pull_bytes: int  # compressed bytes a host holding A downloads to get B


def numbers(pair: StackPair, b: Image) -> Numbers:
    a_chains = {la.chain_id for la, _ in pair.shared} | {la.chain_id for la in pair.only_a}
    pull = sum(lb.blob_size for lb in b.layers_in_order() if lb.chain_id not in a_chains)
    return Numbers(
        shared_bytes=sum(la.layer.size for la, _ in pair.shared),
        only_a_bytes=sum(la.layer.size for la in pair.only_a),
        only_b_bytes=sum(lb.layer.size for lb in pair.only_b),
        shared_compressed=sum(la.blob_size for la, _ in pair.shared),
        only_a_compressed=sum(la.blob_size for la in pair.only_a),
        only_b_compressed=sum(lb.blob_size for lb in pair.only_b),
        pull_bytes=pull,
    )


@dataclasses.dataclass
class FileDiff:
    path: str
    status: str  # added / removed / changed (relative to A: "added" exists only in B)
    detail: str  # for changed: content, type, metadata
    type: str
    size_a: int | None
    size_b: int | None
    layer_a: int | None  # position of the layer that last wrote (or deleted) the path in A
    layer_b: int | None
    # "a" or "b" when that side's layer_* is the layer that deleted the path (a whiteout or an
    # opaque directory): the base layer that wrote it is shared, so it does not say which
    # image's build removed it.
    deleted_in: str = ""

    @property
    def delta(self) -> int:
        return (self.size_b or 0) - (self.size_a or 0)

    @property
    def name(self) -> str:
        return self.path.rpartition("/")[2]

    @property
    def dir(self) -> str:
        return self.path.rpartition("/")[0]


def _rows(rows: Iterable[ChangeRow]) -> dict[str, ChangeRow]:
    """path -> the row of the highest layer."""
    out: dict[str, ChangeRow] = {}
    for row in rows:
        path = row.path
        current = out.get(path)
        if current is None or row.depth > current.depth:
            out[path] = row
    return out


def _state(
    path: str, divergent: dict[str, ChangeRow], base: dict[str, ChangeRow]
) -> ChangeRow | None:
    row = divergent.get(path) or base.get(path)
    if row is None or row.kind == ChangeKind.DELETED:
        return None
    return row


def _deleted_at(path: str, divergent: dict[str, ChangeRow]) -> int | None:
    """The position of the diverging layer that deleted ``path``, if one did."""
    row = divergent.get(path)
    return row.depth if row is not None and row.kind == ChangeKind.DELETED else None


def _differs(row_a: ChangeRow, row_b: ChangeRow) -> str:
    if row_a.type != row_b.type:
        return "type"
    if row_a.type == "5":
        same = (row_a.mode, row_a.uid, row_a.gid) == (row_b.mode, row_b.uid, row_b.gid)
        return "" if same else "metadata"
    if (row_a.digest, row_a.size, row_a.link) != (row_b.digest, row_b.size, row_b.link):
        return "content"
    if (row_a.mode, row_a.uid, row_a.gid, row_a.mtime) != (
        row_b.mode,
        row_b.uid,
        row_b.gid,
        row_b.mtime,
    ):
        return "metadata"
    return ""


def file_diff(pair: StackPair) -> list[FileDiff]:
    """Every path whose final state differs between A and B, directories included."""
    common = [la.chain_id for la, _ in pair.shared]
    rows_a = _rows(packed.chain_rows([la.chain_id for la in pair.only_a]))
    rows_b = _rows(packed.chain_rows([lb.chain_id for lb in pair.only_b]))
    candidates = set(rows_a) | set(rows_b)
    # The common base's version of the paths only one side changed: read a directory at a
    # time, keeping only those paths.
    needed = {p for p in candidates if p not in rows_a or p not in rows_b}
    base: dict[str, ChangeRow] = {}
    if needed and common:
        directories = {path.rpartition("/")[0] for path in needed}
        base = _rows(row for row in packed.dirs_rows(common, directories) if row.path in needed)
    out = []
    for path in sorted(candidates):
        a = _state(path, rows_a, base)
        b = _state(path, rows_b, base)
        if a is None and b is None:
            continue
        if a is None:
            gone = _deleted_at(path, rows_a)
            added = FileDiff(path, ADDED, "", b.type, None, _size(b), gone, b.depth)
            added.deleted_in = "a" if gone is not None else ""
            out.append(added)
        elif b is None:
            gone = _deleted_at(path, rows_b)
            removed = FileDiff(path, REMOVED, "", a.type, _size(a), None, a.depth, gone)
            removed.deleted_in = "b" if gone is not None else ""
            out.append(removed)
        else:
            detail = _differs(a, b)
            if detail:
                out.append(
                    FileDiff(path, CHANGED, detail, b.type, _size(a), _size(b), a.depth, b.depth)
                )
    return out


def _size(row: ChangeRow) -> int:
    return row.tree_bytes if row.type == "5" else row.size


@dataclasses.dataclass
class DiffSummary:
    added: int = 0
    removed: int = 0
    changed: int = 0
    added_bytes: int = 0
    removed_bytes: int = 0
    changed_delta: int = 0
    by_top: dict[str, dict[str, int]] = dataclasses.field(default_factory=dict)


def summarize(diffs: list[FileDiff]) -> DiffSummary:
    """Counts and bytes of the differing files (directories are not counted as files)."""
    summary = DiffSummary()
    for d in diffs:
        if d.type == "5":
            continue
        top = d.path.split("/", 1)[0] if "/" in d.path else "/"
        bucket = summary.by_top.setdefault(top, {"added": 0, "removed": 0, "changed": 0})
        if d.status == ADDED:
            summary.added += 1
            summary.added_bytes += d.size_b or 0
            bucket["added"] += d.size_b or 0
        elif d.status == REMOVED:
            summary.removed += 1
            summary.removed_bytes += d.size_a or 0
            bucket["removed"] += d.size_a or 0
        else:
            summary.changed += 1
            summary.changed_delta += d.delta
            bucket["changed"] += abs(d.delta) or d.size_b or 0
    return summary


@dataclasses.dataclass
class ConfigDiff:
    key: str
    a: object
    b: object


def config_diff(a: Image, b: Image) -> list[ConfigDiff]:
    out = []
    if a.platform != b.platform:
        out.append(ConfigDiff("platform", a.platform, b.platform))
    for key in CONFIG_KEYS:
        va, vb = a.config.get(key), b.config.get(key)
        if va != vb:
            out.append(ConfigDiff(key, va, vb))
    return out


def env_changes(a: Image, b: Image) -> list[tuple[str, str | None, str | None]]:
    """Environment variables that differ: (name, value in A, value in B)."""

    def as_dict(image: Image) -> dict[str, str]:
        return dict(line.partition("=")[::2] for line in image.config.get("Env") or [])

    ea, eb = as_dict(a), as_dict(b)
    return [(k, ea.get(k), eb.get(k)) for k in sorted(set(ea) | set(eb)) if ea.get(k) != eb.get(k)]


@dataclasses.dataclass
class DiffNode:
    """One row of the diff tree: a differing path, or a directory that contains some."""

    name: str
    path: str
    is_dir: bool
    diff: FileDiff | None  # None for a directory that only contains differences
    added: int = 0  # differing files beneath (directories) or 1/0 (files)
    removed: int = 0
    changed: int = 0
    delta: int = 0  # bytes B minus A beneath
    # Statuses of the differences beneath, directories' own included (the counts leave those
    # out): what the kind filter keeps a directory open for.
    beneath: set[str] = dataclasses.field(default_factory=set)

    @property
    def status(self) -> str:
        return self.diff.status if self.diff else "contains"


def diff_tree(diffs: list[FileDiff]) -> dict[str, list[DiffNode]]:
    """directory -> its rows, each directory row carrying the counts of what differs beneath."""
    nodes: dict[str, DiffNode] = {}

    def node(path: str, is_dir: bool) -> DiffNode:
        found = nodes.get(path)
        if found is None:
            found = nodes[path] = DiffNode(path.rpartition("/")[2], path, is_dir, None)
        return found

    for d in diffs:
        own = node(d.path, d.type == "5")
        own.diff = d
        parents = [node(p, True) for p in ancestors(d.path)]
        for parent in parents:
            parent.beneath.add(d.status)
        if d.type == "5":
            continue
        counts = {"added": (1, 0, 0), "removed": (0, 1, 0), "changed": (0, 0, 1)}[d.status]
        for target in [own, *parents]:
            target.added += counts[0]
            target.removed += counts[1]
            target.changed += counts[2]
            target.delta += d.delta
    tree: dict[str, list[DiffNode]] = defaultdict(list)
    for path, n in nodes.items():
        tree[path.rpartition("/")[0]].append(n)
    for rows in tree.values():
        rows.sort(key=lambda n: (not n.is_dir, n.name))
    return tree


# The diff is computed whole and kept (see compare/views.py), so its filters and sorts work on
# that result in memory rather than in the database as the layer tree's do: each is a pass over
# one directory's rows, or over the list of differences for a search.


def keeps(node: DiffNode, kinds: set[str]) -> bool:
    """Whether the kind filter keeps a row: a difference of a chosen kind, or a directory with
    one beneath (so the path to it stays open)."""
    if not kinds:
        return True
    if node.diff is not None and node.diff.status in kinds:
        return True
    return bool(node.beneath & kinds)


def _by_size(node: DiffNode | FileDiff) -> tuple[int, str]:
    return -abs(node.delta), node.path


def children(
    tree: dict[str, list[DiffNode]], directory: str, *, kinds: set[str], sort: str
) -> list[DiffNode]:
    """One directory of the diff tree, filtered by kind and sorted by name or by size change."""
    rows = [node for node in tree.get(directory, []) if keeps(node, kinds)]
    if sort == "size":
        rows.sort(key=_by_size)
    return rows


def search(
    diffs: list[FileDiff], needle: str, *, kinds: set[str], sort: str, limit: int = 500
) -> tuple[list[FileDiff], int]:
    """The differences whose path contains ``needle``, as a flat list; one page and the count."""
    found = [d for d in diffs if needle in d.path and (not kinds or d.status in kinds)]
    if sort == "size":
        found.sort(key=_by_size)
    return found[:limit], len(found)
