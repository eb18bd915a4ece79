"""``manage.py reindex_search [--all]``: search rows for layers indexed before search existed
(or, with ``--all``, for every layer again)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from layerviz.search import index


class Command(BaseCommand):
    help = "Write the search index rows of layers that have none (--all: of every layer)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--all", action="store_true", help="rewrite every layer's rows")

    def handle(self, *args: Any, **options: Any) -> None:
        done = index.reindex(missing_only=not options["all"])
        self.stdout.write(f"search index: {done} layer(s) written")
