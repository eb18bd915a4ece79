"""Filling the search index: a layer's rows from its stored entries.

``add_layer`` is called once a layer's entries are complete, before the layer is published
(``images/layer_writer.py``), so a ready layer always has its rows; ``reindex`` rebuilds them
for layers indexed before search existed (``manage.py reindex_search``). The rows go with the
layer (a cascade; on SQLite triggers clean the FTS table).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import NamedTuple

from django.db import transaction

from layerviz.images import bulk, packed
from layerviz.images.models import BuildState, Layer
from layerviz.lib.layer import AUFS_META, OPAQUE, WHITEOUT, EntryBatch
from layerviz.lib.tarwalk import DIR

from .models import SearchFile

COLUMNS = ["layer", "path", "name_at", "type", "size", "sha256"]
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
        SearchFile.objects.filter(layer_id=layer_id).delete()
        # Read to the end before writing: on PostgreSQL the insert is a COPY, during which
        # the connection cannot also read the entries.
        rows = [(layer_id, *row) for row in files_of(packed.StoredEntries(layer_id))]
        bulk.insert(SearchFile, COLUMNS, rows)


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
