"""Filling the search index: a layer's rows from its stored entries.

``add_layer`` is called once a layer's entries are complete, before the layer is published
(``images/layer_writer.py``), so a ready layer always has its rows; ``reindex`` rebuilds them
for layers indexed before search existed (``manage.py reindex_search``). ``forget_layers``
takes them away with the layers (``images/deletion.py``; the foreign key cascades too).

On SQLite the trigram index is an FTS5 table beside the rows, written and cleaned here in one
statement per layer (a trigger per row cost ~60 µs a file, in bulk ~10). Rows deleted some
other way leave index entries that point nowhere: harmless, as ids are never reused
(AUTOINCREMENT), and gone after ``reindex_search --all``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import NamedTuple

from django.db import connection, transaction

from layerviz.images import bulk, packed
from layerviz.images.models import BuildState, Layer
from layerviz.lib.layer import AUFS_META, OPAQUE, WHITEOUT, EntryBatch
from layerviz.lib.tarwalk import DIR

from .models import FTS_TABLE, SearchFile

COLUMNS = ["layer", "path", "name_at", "type", "size", "sha256"]
TABLE = SearchFile._meta.db_table
BATCH = 500  # layers per statement
# Entries that are not files of the layer: markers that delete or hide what is below.
MARKERS = WHITEOUT | OPAQUE | AUFS_META


class FileRow(NamedTuple):
    path: str
    name_at: int
    type: str
    size: int
    sha256: bytes


def files_of(batches: Iterable[EntryBatch]) -> Iterator[FileRow]:
    """A layer's files as search rows, in tar order of their last entry: every entry but
    directories and whiteout markers, and of a path written twice only the last (the one the
    layer holds: a whiteout hides only what is below, never its own layer's entries)."""
    last: dict[str, FileRow] = {}
    for batch in batches:
        for path, type_, size, digest, flags in zip(
            batch.path, batch.type, batch.size, batch.sha256, batch.flags, strict=True
        ):
            if type_ == DIR or flags & MARKERS:
                continue
            shown = f"/{path}"
            last.pop(shown, None)  # so that the dict's order is the order of last entries
            last[shown] = FileRow(shown, shown.rfind("/") + 2, type_, size, bytes(digest))
    yield from last.values()


def add_layer(layer_id: int) -> None:
    """Write the search rows of one layer (again: what a dead worker left is replaced)."""
    with transaction.atomic():
        forget_layers([layer_id])
        # Read to the end before writing: on PostgreSQL the insert is a COPY, during which
        # the connection cannot also read the entries.
        rows = [(layer_id, *row) for row in files_of(packed.StoredEntries(layer_id))]
        bulk.insert(SearchFile, COLUMNS, rows)
        if connection.vendor == "sqlite":
            with connection.cursor() as cursor:
                cursor.execute(
                    f"INSERT INTO {FTS_TABLE}(rowid, path) "
                    f"SELECT id, path FROM {TABLE} WHERE layer_id = %s",
                    [layer_id],
                )


def forget_layers(layer_ids: Iterable[int]) -> None:
    """Delete the search rows of these layers, and on SQLite their trigram index entries
    (which the FTS5 table drops only when told each row's text)."""
    ids = sorted(set(layer_ids))
    for start in range(0, len(ids), BATCH):
        some = ids[start : start + BATCH]
        if connection.vendor == "sqlite":
            marks = ", ".join("%s" for _ in some)
            with connection.cursor() as cursor:
                cursor.execute(
                    f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, path) "
                    f"SELECT 'delete', id, path FROM {TABLE} WHERE layer_id IN ({marks})",
                    some,
                )
        SearchFile.objects.filter(layer_id__in=some).delete()


def reindex(*, missing_only: bool = True) -> int:
    """Write the rows of every ready layer (only of those without any, by default); returns
    how many layers were written."""
    layers = Layer.objects.filter(state=BuildState.READY, entry_count__gt=0)
    if missing_only:
        has_rows = SearchFile.objects.values("layer_id")
        layers = layers.exclude(pk__in=has_rows)
    done = 0
    for layer_id in layers.values_list("pk", flat=True).order_by("pk"):
        add_layer(layer_id)
        done += 1
    return done
