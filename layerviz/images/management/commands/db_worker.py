"""django-tasks' ``db_worker``, which first recovers the jobs of workers that died
(``images/jobs.py``): a job a killed worker left running is queued again, or failed, before
this worker looks for work. While it runs it records a heartbeat of its own, busy or idle
(``images/workers.py``), which ``/healthz`` reads."""

from __future__ import annotations

import os
from typing import Any

from django.utils.autoreload import DJANGO_AUTORELOAD_ENV
from django_tasks_db.management.commands import db_worker

from layerviz.images import jobs, queue, workers


class Command(db_worker.Command):
    def handle(self, *args: Any, **options: Any) -> None:
        jobs.recover()
        if options.get("reload") and os.environ.get(DJANGO_AUTORELOAD_ENV) != "true":
            # The reloader's parent only restarts the real worker, its child: not a worker.
            super().handle(*args, **options)
            return
        with workers.Heartbeat(name=options["worker_id"], backend=queue.DATABASE):
            super().handle(*args, **options)
