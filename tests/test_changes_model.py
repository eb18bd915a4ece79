"""The change computation (``lib/merged.py`` + ``lib/changes.py``) against a small reference
model of the OCI layer rules (``image-format.md`` §2), over generated layer stacks.

The model is a dict path -> entry, changed per layer the way the spec reads, as plainly as
possible (no caches, no shortcuts): opaque markers, then whiteouts, against the layers below;
then the entries in tar order, a missing or non-directory parent made a directory, a directory
over a directory replacing attributes, anything else replacing the old path and all below it.
Each path is then judged against the lower view. Generated stacks hold files, directories,
symlinks, hard links, whiteouts and opaque markers, with and without xattrs, repeated paths and
file/directory swaps.
"""

from __future__ import annotations

import dataclasses
import hashlib

from hypothesis import given
from hypothesis import strategies as st

from layerviz.lib import synth
from layerviz.lib.changes import (
    ADDED,
    BY_OPAQUE,
    BY_REPLACEMENT,
    BY_WHITEOUT,
    CONTENT,
    DELETED,
    IDENTICAL,
    METADATA,
    MODIFIED,
    PARENT,
    TYPE,
    UNCHANGED,
)
from layerviz.lib.merged import MergedTree
from layerviz.lib.tarwalk import DIR, LINK, REG, SYMLINK
from layerviz.lib.tarwriter import Entry, directory, file, hardlink, opaque, symlink, whiteout

from .test_changes import entries


@dataclasses.dataclass(frozen=True)
class Item:
    """One path of the model's filesystem: what a ``merged.Node`` holds, in plain fields."""

    type: str
    size: int
    mode: int
    uid: int
    gid: int
    mtime: int
    link: str
    digest: bytes
    xattrs: tuple[tuple[str, str], ...] = ()  # (name, value in hex), sorted


# The directory a runtime makes for a missing parent (MkdirAll), as merged.py makes it.
IMPLICIT_DIR = Item(DIR, 0, 0o755, 0, 0, 0, "", b"")


def _below(path: str, fs: dict[str, Item]) -> list[str]:
    """``path`` and everything under it (for the root "": everything)."""
    return [p for p in fs if not path or p == path or p.startswith(path + "/")]


def _attributes(item: Item) -> tuple:
    return item.mode, item.uid, item.gid, item.xattrs


def _compare(lower: Item, upper: Item) -> str:
    """§2.6: type changed; a directory's attributes (not its mtime); content; metadata."""
    if lower.type != upper.type:
        return MODIFIED + TYPE
    meta_same = _attributes(lower) == _attributes(upper)
    if upper.type == DIR:
        return UNCHANGED + PARENT if meta_same else MODIFIED + METADATA
    if (lower.digest, lower.size, lower.link) != (upper.digest, upper.size, upper.link):
        return MODIFIED + CONTENT
    if not meta_same or lower.mtime != upper.mtime:
        return MODIFIED + METADATA
    return UNCHANGED + IDENTICAL


@dataclasses.dataclass
class Spec:
    """One generated tar entry."""

    kind: str  # file, dir, symlink, hardlink, whiteout, opaque
    path: str
    value: int = 0  # picks content, mode, target

    def entry(self) -> Entry:
        content = [b"", b"one", b"two!"][self.value % 3]
        mode = [0o644, 0o600][self.value % 2]
        mtime = 1 + self.value % 2
        xattrs = {"user.a": b"\x01"} if self.value % 4 == 3 else None
        if self.kind == "file":
            return file(self.path, content, mode=mode, mtime=mtime, xattrs=xattrs)
        if self.kind == "dir":
            dir_mode = [0o755, 0o700][self.value % 2]
            return directory(self.path, mode=dir_mode, mtime=mtime, xattrs=xattrs)
        if self.kind == "symlink":
            return symlink(self.path, ["x", "../y"][self.value % 2], mtime=mtime)
        if self.kind == "hardlink":
            return hardlink(self.path, PATHS[self.value % len(PATHS)], mtime=mtime)
        if self.kind == "whiteout":
            return whiteout(self.path)
        return opaque(self.path)

    def item(self, fs: dict[str, Item]) -> Item:
        e = self.entry()
        mode = e.mode & 0o7777
        xattrs = tuple(sorted((k, v.hex()) for k, v in (e.xattrs or {}).items()))
        if self.kind == "file":
            digest = hashlib.sha256(e.data).digest()
            return Item(REG, len(e.data), mode, 0, 0, e.mtime, "", digest, xattrs)
        if self.kind == "dir":
            return Item(DIR, 0, mode, 0, 0, e.mtime, "", b"", xattrs)
        if self.kind == "symlink":
            return Item(SYMLINK, 0, mode, 0, 0, e.mtime, e.link.decode(), b"")
        # A hard link shares the content of its target as the tree stands when it is met.
        target = fs.get(e.link.decode())
        digest = target.digest if target is not None and target.type != DIR else b""
        return Item(LINK, 0, mode, 0, 0, e.mtime, e.link.decode(), digest)


