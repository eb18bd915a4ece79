"""Stack layers into a merged filesystem and say what each layer did to it.

A layer's tar does not say whether a path is added or modified; that is decided against the
merged view of the layers below (``image-format.md`` §2.6). ``MergedTree`` holds that view in
memory (one small record per path, so memory follows the number of files, not their bytes) and
``apply_layer`` stacks one more layer on it, following the OCI layer rules:

1. entries of ``.wh..wh.*`` AUFS bookkeeping are skipped, like Docker does;
2. opaque markers and whiteouts are applied first, whatever their position in the tar, and only
   against the lower layers: a whiteout never hides its own layer's files;
3. the layer's entries are applied in tar order, as a runtime unpacks them: a later entry for
   a path replaces an earlier one; a directory over a directory only replaces attributes,
   anything else replaces the old path (and a directory replaced by a file takes its whole
   subtree with it); a missing parent is made as a directory;
4. every path the layer touched gets a row, judged against what the layers *below* held (the
   layer's own earlier entries are not "below"): added, modified (content / type / metadata),
   unchanged (identical re-add, or a directory that is only the parent of a change), or
   deleted. A deletion is expanded to every path it removed, so the merged view as of layer *k*
   is simply, per path, the row from the highest layer <= *k*. A path the layer made and then
   removed again gets no row: nothing below had it.

Directory rows carry the merged size of their subtree as of the layer, so size-sorted listings
and treemaps of any layer need no recomputation. Paths are the reversible text form of
``names.to_text``: ``/`` separates components exactly as in the byte form.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import operator
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence

from . import names, packing
from .errors import LimitExceeded
from .layer import AUFS_META, OPAQUE, WH_PREFIX, WHITEOUT, EntryBatch
from .tarwalk import DIR, LINK, REG, SYMLINK

ADDED, MODIFIED, DELETED, UNCHANGED = "A", "M", "D", "U"
# detail codes
CONTENT, TYPE, METADATA = "c", "t", "m"
IDENTICAL, PARENT = "i", "p"
BY_WHITEOUT, BY_OPAQUE, BY_REPLACEMENT = "w", "o", "r"

# Row flags.
IMPLICIT = 1  # the directory has no entry of its own in this layer's tar
HARDLINK_DANGLING = 2
HARDLINK_FORWARD = 4  # target appears later in the same tar
HARDLINK_TO_DIR = 8
PARENT_SYMLINK = 16  # a lower layer had a symlink where this path needs a directory
WHITEOUT_MISSING = 32  # the whiteout names nothing in the layers below (a no-op)

ROOT = ""
# A chain note, stored as {"code": ..., and its parameters}; the explorer has the words.
WHITEOUT_FINDS_NOTHING = "whiteout-finds-nothing"

_SKIP = AUFS_META | OPAQUE | WHITEOUT
_NO_SUMS = (0, 0, 0, 0, 0, 0)


@dataclasses.dataclass(slots=True)
class Node:
    """One path of the merged view. ``meta`` (mode, uid, gid, xattrs) is shared by every node
    with the same attributes: most files of an image have one of a handful."""

    type: str
    size: int
    meta: tuple[int, int, int, tuple[tuple[str, str], ...]]
    mtime: int
    link: str
    digest: bytes  # sha256 of a regular file's content, b"" for anything else
    depth: int  # the layer this version of the path comes from

    @property
    def is_dir(self) -> bool:
        return self.type == DIR

    @property
    def mode(self) -> int:
        return self.meta[0]

    @property
    def uid(self) -> int:
        return self.meta[1]

    @property
    def gid(self) -> int:
        return self.meta[2]

    @property
    def xattrs(self) -> dict[str, str] | None:
        return dict(self.meta[3]) or None

    @property
    def sha256(self) -> str:
        return self.digest.hex()


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
    added: int = 0
    modified: int = 0
    deleted: int = 0
    added_bytes: int = 0
    modified_bytes: int = 0
    deleted_bytes: int = 0
    total_bytes: int = 0  # merged view as of this layer
    total_files: int = 0
    notes: list[dict[str, str]] = dataclasses.field(default_factory=list)


@contextlib.contextmanager
def cycle_collection_paused() -> Iterator[None]:
    """Pause Python's cycle collector while a big tree is built.

    A merged tree is millions of small objects and holds no reference cycles, but every
    full collection walks all of them: measured on a 500,000-file layer, stacking it took
    three times as long with the collector running. Reference counting still frees
    everything as usual.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def split(path: str) -> tuple[str, str]:
    head, _, tail = path.rpartition("/")
    return head, tail


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


