"""Background ingest: the web page (or ``manage.py ingest --queue``) enqueues a job, a worker
process (``manage.py worker``) runs it; every job's end is logged (``ingest_log``)."""

from __future__ import annotations

import contextlib
import logging
import os
import time

from django.db import OperationalError
from django.utils import timezone
from django_tasks import task

from layerviz.lib.errors import IngestError

from . import efficiency, faults, ingest_log
from .models import IngestJob, JobState
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
    try:
        if not progress.start():
            return []  # not ours to run: see jobs.py
    except OperationalError as exc:
        # The database failed before the ingest could begin: the job fails all the same.
        _database_failed(job, exc)
        _remove_upload(job)
        return []
    try:
        images = IngestRequest.from_job(job).run(progress)
        job.images.set(images)
        # Before the job is marked done, so the page, following the job, does not compute
        # the analysis a second time.
        efficiency.analyze_ingested(images, progress)
        progress.show()
    except IngestError as exc:
        _finish(job, JobState.FAILED, error=str(exc))
        return []
    except OperationalError as exc:
        _database_failed(job, exc)
        return []
    except Exception as exc:
        _finish(job, JobState.FAILED, error=f"unexpected error: {type(exc).__name__}: {exc}")
        raise
    else:
        _finish(job, JobState.DONE)
        return [image.digest for image in images]
    finally:
        _remove_upload(job)


def _database_failed(job: IngestJob, exc: OperationalError) -> None:
    # The database failed, not the input: the job says so in one line, as for bad input.
    error = faults.describe(exc)
    logger.warning("ingest job %s failed: %s", job.pk, error)
    _finish(job, JobState.FAILED, error=error)


def _remove_upload(job: IngestJob) -> None:
    if job.upload:
        with contextlib.suppress(FileNotFoundError):
            os.remove(job.upload)


# A lock that outlasted one timeout may be gone a moment later: try a few times to record how
# the job ended rather than leave it "running" for good.
FINISH_ATTEMPTS = 3
FINISH_PAUSE = 1.0


def _finish(job: IngestJob, state: JobState, error: str = "") -> None:
    # Credentials were only needed for the run; do not keep them in the database.
    options = {k: v for k, v in (job.options or {}).items() if k != "password"}
    for attempt in range(1, FINISH_ATTEMPTS + 1):
        try:
            IngestJob.objects.filter(pk=job.pk).update(
                state=state, error=error[:4000], finished_at=timezone.now(), options=options
            )
            break
        except OperationalError as exc:
            if attempt == FINISH_ATTEMPTS:
                raise
            logger.warning("recording job %s as %s: %s", job.pk, state, faults.describe(exc))
            time.sleep(FINISH_PAUSE)
    try:
        ingest_log.job_ended(IngestJob.objects.get(pk=job.pk))
    except OperationalError as exc:
        # The job's end is recorded; only its log line is lost, and says so.
        logger.warning("logging the end of job %s: %s", job.pk, faults.describe(exc))
