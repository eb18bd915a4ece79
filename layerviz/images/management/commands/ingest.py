"""``python manage.py ingest SOURCE`` — index an image from any source."""

from __future__ import annotations

import os
import sys
import time
from typing import TextIO, cast

from django.core.management.base import BaseCommand, CommandError, CommandParser

from layerviz.images import efficiency, faults
from layerviz.images.progress import TerminalProgress
from layerviz.images.requests import IngestRequest
from layerviz.lib.errors import IngestError
from layerviz.lib.terminal import escaped


class Command(BaseCommand):
    # The system checks import every URLconf and view (and with them plotly and the docker
    # SDK): a third of a second of start-up for nothing an ingest uses. The server and
    # ``manage.py check`` still run them.
    requires_system_checks: list[str] = []
    help = (
        "Index an image. SOURCE is docker-archive:PATH[:REF], oci-archive:PATH[:REF], "
        "oci:DIR[:REF], docker-daemon:REF or docker://REF."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("source")
        parser.add_argument(
            "--platform", help="os/arch[/variant] to pick from a multi-platform image"
        )
        parser.add_argument("--tag", help="also name the image this reference")
        parser.add_argument(
            "--pull", action="store_true", help="docker-daemon: pull the image first"
        )
        parser.add_argument(
            "--insecure", action="store_true", help="docker://: allow plain HTTP to any registry"
        )
        parser.add_argument("--username", default=os.environ.get("LAYERVIZ_REGISTRY_USERNAME"))
        parser.add_argument(
            "--password-stdin",
            action="store_true",
            help="read the registry password from the first line of standard input",
        )

    def handle(self, *args: object, **opts: object) -> None:
        password = os.environ.get("LAYERVIZ_REGISTRY_PASSWORD")
        if opts["password_stdin"]:
            # Like ``docker login --password-stdin``: piped in, never asked for on a terminal.
            password = sys.stdin.readline().removesuffix("\n").removesuffix("\r")
        # The stream under Django's wrapper: progress redraws its line with "\r", unwrapped.
        progress = TerminalProgress(cast(TextIO, self.stderr._out))
        request = IngestRequest(
            str(opts["source"]),
            platform=str(opts["platform"] or ""),
            tag=str(opts["tag"] or ""),
            pull=bool(opts["pull"]),
            insecure=bool(opts["insecure"]),
            username=str(opts["username"] or ""),
            password=password or "",
        )
        with faults.as_command_error():
            started = time.perf_counter()
            try:
                try:
                    images = request.run(progress)
                except IngestError as exc:
                    raise CommandError(escaped(str(exc).replace("\n", " "))) from None
                indexed = time.perf_counter()
                analysed = efficiency.analyze_ingested(images, progress)
                done = time.perf_counter()
            finally:
                progress.finish()
            for image in images:
                names = image.names or ["<untagged>"]
                self.stdout.write(f"{', '.join(map(escaped, names))} {image.digest}")
        # The two phases apart, on stderr beside the progress (stdout stays one line per
        # image): the time indexing takes is not hidden in, nor inflated by, the analysis.
        analysis = (
            f"analysed in {done - indexed:.2f} s"
            if analysed
            else "analysis failed (logged above), computed on first view"
        )
        self.stderr.write(f"indexed in {indexed - started:.2f} s; {analysis}")