def model_layer(
    fs: dict[str, Item], layer: list[Spec]
) -> tuple[dict[str, Item], dict[str, str], tuple[int, int, int]]:
    """Stack one layer on ``fs``: the new filesystem, each row's kind + detail, and the
    (added, modified, deleted) count of files."""
    lower = dict(fs)
    fs = dict(fs)
    reason: dict[str, str] = {}  # a lower path: how this layer first removed it
    mine: set[str] = set()  # paths whose current version this layer made
    fresh: set[str] = set()  # ... made as a new parent directory after the lower one went
    written: set[str] = set()  # ... written by an entry

    def remove(path: str, why: str) -> None:
        for p in _below(path, fs):
            del fs[p]
            mine.discard(p)
            fresh.discard(p)
            written.discard(p)
            if p in lower:
                reason.setdefault(p, why)

    # 1. Opaque markers, then whiteouts: against the layers below only, wherever they stand.
    for spec in layer:
        if spec.kind != "opaque":
            continue
        target = fs.get(spec.path)
        if spec.path and (target is None or target.type != DIR):
            continue  # nothing below to hide (the root always is a directory)
        for p in _below(spec.path, fs):
            if p != spec.path:
                remove(p, BY_OPAQUE)
    for spec in layer:
        if spec.kind == "whiteout" and spec.path in fs:
            remove(spec.path, BY_WHITEOUT)
    # 2. The entries, in tar order.
    for spec in layer:
        if spec.kind in ("whiteout", "opaque"):
            continue
        parts = spec.path.split("/")
        for i in range(1, len(parts)):
            parent = "/".join(parts[:i])
            current = fs.get(parent)
            if current is not None and current.type == DIR:
                continue
            is_new = parent in lower and (current is None or parent in mine)
            if current is not None:
                remove(parent, BY_REPLACEMENT)
            fs[parent] = IMPLICIT_DIR
            mine.add(parent)
            if is_new:
                fresh.add(parent)
        item = spec.item(fs)
        current = fs.get(spec.path)
        if current is not None and not (current.type == DIR and item.type == DIR):
            remove(spec.path, BY_REPLACEMENT)
        fs[spec.path] = item
        mine.add(spec.path)
        fresh.discard(spec.path)
        written.add(spec.path)

    # 3. Each path against the lower view.
    rows: dict[str, str] = {}
    for path in set(lower) | set(fs):
        before, after = lower.get(path), fs.get(path)
        if after is None:
            rows[path] = DELETED + reason[path]
        elif before is None or path in fresh:
            rows[path] = ADDED
        elif path in mine:
            rows[path] = _compare(before, after)
    # Every directory above a row has a row: only the parent of a change, when not its own.
    for path in list(rows):
        while "/" in path:
            path = path.rpartition("/")[0]
            if path not in rows:
                rows[path] = UNCHANGED + PARENT
    counts = [0, 0, 0]
    for path, kind in rows.items():
        item = lower[path] if kind[0] == DELETED else fs[path]
        if item.type != DIR and kind[0] in (ADDED, MODIFIED, DELETED):
            counts[(ADDED, MODIFIED, DELETED).index(kind[0])] += 1
    return fs, rows, (counts[0], counts[1], counts[2])


# A small world of paths, so that generated layers collide often.
PATHS = ["a", "b", "a/a", "a/b", "b/a", "a/a/a", "a/a/b"]
KINDS = ["file", "file", "dir", "dir", "symlink", "hardlink", "whiteout", "opaque"]

specs = st.builds(
    Spec,
    kind=st.sampled_from(KINDS),
    path=st.sampled_from(PATHS),
    value=st.integers(0, 5),
)
opaque_at_root = st.just(Spec("opaque", ""))
layers = st.lists(st.lists(st.one_of(specs, opaque_at_root), max_size=7), min_size=1, max_size=4)


@given(layers)
def test_the_rows_and_the_merged_filesystem_match_the_reference_model(stack):
    tree = MergedTree()
    fs: dict[str, Item] = {}
    for layer in stack:
        tar = synth.layer([spec.entry() for spec in layer], parents=False)
        computed = tree.apply_layer(entries(tar))
        rows = computed.rows()
        fs, expected_rows, counts = model_layer(fs, layer)
        assert {p: r.kind + r.detail for p, r in rows.items()} == expected_rows
        summary = computed.summary
        assert (summary.added, summary.modified, summary.deleted) == counts
        assert {
            p: Item(n.type, n.size, n.mode, n.uid, n.gid, n.mtime, n.link, n.digest, n.meta[3])
            for p, n in tree.nodes.items()
        } == fs
        assert summary.total_files == sum(1 for i in fs.values() if i.type != DIR)
        assert summary.total_bytes == sum(i.size for i in fs.values() if i.type != DIR)


@given(layers)
def test_replaying_the_rows_of_generated_layers_gives_the_tree_stacking_left(stack):
    applied, replayed = MergedTree(), MergedTree()
    for depth, layer in enumerate(stack):
        tar = synth.layer([spec.entry() for spec in layer], parents=False)
        replayed.replay(list(applied.apply_layer(entries(tar)).rows().values()), depth)
        assert replayed.nodes == applied.nodes
        assert replayed.children == applied.children
        assert replayed.tree_bytes == applied.tree_bytes
        assert replayed.tree_files == applied.tree_files
