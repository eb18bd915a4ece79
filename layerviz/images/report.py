"""Plain-data views of the index, shared by ``images --json`` and the JSON API."""

from __future__ import annotations

from typing import Any

from .models import Image


def image_summary(image: Image) -> dict[str, Any]:
    layers = image.layers_in_order()
    return {
        "references": image.names,
        "digest": image.digest,
        "index_digest": image.index_digest or None,
        "manifest_synthesized": image.manifest_synthesized,
        "image_id": image.image_id,
        "platform": image.platform,
        "created": image.created.isoformat() if image.created else None,
        "size": image.size,
        "compressed_size": image.compressed_size,
        "compressed_estimated": image.compressed_estimated,
        "layers": [
            {
                "diff_id": il.layer.diff_id,
                "digest": il.blob_digest,
                "chain_id": il.chain.chain_id,
                "size": il.layer.size,
                "blob_size": il.blob_size,
                "compressed_size": il.download_size,
                "compressed_estimated": il.download_estimated,
                "entries": il.layer.entry_count,
                "media_type": il.media_type,
            }
            for il in layers
        ],
    }
