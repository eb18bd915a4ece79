"""The file-level difference of two images' final filesystems.

Only paths some diverging layer touched can differ (every change gives each of its ancestor
directories a row in that layer, see ``lib/changes.py``), so the work is proportional to what
the images do differently, not to their size. A directory only one side has is one difference,
counted by its totals; what lies inside it is read from that side when it is opened or
searched (``DiffTree``).
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from typing import TYPE_CHECKING

from layerviz.lib import changes, filemode
from layerviz.lib.changes import DIR, ChangeRow, ancestors

from . import filesystem, packed
from .packed import State

if TYPE_CHECKING:
    from .comparison import StackPair

ADDED, REMOVED, CHANGED = "added", "removed", "changed"


@dataclasses.dataclass(slots=True)
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
    # A directory only one side has, whole: everything beneath differs the same way, so its
    # contents are not listed one by one (``DiffTree`` lists them when asked); ``files`` is
    # how many non-directories it holds, its size their bytes.
    whole: bool = False
    files: int = 0
    # For a changed path: what of its metadata changed, as (field, in A, in B) with the
    # values as a person reads them (``ls -l``'s mode, uid:gid, the mtime in UTC).
    meta: tuple[tuple[str, str, str], ...] = ()

    @property
    def content_changed(self) -> bool:
        """A change of what the path holds (content or type), not of its metadata only."""
        return self.status == CHANGED and self.detail != "metadata"

    @property
    def metadata_only(self) -> bool:
        """A change of mode, owner or mtime only: what the compare page hides by default."""
        return self.status == CHANGED and self.detail == "metadata"

    @property
    def delta(self) -> int:
        return (self.size_b or 0) - (self.size_a or 0)

    @property
    def name(self) -> str:
        return self.path.rpartition("/")[2]

    @property
    def dir(self) -> str:
        return self.path.rpartition("/")[0]


def _differs(a: State, b: State) -> str:
    if a.type != b.type:
        return "type"
    if a.type == DIR:
        same = (a.mode, a.uid, a.gid) == (b.mode, b.uid, b.gid)
        return "" if same else "metadata"
    if (a.digest, a.size, a.link) != (b.digest, b.size, b.link):
        return "content"
    if (a.mode, a.uid, a.gid, a.mtime) != (b.mode, b.uid, b.gid, b.mtime):
        return "metadata"
    return ""


def _changed(path: str, a: State, b: State) -> FileDiff | None:
    """The difference of a path both images hold, or None when they hold the same."""
    detail = _differs(a, b)
    if not detail:
        return None
    diff = FileDiff(path, CHANGED, detail, b.type, _size(a), _size(b), a.depth, b.depth)
    diff.meta = filemode.metadata_changes(a, b)
    return diff


def file_diff(pair: StackPair) -> list[FileDiff]:
    """Every path whose final state differs between A and B, by path.

    Only paths a diverging layer touched can differ, and every such path's directory has a
    row in that layer (``lib/changes.py``), so the work follows the diverging rows. They are
    read a directory level at a time, from the root down: a directory only one side has is
    one difference (``FileDiff.whole``, counted by its aggregates), and nothing beneath it is
    unpacked. A path only one side's diverging layers touched is compared with the common
    base's version of it; one both touched, side to side.
    """
    common = [la.chain_id for la, _ in pair.shared]
    side_a = packed.raw_dirs([la.chain_id for la in pair.only_a])
    side_b = packed.raw_dirs([lb.chain_id for lb in pair.only_b])
    levels: dict[int, list[str]] = defaultdict(list)
    for directory in side_a.keys() | side_b.keys():
        levels[directory.count("/") + 1 if directory else 0].append(directory)
    whole: set[str] = set()
    out: list[FileDiff] = []
    for level in sorted(levels):
        live = [d for d in levels[level] if not any(a in whole for a in _self_and_up(d))]
        rows_a: dict[str, State] = {}
        rows_b: dict[str, State] = {}
        for directory in live:
            rows_a.update(packed.states(directory, side_a.get(directory, ())))
            rows_b.update(packed.states(directory, side_b.get(directory, ())))
        only_a = rows_a.keys() - rows_b.keys()
        only_b = rows_b.keys() - rows_a.keys()
        base: dict[str, State] = {}
        if common and (only_a or only_b):
            needed = only_a | only_b
            directories = {path.rpartition("/")[0] for path in needed}
            for directory, rows in packed.raw_dirs(common, directories=directories).items():
                found = packed.states(directory, rows)
                base.update((path, found[path]) for path in needed & found.keys())
        _one_sided(out, only_a, rows_a, base, whole, a_side=True)
        _one_sided(out, only_b, rows_b, base, whole, a_side=False)
        _two_sided(out, rows_a, rows_b)
    out.sort(key=_by_path)
    return out


def _self_and_up(directory: str) -> list[str]:
    return [directory, *ancestors(directory)] if directory else []


def _two_sided(out: list[FileDiff], rows_a: dict[str, State], rows_b: dict[str, State]) -> None:
    """The differences of paths both sides' diverging layers touched."""
    deleted = changes.DELETED
    for path in rows_a.keys() & rows_b.keys():
        in_a, in_b = rows_a[path], rows_b[path]
        a_gone, b_gone = in_a.kind == deleted, in_b.kind == deleted
        if a_gone and b_gone:
            continue
        if a_gone:
            out.append(_added(path, in_b, in_a.depth))
        elif b_gone:
            out.append(_removed(path, in_a, in_b.depth))
        else:
            diff = _changed(path, in_a, in_b)
            if diff is not None:
                out.append(diff)


def _one_sided(
    out: list[FileDiff],
    paths: set[str],
    rows: dict[str, State],
    base: dict[str, State],
    whole: set[str],
    *,
    a_side: bool,
) -> None:
    """The differences of paths only one side's diverging layers touched: that side's row
    against the common base's (the other side still has the base's version). A directory
    only this side has goes into ``whole``."""
    deleted = changes.DELETED
    for path in paths:
        row = rows[path]
        below = base.get(path)
        if below is not None and below.kind == deleted:
            below = None
        if row.kind == deleted:
            if below is None:
                continue  # gone on this side, never there on the other
            out.append(
                _added(path, below, row.depth) if a_side else _removed(path, below, row.depth)
            )
        elif below is None:
            diff = _removed(path, row, None) if a_side else _added(path, row, None)
            if row.type == DIR:
                diff.whole, diff.files = True, row.tree_files
                whole.add(path)
            out.append(diff)
        else:
            a, b = (row, below) if a_side else (below, row)
            changed = _changed(path, a, b)
            if changed is not None:
                out.append(changed)


def _added(path: str, b: State, deleted_at: int | None) -> FileDiff:
    """Only in B; ``deleted_at`` is A's diverging layer that deleted it, if one did."""
    diff = FileDiff(path, ADDED, "", b.type, None, _size(b), deleted_at, b.depth)
    if deleted_at is not None:
        diff.deleted_in = "a"
    return diff


def _removed(path: str, a: State, deleted_at: int | None) -> FileDiff:
    """Only in A; ``deleted_at`` is B's diverging layer that deleted it, if one did."""
    diff = FileDiff(path, REMOVED, "", a.type, _size(a), None, a.depth, deleted_at)
    if deleted_at is not None:
        diff.deleted_in = "b"
    return diff


def _by_path(diff: FileDiff) -> str:
    return diff.path


def _size(row: State) -> int:
    return row.tree_bytes if row.type == DIR else row.size


@dataclasses.dataclass
class DiffSummary:
    """``changed`` counts both kinds of change: ``changed_content`` (what a file holds, or its
    type) and ``changed_metadata`` (mode, owner or mtime only, which a rebuild on a new
    timestamp gives every file). ``by_top`` has the bytes per top directory: ``changed`` for
    content changes (the size change, or the new size when it is the same), ``metadata`` for
    the files stored again with new metadata only, so a chart and the counts agree."""

    added: int = 0
    removed: int = 0
    changed: int = 0
    added_bytes: int = 0
    removed_bytes: int = 0
    changed_delta: int = 0
    changed_content: int = 0
    changed_metadata: int = 0
    changed_content_delta: int = 0
    metadata_bytes: int = 0
    by_top: dict[str, dict[str, int]] = dataclasses.field(default_factory=dict)


