"""What one layer did to each path of the merged view: the codes, the rows, the verdicts.

A layer's tar does not say whether a path is added or modified; that is decided against the
merged view of the layers below (``image-format.md`` §2.6), which ``merged.MergedTree`` holds
and stacks the layer on. While it applies the layer it notes, for every path the layer touches,
what the layers below had there (a ``Touch``). ``LayerChanges`` then gives each touched path its
row, judged against what the layers *below* held (the layer's own earlier entries are not
"below"): added, modified (content / type / metadata), unchanged (identical re-add, or a
directory that is only the parent of a change), or deleted. A deletion is expanded to every path
it removed, so the merged view as of layer *k* is simply, per path, the row from the highest
layer <= *k*. A path the layer made and then removed again gets no row: nothing below had it.

Directory rows carry the merged size of their subtree as of the layer, so size-sorted listings
and treemaps of any layer need no recomputation. Paths are the reversible text form of
``names.to_text``: ``/`` separates components exactly as in the byte form. How the index stores
the rows is ``packed_changes``.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterator
from typing import TYPE_CHECKING

# A row's ``type`` is one of tarwalk's entry types: code that reads rows takes DIR and REG from
# here, with the codes.
from .tarwalk import DIR, REG  # noqa: F401 - REG is only re-exported

if TYPE_CHECKING:
    from .merged import MergedTree, Node

ADDED, MODIFIED, DELETED, UNCHANGED = "A", "M", "D", "U"
# detail codes
CONTENT, TYPE, METADATA = "c", "t", "m"
IDENTICAL, PARENT = "i", "p"
BY_WHITEOUT, BY_OPAQUE, BY_REPLACEMENT = "w", "o", "r"
# The codes' words where a machine reads them (the JSON API); pages translate their own.
KIND_NAMES = {ADDED: "added", MODIFIED: "modified", DELETED: "deleted", UNCHANGED: "unchanged"}
DETAIL_NAMES = {
    CONTENT: "content",
    TYPE: "type",
    METADATA: "metadata",
    IDENTICAL: "identical",
    PARENT: "parent",
    BY_WHITEOUT: "whiteout",
    BY_OPAQUE: "opaque",
    BY_REPLACEMENT: "replaced",
}

# Row flags.
IMPLICIT = 1  # the directory has no entry of its own in this layer's tar
HARDLINK_DANGLING = 2
HARDLINK_FORWARD = 4  # target appears later in the same tar
HARDLINK_TO_DIR = 8
PARENT_SYMLINK = 16  # a lower layer had a symlink where this path needs a directory
OPAQUE_DIR = 32  # the layer marked the directory opaque (.wh..wh..opq): nothing below shows

ROOT = ""  # the path of the root directory, as rows name it in ``dir``
# A chain note, stored as {"code": ..., and its parameters}; the explorer has the words.
WHITEOUT_FINDS_NOTHING = "whiteout-finds-nothing"

_NO_SUMS = (0, 0, 0, 0, 0, 0)


@dataclasses.dataclass(slots=True)
class ChangeRow:
    """What one layer did to one path; also what the index stores and the pages list."""

    dir: str
    name: str
    kind: str
    detail: str
    type: str
    size: int
    mode: int
    uid: int
    gid: int
    mtime: int
    link: str
    digest: bytes
    seq: int | None  # the tar entry that made this version, None for implicit and deleted rows
    prev_depth: int | None
    prev_size: int | None
    tree_bytes: int = 0
    tree_files: int = 0
    layer_bytes: int = 0
    flags: int = 0
    xattrs: dict[str, str] | None = None
    # Directories: how many files beneath this layer added, modified, deleted (for filters).
    sub_added: int = 0
    sub_modified: int = 0
    sub_deleted: int = 0
    depth: int = 0  # the layer (position in the stack) the row belongs to
    shown_size: int = 0  # set by a listing: the size it shows (filesystem.shown_size)
    # A whiteout's row in a listing of the tar as it is (``filesystem.tar_rows``): the entry's
    # name exactly as the layer wrote it, "./" and all. Never stored.
    entry: str = ""

    @property
    def path(self) -> str:
        return f"{self.dir}/{self.name}" if self.dir else self.name

    @property
    def sha256(self) -> str:
        return self.digest.hex()

    @property
    def is_dir(self) -> bool:
        return self.type == DIR

    @property
    def is_deleted(self) -> bool:
        return self.kind == DELETED


@dataclasses.dataclass
class LayerSummary:
    """A layer's changes counted: files (not directories) and their bytes, the merged view's
    totals as of the layer, and the notes its stacking raised."""

    added: int = 0
    modified: int = 0
    deleted: int = 0
    added_bytes: int = 0
    modified_bytes: int = 0
    deleted_bytes: int = 0
    total_bytes: int = 0  # merged view as of this layer
    total_files: int = 0
    notes: list[dict[str, str]] = dataclasses.field(default_factory=list)


def ancestors(path: str) -> list[str]:
    """Proper ancestors, nearest first, root excluded."""
    out = []
    while "/" in path:
        path = path.rpartition("/")[0]
        out.append(path)
    return out


def compare(lower: Node, upper: Node) -> tuple[str, str]:
    """Kind and detail of ``upper`` replacing ``lower`` at the same path."""
    if lower.type != upper.type:
        return MODIFIED, TYPE
    same_meta = lower.meta == upper.meta
    if upper.type == DIR:
        # A directory's mtime changes whenever a child does; only real attribute changes count.
        return (UNCHANGED, PARENT) if same_meta else (MODIFIED, METADATA)
    if lower.digest != upper.digest or lower.size != upper.size or lower.link != upper.link:
        return MODIFIED, CONTENT
    if not same_meta or lower.mtime != upper.mtime:
        return MODIFIED, METADATA
    return UNCHANGED, IDENTICAL


class Touch:
    """What one layer did to one path: while the layer is applied, then its verdict."""

    __slots__ = ("detail", "flags", "fresh", "kind", "lower", "reason", "seq")

    def __init__(self, lower: Node | None) -> None:
        self.lower = lower  # the version the layers below had (None: they had none)
        self.reason = ""  # how that version was removed, if it was
        self.seq: int | None = None  # the entry that wrote the path's final version
        self.flags = 0
        # A directory the layer removed and then needed again as a parent: the runtime makes a
        # new one (MkdirAll), so it is added, not compared with what it was.
        self.fresh = False
        self.kind = self.detail = ""


# What a layer did to a path is a Touch, or, for the commonest case (a path the layers below
# did not have, written once by one plain entry), just that entry's seq: a layer of a million
# new files then keeps a million ints, not a million objects.
Touched = dict[str, Touch | int]


def touch_of(touched: Touched, path: str, lower: Node | None) -> Touch:
    """The path's Touch, made (with ``lower``, what the layers below had) or widened from a
    plain seq."""
    touch = touched.get(path)
    if touch is None:
        touch = touched[path] = Touch(lower)
    elif isinstance(touch, int):
        seq, touch = touch, Touch(None)
        touch.seq = seq
        touch.kind = ADDED
        touched[path] = touch
    return touch


class LayerChanges:
    """What ``MergedTree.apply_layer`` made of a layer: the summary at once, the rows directory
    by directory.

    Rows are made a directory at a time from the merged tree as the layer left it (a layer of
    a million paths never holds a million rows), so take them before the next layer is
    applied.
    """

    def __init__(self, tree: MergedTree, touched: Touched, summary: LayerSummary) -> None:
        self._tree = tree
        self._touched = touched
        self.summary = summary
        self._sums = self._classify()

    def by_directory(self) -> Iterator[tuple[str, list[ChangeRow]]]:
        """(directory, its rows sorted by name) for every directory holding a row."""
        groups: dict[str, list[str]] = defaultdict(list)
        for path in self._touched:
            groups[path.rpartition("/")[0]].append(path)
        for directory in sorted(groups):
            paths = sorted(groups.pop(directory))
            yield directory, [self._row_of(p, self._touched[p]) for p in paths]

    def rows(self) -> dict[str, ChangeRow]:
        """Every row of the layer, by path (for tests and small layers)."""
        return {row.path: row for _, rows in self.by_directory() for row in rows}

    def _classify(self) -> dict[str, list]:
        """Give every touched path its verdict (kind and detail against the layers below),
        add the directories above them, count the summary, and return per directory the
        sums its row carries: bytes written beneath, bytes and files removed, files added,
        modified and deleted."""
        tree, touched, summary = self._tree, self._touched, self.summary
        nodes = tree.nodes
        for path, touch in list(touched.items()):
            final = nodes.get(path)
            if isinstance(touch, int):  # a new path: added, if it is still there
                if final is None:
                    del touched[path]
                continue
            lower = touch.lower
            if final is None:
                if lower is None:
                    del touched[path]  # made and removed by this layer: nothing below had it
                else:
                    touch.kind, touch.detail, touch.seq, touch.flags = (
                        DELETED,
                        touch.reason,
                        None,
                        0,
                    )
            elif lower is None or (touch.fresh and touch.seq is None):
                touch.kind, touch.detail = ADDED, ""
            else:
                touch.kind, touch.detail = compare(lower, final)

        # Every directory above a change gets a row, so that merged listings stay exact.
        for path in list(touched):
            a = path
            while "/" in a:
                a = a.rpartition("/")[0]
                if a in touched:
                    break
                node = nodes.get(a)
                if node is None:
                    break  # under a deleted directory: that directory's row covers it
                parent = touched[a] = Touch(node)
                parent.kind, parent.detail, parent.flags = UNCHANGED, PARENT, IMPLICIT

        # Summed per directory first, then carried up level by level.
        sums: dict[str, list[int]] = {}  # dir -> written, removed bytes, removed files, A, M, D
        for path, touch in touched.items():
            if isinstance(touch, int):  # a new path, written by the entry ``touch``
                kind, written, node = ADDED, True, nodes[path]
            else:
                kind, written = touch.kind, touch.seq is not None
                node = touch.lower if kind == DELETED else nodes[path]
            if node is None or node.type == DIR:
                continue
            directory = path.rpartition("/")[0]
            acc = sums.get(directory)
            if acc is None:
                acc = sums[directory] = [0, 0, 0, 0, 0, 0]
            size = node.size
            if kind == DELETED:
                acc[1] += size
                acc[2] += 1
                acc[5] += 1
                summary.deleted += 1
                summary.deleted_bytes += size
                continue
            if written:
                acc[0] += size
            if kind == ADDED:
                acc[3] += 1
                summary.added += 1
                summary.added_bytes += size
            elif kind == MODIFIED:
                acc[4] += 1
                summary.modified += 1
                summary.modified_bytes += size
        levels: dict[int, list[str]] = defaultdict(list)
        for directory in sums:
            levels[directory.count("/") + 1 if directory else 0].append(directory)
        for level in range(max(levels, default=0), 0, -1):
            for directory in levels[level]:
                parent_dir = directory.rpartition("/")[0]
                up = sums.get(parent_dir)
                if up is None:
                    up = sums[parent_dir] = [0, 0, 0, 0, 0, 0]
                    levels[level - 1].append(parent_dir)
                for i, value in enumerate(sums[directory]):
                    up[i] += value
        summary.total_bytes = tree.tree_bytes[ROOT]
        summary.total_files = tree.tree_files[ROOT]
        return sums

    def _row_of(self, path: str, touch: Touch | int) -> ChangeRow:
        tree = self._tree
        if isinstance(touch, int):
            row = _row(path, tree.nodes[path], ADDED, "", touch, None, 0, tree.depth)
            kind = ADDED
        else:
            kind = touch.kind
            if kind == DELETED:
                node = prev = touch.lower
                assert node is not None  # _classify kept deletions only of what was below
            else:
                node = tree.nodes[path]
                prev = None if kind == ADDED else touch.lower
            row = _row(path, node, kind, touch.detail, touch.seq, prev, touch.flags, tree.depth)
        if row.type != DIR:
            if kind != DELETED:
                row.layer_bytes = row.size
            return row
        written, gone_bytes, gone_files, added, modified, deleted = self._sums.get(path, _NO_SUMS)
        if kind == DELETED:
            row.tree_bytes, row.tree_files = gone_bytes, gone_files
        else:
            row.tree_bytes = tree.tree_bytes.get(path, 0)
            row.tree_files = tree.tree_files.get(path, 0)
            row.layer_bytes = written
        row.sub_added, row.sub_modified, row.sub_deleted = added, modified, deleted
        return row


def _row(
    path: str,
    node: Node,
    kind: str,
    detail: str,
    seq: int | None,
    prev: Node | None,
    flags: int,
    depth: int,
) -> ChangeRow:
    d, _, n = path.rpartition("/")
    mode, uid, gid, xattrs = node.meta
    typ = node.type
    if prev is not None and kind != ADDED:
        prev_depth: int | None = prev.depth
        prev_size: int | None = prev.size
    else:
        prev_depth = prev_size = None
    # Positional: this runs once per path of every layer.
    return ChangeRow(
        d,
        n,
        kind,
        detail,
        typ,
        node.size if typ != DIR else 0,
        mode,
        uid,
        gid,
        node.mtime,
        node.link,
        node.digest,
        seq,
        prev_depth,
        prev_size,
        0,
        0,
        0,
        flags,
        dict(xattrs) if xattrs else None,
        0,
        0,
        0,
        depth,
    )
