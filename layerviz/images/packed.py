"""Reading and writing the two packed tables: a layer's tar entries, a chain's changes.

``EntryChunk`` holds a layer's entries a few thousand at a time in tar order, ``DirChanges`` a
chain's rows a directory at a time (``models.py``). Everything that reads or writes them goes
through here, so the packing (``lib.packing``) stays out of the queries.
"""

from __future__ import annotations

from collections import defaultdict, namedtuple
from collections.abc import Iterable, Iterator
from itertools import repeat

from layerviz.lib import packing
from layerviz.lib.changes import ChangeRow, LayerChanges
from layerviz.lib.layer import EntryBatch, EntryRecord
from layerviz.lib.packed_changes import CHANGE_SCHEMA, NAME_SEPARATOR, pack_rows, unpack_rows

from . import bulk
from .models import DirChanges, EntryChunk

CHUNK_COLUMNS = ["layer", "index", "first_seq", "count", "data"]
DIR_COLUMNS = ["chain", "depth", "dir", "names", "kinds", "count", "data"]
# Directories written per insert: a few MB of blobs at most.
DIR_BATCH = 500


# --- entries --------------------------------------------------------------------------------


def save_chunk(layer_id: int, index: int, first_seq: int, count: int, blob: bytes) -> None:
    """Write one chunk of a layer's entries, packed (``EntryBatch.pack``)."""
    bulk.insert(EntryChunk, CHUNK_COLUMNS, [(layer_id, index, first_seq, count, blob)])


def entry_batches(layer_id: int) -> Iterator[EntryBatch]:
    """The layer's entries in tar order, a chunk at a time."""
    chunks = (
        EntryChunk.objects.filter(layer_id=layer_id)
        .order_by("index")
        .values_list("first_seq", "data")
    )
    for first_seq, data in chunks.iterator(chunk_size=16):
        yield EntryBatch.unpack(first_seq, data)


class StoredEntries:
    """A layer's entries as a sequence of batches that can be read more than once (what
    ``MergedTree.apply_layer`` wants) without holding them all in memory."""

    def __init__(self, layer_id: int) -> None:
        self.layer_id = layer_id

    def __iter__(self) -> Iterator[EntryBatch]:
        return entry_batches(self.layer_id)


def entry_count(layer_id: int) -> int:
    return sum(EntryChunk.objects.filter(layer_id=layer_id).values_list("count", flat=True))


# --- changes --------------------------------------------------------------------------------


def save_changes(chain_id: int, depth: int, changes: LayerChanges, beat=None) -> None:
    """Write a layer's rows, a directory per row; ``beat`` is called between inserts."""
    pending: list[tuple] = []
    for directory, rows in changes.by_directory():
        names, kinds, blob = pack_rows(rows)
        pending.append((chain_id, depth, directory, names, kinds, len(rows), blob))
        if len(pending) >= DIR_BATCH:
            bulk.insert(DirChanges, DIR_COLUMNS, pending)
            pending = []
            if beat is not None:
                beat()
    if pending:
        bulk.insert(DirChanges, DIR_COLUMNS, pending)


ROW_VALUES = ("dir", "depth", "names", "kinds", "data")  # what _decode reads


def _decode(values: Iterable[tuple]) -> Iterator[tuple[str, list[ChangeRow]]]:
    for directory, depth, names, kinds, data in values:
        yield directory, unpack_rows(directory, names, kinds, data, depth)


def decode_rows(values: Iterable[tuple]) -> Iterator[ChangeRow]:
    """The rows of ``DirChanges`` values ``ROW_VALUES``."""
    for _, rows in _decode(values):
        yield from rows


def dir_rows(chain_ids: list[int], directory: str) -> list[ChangeRow]:
    """The rows of ``directory`` in each of the chains, lowest layer first."""
    values = (
        DirChanges.objects.filter(chain_id__in=chain_ids, dir=directory)
        .order_by("depth")
        .values_list(*ROW_VALUES)
    )
    return [row for _, rows in _decode(values) for row in rows]


def rows_by_pk(pks: Iterable[int]) -> dict[int, list[ChangeRow]]:
    """DirChanges pk -> its rows unpacked."""
    wanted = list(pks)
    out: dict[int, list[ChangeRow]] = {}
    for start in range(0, len(wanted), DIR_BATCH):
        values = DirChanges.objects.filter(pk__in=wanted[start : start + DIR_BATCH])
        for pk, *row in values.values_list("pk", *ROW_VALUES):
            out[pk] = next(_decode([row]))[1]
    return out


