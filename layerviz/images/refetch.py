"""Fetching again the bytes of layers that were indexed without keeping them.

A layer's blob is not kept when the budget was full or 0, or when it was indexed before layerviz
kept blobs (``contents.not_kept_reason``). Ingesting the image again keeps what it lacks
(``ingest._keep_unkept``); for an image that came from a registry the file page offers that as a
button: the job re-reads only the layers whose bytes are missing, their entries already indexed.

The source is pinned to the image's manifest digest, so a tag moved since fetches the same
image, never the one the tag names now. The options of the job that brought the image come
along (a user name, plain HTTP), its password does not (jobs keep none once run): credentials
from ``~/.docker/config.json`` still apply, and without them the job fails saying the registry
wants them. Uploads, files on the server and the engine's images are not offered: an upload is
gone once read, and a path or an engine name may name other bytes by now.
"""

from __future__ import annotations

import dataclasses

from django.conf import settings

from layerviz.lib import reference
from layerviz.sources import split_spec, transport_named

from . import contents, tasks
from .models import Image, IngestJob, JobState
from .requests import IngestRequest


def request_for(image: Image) -> IngestRequest | None:
    """The ingest that fetches the image's missing layer bytes again, or None when there is no
    registry to fetch them from, or no room to keep them."""
    if settings.LAYERVIZ_BLOB_BUDGET <= 0 or image.manifest_synthesized:
        return None
    if transport_named(image.source) != "docker":
        return None
    try:
        ref = reference.parse(split_spec(image.source)[1])
    except ValueError:
        return None
    pinned = dataclasses.replace(ref, tag=None, digest=image.digest)
    brought = (
        image.jobs.filter(state=JobState.DONE, source=image.source).order_by("-finished_at").first()
    )
    known = IngestRequest.from_job(brought) if brought else IngestRequest(image.source)
    return dataclasses.replace(known, source=f"docker://{pinned}", tag="", password="", label="")


def missing_bytes(image: Image) -> int:
    """The compressed bytes of the image's layers that are not kept: what a fetch downloads."""
    missing = 0
    for il in image.image_layers.select_related("layer").prefetch_related("layer__blobs"):
        if contents.kept_blob(il.layer) is None:
            missing += min((b.size for b in il.layer.blobs.all()), default=0)
    return missing


def queue(image: Image) -> IngestJob | None:
    """Queue the fetch, or give the one already waiting or running; None when there is nothing
    to fetch from (``request_for``)."""
    request = request_for(image)
    if request is None:
        return None
    running = IngestJob.objects.filter(
        source=request.source, state__in=[JobState.QUEUED, JobState.RUNNING]
    ).first()
    return running or tasks.enqueue(request)
