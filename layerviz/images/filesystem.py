"""Questions about an image's filesystem as of any layer, answered from ``Change`` rows.

Each chain (a layer on its stack) stored one row per path it touched, deletions expanded to
every removed path (``lib/changes.py``). So as of the layer at depth *k*:

* the layer's own changes are the rows of chain *k*;
* the merged filesystem is, for each path, the row with the highest depth <= *k* among the
  chains below, unless that row is a deletion.

Listings go one directory at a time, so no page ever loads a whole image.
"""

from __future__ import annotations

from django.db.models import Case, CharField, F, Q, QuerySet, Value, When, Window
from django.db.models.functions import Concat, RowNumber

from .models import Chain, Change, ChangeKind


def lineage_ids(chain: Chain) -> list[int]:
    """Primary keys of the chain and every chain below it."""
    ids = [chain.pk]
    parent = chain.parent_id
    while parent is not None:
        ids.append(parent)
        parent = Chain.objects.filter(pk=parent).values_list("parent_id", flat=True).first()
    return ids


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


LAYER, MERGED = "layer", "merged"
PAGE = 500


def _sized(qs: QuerySet[Change], mode: str) -> QuerySet[Change]:
    """Annotate the size a listing shows and sorts by: a file's size; for a directory, the
    bytes the layer adds beneath it (layer mode), what the whole subtree holds (merged mode),
    or what was removed (a deleted directory)."""
    if mode == LAYER:
        dir_size = Case(
            When(kind=ChangeKind.DELETED, then=F("tree_bytes")), default=F("layer_bytes")
        )
    else:
        dir_size = F("tree_bytes")
    return qs.annotate(shown_size=Case(When(type="5", then=dir_size), default=F("size")))


def listing_queryset(chain_ids: list[int], depth: int, directory: str) -> QuerySet[Change]:
    """One directory of the merged view as of ``depth``: the latest row of each name, without
    deletions made below (those paths are gone), with this layer's own deletions (shown struck
    through, as dive's aggregated view shows them)."""
    latest = (
        Change.objects.filter(chain_id__in=chain_ids, dir=directory)
        .annotate(rank=Window(RowNumber(), partition_by=[F("name")], order_by=F("depth").desc()))
        .filter(rank=1)
    )
    return Change.objects.filter(pk__in=latest.values("pk")).exclude(
        Q(kind=ChangeKind.DELETED) & Q(depth__lt=depth)
    )


def listing(
    chains: list[Chain],
    depth: int,
    mode: str,
    directory: str,
    *,
    sort: str = "name",
    kinds: set[str] | None = None,
    offset: int = 0,
    limit: int = PAGE,
) -> tuple[list[Change], int]:
    """One directory of the layer's changes (``layer``) or of the merged filesystem
    (``merged``) as of ``chains[depth]``; returns one page of rows and the total count."""
    if mode == LAYER:
        qs = Change.objects.filter(chain=chains[depth], dir=directory)
    else:
        qs = listing_queryset([c.pk for c in chains[: depth + 1]], depth, directory)
    if kinds:
        qs = _filter_kinds(qs, kinds, mode, depth)
    qs = _sized(qs, mode)
    order = ("-shown_size", "name") if sort == "size" else ("name",)
    total = qs.count()
    return list(qs.order_by(*order)[offset : offset + limit]), total


def _filter_kinds(qs: QuerySet[Change], kinds: set[str], mode: str, depth: int) -> QuerySet[Change]:
    """Keep entries of the chosen kinds, and the directories that lead to them."""
    wanted = Q(kind__in=kinds)
    if mode == MERGED:
        # Rows from the layers below are unchanged by this layer.
        wanted = Q(depth=depth, kind__in=kinds)
        if "U" in kinds:
            wanted |= Q(depth__lt=depth)
    leads = Q(pk__in=[])
    for kind, field in (("A", "sub_added"), ("M", "sub_modified"), ("D", "sub_deleted")):
        if kind in kinds:
            leads |= Q(**{f"{field}__gt": 0})
    return qs.filter(wanted | (Q(type="5", depth=depth) & leads))


def search(
    chains: list[Chain], depth: int, mode: str, needle: str, *, limit: int = PAGE
) -> tuple[list[Change], int]:
    """Paths containing ``needle`` anywhere, as a flat list (the filter box)."""
    chain = chains[depth]
    full = Concat("dir", Value("/"), "name", output_field=CharField())
    if mode == LAYER:
        qs = Change.objects.filter(chain=chain)
    else:
        ids = [c.pk for c in chains[: depth + 1]]
        latest = (
            Change.objects.filter(chain_id__in=ids)
            .annotate(path_text=full)
            .filter(path_text__contains=needle)
            .annotate(
                rank=Window(
                    RowNumber(), partition_by=[F("dir"), F("name")], order_by=F("depth").desc()
                )
            )
            .filter(rank=1)
        )
        qs = Change.objects.filter(pk__in=latest.values("pk")).exclude(
            Q(kind=ChangeKind.DELETED) & Q(depth__lt=depth)
        )
    qs = _sized(qs.annotate(path_text=full).filter(path_text__contains=needle), mode)
    total = qs.count()
    return list(qs.order_by("dir", "name")[:limit]), total


def path_history(chains: list[Chain], path: str) -> list[Change]:
    """Every row for ``path`` from the bottom layer to the top: who touched it, and how."""
    directory, _, name = path.rpartition("/")
    return list(
        Change.objects.filter(
            chain_id__in=[c.pk for c in chains], dir=directory, name=name
        ).order_by("depth")
    )