def dirs_rows(chain_ids: list[int], directories: Iterable[str]) -> Iterator[ChangeRow]:
    """The rows of several directories in each of the chains."""
    wanted = sorted(set(directories))
    for start in range(0, len(wanted), DIR_BATCH):
        values = DirChanges.objects.filter(
            chain_id__in=chain_ids, dir__in=wanted[start : start + DIR_BATCH]
        ).values_list(*ROW_VALUES)
        for _, rows in _decode(values.iterator(chunk_size=100)):
            yield from rows


def chain_dirs(chain_ids: list[int]) -> Iterator[tuple[str, list[ChangeRow]]]:
    """Every directory's rows of the chains, chain by chain."""
    values = (
        DirChanges.objects.filter(chain_id__in=chain_ids)
        .order_by("depth", "dir")
        .values_list(*ROW_VALUES)
    )
    return _decode(values.iterator(chunk_size=100))


def chain_rows(chain_ids: list[int]) -> Iterator[ChangeRow]:
    """Every row of the chains."""
    for _, rows in chain_dirs(chain_ids):
        yield from rows


def entry_records(layer_id: int) -> list[EntryRecord]:
    """Every entry of a layer as a record (for tests and small layers)."""
    return [record for batch in entry_batches(layer_id) for record in batch.records()]


def entry_at(layer_id: int, seq: int) -> EntryRecord | None:
    """The layer's tar entry number ``seq`` (1-based), from the one chunk that holds it."""
    chunk = (
        EntryChunk.objects.filter(layer_id=layer_id, first_seq__lte=seq)
        .order_by("-first_seq")
        .values_list("first_seq", "count", "data")
        .first()
    )
    if chunk is None or seq >= chunk[0] + chunk[1]:
        return None
    return EntryBatch.unpack(chunk[0], chunk[2]).records()[seq - chunk[0]]


def chain_changes(chain_id: int) -> dict[str, ChangeRow]:
    """path -> what the chain's layer did to it (for tests and small layers)."""
    return {row.path: row for row in chain_rows([chain_id])}


# What a comparison needs of a path's latest row, built straight from the packed columns (a
# comparison of two unrelated images reads every row of both, so no ChangeRow is made).
State = namedtuple(
    "State", "depth kind type size mode uid gid mtime link digest tree_bytes tree_files"
)
_STATE_COLUMNS = State._fields[1:]
_STATE_ONLY = frozenset(_STATE_COLUMNS)


# a directory's row of one chain: depth, names, kinds, data (PostgreSQL gives a memoryview)
Packed = tuple[int, str, str, bytes | memoryview]


def raw_dirs(
    chain_ids: list[int], *, directories: Iterable[str] | None = None
) -> dict[str, list[Packed]]:
    """directory -> its rows among the chains, lowest layer first, still packed (only in
    ``directories``, when given): reading is cheap, unpacking is what costs."""
    qs = DirChanges.objects.filter(chain_id__in=chain_ids)
    batches = [qs]
    wanted = set(directories) if directories is not None else None
    if wanted is not None and len(wanted) <= DIR_BATCH:
        batches = [qs.filter(dir__in=sorted(wanted))]
    elif wanted is not None and qs.count() > 2 * len(wanted):
        ordered = sorted(wanted)
        batches = [
            qs.filter(dir__in=ordered[start : start + DIR_BATCH])
            for start in range(0, len(ordered), DIR_BATCH)
        ]
    # else: most of the chains' directories are wanted, so read them all in one query.
    out: dict[str, list[Packed]] = defaultdict(list)
    for batch in batches:
        rows = batch.values_list("depth", "dir", "names", "kinds", "data")
        for depth, directory, names, kinds, data in rows.iterator(chunk_size=200):
            if wanted is None or directory in wanted:
                out[directory].append((depth, names, kinds, data))
    for packed_rows in out.values():
        packed_rows.sort(key=_depth)
    return out


def _depth(row: Packed) -> int:
    return row[0]


def states(directory: str, rows: Iterable[Packed]) -> dict[str, State]:
    """path -> the latest row of each child of ``directory``, from its packed rows (lowest
    layer first: the higher rows overwrite them)."""
    out: dict[str, State] = {}
    make = State._make
    prefix = f"{directory}/" if directory else ""
    for depth, names, kinds, data in rows:
        columns = packing.unpack(CHANGE_SCHEMA, data, _STATE_ONLY)
        paths = [prefix + name for name in names.split(NAME_SEPARATOR)] if names else []
        values = zip(repeat(depth), kinds, *(columns[c] for c in _STATE_COLUMNS[1:]))
        out.update(zip(paths, map(make, values), strict=True))
    return out