def summarize(diffs: list[FileDiff]) -> DiffSummary:
    """Counts and bytes of the differing files (directories are not counted as files)."""
    summary = DiffSummary()
    for d in diffs:
        if d.type == DIR and not d.whole:
            continue
        files = d.files if d.whole else 1
        # Top-level files go in "/"; a whole directory at the top is its own top directory.
        top = d.path.split("/", 1)[0] if "/" in d.path or d.whole else "/"
        bucket = summary.by_top.setdefault(
            top, {"added": 0, "removed": 0, "changed": 0, "metadata": 0}
        )
        if d.status == ADDED:
            summary.added += files
            summary.added_bytes += d.size_b or 0
            bucket["added"] += d.size_b or 0
        elif d.status == REMOVED:
            summary.removed += files
            summary.removed_bytes += d.size_a or 0
            bucket["removed"] += d.size_a or 0
        elif d.content_changed:
            summary.changed += 1
            summary.changed_content += 1
            summary.changed_delta += d.delta
            summary.changed_content_delta += d.delta
            bucket["changed"] += abs(d.delta) or d.size_b or 0
        else:
            summary.changed += 1
            summary.changed_metadata += 1
            summary.changed_delta += d.delta
            summary.metadata_bytes += d.size_b or 0
            bucket["metadata"] += d.size_b or 0
    return summary


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
    metadata: int = 0  # of ``changed``, the metadata-only changes
    delta: int = 0  # bytes B minus A beneath
    # Statuses of the differences beneath, directories' own included (the counts leave those
    # out), a metadata-only change as METADATA_ONLY: what the filters keep a directory open for.
    beneath: set[str] = dataclasses.field(default_factory=set)

    @property
    def status(self) -> str:
        return self.diff.status if self.diff else "contains"


# Not a status: a change that is metadata only, which a directory holding one notes apart so
# that hiding those changes can hide a directory that holds nothing else.
METADATA_ONLY = "metadata"
_BITS = {ADDED: 1, REMOVED: 2, CHANGED: 4, METADATA_ONLY: 8}


def _bit(d: FileDiff) -> int:
    return _BITS[METADATA_ONLY] if d.metadata_only else _BITS[d.status]


class DiffTree:
    """The differences as a tree, a directory's rows made when they are asked for.

    Built once per comparison: each directory's sums (files added, removed and changed
    beneath, the size change, which kinds of difference lie beneath) are added up per
    directory and carried up level by level (a diff of 100,000 files has a few thousand
    directories). A row (``DiffNode``) is made only for what a page shows, and the contents of
    a directory only one side has (``FileDiff.whole``) are listed from that side only when
    that directory is opened or searched.
    """

    def __init__(self, diffs: list[FileDiff], pair: StackPair) -> None:
        self._diffs = {d.path: d for d in diffs}
        self._kids: dict[str, list[str]] = defaultdict(list)
        self._sides = _Sides(pair)
        self._opened: set[str] = set()
        self._found: dict[str, list[FileDiff]] = {}
        # dir -> added, removed, changed, metadata-only changed, delta, status bits
        sums: dict[str, list[int]] = {}
        for d in diffs:
            path = d.path
            parent = path.rpartition("/")[0]
            self._kids[parent].append(path)
            if "/" not in path:
                continue
            acc = sums.get(parent)
            if acc is None:
                acc = sums[parent] = [0, 0, 0, 0, 0, 0]
            acc[5] |= _bit(d)
            if d.type != DIR or d.whole:
                files = d.files if d.whole else 1
                acc[0] += files if d.status == ADDED else 0
                acc[1] += files if d.status == REMOVED else 0
                acc[2] += d.status == CHANGED
                acc[3] += d.metadata_only
                acc[4] += d.delta
        levels: dict[int, list[str]] = defaultdict(list)
        for directory in sums:
            levels[directory.count("/")].append(directory)
        for level in range(max(levels, default=0), 0, -1):
            for directory in levels[level]:
                parent = directory.rpartition("/")[0]
                up = sums.get(parent)
                if up is None:
                    up = sums[parent] = [0, 0, 0, 0, 0, 0]
                    levels[level - 1].append(parent)
                acc = sums[directory]
                for i in range(5):
                    up[i] += acc[i]
                up[5] |= acc[5]
        for directory in sums:
            if directory not in self._diffs:
                self._kids[directory.rpartition("/")[0]].append(directory)
        self._sums = sums

    def node(self, path: str) -> DiffNode:
        d = self._diffs.get(path)
        is_dir = d.type == DIR if d is not None else True
        node = DiffNode(path.rpartition("/")[2], path, is_dir, d)
        if d is not None and (d.type != DIR or d.whole):
            files = d.files if d.whole else 1
            node.added = files if d.status == ADDED else 0
            node.removed = files if d.status == REMOVED else 0
            node.changed, node.delta = int(d.status == CHANGED), d.delta
            node.metadata = int(d.metadata_only)
            if d.whole:
                node.beneath = {d.status}
        found = self._sums.get(path)
        if found is not None:
            added, removed, changed, metadata, delta, bits = found
            node.added += added
            node.removed += removed
            node.changed += changed
            node.metadata += metadata
            node.delta += delta
            node.beneath = {status for status, bit in _BITS.items() if bits & bit}
        return node

    def _add(self, diffs: list[FileDiff]) -> None:
        for d in diffs:
            if d.path not in self._diffs:
                self._diffs[d.path] = d
                self._kids[d.path.rpartition("/")[0]].append(d.path)

    def children(
        self, directory: str, *, kinds: set[str], sort: str, metadata: bool = True
    ) -> list[DiffNode]:
        """One directory, filtered by kind (and without the metadata-only changes unless
        ``metadata``), sorted by name or by size change."""
        whole = self._diffs.get(directory)
        if whole is not None and whole.whole and directory not in self._opened:
            self._opened.add(directory)
            self._add(self._sides.children(whole))
        rows = [self.node(path) for path in self._kids.get(directory, ())]
        rows = [node for node in rows if keeps(node, kinds, metadata=metadata)]
        rows.sort(key=_by_size if sort == "size" else _tree_order)
        return rows

    def search(
        self, needle: str, *, kinds: set[str], sort: str, metadata: bool = True, limit: int = 500
    ) -> tuple[list[FileDiff], int]:
        """The differences whose path contains ``needle``, inside whole directories too, as a
        flat list sorted by path (or size change), the metadata-only changes left out unless
        ``metadata``; one page and the count."""
        found = self._found.get(needle)
        if found is None:
            wholes: dict[str, set[str]] = defaultdict(set)
            for d in self._diffs.values():
                if d.whole:
                    wholes[d.status].add(d.path)
            found = [d for d in self._diffs.values() if needle in d.path]
            seen = {d.path for d in found}
            inner = [d for d in self._sides.find(needle, wholes) if d.path not in seen]
            self._add(inner)
            found += inner
            self._found[needle] = found  # a comparison never changes: keep what was found
        picked = [
            d
            for d in found
            if (not kinds or d.status in kinds) and (metadata or not d.metadata_only)
        ]
        picked.sort(key=_by_size if sort == "size" else _by_path)
        return picked[:limit], len(picked)


