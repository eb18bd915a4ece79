"""``python manage.py ingest SOURCE`` — index an image from any source, or ``--queue`` it for a
worker."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
import time
from collections.abc import Iterator
from typing import TextIO, cast

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import OperationalError

from layerviz.images import efficiency, faults, ingest_log, tasks
from layerviz.images.models import Image
from layerviz.images.progress import Progress, TerminalProgress
from layerviz.images.requests import IngestRequest
from layerviz.lib.errors import IngestError
from layerviz.lib.terminal import escaped
from layerviz.sources import PATH_TRANSPORTS, parse_spec


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
        parser.add_argument(
            "--queue",
            action="store_true",
            help="queue the ingest for a worker, as the web page does, and print the job's id",
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
        if opts["queue"]:
            try:
                request = _for_a_worker(request)
            except IngestError as exc:
                raise CommandError(escaped(str(exc).replace("\n", " "))) from None
            with faults.as_command_error():
                job = tasks.enqueue(request)
            self.stdout.write(str(job.pk))
            return
        with faults.as_command_error(), _logged(request, progress) as images:
            started = time.perf_counter()
            try:
                try:
                    images += request.run(progress)
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


def _for_a_worker(request: IngestRequest) -> IngestRequest:
    """``request`` as a worker should read it: a relative path made absolute (a worker has its
    own working directory; it must see the same file system, as on one machine or a shared
    directory)."""
    transport, target, want = parse_spec(request.source)
    if transport not in PATH_TRANSPORTS or os.path.isabs(target) or not os.path.exists(target):
        return request
    source = f"{transport}:{os.path.abspath(target)}" + (f":{want}" if want else "")
    return dataclasses.replace(request, source=source)


@contextlib.contextmanager
def _logged(request: IngestRequest, progress: Progress) -> Iterator[list[Image]]:
    """The ingest's line on the ``layerviz.ingest`` logger, as a worker writes it, when
    ``LAYERVIZ_LOG_FORMAT`` is set: a script or a CI job collecting logs sets it; a person at a
    shell reads what the command prints, which says the same, and an error stays one line."""
    images: list[Image] = []
    started = time.perf_counter()
    error = ""
    try:
        yield images
    except CommandError as exc:
        error = str(exc)
        raise
    except OperationalError as exc:
        error = faults.describe(exc)
        raise
    except Exception as exc:
        error = f"unexpected error: {type(exc).__name__}: {exc}"
        raise
    finally:
        if os.environ.get("LAYERVIZ_LOG_FORMAT"):
            ingest_log.command_ended(
                source=request.source,
                platform=request.platform,
                images=images,
                read=progress.done,
                seconds=time.perf_counter() - started,
                error=error,
            )
