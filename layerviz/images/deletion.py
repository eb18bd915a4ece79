"""Deleting: an image, and whatever nothing uses once it is gone.

(The shared-layers page is "the store" in the interface; this module only removes things.)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

from django.db import transaction

from layerviz.search import index as search_index

from . import claims, contents
from .models import Blob, Chain, Claimed, DirChanges, EntryChunk, Image, ImageLayer, Layer


@dataclasses.dataclass
class DeletionPlan:
    """The image's layers split into those deleting it removes (no other image uses them)
    and those it keeps (shared with another image), each bottom to top, each layer once."""

    removed: list[Layer]
    kept: list[Layer]

    @property
    def removed_bytes(self) -> int:
        return sum(layer.size for layer in self.removed)

    @property
    def kept_bytes(self) -> int:
        return sum(layer.size for layer in self.kept)


def deletion_plan(image: Image) -> DeletionPlan:
    layers = {il.layer_id: il.layer for il in image.layers_in_order().select_related("layer")}
    shared = set(
        ImageLayer.objects.filter(layer_id__in=layers)
        .exclude(image=image)
        .values_list("layer_id", flat=True)
    )
    return DeletionPlan(
        removed=[layer for pk, layer in layers.items() if pk not in shared],
        kept=[layer for pk, layer in layers.items() if pk in shared],
    )


def delete_image(image: Image) -> None:
    """Delete an image and whatever only it used; layers and chains other images use stay.

    1. note the image's chains and layers;
    2. delete the image (its layer list, history and names go with it);
    3. delete those chains and layers nothing uses any more (``delete_unused``).
    """
    with transaction.atomic():
        links = list(image.image_layers.values_list("chain_id", "layer_id"))
        image.delete()
        delete_unused(chains=[c for c, _ in links], layers=[la for _, la in links])


def delete_unused(
    *, chains: Iterable[int] = (), layers: Iterable[int] = (), owner: str = ""
) -> None:
    """Of these chains and layers, delete those nothing uses any more: the one definition of
    "unused", for deleting an image, undoing a failed ingest and dropping what a streamed
    ingest read in passing. ``owner`` is the ingest undoing its own work: its own claims and
    leases do not count as uses.

    1. lock the rows (``claims.py``: an ingest leases a row under the same lock, so either its
       lease is seen here or it finds the row gone and indexes it again);
    2. a chain no image uses and no live ingest holds (a lease, or a claim it is building)
       goes, with its rows. Chains of other images never hang off such a chain: every image
       holds its whole lineage, and an ingest leases every chain it builds on;
    3. then a layer no image, no remaining chain and no live ingest uses goes, with its
       entries and blobs.
    """
    with transaction.atomic():
        # In pk order, chains then layers, so that two deletes cannot deadlock.
        chain_rows = list(
            Chain.objects.select_for_update().filter(pk__in=set(chains)).order_by("pk")
        )
        layer_rows = list(
            Layer.objects.select_for_update().filter(pk__in=set(layers)).order_by("pk")
        )
        chain_ids = {c.pk for c in chain_rows}
        images_use = ImageLayer.objects.filter(chain_id__in=chain_ids)
        unused_chains = _unused(
            Chain, chain_rows, set(images_use.values_list("chain_id", flat=True)), owner
        )
        DirChanges.objects.filter(chain_id__in=unused_chains).delete()
        Chain.objects.filter(pk__in=unused_chains).delete()
        layer_ids = {la.pk for la in layer_rows}
        in_use = set(
            ImageLayer.objects.filter(layer_id__in=layer_ids).values_list("layer_id", flat=True)
        ) | set(Chain.objects.filter(layer_id__in=layer_ids).values_list("layer_id", flat=True))
        unused_layers = _unused(Layer, layer_rows, in_use, owner)
        EntryChunk.objects.filter(layer_id__in=unused_layers).delete()
        search_index.forget_layers(unused_layers)
        blobs = Blob.objects.filter(layer_id__in=unused_layers)
        contents.forget(blobs.filter(kept=True).values_list("digest", flat=True))
        blobs.delete()
        Layer.objects.filter(pk__in=unused_layers).delete()


def _unused(
    model: type[Chain] | type[Layer], rows: Sequence[Claimed], in_use: set[int], owner: str
) -> set[int]:
    """The locked ``rows`` nothing uses: not ``in_use`` (by images or chains), not leased nor
    being built by another live ingest. What is kept but half-built by ``owner`` is given up."""
    ids = {row.pk for row in rows}
    used = in_use | claims.live_leases(model, ids, besides=owner)
    used |= {row.pk for row in rows if _claimed_by_another(row, owner)}
    _abandon(model, [row for row in rows if row.pk in used], owner)
    return ids - used


def _abandon(model: type[Chain] | type[Layer], kept: Sequence[Claimed], owner: str) -> None:
    """Give up ``owner``'s claims on the half-built rows it keeps for another ingest that waits
    for them: with no heartbeat, that ingest takes them over at once."""
    mine = [row.pk for row in kept if owner and not row.is_ready and row.owner == owner]
    if mine:
        model.objects.filter(pk__in=mine, owner=owner).update(heartbeat_at=None)


def _claimed_by_another(row: Claimed, owner: str) -> bool:
    """Being built by a live ingest other than ``owner`` (one that took it over from us)."""
    return not row.is_ready and row.owner != owner and not claims.is_stale(row)
