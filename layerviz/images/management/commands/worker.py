"""``python manage.py worker`` — run a background worker for the configured queue backend."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandParser

from layerviz.images import queue


class Command(BaseCommand):
    help = (
        "Run a worker that ingests the queued jobs, for whichever queue backend is configured "
        "(the database, or RQ on the Redis LAYERVIZ_REDIS_URL names). Stops on SIGTERM or "
        "Ctrl-C once its current job is done."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--name", help="this worker's id, unique among the workers")
        parser.add_argument("--batch", action="store_true", help="exit once no job is left to run")
        parser.add_argument(
            "--interval",
            type=float,
            default=1.0,
            help="seconds between looks at an empty queue (default 1; the database backend: "
            "an RQ worker waits on Redis, told at once)",
        )

    def handle(self, *args: object, **opts: object) -> None:
        interval = opts["interval"]
        assert isinstance(interval, float)
        queue.run_worker(
            name=str(opts["name"]) if opts["name"] else None,
            batch=bool(opts["batch"]),
            interval=interval,
            verbosity=int(str(opts["verbosity"])),
        )
