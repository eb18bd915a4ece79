"""django-tasks' ``db_worker``, which first recovers the jobs of workers that died
(``images/jobs.py``): a job a killed worker left running is queued again, or failed, before
this worker looks for work."""

from __future__ import annotations

from typing import Any

from django_tasks_db.management.commands import db_worker

from layerviz.images import jobs


class Command(db_worker.Command):
    def handle(self, *args: Any, **options: Any) -> None:
        jobs.recover()
        super().handle(*args, **options)
