"""``python manage.py images [--json]`` — what is indexed, like ``docker images`` with layers."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandParser

from layerviz.images import faults
from layerviz.images.models import Image
from layerviz.images.report import image_summary
from layerviz.lib.terminal import escaped
from layerviz.lib.units import compact_bytes


class Command(BaseCommand):
    help = "List the indexed images and their layers."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="print a JSON array")

    def handle(self, *args: object, **opts: object) -> None:
        with faults.as_command_error():
            self._list(bool(opts["json"]))

    def _list(self, as_json: bool) -> None:
        images = Image.objects.newest()
        if as_json:
            self.stdout.write(json.dumps([image_summary(i) for i in images], indent=2))
            return
        rows = [("REFERENCE", "IMAGE ID", "PLATFORM", "LAYERS", "SIZE")]
        for image in images:
            names = image.names or ["<none>"]
            for name in names:
                rows.append(
                    (
                        escaped(name),
                        image.short_id,
                        escaped(image.platform),
                        str(image.layer_count),
                        compact_bytes(image.size),
                    )
                )
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        for row in rows:
            self.stdout.write(
                "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
            )
