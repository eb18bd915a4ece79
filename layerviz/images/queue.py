"""The queue ingests wait in, whichever backend ``settings.TASKS`` configures.

Two backends, one branch each here, so that the task (``tasks.py``), the recovery of dead
workers' jobs (``jobs.py``), the ``worker`` command and ``/healthz`` do not know which:

* ``database``, the default: django-tasks' database backend (``django_tasks_db``), the queue a
  table of the database the index is in; a worker is ``db_worker``.
* ``rq``, when ``LAYERVIZ_REDIS_URL`` is set: django-tasks' RQ backend (``django_tasks_rq``)
  on that Redis, which workers on several machines share; a worker is RQ's ``SimpleWorker``,
  which runs each job in its own process as ``db_worker`` does (no fork per job): the job's
  owner is then the worker itself, so that a worker killed is its job's owner dead
  (``claims.is_stale``) and ``/healthz`` finds the job a worker runs.

What jobs wait and since when is read from ``IngestJob``, ours under every backend; RQ's own
records of a job (its status, its registries) are kept in step with ours: a job whose worker
died is failed there with the reason (``task_failed``) when ``jobs.py`` retries or fails it.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import close_old_connections
from django.db.models import Count, Min, Q
from django.utils import timezone
from django_tasks import task_backends
from django_tasks.base import TaskResultStatus
from django_tasks_db.backend import DatabaseBackend
from django_tasks_db.models import DBTaskResult
from rq.job import Job, JobStatus
from rq.queue import Queue
from rq.worker import SimpleWorker

from . import jobs, workers
from .models import IngestJob, JobState

log = logging.getLogger(__name__)

DATABASE = "database"
RQ = "rq"
QUEUE_NAME = "default"


class WorkerGone(Exception):
    """What the backend records as the error of a run whose worker died."""


def backend() -> str:
    """Which backend the ingest task is queued on."""
    configured = task_backends["default"]
    if isinstance(configured, DatabaseBackend):
        return DATABASE
    if type(configured).__module__.startswith("django_tasks_rq"):
        return RQ
    raise ImproperlyConfigured(
        f"layerviz has no worker for the task backend {type(configured).__name__}"
    )


def check() -> dict[str, Any]:
    """Raise unless the queue can be read; what the backend says of it.

    The database backend: its table read. RQ: Redis answers ``PING`` (how fast), the jobs in
    its list (``length``: queued there, not yet taken by a worker) and how long the oldest has
    waited (``oldest_seconds``)."""
    if backend() == DATABASE:
        list(DBTaskResult.objects.order_by().values_list("pk")[:1])
        return {}
    queue = _rq_queue()
    started = time.perf_counter()
    queue.connection.ping()
    ping_ms = round(1000 * (time.perf_counter() - started), 1)
    oldest = None
    for job_id in queue.get_job_ids(0, 0):
        job = queue.fetch_job(job_id)
        if job is not None and job.enqueued_at is not None:
            oldest = round((timezone.now() - _aware(job.enqueued_at)).total_seconds(), 1)
    return {"redis_ping_ms": ping_ms, "length": queue.count, "oldest_seconds": oldest}


def waiting() -> dict[str, Any]:
    """The jobs queued and running, and how long the oldest queued one has waited."""
    counts = IngestJob.objects.aggregate(
        queued=Count("pk", filter=Q(state=JobState.QUEUED)),
        running=Count("pk", filter=Q(state=JobState.RUNNING)),
        oldest=Min("created_at", filter=Q(state=JobState.QUEUED)),
    )
    oldest: dt.datetime | None = counts["oldest"]
    return {
        "queued": counts["queued"],
        "running": counts["running"],
        "oldest_queued_seconds": (
            round((timezone.now() - oldest).total_seconds(), 1) if oldest else None
        ),
    }


def taken_before(task_ids: list[str], cutoff: dt.datetime) -> list[str]:
    """Those of ``task_ids`` a worker took (the backend has them running) before ``cutoff``."""
    if backend() == DATABASE:
        taken = DBTaskResult.objects.filter(
            id__in=task_ids, status=TaskResultStatus.RUNNING, started_at__lt=cutoff
        ).values_list("id", flat=True)
        return [str(task_id) for task_id in taken]
    found = Job.fetch_many(task_ids, connection=_rq_queue().connection)
    return [
        job.id
        for job in found
        if job is not None
        and job.get_status(refresh=False) == JobStatus.STARTED
        and job.started_at is not None
        and _aware(job.started_at) < cutoff
    ]


def unknown(task_ids: list[str]) -> list[str]:
    """Those of ``task_ids`` the backend no longer has: a Redis restarted without its data (or
    emptied), django-tasks' rows removed by hand."""
    if backend() == DATABASE:
        found = DBTaskResult.objects.filter(id__in=task_ids).values_list("id", flat=True)
        known = {str(task_id) for task_id in found}
        return [task_id for task_id in task_ids if task_id not in known]
    fetched = Job.fetch_many(task_ids, connection=_rq_queue().connection)
    return [task_id for task_id, job in zip(task_ids, fetched, strict=True) if job is None]


