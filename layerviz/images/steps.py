"""Stepping through an image's layers as a union filesystem: what one layer did (the step's
facts) and how a read of one path is answered as of a layer (``lookup``).

Everything comes from the rows each chain stored a directory at a time (``DirChanges``,
``filesystem.py``): a deletion is already expanded there to every path it removed, each with
the layer below whose version it hid (``prev_depth``). So:

* a step's deletions are the rows of kind D in the directories whose ``kinds`` say they hold
  one, found by the database before any blob is unpacked;
* a lookup reads the rows of the path's directory and of its ancestors' directories, in every
  layer up to the one asked about: one query, whatever the size of the image.

Lists are cut at ``LIMIT`` lines and at most ``MAX_DIRS`` directories are unpacked, so a layer
of a million files costs what a page of its tree costs.
"""

from __future__ import annotations

import dataclasses

from django.db.models import Q

from layerviz.lib import changes
from layerviz.lib.changes import DIR, ChangeRow
from layerviz.lib.instructions import keyword

from . import filesystem, packed
from .models import Chain, DirChanges

LIMIT = 40  # lines per list of a step's facts
MAX_DIRS = 300  # directories unpacked for a step's lists

# What a layer holds for a path, as a lookup sees it from the top.
HAS, PASSES, HIDES, STOPS, ABSENT = "has", "passes", "hides", "stops", "absent"


@dataclasses.dataclass
class Change:
    """One line of a step's facts: a file the layer added or modified, or a path it deleted
    (for a directory, with everything beneath)."""

    path: str
    kind: str  # changes.ADDED, MODIFIED or DELETED
    detail: str  # changes' detail code: how it changed, or how it was deleted
    type: str
    size: int  # a file's size; a deleted directory: the bytes of the files that went with it
    files: int = 0  # a deleted directory: the files that went with it
    # A deletion: the layers below that still carry the bytes it hides (they still ship).
    carried_by: list[int] = dataclasses.field(default_factory=list)
    flags: int = 0  # as a row's: what the change badge reads (``kind_badge``)

    @property
    def is_dir(self) -> bool:
        return self.type == DIR


@dataclasses.dataclass
class OpaqueDir:
    """A directory the layer marked opaque, with what of the layers below it hid."""

    path: str
    hidden: list[Change]
    files: int
    size: int
    carried_by: list[int]


@dataclasses.dataclass
class LayerStep:
    """The facts of one step: the layer at ``position`` of ``count`` and what it did."""

    position: int
    count: int
    instruction: str
    chain: Chain
    added: list[Change]
    modified: list[Change]
    deleted: list[Change]  # whiteouts and replacements; what opaque directories hid is below
    opaque: list[OpaqueDir]
    cut: bool  # some lists are not complete (the layer's tree has every line)
    # What the tar really holds for the deletions: each ``.wh.`` entry as written.
    tar_entries: list[str] = dataclasses.field(default_factory=list)

    @property
    def keyword(self) -> str:
        return keyword(self.instruction)

    @property
    def rest(self) -> str:
        """The instruction without its keyword (shown as a badge)."""
        return self.instruction[len(self.keyword) :].strip()

    @property
    def previous(self) -> int | None:
        return self.position - 1 if self.position > 0 else None

    @property
    def next(self) -> int | None:
        return self.position + 1 if self.position + 1 < self.count else None


