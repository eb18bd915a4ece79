"""The queue ingests wait in, whichever backend ``settings.TASKS`` configures.

Today that is django-tasks' database backend (``django_tasks_db``): the queue is a table of the
database the index is in, and a worker is ``db_worker``. What differs between backends lives
here, one branch per backend, so that the commands (``worker``) and ``/healthz`` do not know
which one it is: another backend (RQ on Redis) adds its branch to ``backend``, ``check`` and
``run_worker``. What jobs wait and since when is read from ``IngestJob``, ours under every
backend.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db.models import Count, Min, Q
from django.utils import timezone
from django_tasks import task_backends
from django_tasks_db.backend import DatabaseBackend
from django_tasks_db.models import DBTaskResult

from .models import IngestJob, JobState

DATABASE = "database"


def backend() -> str:
    """Which backend the ingest task is queued on."""
    configured = task_backends["default"]
    if isinstance(configured, DatabaseBackend):
        return DATABASE
    raise ImproperlyConfigured(
        f"layerviz has no worker for the task backend {type(configured).__name__}"
    )


def check() -> None:
    """Raise unless the queue can be read (the database backend: its table)."""
    if backend() == DATABASE:
        list(DBTaskResult.objects.order_by().values_list("pk")[:1])


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
