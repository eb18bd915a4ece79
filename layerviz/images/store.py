"""Operations on the whole store that are not about one model."""

from __future__ import annotations

from django.db import transaction

from .models import Blob, Chain, DirChanges, EntryChunk, Image, ImageLayer, Layer


def deletion_plan(image: Image) -> tuple[list[Layer], list[Layer]]:
    """The image's layers split into those deleting it removes (no other image uses them)
    and those it keeps (shared with another image), each bottom to top, each layer once."""
    layers = {il.layer_id: il.layer for il in image.layers_in_order().select_related("layer")}
    shared = set(
        ImageLayer.objects.filter(layer_id__in=layers)
        .exclude(image=image)
        .values_list("layer_id", flat=True)
    )
    removed = [layer for pk, layer in layers.items() if pk not in shared]
    kept = [layer for pk, layer in layers.items() if pk in shared]
    return removed, kept


def delete_image(image: Image) -> None:
    """Delete an image and whatever only it used; layers and chains other images use stay.

    1. note the image's chains, and the layers no other image uses (``deletion_plan``);
    2. delete the image (its layer list, history and names go with it);
    3. delete the chains no image uses any more, then those layers.
    Chains of other images never hang off a chain this image alone used: every image holds
    its whole lineage, so an unused chain has no used descendants.
    """
    with transaction.atomic():
        chain_ids = list(image.image_layers.values_list("chain_id", flat=True))
        removed, _kept = deletion_plan(image)  # what the confirmation page listed
        image.delete()
        still_used = set(
            ImageLayer.objects.filter(chain_id__in=chain_ids).values_list("chain_id", flat=True)
        )
        unused_chains = [c for c in chain_ids if c not in still_used]
        DirChanges.objects.filter(chain_id__in=unused_chains).delete()
        Chain.objects.filter(pk__in=unused_chains).delete()
        unused_layers = [
            layer.pk for layer in removed if not Chain.objects.filter(layer=layer).exists()
        ]
        EntryChunk.objects.filter(layer_id__in=unused_layers).delete()
        Blob.objects.filter(layer_id__in=unused_layers).delete()
        Layer.objects.filter(pk__in=unused_layers).delete()
