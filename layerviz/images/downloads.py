"""What pulling a layer from a registry downloads: the one rule for every "compressed" size
the pages, the JSON and the pull planner show.

A layer read as a compressed blob (a registry, a containerd export, a gzip OCI layout) has
its download size: that blob's. A layer read as a plain tar (``docker save``, an engine's
store) has none of its own. Then a compressed blob of the same layer seen before gives the
exact size; failing that, the estimate of its gzip size made while it was read
(``lib/estimate``), flagged as an estimate; failing that (indexed before estimates were made,
or reused from a layer indexed so), it is unknown (None).
"""

from __future__ import annotations

from layerviz.lib.streams import NONE

from .models import Blob, Layer


def download_size(layer: Layer, blob_digest: str, blob_size: int) -> tuple[int | None, bool]:
    """(bytes, estimated) for a link to ``layer`` through the blob it was read from."""
    blobs = {b.digest: b for b in Blob.objects.filter(layer=layer)}
    blob = blobs.get(blob_digest)
    if blob is not None and blob.compression != NONE:
        return blob_size, False
    compressed = [b.size for b in blobs.values() if b.compression != NONE]
    if compressed:
        return min(compressed), False
    if layer.gzip_estimate is not None:
        return layer.gzip_estimate, True
    return None, False
