"""``python manage.py blobs [--prune]`` — the kept layer blobs: how many, how many bytes of the
budget, how many layers have none; ``--prune`` removes files of the store nothing names."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandParser

from layerviz.images import contents, faults
from layerviz.lib.units import compact_bytes


class Command(BaseCommand):
    help = "Report on the kept layer blobs (file contents); --prune removes stray files."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--prune", action="store_true", help="remove stray files")

    def handle(self, *args: object, **opts: object) -> None:
        with faults.as_command_error():
            used = contents.usage()
            budget = compact_bytes(used.budget) if used.budget > 0 else "0 (keep none)"
            self.stdout.write(
                f"{used.kept} blobs kept, {compact_bytes(used.kept_bytes)} of a budget of "
                f"{budget}, in {contents.store().root}"
            )
            if used.unkept_layers:
                self.stdout.write(
                    f"{used.unkept_layers} indexed layers have no kept blob: ingest their images "
                    "again to keep them"
                )
            if used.stray:
                if opts["prune"]:
                    contents.prune(used.stray)
                    self.stdout.write(f"removed {len(used.stray)} stray files")
                else:
                    self.stdout.write(f"{len(used.stray)} stray files: --prune removes them")
            elif opts["prune"]:
                contents.prune([])
