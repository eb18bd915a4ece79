"""Background ingest jobs whose worker died: found, then retried or failed with the reason.

The worker running a job claims it (``JobProgress.start``: owner, heartbeat, one more
attempt) and beats while it works (``progress.py``). A worker killed mid-ingest would leave its
job ``running``, and django-tasks' row of it ``RUNNING``, for ever. ``recover`` finds such a
job — its owner dead as a claim's owner is (``claims.is_stale``: its process gone from this
machine, or no heartbeat for ``LAYERVIZ_LEASE_SECONDS``) — and, in one transaction:

1. marks the queue backend's record of the dead run failed, with the reason (django-tasks'
   row, or RQ's job: ``queue.task_failed``);
2. queues the job again (a new task) while it has been started fewer than
   ``LAYERVIZ_INGEST_ATTEMPTS`` times, or else fails it with the reason.

A worker that died after taking a job's task and before starting the job left the job
``queued`` and the task ``RUNNING``; once that is older than a lease, the job is queued again
(no attempt was made). So is a queued job whose task the backend no longer has (a Redis
restarted without its data): the job's row, in the database, is what is not lost.

Retried, because a worker mostly dies of something outside the image (a restart, a deploy, a
lost machine) and the next run resumes from what is indexed (ready layers are kept, half-built
ones taken over). Only so often, because a worker may also die *of* the image (killed for the
memory it took), and retrying that for ever would kill worker after worker.

It runs as every worker starts (``manage.py worker``, under either backend), at every beat of a
running worker (``workers.Heartbeat``: the workers left alive take over a dead one's job
without anyone looking) and at every look at jobs (the job page, its polling fragment, the
images list), so a dead job is noticed as soon as it matters.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from . import claims, queue, tasks
from .models import IngestJob, JobState

log = logging.getLogger(__name__)


def recover(jobs: QuerySet[IngestJob] | None = None) -> None:
    """Retry or fail each job of ``jobs`` (default: all) whose worker is dead: running, or
    taken by a worker that died before it could start it; queue again those the queue lost."""
    jobs = jobs if jobs is not None else IngestJob.objects.all()
    for job in jobs.filter(state=JobState.RUNNING):
        if _is_dead(job):
            _recover(job)
    queued = {job.task_id: job for job in jobs.filter(state=JobState.QUEUED).exclude(task_id="")}
    if not queued:
        return
    for task_id in _taken_but_never_started(list(queued)):
        _queue_again(
            queued[task_id], "the worker that took this ingest stopped before it started it"
        )
    for task_id in queue.unknown(list(queued)):
        _queue_again(
            queued[task_id],
            "the queue no longer had this ingest (its Redis emptied or restarted without its data)",
        )


def _taken_but_never_started(task_ids: list[str]) -> list[str]:
    """The tasks of queued jobs a worker took longer than a lease ago: the worker starts the
    job at once, so it died in between. (No owner is recorded by then: the age is all there is
    to go by.)"""
    cutoff = timezone.now() - dt.timedelta(seconds=settings.LAYERVIZ_LEASE_SECONDS)
    return queue.taken_before(task_ids, cutoff)


def _is_dead(job: IngestJob) -> bool:
    if job.owner:
        return claims.is_stale(job)
    # Started before jobs recorded their worker (migration 0008): judged by its age alone.
    lease = dt.timedelta(seconds=settings.LAYERVIZ_LEASE_SECONDS)
    return job.started_at is not None and timezone.now() - job.started_at > lease


def reason(job: IngestJob) -> str:
    host, _, rest = job.owner.partition(":")
    pid = rest.partition(":")[0] or "?"
    where = f"process {pid} on host {host.partition('/')[0] or '?'}"
    if claims.owner_is_dead(job.owner):
        return f"the worker running this ingest stopped ({where} is gone)"
    silent = timezone.now() - (job.heartbeat_at or job.started_at or timezone.now())
    return (
        f"the worker running this ingest stopped ({where} gave no sign of life for "
        f"{silent // dt.timedelta(seconds=1)} s)"
    )


def _recover(job: IngestJob) -> None:
    upload = ""
    with transaction.atomic():
        # Only the look that wins this row recovers it: two pages polling at once queue it once.
        fresh = (
            IngestJob.objects.select_for_update()
            .filter(pk=job.pk, state=JobState.RUNNING, owner=job.owner)
            .first()
        )
        if fresh is None:
            return
        why = reason(fresh)
        _task_failed(fresh, why)
        if fresh.attempts < settings.LAYERVIZ_INGEST_ATTEMPTS:
            _requeue(fresh, why)
        else:
            tries = f"{fresh.attempts} attempt" + ("s" if fresh.attempts != 1 else "")
            tasks._finish(fresh, JobState.FAILED, error=f"{why}; failed after {tries}")
            log.warning("ingest job %s: %s; failed", fresh.pk, why)
            upload = fresh.upload
    if upload:
        # The worker that would have removed it is gone; nothing will read it now.
        with contextlib.suppress(FileNotFoundError):
            os.remove(upload)


def _queue_again(job: IngestJob, why: str) -> None:
    """A job that never started: queued again whatever its attempts (none was made)."""
    with transaction.atomic():
        fresh = (
            IngestJob.objects.select_for_update()
            .filter(pk=job.pk, state=JobState.QUEUED, task_id=job.task_id)
            .first()
        )
        if fresh is not None:
            _task_failed(fresh, why)
            _requeue(fresh, why)


def _task_failed(job: IngestJob, why: str) -> None:
    """The backend's record of the dead run: failed, with the reason, not running for ever."""
    if job.task_id:  # a job made by hand, not enqueued, has none
        queue.task_failed(job.task_id, why)


def _requeue(job: IngestJob, why: str) -> None:
    result = tasks.ingest_job.enqueue(job.pk)
    IngestJob.objects.filter(pk=job.pk).update(
        state=JobState.QUEUED,
        owner="",
        heartbeat_at=None,
        task_id=str(result.id),
        error=f"{why}; retried",
        # The next run starts its progress afresh.
        phase="",
        phase_args={},
        layer_index=0,
        bytes_done=0,
    )
    log.warning("ingest job %s: %s; retried", job.pk, why)
