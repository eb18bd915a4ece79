"""Background ingest: the web page enqueues a job, a ``db_worker`` process runs it."""

from __future__ import annotations

import contextlib
import logging
import os

from django.utils import timezone
from django_tasks import task

from layerviz.lib.errors import IngestError

from . import efficiency
from .models import Image, IngestJob, JobState
from .progress import JobProgress
from .requests import IngestRequest

logger = logging.getLogger(__name__)


def enqueue(request: IngestRequest, *, upload: str = "") -> IngestJob:
    """Queue ``request`` for a worker; ``upload`` is a file to delete once it has run."""
    job = request.to_job(upload=upload)
    result = ingest_job.enqueue(job.pk)
    IngestJob.objects.filter(pk=job.pk).update(task_id=str(result.id))
    job.refresh_from_db()
    return job


@task()
def ingest_job(job_id: int) -> list[str]:
    job = IngestJob.objects.get(pk=job_id)
    progress = JobProgress(job)
    if not progress.start():
        return []  # not ours to run: see jobs.py
    try:
        images = IngestRequest.from_job(job).run(progress)
    except IngestError as exc:
        _finish(job, JobState.FAILED, error=str(exc))
        return []
    except Exception as exc:
        _finish(job, JobState.FAILED, error=f"unexpected error: {type(exc).__name__}: {exc}")
        raise
    else:
        job.images.set(images)
        _analyze(images)
        progress.show()
        _finish(job, JobState.DONE)
        return [image.digest for image in images]
    finally:
        if job.upload:
            with contextlib.suppress(FileNotFoundError):
                os.remove(job.upload)


def _analyze(images: list[Image]) -> None:
    """Store each image's efficiency analysis, so its first view need not compute it.

    The ingest has committed by now: the images stay indexed whatever happens here, and an
    analysis that fails is only logged (the page computes it when first asked). It runs before
    the job is marked done so the page, following the job, does not compute it a second time.
    """
    for image in images:
        try:
            efficiency.analyze(image)
        except Exception:
            logger.exception("efficiency analysis of %s failed", image.digest)


def _finish(job: IngestJob, state: JobState, error: str = "") -> None:
    # Credentials were only needed for the run; do not keep them in the database.
    options = {k: v for k, v in (job.options or {}).items() if k != "password"}
    IngestJob.objects.filter(pk=job.pk).update(
        state=state, error=error[:4000], finished_at=timezone.now(), options=options
    )
