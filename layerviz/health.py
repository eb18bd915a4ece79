"""``GET /healthz``: whether this layerviz can do its work, as JSON, for a load balancer or a
monitor. No login; nothing secret (no URL, no password, no job's source).

Each part is checked on its own, and a part that fails says why in one line:

* ``database``: a ``SELECT 1`` on the default database;
* ``queue``: the queue backend (``images/queue.py``) readable, and the jobs waiting and
  running, with how long the oldest queued one has waited;
* ``workers``: the workers' own heartbeats (``images/workers.py``), alive or silent.

The answer is 503 when the database or the queue cannot be read, or when jobs are queued and no
worker is alive to run them; otherwise 200. No worker with nothing queued is 200 with a
warning: nothing is held up, and a web server may well run without workers for a while (a
deploy), but a job queued now would wait. A failure of the check itself is a 503, never a 500.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from django.db import OperationalError, connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from layerviz.images import faults, queue, workers
from layerviz.images.models import WorkerBeat

log = logging.getLogger(__name__)


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    try:
        report = check()
    except Exception as exc:
        log.exception("the health check failed")
        report = {"status": "down", "problems": [f"the health check failed: {type(exc).__name__}"]}
    return JsonResponse(report, status=200 if report["status"] == "ok" else 503)


def check() -> dict[str, Any]:
    problems: list[str] = []
    warnings: list[str] = []
    database = _part(problems, "database", _database)
    waiting = _part(problems, "queue", _queue)
    beats = _part(problems, "workers", _workers)
    if waiting.get("ok") and beats.get("ok"):
        queued, alive = waiting["queued"], beats["alive"]
        if queued and not alive:
            problems.append(
                f"{queued} job(s) queued, the oldest for {waiting['oldest_queued_seconds']} s, "
                "and no worker alive to run them"
            )
        elif not alive:
            warnings.append("no worker is alive: a job queued now waits until one starts")
    return {
        "status": "down" if problems else "ok",
        "problems": problems,
        "warnings": warnings,
        "database": database,
        "queue": waiting,
        "workers": beats,
    }


def _part(problems: list[str], name: str, read: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    try:
        return {"ok": True, **read()}
    except Exception as exc:
        why = faults.describe(exc) if isinstance(exc, OperationalError) else type(exc).__name__
        problems.append(f"{name}: {why}")
        return {"ok": False, "error": why}


def _database() -> dict[str, Any]:
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"vendor": connection.vendor, "ms": round(1000 * (time.perf_counter() - started), 1)}


def _queue() -> dict[str, Any]:
    return {"backend": queue.backend(), **queue.check(), **queue.waiting()}


def _workers() -> dict[str, Any]:
    listed = workers.snapshot()
    return {
        "alive": sum(1 for worker in listed if worker["alive"]),
        "silent_after_seconds": WorkerBeat.silent_after().total_seconds(),
        "list": listed,
    }
