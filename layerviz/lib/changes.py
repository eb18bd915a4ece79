"""Stack layers into a merged filesystem and say what each layer did to it.

A layer's tar does not say whether a path is added or modified; that is decided against the
merged view of the layers below (``image-format.md`` §2.6). ``MergedTree`` holds that view in
memory (one small record per path, so memory follows the number of files, not their bytes) and
``apply_layer`` stacks one more layer on it, following the OCI layer rules:

1. entries of ``.wh..wh.*`` AUFS bookkeeping are skipped, like Docker does;
2. opaque markers and whiteouts are applied first, whatever their position in the tar, and only
   against the lower layers: a whiteout never hides its own layer's files;
3. the layer's entries are applied in tar order, the last of duplicate paths winning; a
   directory over a directory only replaces attributes, anything else replaces the old path
   (and a directory replaced by a file takes its whole subtree with it);
4. every path the layer touched gets a row: added, modified (content / type / metadata),
   unchanged (identical re-add, or a directory that is only the parent of a change), or deleted.
   A deletion is expanded to every path it removed, so the merged view as of layer *k* is
   simply, per path, the row from the highest layer <= *k*.

Directory rows carry the merged size of their subtree as of the layer, so size-sorted listings
and treemaps of any layer need no recomputation. Paths are the reversible text form of
``names.to_text``: ``/`` separates components exactly as in the byte form.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Protocol

from . import names
from .layer import AUFS_META, OPAQUE, WH_PREFIX, WHITEOUT, gettext_noop

DIR = "5"
HARDLINK = "1"
SYMLINK = "2"

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
# A chain note, stored in English; the explorer shows it translated.
WHITEOUT_FINDS_NOTHING = gettext_noop("whiteout for %(path)s deletes nothing (no such path below)")


class EntryLike(Protocol):
    seq: int
    path: str
    type: str
    size: int
    mode: int
    uid: int
    gid: int
    mtime: int
    link: str
    sha256: str
    flags: int
    xattrs: dict[str, str] | None


@dataclasses.dataclass(slots=True)
class Node:
    type: str
    size: int
    mode: int
    uid: int
    gid: int
    mtime: int
    link: str
    sha256: str
    depth: int  # the layer this version of the path comes from
    xattrs: tuple[tuple[str, str], ...] = ()

    @property
    def is_dir(self) -> bool:
        return self.type == DIR


@dataclasses.dataclass(slots=True)
class ChangeRow:
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
    sha256: str
    seq: int | None
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

    @property
    def path(self) -> str:
        return f"{self.dir}/{self.name}" if self.dir else self.name


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
    notes: list[str] = dataclasses.field(default_factory=list)


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


def _node(entry: EntryLike, depth: int) -> Node:
    return Node(
        type=entry.type if entry.type != "7" else "0",
        size=entry.size,
        mode=entry.mode & 0o7777,
        uid=entry.uid,
        gid=entry.gid,
        mtime=entry.mtime,
        link=entry.link,
        sha256=entry.sha256,
        depth=depth,
        xattrs=tuple(sorted((entry.xattrs or {}).items())),
    )


def _implicit_dir(depth: int) -> Node:
    return Node(
        type=DIR, size=0, mode=0o755, uid=0, gid=0, mtime=0, link="", sha256="", depth=depth
    )


def compare(lower: Node, upper: Node) -> tuple[str, str]:
    """Kind and detail of ``upper`` replacing ``lower`` at the same path."""
    if lower.type != upper.type:
        return MODIFIED, TYPE
    same_meta = (
        lower.mode == upper.mode
        and lower.uid == upper.uid
        and lower.gid == upper.gid
        and lower.xattrs == upper.xattrs
    )
    if upper.is_dir:
        # A directory's mtime changes whenever a child does; only real attribute changes count.
        return (UNCHANGED, PARENT) if same_meta else (MODIFIED, METADATA)
    if lower.sha256 != upper.sha256 or lower.size != upper.size or lower.link != upper.link:
        return MODIFIED, CONTENT
    if not same_meta or lower.mtime != upper.mtime:
        return MODIFIED, METADATA
    return UNCHANGED, IDENTICAL


class MergedTree:
    """The merged filesystem of the layers applied so far."""

    def __init__(self) -> None:
        self.nodes: dict[str, Node] = {}
        self.children: dict[str, set[str]] = {ROOT: set()}
        self.tree_bytes: dict[str, int] = {ROOT: 0}
        self.tree_files: dict[str, int] = {ROOT: 0}
        self.depth = -1

    # --- primitive updates that keep children and aggregates right ----------------------

    def _bubble(self, path: str, bytes_: int, files: int) -> None:
        for a in ancestors(path):
            self.tree_bytes[a] += bytes_
            self.tree_files[a] += files
        self.tree_bytes[ROOT] += bytes_
        self.tree_files[ROOT] += files

    def subtree(self, path: str) -> list[str]:
        """``path`` and every path below it, parents before children."""
        out = [path]
        i = 0
        while i < len(out):
            kids = self.children.get(out[i])
            if kids:
                out.extend(sorted(kids))
            i += 1
        return out

    def remove(self, path: str) -> list[tuple[str, Node, int, int]]:
        """Remove ``path`` and its subtree; returns (path, node, tree_bytes, tree_files) each."""
        node = self.nodes.get(path)
        if node is None:
            return []
        removed = []
        for p in self.subtree(path):
            n = self.nodes[p]
            if n.is_dir:
                removed.append((p, n, self.tree_bytes[p], self.tree_files[p]))
            else:
                removed.append((p, n, n.size, 1))
        _, total_bytes, total_files = removed[0][1], removed[0][2], removed[0][3]
        self._bubble(path, -total_bytes, -total_files)
        for p, n, _, _ in removed:
            del self.nodes[p]
            if n.is_dir:
                self.children.pop(p, None)
                self.tree_bytes.pop(p, None)
                self.tree_files.pop(p, None)
        parent = split(path)[0]
        self.children[parent].discard(path)
        return removed

    def put(self, path: str, node: Node) -> None:
        """Set ``path`` to ``node``; the parent must exist as a directory, ``path`` must not
        exist unless both are directories (then only the attributes change)."""
        old = self.nodes.get(path)
        if old is not None:
            if not (old.is_dir and node.is_dir):
                raise AssertionError(f"put over existing {path!r}")
            self.nodes[path] = node
            return
        self.nodes[path] = node
        self.children[split(path)[0]].add(path)
        if node.is_dir:
            self.children[path] = set()
            self.tree_bytes[path] = 0
            self.tree_files[path] = 0
        else:
            self._bubble(path, node.size, 1)

    # --- one layer -----------------------------------------------------------------------

    def apply_layer(self, entries: Iterable[EntryLike]) -> tuple[list[ChangeRow], LayerSummary]:
        self.depth += 1
        depth = self.depth
        summary = LayerSummary()

        effective: dict[str, EntryLike] = {}
        whiteouts: list[tuple[str, EntryLike]] = []
        opaque_dirs: list[str] = []
        for entry in entries:
            if entry.flags & AUFS_META:
                continue
            if entry.flags & OPAQUE:
                opaque_dirs.append(split(entry.path)[0])
                continue
            if entry.flags & WHITEOUT:
                parent, base = split(entry.path)
                target = f"{parent}/{base[len(WH_PREFIX) :]}" if parent else base[len(WH_PREFIX) :]
                whiteouts.append((target, entry))
                continue
            effective.pop(entry.path, None)  # re-insert so the order is that of the last entry
            effective[entry.path] = entry

        rows: dict[str, ChangeRow] = {}
        # Paths removed from the lower view, with what they were: (node, bytes, files, detail).
        removed: dict[str, tuple[Node, int, int, str]] = {}

        def take_away(path: str, detail: str) -> None:
            for p, node, tb, tf in self.remove(path):
                removed.setdefault(p, (node, tb, tf, detail))

        # 1. Opaque directories and whiteouts act on the lower layers only, and first.
        for directory in opaque_dirs:
            lower = self.nodes.get(directory) if directory else None
            if directory and (lower is None or not lower.is_dir):
                continue
            for child in sorted(self.children.get(directory, ())):
                take_away(child, BY_OPAQUE)
        missing_whiteouts = []
        for target, entry in whiteouts:
            if target in self.nodes:
                take_away(target, BY_WHITEOUT)
            elif target not in removed:
                missing_whiteouts.append((target, entry))

        # 2. The layer's own entries, in tar order.
        layer_bytes: dict[str, int] = {}
        for path, entry in effective.items():
            new = _node(entry, depth)
            flags = 0
            parent = split(path)[0]
            self._ensure_dir(parent, rows, removed, depth)
            if new.type == HARDLINK:
                flags |= self._resolve_hardlink(new, entry, effective)
            lower = self.nodes.get(path)
            prev = lower
            if lower is None and path in removed:
                prev = removed[path][0]
            if lower is not None and not (lower.is_dir and new.is_dir):
                # Replaced: a directory replaced by anything else loses its whole subtree.
                take_away(path, BY_REPLACEMENT)
            self.put(path, new)
            removed.pop(path, None)
            if prev is None:
                kind, detail = ADDED, ""
            else:
                kind, detail = compare(prev, new)
            rows[path] = self._row(path, new, kind, detail, entry.seq, prev, flags)
            if not new.is_dir:
                for a in ancestors(path):
                    layer_bytes[a] = layer_bytes.get(a, 0) + new.size
                layer_bytes[ROOT] = layer_bytes.get(ROOT, 0) + new.size

        # 3. Everything removed and not put back is deleted.
        for path, (node, tb, tf, detail) in removed.items():
            row = self._row(path, node, DELETED, detail, None, node, 0)
            row.size = node.size if not node.is_dir else 0
            row.tree_bytes, row.tree_files = (tb, tf) if node.is_dir else (0, 0)
            rows[path] = row
        for target, _entry in missing_whiteouts:
            summary.notes.append(WHITEOUT_FINDS_NOTHING % {"path": target})

        # 4. Every directory above a change gets a row, so that merged listings stay exact.
        for path in list(rows):
            for a in ancestors(path):
                if a in rows:
                    break
                node = self.nodes.get(a)
                if node is None:
                    break  # under a deleted directory: that directory's row covers it
                rows[a] = self._row(a, node, UNCHANGED, PARENT, None, node, IMPLICIT)

        # 5. Aggregates and the summary.
        for path, row in rows.items():
            if row.type == DIR and row.kind != DELETED:
                row.tree_bytes = self.tree_bytes.get(path, 0)
                row.tree_files = self.tree_files.get(path, 0)
                row.layer_bytes = layer_bytes.get(path, 0)
            elif row.kind != DELETED:
                row.layer_bytes = row.size
            if row.type == DIR:
                continue
            counter = {ADDED: "sub_added", MODIFIED: "sub_modified", DELETED: "sub_deleted"}.get(
                row.kind
            )
            if counter:
                for a in ancestors(path):
                    parent = rows.get(a)
                    if parent is not None:
                        setattr(parent, counter, getattr(parent, counter) + 1)
            if row.kind == ADDED:
                summary.added += 1
                summary.added_bytes += row.size
            elif row.kind == MODIFIED:
                summary.modified += 1
                summary.modified_bytes += row.size
            elif row.kind == DELETED:
                summary.deleted += 1
                summary.deleted_bytes += row.size
        summary.total_bytes = self.tree_bytes[ROOT]
        summary.total_files = self.tree_files[ROOT]
        return list(rows.values()), summary

    def _ensure_dir(
        self,
        path: str,
        rows: dict[str, ChangeRow],
        removed: dict[str, tuple[Node, int, int, str]],
        depth: int,
    ) -> None:
        """Make ``path`` an existing directory, creating implicit parents like a runtime would."""
        if path == ROOT:
            return
        node = self.nodes.get(path)
        if node is not None and node.is_dir:
            return
        self._ensure_dir(split(path)[0], rows, removed, depth)
        flags = IMPLICIT
        prev = node
        if node is not None:
            # A lower non-directory (often a symlink) stands where a directory is needed.
            if node.type == SYMLINK:
                flags |= PARENT_SYMLINK
            for p, n, tb, tf in self.remove(path):
                removed.setdefault(p, (n, tb, tf, BY_REPLACEMENT))
        # A directory taken away earlier in this layer is not compared with what it was: the
        # runtime makes a new one (MkdirAll), so it is added, and replay() re-creates it.
        removed.pop(path, None)
        new = _implicit_dir(depth)
        self.put(path, new)
        kind, detail = (ADDED, "") if prev is None else compare(prev, new)
        rows[path] = self._row(path, new, kind, detail, None, prev, flags)

    def _resolve_hardlink(
        self, new: Node, entry: EntryLike, effective: dict[str, EntryLike]
    ) -> int:
        # A hard link names an archive path; clean it the way entry names are cleaned.
        link = names.to_text(names.clean(names.from_text(entry.link))[0])
        new.link = link
        target = self.nodes.get(link)
        if target is None:
            later = effective.get(link)
            if later is not None and later.seq > entry.seq:
                return HARDLINK_FORWARD
            return HARDLINK_DANGLING
        if target.is_dir:
            return HARDLINK_TO_DIR
        new.sha256 = target.sha256
        return 0

    def _row(
        self,
        path: str,
        node: Node,
        kind: str,
        detail: str,
        seq: int | None,
        prev: Node | None,
        flags: int,
    ) -> ChangeRow:
        d, n = split(path)
        return ChangeRow(
            dir=d,
            name=n,
            kind=kind,
            detail=detail,
            type=node.type,
            size=node.size if not node.is_dir else 0,
            mode=node.mode,
            uid=node.uid,
            gid=node.gid,
            mtime=node.mtime,
            link=node.link,
            sha256=node.sha256,
            seq=seq,
            prev_depth=prev.depth if prev is not None and kind != ADDED else None,
            prev_size=prev.size if prev is not None and kind != ADDED else None,
            flags=flags,
            xattrs=dict(node.xattrs) or None,
        )

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
                self.remove(row.path)
        for row in sorted((r for r in rows if r.kind != DELETED), key=lambda r: r.path.count("/")):
            path = row.path
            old = self.nodes.get(path)
            if (
                row.kind == UNCHANGED
                and row.detail == PARENT
                and row.seq is None
                and old is not None
                and old.is_dir
            ):
                continue  # only the parent of a change: the lower version stays
            node = Node(
                type=row.type,
                size=row.size,
                mode=row.mode,
                uid=row.uid,
                gid=row.gid,
                mtime=row.mtime,
                link=row.link,
                sha256=row.sha256,
                depth=depth,
                xattrs=tuple(sorted((row.xattrs or {}).items())),
            )
            if old is not None and not (old.is_dir and node.is_dir):
                self.remove(path)
            self.put(path, node)
