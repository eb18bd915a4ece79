"""Questions about an image's filesystem as of any layer, answered from ``Change`` rows.

Each chain (a layer on its stack) stored one row per path it touched, deletions expanded to
every removed path (``lib/changes.py``). So as of the layer at depth *k*:

* the layer's own changes are the rows of chain *k*;
* the merged filesystem is, for each path, the row with the highest depth <= *k* among the
  chains below, unless that row is a deletion.

Listings go one directory at a time, so no page ever loads a whole image.
"""

from __future__ import annotations

from django.db.models import F, QuerySet, Window
from django.db.models.functions import RowNumber

from .models import Chain, Change, ChangeKind


def lineage_ids(chain: Chain) -> list[int]:
    """Primary keys of the chain and every chain below it."""
    ids = [chain.pk]
    parent = chain.parent_id
    while parent is not None:
        ids.append(parent)
        parent = Chain.objects.filter(pk=parent).values_list("parent_id", flat=True).first()
    return ids


def layer_changes(chain: Chain) -> QuerySet[Change]:
    return Change.objects.filter(chain=chain)


def merged(chain: Chain, *, chain_ids: list[int] | None = None) -> QuerySet[Change]:
    """The latest row of every path as of ``chain``, deletions included (filter them out for
    the live filesystem; keep them to show what was deleted and by which layer)."""
    ids = chain_ids or lineage_ids(chain)
    latest = Change.objects.filter(chain_id__in=ids).annotate(
        rank=Window(RowNumber(), partition_by=[F("dir"), F("name")], order_by=F("depth").desc())
    )
    return latest.filter(rank=1)


def merged_files(chain: Chain) -> dict[str, Change]:
    """The whole merged filesystem as of ``chain``: path -> row. For tests and analysis, not
    for pages (it loads every path)."""
    out: dict[str, Change] = {}
    rows = Change.objects.filter(chain_id__in=lineage_ids(chain)).order_by("dir", "name", "-depth")
    for row in rows.iterator(chunk_size=5000):
        path = row.path
        if path not in out:
            out[path] = row
    return {path: row for path, row in out.items() if row.kind != ChangeKind.DELETED}