# What a layer did to a path is a _Touch, or, for the commonest case (a path the layers below
# did not have, written once by one plain entry), just that entry's seq: a layer of a million
# new files then keeps a million ints, not a million objects.
Touched = dict[str, "_Touch | int"]


class _Touch:
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


class LayerChanges:
    """The outcome of ``apply_layer``: the summary at once, the rows directory by directory.

    Rows are made a directory at a time from the merged tree as the layer left it (a layer of
    a million paths never holds a million rows), so take them before the next layer is
    applied.
    """

    def __init__(self, tree: MergedTree, touched: Touched, summary: LayerSummary):
        self._tree = tree
        self._touched = touched
        self.summary = summary
        self._sums = tree._classify(touched, summary)

    def by_directory(self) -> Iterator[tuple[str, list[ChangeRow]]]:
        """(directory, its rows sorted by name) for every directory holding a row."""
        groups: dict[str, list[str]] = defaultdict(list)
        for path in self._touched:
            groups[path.rpartition("/")[0]].append(path)
        for directory in sorted(groups):
            paths = sorted(groups.pop(directory))
            yield directory, [self._tree._row_of(p, self._touched[p], self._sums) for p in paths]

    def rows(self) -> dict[str, ChangeRow]:
        """Every row of the layer, by path (for tests and small layers)."""
        return {row.path: row for _, rows in self.by_directory() for row in rows}


def _by_name(row: ChangeRow) -> str:
    return row.name