def task_failed(task_id: str, why: str) -> None:
    """The backend's record of a run whose worker died: failed, with the reason, rather than
    running for ever (the database backend's row; RQ's job, out of its started registry and
    into its failed one, as RQ itself moves an abandoned job)."""
    if backend() == DATABASE:
        DBTaskResult.objects.filter(id=task_id, status=TaskResultStatus.RUNNING).update(
            status=TaskResultStatus.FAILED,
            finished_at=timezone.now(),
            exception_class_path=f"{__name__}.{WorkerGone.__qualname__}",
            traceback=f"{WorkerGone.__qualname__}: {why}",
            return_value=None,
        )
        return
    queue = _rq_queue()
    job = queue.fetch_job(task_id)
    if job is None or job.get_status() != JobStatus.STARTED:
        return
    with queue.connection.pipeline() as pipeline:
        queue.started_job_registry.remove_executions(job, pipeline=pipeline)
        job.set_status(JobStatus.FAILED, pipeline=pipeline)
        # RQ's own way to record a failure (``StartedJobRegistry.cleanup`` calls it too).
        job._handle_failure(f"{WorkerGone.__qualname__}: {why}", pipeline, worker_name="")
        pipeline.execute()


def run_worker(*, name: str | None, batch: bool, interval: float, verbosity: int) -> None:
    """Run a worker of the configured backend in this process until it is stopped (or, with
    ``batch``, until nothing is left to run)."""
    if backend() == DATABASE:
        # Ours (images/management/commands/db_worker.py): dead workers' jobs recovered first,
        # and the worker's heartbeat.
        options: dict[str, Any] = {
            "batch": batch,
            "interval": interval,
            "reload": False,
            "startup_delay": not batch,
            "verbosity": verbosity,
        }
        if name:
            options["worker_id"] = name
        call_command("db_worker", **options)
        return
    _run_rq_worker(name=name, batch=batch, verbosity=verbosity)


def _run_rq_worker(*, name: str | None, batch: bool, verbosity: int) -> None:
    """As ``db_worker`` does: dead workers' jobs recovered first, then the RQ worker's loop
    inside its heartbeat (which also keeps RQ's record of the running job alive)."""
    import django_rq
    from django_tasks_rq.backend import Job as TaskJob

    jobs.recover()
    queue = django_rq.get_queue(QUEUE_NAME, job_class=TaskJob)
    worker = IngestWorker([queue], connection=queue.connection, job_class=TaskJob, name=name)
    level = {0: "WARNING", 1: "INFO"}.get(verbosity, "DEBUG")
    with workers.Heartbeat(name=worker.name, backend=RQ, on_beat=worker.beat):
        worker.work(burst=batch, logging_level=level, with_scheduler=False)


class IngestWorker(SimpleWorker):
    """RQ's worker that runs each job in its own process, kept alive in RQ's eyes while it works.

    RQ's forking worker renews a running job's entry in the started registry from its parent
    process while the child works; a ``SimpleWorker`` busy with a long ingest on its one thread
    cannot, and RQ would call the job abandoned once the entry expired. ``beat`` renews it from
    the heartbeat thread (``workers.Heartbeat``) instead. Database connections are closed
    around each job, as Django closes them around a request: a long-lived worker must not keep
    one the database dropped."""

    running: Job | None = None

    def execute_job(self, job: Job, queue: Queue) -> None:
        close_old_connections()
        self.running = job
        try:
            super().execute_job(job, queue)
        finally:
            self.running = None
            close_old_connections()

    def beat(self) -> None:
        job = self.running
        if job is not None and self.execution is not None:
            self.maintain_heartbeats(job)


def _rq_queue() -> Queue:
    import django_rq

    return django_rq.get_queue(QUEUE_NAME)


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
