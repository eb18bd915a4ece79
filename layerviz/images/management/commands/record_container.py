"""``python manage.py record_container ID_OR_NAME`` — keep a live container's writable layer, so
the container pages can show it on a machine without a Docker engine."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from layerviz.images import containers
from layerviz.lib.errors import SourceError


class Command(BaseCommand):
    help = (
        "Record a container of the Docker engine (DOCKER_HOST): what docker diff lists, with "
        "sizes. Its image must be indexed (manage.py ingest docker-daemon:IMAGE)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("container", help="the container's name or ID")
        parser.add_argument("--name", default="", help="record it under this name")

    def handle(self, *args: object, **opts: object) -> None:
        try:
            recorded = containers.record_live(str(opts["container"]), name=str(opts["name"]))
        except (SourceError, containers.ImageNotIndexed) as exc:
            raise CommandError(str(exc)) from None
        counts = containers.recorded_view(recorded).layer.counts
        self.stdout.write(
            f"recorded {recorded.name} on {recorded.image.name}: {counts['A']} added, "
            f"{counts['C']} changed, {counts['D']} deleted"
        )
