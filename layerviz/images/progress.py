"""Progress of an ingest: phase, layer i of n, bytes done of total.

The indexer reports to a ``Progress``; subclasses show it on a terminal or record it on an
``IngestJob`` for the web page to poll. Updates are throttled so reporting never costs more
than the work it reports on.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_noop

from layerviz.lib.units import compact_bytes

from . import claims
from .models import IngestJob, JobState

# The phases an ingest goes through: stored as codes (with their parameters), and these words,
# the one place they are, printed by the command or translated on the page (``words``).
READING_CONFIG, DOWNLOADING, READING, CHANGES, SAVING, ANALYSING, DONE, WAITING = (
    "config",
    "downloading",
    "reading",
    "changes",
    "saving",
    "analysing",
    "done",
    "waiting",
)
PHASE_WORDS = {
    READING_CONFIG: gettext_noop("reading the image's manifest and config"),
    DOWNLOADING: gettext_noop("downloading %(count)s layers side by side"),
    READING: gettext_noop("reading"),
    CHANGES: gettext_noop("working out what each layer changed"),
    SAVING: gettext_noop("saving the image"),
    ANALYSING: gettext_noop("working out the image's efficiency"),
    DONE: gettext_noop("done"),
    WAITING: gettext_noop("waiting for another worker to finish %(layer_label)s"),
}


def words(code: str, args: dict | None = None, translate=lambda text: text) -> str:
    """A phase in words (``translate``: gettext, on a page); an unknown code as it is."""
    text = PHASE_WORDS.get(code)
    if text is None:
        return code
    return translate(text) % (args or {}) if args else translate(text)


class Progress:
    interval = 0.25

    def __init__(self) -> None:
        self.phase_code = ""
        self.phase_args: dict[str, str] = {}
        self.layer = 0
        self.layers = 0
        self.done = 0
        self.total = 0
        self._last = 0.0

    def phase(
        self,
        code: str,
        *,
        layer: int | None = None,
        layers: int | None = None,
        **args: str,
    ) -> None:
        """Enter a phase (a code of ``PHASE_WORDS``, with its words' parameters)."""
        self.phase_code = code
        self.phase_args = args
        if layer is not None:
            self.layer = layer
        if layers is not None:
            self.layers = layers
        self._emit(force=True)

    def set_total(self, total: int) -> None:
        self.total = total
        self._emit(force=True)

    def advance(self, n: int) -> None:
        self.done += n
        self._emit()

    def set_done(self, done: int) -> None:
        self.done = done
        self._emit()

    def _emit(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._last >= self.interval:
            self._last = now
            self.show()

    def show(self) -> None:
        """Display the current state (subclasses)."""

    def beat(self) -> None:
        """Called now and then while the work goes on: the work is alive (subclasses)."""

    def finish(self) -> None:
        self.show()


class TerminalProgress(Progress):
    """A one-line bar on a terminal; nothing at all when the output is not a terminal."""

    def __init__(self, stream: TextIO = sys.stderr) -> None:
        super().__init__()
        self.stream = stream
        self.enabled = stream.isatty()

    def show(self) -> None:
        if not self.enabled:
            return
        width = 30
        fraction = min(1.0, self.done / self.total) if self.total else 0.0
        bar = "#" * int(width * fraction) + "-" * (width - int(width * fraction))
        layer = f" layer {self.layer}/{self.layers}" if self.layers else ""
        size = f" {compact_bytes(self.done)}/{compact_bytes(self.total)}" if self.total else ""
        line = f"\r[{bar}] {words(self.phase_code, self.phase_args)}{layer}{size}"
        self.stream.write(line[:120].ljust(120))
        self.stream.flush()

    def finish(self) -> None:
        if self.enabled:
            self.stream.write("\r" + " " * 120 + "\r")
            self.stream.flush()


class JobProgress(Progress):
    """Records progress on an ``IngestJob`` row (the page polls it)."""

    interval = 0.5

    def __init__(self, job: IngestJob) -> None:
        super().__init__()
        self.job = job

    def show(self) -> None:
        IngestJob.objects.filter(pk=self.job.pk).update(
            heartbeat_at=timezone.now(),
            phase=self.phase_code,
            phase_args=self.phase_args,
            layer_index=self.layer,
            layer_count=self.layers,
            bytes_done=self.done,
            bytes_total=self.total,
        )

    def beat(self) -> None:
        # The job's heartbeat: how a job whose worker died is told apart (``jobs.py``).
        IngestJob.objects.filter(pk=self.job.pk).update(heartbeat_at=timezone.now())

    def start(self) -> bool:
        """Claim the job for this process, as one more attempt; False when it is not waiting
        for a worker (a job already recovered, and failed or queued again, by ``jobs.py``)."""
        now = timezone.now()
        self.job.owner = claims.new_owner()
        return bool(
            IngestJob.objects.filter(pk=self.job.pk, state=JobState.QUEUED).update(
                state=JobState.RUNNING,
                started_at=now,
                owner=self.job.owner,
                heartbeat_at=now,
                attempts=F("attempts") + 1,
            )
        )
