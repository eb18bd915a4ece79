"""Plain-data views of the index, shared by ``images --json`` and the JSON API."""

from __future__ import annotations

from typing import Any

from . import progress
from .models import Image, IngestJob


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


def job_summary(job: IngestJob) -> dict[str, Any]:
    """A background job as ``manage.py jobs --json`` prints it (its images prefetched or not)."""
    return {
        "id": job.pk,
        "source": (job.options or {}).get("label") or job.source,
        "platform": job.platform,
        "state": job.state,
        "phase": job.phase,
        "phase_words": progress.words(job.phase, job.phase_args) if job.phase else "",
        "layer": job.layer_index,
        "layers": job.layer_count,
        "bytes_done": job.bytes_done,
        "bytes_total": job.bytes_total,
        "error": job.error,
        "attempts": job.attempts,
        "images": [image.digest for image in job.images.all()],
        "created_at": job.created_at.isoformat(),
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }
