"""The merged filesystem of an image's layers, stacked one layer at a time.

``MergedTree`` holds the merged view in memory (one small ``Node`` per path, so memory follows
the number of files, not their bytes) and ``apply_layer`` stacks one more layer on it, following
the OCI layer rules (``image-format.md`` §2.6):

1. entries of ``.wh..wh.*`` AUFS bookkeeping are skipped, like Docker does;
2. opaque markers and whiteouts are applied first, whatever their position in the tar, and only
   against the lower layers: a whiteout never hides its own layer's files;
3. the layer's entries are applied in tar order, as a runtime unpacks them: a later entry for
   a path replaces an earlier one; a directory over a directory only replaces attributes,
   anything else replaces the old path (and a directory replaced by a file takes its whole
   subtree with it); a missing parent is made as a directory.

What the layer did to each path it touched, judged against the layers below, is the
``changes.LayerChanges`` that ``apply_layer`` returns. ``replay`` instead rebuilds the tree from
the rows stored for a layer computed before.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
from collections.abc import Iterable, Iterator

from . import names
from .changes import (
    BY_OPAQUE,
    BY_REPLACEMENT,
    BY_WHITEOUT,
    DELETED,
    HARDLINK_DANGLING,
    HARDLINK_FORWARD,
    HARDLINK_TO_DIR,
    IMPLICIT,
    OPAQUE_DIR,
    PARENT,
    PARENT_SYMLINK,
    ROOT,
    UNCHANGED,
    WHITEOUT_FINDS_NOTHING,
    ChangeRow,
    LayerChanges,
    LayerSummary,
    Touch,
    Touched,
    touch_of,
)
from .errors import LimitExceeded
from .layer import AUFS_META, OPAQUE, WH_PREFIX, WHITEOUT, EntryBatch
from .tarwalk import DIR, LINK, SYMLINK

_SKIP = AUFS_META | OPAQUE | WHITEOUT

# A node's attributes: mode (permission bits), uid, gid, xattrs as sorted (name, value) pairs.
Meta = tuple[int, int, int, tuple[tuple[str, str], ...]]


@dataclasses.dataclass(slots=True)
class Node:
    """One path of the merged view. ``meta`` (mode, uid, gid, xattrs) is shared by every node
    with the same attributes: most files of an image have one of a handful."""

    type: str
    size: int
    meta: Meta
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
        self._metas: dict[Meta, Meta] = {}
        self._ints: dict[int, int] = {}
        # Size changes not yet added to the directories above them: (bytes, files) by parent.
        self._pending: dict[str, list[int]] = {}

    def __len__(self) -> int:
        return len(self.nodes)

    # --- primitive updates that keep children and aggregates right ----------------------

    def _meta(self, mode: int, uid: int, gid: int, xattrs: dict[str, str] | None) -> Meta:
        key: Meta = (mode & 0o7777, uid, gid, tuple(sorted(xattrs.items())) if xattrs else ())
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
                touch = touch_of(touched, p, n)
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
        meta_key: tuple[int, int, int] | None = None
        meta: Meta  # set by the first entry, as meta_key starts as None
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
                touch = touch_of(touched, path, old)
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
            touch = touch_of(touched, path, None)
            if touch.flags == HARDLINK_DANGLING and found is not None and found.depth == depth:
                touch.flags = HARDLINK_FORWARD
        # An opaque directory says so on its own row, so a page can show it as opaque rather
        # than as a directory that merely holds changes.
        for directory in opaque_dirs:
            marked = touched.get(directory)
            if isinstance(marked, Touch):  # a plain seq is a path new here: nothing to hide
                marked.flags |= OPAQUE_DIR
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
        touch = touch_of(touched, path, node)
        if node is not None:
            # A lower non-directory (often a symlink) stands where a directory is needed.
            if node.type == SYMLINK:
                flags |= PARENT_SYMLINK
            self._remove(path, BY_REPLACEMENT, touched)
        self._put(path, Node(DIR, 0, self._meta(0o755, 0, 0, None), 0, "", b"", depth))
        touch.seq = None
        touch.flags = flags
        # New when this layer already removed what the layers below had here, by a whiteout,
        # an opaque marker, or an entry of its own that replaced it (``f`` then ``f/inside``):
        # only a lower non-directory still standing here is replaced, and compared.
        touch.fresh = touch.lower is not None and (node is None or node.depth == depth)

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


def _lower(touch: Touch | int | None) -> Node | None:
    return touch.lower if isinstance(touch, Touch) else None


def _path_depth(row: ChangeRow) -> int:
    return row.dir.count("/") + (1 if row.dir else 0)