def layer_step(chains: list[Chain], position: int, instruction: str = "") -> LayerStep:
    """The step of the layer at ``position`` (0-based) of a stack of ``chains``."""
    chain = chains[position]
    written, cut_written = _written(chain)
    deletions, cut_deleted = _deletion_roots(chain)
    opaque: dict[str, OpaqueDir] = {}
    plain: list[Change] = []
    for change in deletions:
        if change.detail == changes.BY_OPAQUE:
            parent = change.path.rpartition("/")[0]
            found = opaque.get(parent)
            if found is None:
                found = opaque[parent] = OpaqueDir(parent, [], 0, 0, [])
            found.hidden.append(change)
            found.files += change.files if change.is_dir else 1
            found.size += change.size
            found.carried_by = sorted(set(found.carried_by) | set(change.carried_by))
        else:
            plain.append(change)
    return LayerStep(
        position=position,
        count=len(chains),
        instruction=instruction,
        chain=chain,
        added=[c for c in written if c.kind == changes.ADDED][:LIMIT],
        modified=[c for c in written if c.kind == changes.MODIFIED][:LIMIT],
        deleted=plain[:LIMIT],
        opaque=list(opaque.values())[:LIMIT],
        cut=cut_written or cut_deleted or len(plain) > LIMIT,
        # Read only for a layer that deletes: it means reading all of the layer's entries.
        tar_entries=filesystem.whiteout_entries(chain)[:LIMIT] if chain.deleted else [],
    )


def _written(chain: Chain) -> tuple[list[Change], bool]:
    """Files (not directories) the layer added or modified, in path order, at most ``LIMIT``
    of each kind; and whether there were more."""
    rows = (
        DirChanges.objects.filter(chain=chain)
        .filter(_holds(changes.ADDED) | _holds(changes.MODIFIED))
        .order_by("dir")
        .values_list(*packed.ROW_VALUES)
    )
    found: dict[str, list[Change]] = {changes.ADDED: [], changes.MODIFIED: []}
    cut = False
    for n, row in enumerate(rows.iterator(chunk_size=50)):
        if n >= MAX_DIRS or all(len(v) > LIMIT for v in found.values()):
            cut = True
            break
        for r in packed.decode_rows([row]):
            if r.kind in found and r.type != DIR:
                found[r.kind].append(Change(r.path, r.kind, r.detail, r.type, r.size))
    cut = cut or any(len(v) > LIMIT for v in found.values())
    return found[changes.ADDED] + found[changes.MODIFIED], cut


def _holds(kind: str) -> Q:
    return Q(kinds__contains=kind)


def _deletion_roots(chain: Chain) -> tuple[list[Change], bool]:
    """What the layer deleted, one line per deleted path whose parent stayed (a deleted
    directory stands for everything beneath it), with the layers whose bytes each hid."""
    values = (
        DirChanges.objects.filter(chain=chain, kinds__contains=changes.DELETED)
        .order_by("dir")
        .values_list(*packed.ROW_VALUES)
    )
    gone: dict[str, ChangeRow] = {}
    cut = False
    for n, row in enumerate(values.iterator(chunk_size=50)):
        if n >= MAX_DIRS:
            cut = True
            break
        for r in packed.decode_rows([row]):
            if r.kind == changes.DELETED:
                gone[r.path] = r
    roots: dict[str, Change] = {}
    for path in sorted(gone):
        row = gone[path]
        root = _root_of(path, gone)
        if root == path:
            files = row.tree_files if row.is_dir else 1
            size = row.tree_bytes if row.is_dir else row.size
            roots[path] = Change(path, row.kind, row.detail, row.type, size, files)
        change = roots[root]
        carrier = row.prev_depth
        if not row.is_dir and carrier is not None and carrier not in change.carried_by:
            change.carried_by.append(carrier)
    for change in roots.values():
        change.carried_by.sort()
    return list(roots.values()), cut


def _root_of(path: str, gone: dict[str, ChangeRow]) -> str:
    """The highest deleted ancestor of ``path`` (``path`` itself when its parent stayed)."""
    root = path
    for ancestor in changes.ancestors(path):
        if ancestor in gone:
            root = ancestor
    return root


# --- a lookup -------------------------------------------------------------------------------


@dataclasses.dataclass
class Checked:
    """One layer as a read of the path meets it, top down."""

    position: int
    verdict: str  # HAS, PASSES, HIDES, STOPS or ABSENT; below the answer: what lies unread
    row: ChangeRow | None  # the layer's row for the path
    by: str = ""  # HIDES or STOPS: the path deleted, or the opaque directory
    how: str = ""  # HIDES: the deletion's detail code (whiteout, opaque, replacement)
    reached: bool = True  # False below the layer that answered: the read never gets there

    @property
    def opaque(self) -> bool:
        """The read ends at an opaque directory above the path (``by``)."""
        return self.verdict == STOPS or self.how == changes.BY_OPAQUE

    @property
    def shadowed(self) -> bool:
        """Unread, yet the layer carries a version of the path: its bytes still ship."""
        return not self.reached and self.verdict == HAS