class MergedTree:
    """The merged filesystem of the layers applied so far, of at most ``max_paths`` paths."""

    def __init__(self, max_paths: int | None = None) -> None:
        self.max_paths = max_paths
        self.nodes: dict[str, Node] = {}
        self.children: dict[str, set[str]] = {ROOT: set()}
        self.tree_bytes: dict[str, int] = {ROOT: 0}
        self.tree_files: dict[str, int] = {ROOT: 0}
        self.depth = -1
        # Shared values: a few hundred distinct attribute sets and mtimes serve a whole image.
        self._metas: dict[tuple, tuple] = {}
        self._ints: dict[int, int] = {}
        # Size changes not yet added to the directories above them: (bytes, files) by parent.
        self._pending: dict[str, list[int]] = {}

    def __len__(self) -> int:
        return len(self.nodes)

    # --- primitive updates that keep children and aggregates right ----------------------

    def _meta(self, mode: int, uid: int, gid: int, xattrs: dict[str, str] | None) -> tuple:
        key = (mode & 0o7777, uid, gid, tuple(sorted(xattrs.items())) if xattrs else ())
        return self._metas.setdefault(key, key)

    def _note(self, parent: str, bytes_: int, files: int) -> None:
        pending = self._pending.get(parent)
        if pending is None:
            self._pending[parent] = [bytes_, files]
        else:
            pending[0] += bytes_
            pending[1] += files

    def _flush(self) -> None:
        """Add the pending size changes to every directory above them."""
        tree_bytes, tree_files = self.tree_bytes, self.tree_files
        for directory, (bytes_, files) in self._pending.items():
            path = directory
            while True:
                tree_bytes[path] += bytes_
                tree_files[path] += files
                if path == ROOT:
                    break
                path = path.rpartition("/")[0]
        self._pending.clear()

    def subtree(self, path: str) -> list[str]:
        """``path`` and every path below it, parents before children."""
        out = [path]
        i = 0
        while i < len(out):
            kids = self.children.get(out[i])
            if kids:
                out.extend(kids)
            i += 1
        return out

    def _remove(self, path: str, reason: str, touched: Touched | None) -> None:
        """Remove ``path`` and its subtree, noting each removed path's lower version."""
        node = self.nodes.get(path)
        if node is None:
            return
        if node.type == DIR:
            self._flush()  # the sizes below must be exact before a directory goes
            paths = self.subtree(path)
        else:
            paths = [path]
        bytes_ = files = 0
        nodes = self.nodes
        for p in paths:
            n = nodes.pop(p)
            if touched is not None:
                touch = _touch_of(touched, p, n)
                if touch.lower is not None and not touch.reason:
                    touch.reason = reason
            if n.type == DIR:
                self.children.pop(p, None)
                self.tree_bytes.pop(p, None)
                self.tree_files.pop(p, None)
            else:
                bytes_ += n.size
                files += 1
        parent = path.rpartition("/")[0]
        self.children[parent].discard(path)
        self._note(parent, -bytes_, -files)

    def _put(self, path: str, node: Node) -> None:
        """Set ``path`` to ``node``; the parent must exist as a directory, ``path`` must not
        exist unless both are directories (then only the attributes change)."""
        old = self.nodes.get(path)
        self.nodes[path] = node
        if old is not None:
            if not (old.type == DIR and node.type == DIR):
                raise AssertionError(f"put over existing {path!r}")
            return
        parent = path.rpartition("/")[0]
        self.children[parent].add(path)
        if self.max_paths is not None and len(self.nodes) > self.max_paths:
            raise LimitExceeded(
                f"the image holds more than {self.max_paths} paths once its layers are stacked "
                "(LAYERVIZ_MAX_PATHS_PER_IMAGE)"
            )
        if node.type == DIR:
            self.children[path] = set()
            self.tree_bytes[path] = 0
            self.tree_files[path] = 0
        else:
            self._note(parent, node.size, 1)

    # --- one layer -----------------------------------------------------------------------

    def apply_layer(self, batches: Iterable[EntryBatch]) -> LayerChanges:
        """Stack one layer, given its tar entries in tar order. ``batches`` is iterated twice
        (whiteouts act first): a list, or ``images.packed.StoredEntries``."""
        self.depth += 1
        depth = self.depth
        summary = LayerSummary()
        touched: Touched = {}
        nodes = self.nodes

        # 1. Opaque directories and whiteouts act on the lower layers only, and first.
        opaque_dirs: list[str] = []
        whiteouts: list[str] = []
        for batch in batches:
            for path, flags in zip(batch.path, batch.flags, strict=True):
                if not flags & (OPAQUE | WHITEOUT) or flags & AUFS_META:
                    continue
                parent, base = split(path)
                if flags & OPAQUE:
                    opaque_dirs.append(parent)
                else:
                    target = base[len(WH_PREFIX) :]
                    whiteouts.append(f"{parent}/{target}" if parent else target)
        for directory in opaque_dirs:
            lower = nodes.get(directory) if directory else None
            if directory and (lower is None or lower.type != DIR):
                continue
            for child in sorted(self.children.get(directory, ())):
                self._remove(child, BY_OPAQUE, touched)
        for target in whiteouts:
            if target in nodes:
                self._remove(target, BY_WHITEOUT, touched)
            elif _lower(touched.get(target)) is None:
                summary.notes.append({"code": WHITEOUT_FINDS_NOTHING, "path": target})

        # 2. The layer's own entries, in tar order.
        ints = self._ints
        meta_key = None
        meta = ()
        parent_ok = None  # the last parent known to be a directory of the merged view
        forward: list[tuple[str, str]] = []
        for batch in batches:
            seq = batch.first_seq - 1
            for path, typ, size, mode, uid, gid, mtime, link, digest, flags, xattrs in zip(
                batch.path,
                batch.type,
                batch.size,
                batch.mode,
                batch.uid,
                batch.gid,
                batch.mtime,
                batch.link,
                batch.sha256,
                batch.flags,
                batch.xattrs,
                strict=True,
            ):
                seq += 1
                if flags & _SKIP:
                    continue
                parent = path.rpartition("/")[0]
                if parent != parent_ok:
                    self._ensure_dir(parent, touched, depth)
                    parent_ok = parent
                if xattrs:
                    meta = self._meta(mode, uid, gid, xattrs)
                    meta_key = None
                elif meta_key != (mode, uid, gid):
                    meta_key = (mode, uid, gid)
                    meta = self._meta(mode, uid, gid, None)
                node = Node(
                    typ,
                    size,
                    meta,
                    ints.setdefault(mtime, mtime),
                    link,
                    digest,
                    depth,
                )
                row_flags = 0
                if typ == LINK:
                    row_flags = self._resolve_hardlink(path, node, forward)
                old = nodes.get(path)
                if old is None and not row_flags and path not in touched:
                    self._put(path, node)
                    touched[path] = seq
                    if node.type == DIR:
                        parent_ok = path
                    continue
                touch = _touch_of(touched, path, old)
                if old is not None and not (old.type == DIR and node.type == DIR):
                    self._remove(path, BY_REPLACEMENT, touched)
                    if parent_ok is not None and parent_ok.startswith(path):
                        parent_ok = None  # the remembered parent may have gone with it
                self._put(path, node)
                touch.seq = seq
                touch.flags = row_flags
                touch.fresh = False
                if node.type == DIR:
                    parent_ok = path
        for path, target in forward:
            found = nodes.get(target)
            touch = _touch_of(touched, path, None)
            if touch.flags == HARDLINK_DANGLING and found is not None and found.depth == depth:
                touch.flags = HARDLINK_FORWARD
        self._flush()
        return LayerChanges(self, touched, summary)

    def _ensure_dir(self, path: str, touched: Touched, depth: int) -> None:
        """Make ``path`` an existing directory, creating implicit parents like a runtime would."""
        if path == ROOT:
            return
        node = self.nodes.get(path)
        if node is not None and node.type == DIR:
            return
        self._ensure_dir(path.rpartition("/")[0], touched, depth)
        flags = IMPLICIT
        touch = _touch_of(touched, path, node)
        if node is not None:
            # A lower non-directory (often a symlink) stands where a directory is needed.
            if node.type == SYMLINK:
                flags |= PARENT_SYMLINK
            self._remove(path, BY_REPLACEMENT, touched)
        self._put(path, Node(DIR, 0, self._meta(0o755, 0, 0, None), 0, "", b"", depth))
        touch.seq = None
        touch.flags = flags
        touch.fresh = node is None and touch.lower is not None

    def _resolve_hardlink(self, path: str, node: Node, forward: list[tuple[str, str]]) -> int:
        # A hard link names an archive path; clean it the way entry names are cleaned.
        link = names.to_text(names.clean(names.from_text(node.link))[0])
        node.link = link
        target = self.nodes.get(link)
        if target is None:
            forward.append((path, link))  # decided at the end of the layer
            return HARDLINK_DANGLING
        if target.type == DIR:
            return HARDLINK_TO_DIR
        node.digest = target.digest
        return 0

    # --- the rows of a layer ----------------------------------------------------------------

    def _classify(self, touched: Touched, summary: LayerSummary) -> dict[str, list]:
        """Give every touched path its verdict (kind and detail against the layers below),
        add the directories above them, count the summary, and return per directory the
        sums its row carries: bytes written beneath, bytes and files removed, files added,
        modified and deleted."""
        nodes = self.nodes
        for path, touch in list(touched.items()):
            final = nodes.get(path)
            if type(touch) is int:  # a new path: added, if it is still there
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
                parent = touched[a] = _Touch(node)
                parent.kind, parent.detail, parent.flags = UNCHANGED, PARENT, IMPLICIT

        # Summed per directory first, then carried up level by level.
        sums: dict[str, list[int]] = {}  # dir -> written, removed bytes, removed files, A, M, D
        for path, touch in touched.items():
            plain = type(touch) is int
            kind = ADDED if plain else touch.kind
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
            if plain or touch.seq is not None:
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
        summary.total_bytes = self.tree_bytes[ROOT]
        summary.total_files = self.tree_files[ROOT]
        return sums

    def _row_of(self, path: str, touch: _Touch | int, sums: dict[str, list[int]]) -> ChangeRow:
        if type(touch) is int:
            row = _row(path, self.nodes[path], ADDED, "", touch, None, 0, self.depth)
            kind = ADDED
        else:
            kind = touch.kind
            if kind == DELETED:
                node = prev = touch.lower
            else:
                node = self.nodes[path]
                prev = None if kind == ADDED else touch.lower
            row = _row(path, node, kind, touch.detail, touch.seq, prev, touch.flags, self.depth)  # type: ignore[arg-type]
        if row.type != DIR:
            if kind != DELETED:
                row.layer_bytes = row.size
            return row
        written, gone_bytes, gone_files, added, modified, deleted = sums.get(path, _NO_SUMS)
        if kind == DELETED:
            row.tree_bytes, row.tree_files = gone_bytes, gone_files
        else:
            row.tree_bytes = self.tree_bytes.get(path, 0)
            row.tree_files = self.tree_files.get(path, 0)
            row.layer_bytes = written
        row.sub_added, row.sub_modified, row.sub_deleted = added, modified, deleted
        return row

    # --- rebuilding from stored rows ---------------------------------------------------------

    def replay(self, rows: Iterable[ChangeRow], depth: int) -> None:
        """Re-apply the stored rows of an already computed layer.

        Deletions go first, then the rest parents before children, which reproduces the state
        ``apply_layer`` left (rows hold at most one version per path). A directory row without a
        tar entry (``seq`` None) that is only the parent of a change left the lower version in
        place; one with an entry replaced the directory's attributes.
        """
        self.depth = depth
        rows = list(rows)
        for row in rows:
            if row.kind == DELETED and row.path in self.nodes:
                self._remove(row.path, "", None)
        for row in sorted((r for r in rows if r.kind != DELETED), key=_path_depth):
            path = row.path
            old = self.nodes.get(path)
            if (
                row.kind == UNCHANGED
                and row.detail == PARENT
                and row.seq is None
                and old is not None
                and old.type == DIR
            ):
                continue  # only the parent of a change: the lower version stays
            node = Node(
                row.type,
                row.size,
                self._meta(row.mode, row.uid, row.gid, row.xattrs),
                self._ints.setdefault(row.mtime, row.mtime),
                row.link,
                row.digest,
                depth,
            )
            if old is not None and not (old.type == DIR and node.type == DIR):
                self._remove(path, "", None)
            self._put(path, node)
        self._flush()


