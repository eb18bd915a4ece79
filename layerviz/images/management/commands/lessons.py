"""``python manage.py lessons`` — index the lesson images (``layerviz/lessons``), once.

``--build`` builds the same lessons with the Docker engine instead and indexes them as
``lesson-built/…``.
"""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from layerviz.lessons import build, load
from layerviz.lib.errors import SourceError
from layerviz.lib.terminal import escaped


class Command(BaseCommand):
    help = "Index the lesson images: generated offline, or built by the Docker engine."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--build",
            action="store_true",
            help="build them from their Dockerfiles with the Docker engine (as lesson-built/…)",
        )

    def handle(self, *args: object, **opts: object) -> None:
        try:
            if opts["build"]:
                images = build.build_and_ingest(settings.DATA_DIR / "lessons-built")
            else:
                images = load.load(settings.DATA_DIR / "lessons")
        except SourceError as exc:
            raise CommandError(str(exc)) from None
        for tag in images:
            self.stdout.write(f"lesson image {escaped(tag)}")
