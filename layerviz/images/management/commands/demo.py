"""``python manage.py demo`` — index the demo images, once (nothing happens if any image exists)."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from layerviz import demo
from layerviz.images import efficiency
from layerviz.images.ingest import ingest
from layerviz.images.models import Image
from layerviz.lib.terminal import escaped


class Command(BaseCommand):
    help = "Index a few small generated images that show how layers work."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--force", action="store_true", help="index them even if images exist")

    def handle(self, *args: object, **opts: object) -> None:
        if Image.objects.exists() and not opts["force"]:
            return
        for path in demo.write_archives(settings.DATA_DIR / "demo"):
            images = ingest(f"docker-archive:{path}", label=f"demo:{path.name}")
            efficiency.analyze_ingested(images)
            for image in images:
                names = ", ".join(map(escaped, image.names))
                self.stdout.write(f"demo image {names}")