@dataclasses.dataclass
class Lookup:
    """How a read of ``path`` is answered as of the layer at ``position``."""

    path: str
    position: int
    layers: list[Checked]  # from the top (``position``) down to the bottom layer
    answer: Checked | None  # the layer that answers, or the one that hid the path

    @property
    def found(self) -> bool:
        return self.answer is not None and self.answer.verdict == HAS

    @property
    def still_ships(self) -> list[int]:
        """The layers below the answer that carry a version of the path nobody reads."""
        return [c.position for c in self.layers if c.shadowed]


def lookup(chains: list[Chain], path: str, position: int) -> Lookup:
    """The layers from ``position`` down, each with what it holds for ``path``, and the one
    that answers a read of it, as an overlay filesystem looks it up:

    1. a layer with its own version of the path answers, and the read stops there;
    2. a layer whose deletion covers the path (a whiteout of it or of a directory above it,
       an opaque directory above it, a replacement) stops the read: no such file;
    3. an opaque directory above the path stops the read too, even when nothing of it was
       below to hide;
    4. a directory the layer holds only as the parent of a change lets the read go on down;
    5. otherwise the read goes on to the layer below.
    """
    path = path.strip("/")
    wanted = [path, *changes.ancestors(path)]
    chain_ids = [c.pk for c in chains[: position + 1]]
    directories = {p.rpartition("/")[0] for p in wanted}
    rows: dict[tuple[int, str], ChangeRow] = {}
    for row in packed.dirs_rows(chain_ids, directories):
        if row.path in wanted:
            rows[row.depth, row.path] = row
    layers: list[Checked] = []
    answer: Checked | None = None
    for depth in range(position, -1, -1):
        checked = _check(depth, path, wanted[1:], rows)
        if answer is not None:
            checked.reached = False
        elif checked.verdict in (HAS, HIDES, STOPS):
            answer = checked
        layers.append(checked)
    return Lookup(path, position, layers, answer)


def _check(
    depth: int, path: str, ancestors: list[str], rows: dict[tuple[int, str], ChangeRow]
) -> Checked:
    row = rows.get((depth, path))
    if row is not None:
        if row.kind == changes.DELETED:
            return Checked(depth, HIDES, row, *_deleted_from(depth, path, ancestors, rows))
        implicit = row.kind == changes.UNCHANGED and row.detail == changes.PARENT
        if implicit and row.seq is None:
            return Checked(depth, PASSES, row)
        return Checked(depth, HAS, row)
    for ancestor in ancestors:  # nearest first
        above = rows.get((depth, ancestor))
        if above is None:
            continue
        if above.kind == changes.DELETED:
            return Checked(depth, HIDES, None, *_deleted_from(depth, ancestor, ancestors, rows))
        if above.flags & changes.OPAQUE_DIR:
            return Checked(depth, STOPS, None, by=ancestor)
    return Checked(depth, ABSENT, None)


def _deleted_from(
    depth: int, path: str, ancestors: list[str], rows: dict[tuple[int, str], ChangeRow]
) -> tuple[str, str]:
    """The path a layer's deletion of ``path`` was made on, and how: the highest deleted
    ancestor of ``path`` (what the whiteout names), or the opaque directory whose marker
    removed it."""
    top = path
    for ancestor in ancestors:
        if ancestor.count("/") >= path.count("/"):
            continue  # not above path
        row = rows.get((depth, ancestor))
        if row is not None and row.kind == changes.DELETED:
            top = ancestor
    row = rows.get((depth, top))
    how = row.detail if row is not None else ""
    if how == changes.BY_OPAQUE:
        return top.rpartition("/")[0], how
    return top, how
