"""``python manage.py packages REF [--json]`` — the packages an image ships, with the layer
that installed each."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError, CommandParser

from layerviz.images import faults
from layerviz.images.lookup import ImageNotFound, find_image
from layerviz.lib.terminal import escaped
from layerviz.lib.units import compact_bytes
from layerviz.packages import scan
from layerviz.packages.views import filtered


class Command(BaseCommand):
    help = "List the packages of an indexed image and the layer that installed each."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("ref", help="a name, digest, image ID or unique prefix")
        parser.add_argument(
            "--json",
            action="store_true",
            help='a JSON array of {"ecosystem", "name", "version", "layer", "files", "bytes"}',
        )

    def handle(self, *args: object, **opts: object) -> None:
        with faults.as_command_error():
            try:
                image = find_image(str(opts["ref"]))
            except ImageNotFound as exc:
                raise CommandError(str(exc)) from None
            done = scan.scan(image)
            rows = list(filtered(image))
            if opts["json"]:
                keys = ("ecosystem", "name", "version", "files", "bytes")
                self.stdout.write(
                    json.dumps(
                        [{**{k: getattr(r, k) for k in keys}, "layer": r.layer + 1} for r in rows],
                        indent=2,
                    )
                )
            else:
                table = [("ECOSYSTEM", "NAME", "VERSION", "LAYER", "FILES", "SIZE")]
                table += [
                    (
                        r.ecosystem,
                        escaped(r.name),
                        escaped(r.version),
                        str(r.layer + 1),
                        str(r.files),
                        compact_bytes(r.size),
                    )
                    for r in rows
                ]
                widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
                for row in table:
                    self.stdout.write(
                        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
                    )
            for problem in done.problems:
                self.stderr.write(
                    f"not read: /{escaped(str(problem['path']))} (layer "
                    f"{int(str(problem['layer'])) + 1}): {escaped(str(problem['message']))}"
                )
