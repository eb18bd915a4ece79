"""One structured log line for every ingest that ends, on the ``layerviz.ingest`` logger.

Its fields (``logs.py`` writes them as a JSON object's keys): ``event`` ("ingest"), ``job``
(the background job's id; null for ``manage.py ingest``), ``source``, ``platform``,
``images`` (each ``digest`` and ``names``), ``layers`` (the images' layers, each counted
once), ``bytes`` (bytes of layers this ingest read: layers already indexed are not read again),
``seconds``, ``result`` ("ok" or "failed") and ``error`` (the one-line reason, or null).
A background job's line is written when the job's end is recorded (``tasks._finish``), which
covers a job whose worker died and that ``jobs.py`` failed; ``manage.py ingest`` writes one
when it is run with ``LAYERVIZ_LOG_FORMAT`` set (``commands/ingest.py`` says why).
"""

from __future__ import annotations

import logging
from typing import Any

from .models import Image, ImageLayer, IngestJob, JobState

log = logging.getLogger("layerviz.ingest")


def job_ended(job: IngestJob) -> None:
    """The line of a background job, from its row as recorded."""
    seconds = (
        (job.finished_at - job.started_at).total_seconds()
        if job.finished_at and job.started_at
        else None
    )
    _write(
        job=job.pk,
        source=str((job.options or {}).get("label") or job.source),
        platform=job.platform,
        images=list(job.images.all()),
        read=job.bytes_done,
        seconds=seconds,
        error=job.error if job.state == JobState.FAILED else "",
        attempts=job.attempts,
    )


def command_ended(
    *, source: str, platform: str, images: list[Image], read: int, seconds: float, error: str
) -> None:
    """The line of ``manage.py ingest``."""
    _write(
        job=None,
        source=source,
        platform=platform,
        images=images,
        read=read,
        seconds=seconds,
        error=error,
    )


def _write(
    *,
    job: int | None,
    source: str,
    platform: str,
    images: list[Image],
    read: int,
    seconds: float | None,
    error: str,
    **extra: Any,
) -> None:
    layers = (
        ImageLayer.objects.filter(image__in=images).values("layer").distinct().count()
        if images
        else 0
    )
    fields = {
        "event": "ingest",
        "job": job,
        "source": source,
        "platform": platform or None,
        "images": [{"digest": image.digest, "names": image.names} for image in images],
        "layers": layers,
        "bytes": read,
        "seconds": round(seconds, 3) if seconds is not None else None,
        "result": "failed" if error else "ok",
        "error": error or None,
        **extra,
    }
    what = f"job {job}" if job is not None else "command"
    if error:
        log.warning("ingest failed (%s): %s", what, source, extra={"fields": fields})
    else:
        log.info("ingest ok (%s): %s", what, source, extra={"fields": fields})