def _touch_of(touched: Touched, path: str, lower: Node | None) -> _Touch:
    """The path's _Touch, made (with ``lower``, what the layers below had) or widened from a
    plain seq."""
    touch = touched.get(path)
    if touch is None:
        touch = touched[path] = _Touch(lower)
    elif type(touch) is int:
        seq, touch = touch, _Touch(None)
        touch.seq = seq
        touch.kind = ADDED
        touched[path] = touch
    return touch


def _lower(touch: _Touch | int | None) -> Node | None:
    return touch.lower if isinstance(touch, _Touch) else None


def _path_depth(row: ChangeRow) -> int:
    return row.dir.count("/") + (1 if row.dir else 0)


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
    had = prev is not None and kind != ADDED
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
        prev.depth if had else None,  # type: ignore[union-attr]
        prev.size if had else None,  # type: ignore[union-attr]
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


__all__ = ["DIR", "LINK", "REG", "SYMLINK", "ChangeRow", "LayerChanges", "MergedTree", "Node"]


# --- storage: a directory's rows packed column by column ------------------------------------

# Names and kinds are stored beside the blob (readable by the database, and enough for a path
# search to count its matches without unpacking anything); these are the rest.
CHANGE_SCHEMA = packing.Schema(
    (
        ("detail", packing.TEXT),
        ("type", packing.TEXT),
        ("size", packing.INT),
        ("mode", packing.INT),
        ("uid", packing.INT),
        ("gid", packing.INT),
        ("mtime", packing.INT),
        ("link", packing.TEXT),
        ("digest", packing.DIGEST),
        ("seq", packing.NINT),
        ("prev_depth", packing.NINT),
        ("prev_size", packing.NINT),
        ("tree_bytes", packing.INT),
        ("tree_files", packing.INT),
        ("layer_bytes", packing.INT),
        ("flags", packing.INT),
        ("xattrs", packing.JSON),
        ("sub_added", packing.INT),
        ("sub_modified", packing.INT),
        ("sub_deleted", packing.INT),
    )
)
_PACKED = CHANGE_SCHEMA.names
_FIELDS = operator.attrgetter(*_PACKED)
NAME_SEPARATOR = "/"  # no name holds one


def pack_rows(rows: Sequence[ChangeRow]) -> tuple[str, str, bytes]:
    """The names ("/"-joined), the kinds (a letter each) and the blob of one directory's rows
    (sorted by name)."""
    columns = dict(zip(_PACKED, zip(*map(_FIELDS, rows), strict=True), strict=True))
    names_ = NAME_SEPARATOR.join(r.name for r in rows)
    return names_, "".join(r.kind for r in rows), packing.pack(CHANGE_SCHEMA, columns)


def unpack_rows(
    directory: str, names_: str, kinds: str, blob: bytes, depth: int
) -> list[ChangeRow]:
    """The rows ``pack_rows`` stored for ``directory`` of the layer at ``depth``."""
    columns = packing.unpack(CHANGE_SCHEMA, blob)
    listed = names_.split(NAME_SEPARATOR) if names_ else []
    if not len(listed) == len(kinds) == packing.count_of(blob):
        raise packing.PackError(f"the stored listing of {directory or '/'} is damaged")
    return [
        ChangeRow(directory, name, kind, *values, depth)
        for name, kind, *values in zip(listed, kinds, *(columns[f] for f in _PACKED), strict=True)
    ]