class _Sides:
    """What lies inside a directory only one side has, read from that side's merged view."""

    def __init__(self, pair: StackPair) -> None:
        shared = [la.chain for la, _ in pair.shared]
        self._chains = {
            REMOVED: shared + [la.chain for la in pair.only_a],
            ADDED: shared + [lb.chain for lb in pair.only_b],
        }

    def _diff(self, row: ChangeRow, status: str) -> FileDiff:
        size = row.tree_bytes if row.type == DIR else row.size
        if status == ADDED:
            diff = FileDiff(row.path, ADDED, "", row.type, None, size, None, row.depth)
        else:
            diff = FileDiff(row.path, REMOVED, "", row.type, size, None, row.depth, None)
        if row.type == DIR:
            diff.whole, diff.files = True, row.tree_files
        return diff

    def children(self, whole: FileDiff) -> list[FileDiff]:
        chains = self._chains[whole.status]
        rows = filesystem.directory_rows(chains, len(chains) - 1, filesystem.MERGED, whole.path)
        return [self._diff(r, whole.status) for r in rows if r.kind != changes.DELETED]

    def find(self, needle: str, wholes: dict[str, set[str]]) -> list[FileDiff]:
        """Paths holding ``needle`` beneath one of the whole directories (by status: the side
        that has them), read from that side."""
        out = []
        for status, chains in self._chains.items():
            side = wholes.get(status)
            if not side:
                continue
            top = len(chains) - 1
            rows, _total = filesystem.search(chains, top, filesystem.MERGED, needle, limit=None)
            for row in rows:
                if row.kind == changes.DELETED:
                    continue
                if any(a in side for a in ancestors(row.path)):
                    out.append(self._diff(row, status))
        return out


def _tree_order(node: DiffNode) -> tuple[bool, str]:
    return not node.is_dir, node.name


# The diff is computed whole and kept (see compare/views.py), so its filters and sorts work on
# that result in memory rather than in the database as the layer tree's do: each is a pass over
# one directory's rows (DiffTree.children), or over the list of differences for a search.


def keeps(node: DiffNode, kinds: set[str], *, metadata: bool = True) -> bool:
    """Whether the filters keep a row: a difference of a chosen kind (a metadata-only change
    only with ``metadata``), or a directory with one beneath (so the path to it stays open)."""
    wanted = set(kinds or _BITS)
    if CHANGED in wanted and metadata:
        wanted.add(METADATA_ONLY)  # "changed" is both kinds of change
    else:
        wanted.discard(METADATA_ONLY)
    diff = node.diff
    if diff is not None and (METADATA_ONLY if diff.metadata_only else diff.status) in wanted:
        return True
    return bool(node.beneath & wanted)


def _by_size(node: DiffNode | FileDiff) -> tuple[int, str]:
    return -abs(node.delta), node.path
