"""``python manage.py jobs [ID …] [--json]`` — the background ingest jobs, newest first."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandParser

from layerviz.images import faults, jobs
from layerviz.images.models import IngestJob
from layerviz.images.report import job_summary
from layerviz.lib.terminal import escaped
from layerviz.lib.units import compact_bytes


class Command(BaseCommand):
    help = "List the background ingest jobs with their state, progress and error."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("ids", nargs="*", type=int, help="only these jobs")
        parser.add_argument("--json", action="store_true", help="print a JSON array")
        parser.add_argument(
            "--limit", type=int, default=50, help="at most this many, newest first (default 50)"
        )

    def handle(self, *args: object, **opts: object) -> None:
        ids = opts["ids"]
        assert isinstance(ids, list)
        limit = opts["limit"]
        assert isinstance(limit, int)
        with faults.as_command_error():
            selected = IngestJob.objects.filter(pk__in=ids) if ids else IngestJob.objects.all()
            # A look at jobs, like the job page's: a dead worker's job is retried or failed
            # first, so that it is not listed as running for ever.
            jobs.recover(selected)
            listed = list(
                selected.order_by("-created_at", "-pk").prefetch_related("images")[:limit]
            )
            if opts["json"]:
                self.stdout.write(json.dumps([job_summary(job) for job in listed], indent=2))
                return
            self._table([job_summary(job) for job in listed])

    def _table(self, summaries: list[dict]) -> None:
        rows = [("ID", "STATE", "PROGRESS", "CREATED", "FINISHED", "SOURCE", "ERROR")]
        for job in summaries:
            rows.append(
                (
                    str(job["id"]),
                    job["state"],
                    _progress(job),
                    job["created_at"][:19],
                    (job["finished_at"] or "")[:19],
                    escaped(job["source"]),
                    escaped(" ".join(job["error"].split())),
                )
            )
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        for row in rows:
            self.stdout.write(
                "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
            )


def _progress(job: dict) -> str:
    if not job["phase"]:
        return "-"
    parts = [job["phase"]]
    if job["layers"]:
        parts.append(f"layer {job['layer']}/{job['layers']}")
    if job["bytes_total"]:
        parts.append(f"{compact_bytes(job['bytes_done'])}/{compact_bytes(job['bytes_total'])}")
    return " ".join(parts)
