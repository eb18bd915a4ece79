"""Background workers' own heartbeats, busy or idle: a ``WorkerBeat`` row per worker.

A job's heartbeat (``progress.JobProgress.beat``) says its worker is alive only while it runs
that job; ``/healthz`` must also tell an idle worker from no worker at all. So a worker, from
start to stop (``manage.py worker``, under either queue backend):

1. writes its row (name, host, process, started) and removes the rows of workers silent for a
   day, which were killed without a chance to remove their own;
2. records the time on its row every ``LAYERVIZ_WORKER_BEAT_SECONDS`` from a thread of its own,
   so that a long ingest on the main thread does not silence it; at each beat it also looks for
   the jobs of workers that died (``jobs.recover``), so that the workers left take them over
   with nobody looking, and does what its backend asks of a beat (``on_beat``: RQ's record of
   the running job renewed);
3. removes its row when it stops (SIGTERM, Ctrl-C, the end of ``--batch``). A worker killed
   outright leaves its row, which goes silent: three beats missed and it counts as gone.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import timezone

from . import claims, jobs
from .models import IngestJob, JobState, WorkerBeat

log = logging.getLogger(__name__)

FORGOTTEN_AFTER = dt.timedelta(days=1)


class Heartbeat:
    """``with Heartbeat(name=…, backend=…):`` around a worker's loop."""

    def __init__(
        self, *, name: str, backend: str, on_beat: Callable[[], None] | None = None
    ) -> None:
        self.name = name
        self.backend = backend
        self.on_beat = on_beat
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat {name}", daemon=True)

    def __enter__(self) -> Heartbeat:
        now = timezone.now()
        WorkerBeat.objects.filter(beat_at__lt=now - FORGOTTEN_AFTER).delete()
        WorkerBeat.objects.update_or_create(
            name=self.name,
            defaults={
                "backend": self.backend,
                "host": claims.host(),
                "pid": os.getpid(),
                "started_at": now,
                "beat_at": now,
            },
        )
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=settings.LAYERVIZ_WORKER_BEAT_SECONDS + 5)
        WorkerBeat.objects.filter(name=self.name).delete()

    def _beat(self) -> None:
        try:
            while not self._stop.wait(settings.LAYERVIZ_WORKER_BEAT_SECONDS):
                try:
                    WorkerBeat.objects.filter(name=self.name).update(beat_at=timezone.now())
                except Exception as exc:
                    # A locked or unreachable database: the next beat tries again; a worker
                    # that cannot beat for long enough is reported gone, which it is, to /healthz.
                    log.warning("worker %s could not record its heartbeat: %s", self.name, exc)
                for chore in (self.on_beat, jobs.recover):
                    if chore is None:
                        continue
                    try:
                        chore()
                    except Exception as exc:
                        # As for the beat: the next one tries again.
                        log.warning("worker %s, at its heartbeat: %s", self.name, exc)
        finally:
            connection.close()  # this thread's own


def snapshot() -> list[dict[str, Any]]:
    """Every worker heard from in the last day, newest first: who, where, its last beat, and
    the job it is running (the job's owner names the worker's host and process).

    A worker is alive while its own beat is recent, or while the job it runs is, by the rule
    ``jobs.py`` judges jobs by (a heartbeat within ``LAYERVIZ_LEASE_SECONDS``): on SQLite a
    beat may wait behind an ingest's long write, and a worker busy writing is not dead."""
    now = timezone.now()
    silent_after = WorkerBeat.silent_after()
    running = {
        job.owner.rsplit(":", 1)[0]: job
        for job in IngestJob.objects.filter(state=JobState.RUNNING).only(
            "pk", "owner", "heartbeat_at", "started_at"
        )
    }
    listed = []
    for beat in WorkerBeat.objects.order_by("-beat_at"):
        job = running.get(f"{beat.host}:{beat.pid}")
        listed.append(
            {
                "name": beat.name,
                "backend": beat.backend,
                "host": beat.host.partition("/")[0],
                "pid": beat.pid,
                "started_at": beat.started_at.isoformat(),
                "beat_at": beat.beat_at.isoformat(),
                "seconds_since_beat": round((now - beat.beat_at).total_seconds(), 1),
                "alive": now - beat.beat_at <= silent_after
                or (job is not None and not claims.is_stale(job)),
                "job": job.pk if job else None,
            }
        )
    return listed
