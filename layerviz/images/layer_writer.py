"""Writing layers under claims: what every way of reading a layer shares.

A layer is claimed (``claims.claim``: the row is created in state ``building`` by the worker
that will fill it), its entries written in packed chunks with a heartbeat as they go, and the
row published (``ready``) only once the layer is complete and verified. ``LayerWriter``
remembers what it created, so that a failed ingest can take it away again.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from django.conf import settings
from django.utils import timezone

from layerviz.lib import pausepoints
from layerviz.lib.errors import IngestError
from layerviz.lib.layer import EntryBatch, LayerScan
from layerviz.packages.models import CapturedFile
from layerviz.search import index as search_index

from . import bulk, claims, contents, packed
from . import progress as progress_text
from .claims import Outcome
from .models import Blob, BuildState, EntryChunk, Layer
from .progress import Progress

HEARTBEAT_SECONDS = 5


@contextlib.contextmanager
def copying(path: Path | None) -> Iterator[BinaryIO | None]:
    """The file a blob is copied into as it is read (``LayerWriter.copy_for``), if any."""
    if path is None:
        yield None
        return
    with open(path, "xb") as f:
        yield f


class LayerWriter:
    def __init__(self, owner: str, progress: Progress) -> None:
        self.owner = owner
        self.progress = progress
        self.created: list[int] = []  # layer pks this run created (or took over)
        self._chunks: dict[int, int] = {}  # layer pk -> chunks written so far
        self._last_beat = 0.0
        self._copies: list[Path] = []  # blob copies made but not yet committed
        # Several beats per lease, so a claim never lapses while we are making progress.
        self.beat_every = min(HEARTBEAT_SECONDS, settings.LAYERVIZ_LEASE_SECONDS / 4)

    def claim(self, diff_id: str) -> tuple[Outcome, Layer]:
        """Claim the layer ``diff_id``: ours to write (``MINE``, its entries cleared of
        whatever a dead owner left), ``READY``, or ``BUSY`` with another worker."""
        outcome, row = claims.claim(Layer, {"diff_id": diff_id}, self.owner, {})
        if outcome is Outcome.MINE:
            self.created.append(row.pk)
            self.clear(row)
        return outcome, row

    def staging(self) -> Layer:
        """A claimed row for a layer whose diff_id is known only once it is read to its end."""
        row = Layer.objects.create(
            diff_id=f"staging:{claims.new_owner()}",
            state=BuildState.BUILDING,
            owner=self.owner,
            heartbeat_at=timezone.now(),
        )
        self.created.append(row.pk)
        self._chunks[row.pk] = 0
        return row

    def clear(self, row: Layer) -> None:
        EntryChunk.objects.filter(layer=row).delete()
        CapturedFile.objects.filter(layer=row).delete()
        self._chunks[row.pk] = 0

    def copy_for(self, size: int) -> Path | None:
        """Where to copy a blob of ``size`` bytes as it is read, so that it is kept; None when
        it would pass the budget. ``publish`` keeps the copy, ``discard_copies`` removes it."""
        if not contents.room_for(size):
            return None
        path = contents.store().temp()
        self._copies.append(path)
        return path

    def discard_copies(self) -> None:
        for path in self._copies:
            contents.store().discard(path)
        self._copies.clear()

    def write(self, row: Layer, batch: EntryBatch) -> None:
        self.write_packed(row, batch.first_seq, len(batch), batch.pack())

    def write_packed(self, row: Layer, first_seq: int, count: int, blob: bytes) -> None:
        index = self._chunks.get(row.pk, 0)
        packed.save_chunk(row.pk, index, first_seq, count, blob)
        self._chunks[row.pk] = index + 1
        self.beat([row])

    def beat(self, rows: Iterable[Layer] = (), *, now: bool = False) -> None:
        """Prove we are alive on ``rows``, on our leases and on the job we run, if any (at most
        every ``beat_every`` seconds, unless ``now``)."""
        clock = time.monotonic()
        if now or clock - self._last_beat > self.beat_every:
            for row in rows:
                claims.heartbeat(row, self.owner)
            claims.beat_leases(self.owner)
            self.progress.beat()
            self._last_beat = clock

    def on_read(self, row: Layer) -> Callable[[int], None]:
        """What a scan calls as it reads bytes: progress, and a heartbeat (a layer of a few big
        files writes entries rarely)."""

        def read(n: int) -> None:
            self.progress.advance(n)
            self.beat([row])

        return read

    def keep(self, row: Layer, scan: LayerScan, copy: Path | None) -> None:
        """Record the layer's blob as read (``scan``), kept when ``copy`` holds its bytes."""
        blob, _ = Blob.objects.get_or_create(
            digest=scan.blob_digest,
            defaults={"layer": row, "size": scan.blob_size, "compression": scan.compression},
        )
        if copy is not None:
            if blob.layer_id == row.pk and copy.exists():
                contents.commit(copy, blob)
            else:
                contents.store().discard(copy)
            self._copies.remove(copy)

    def publish(self, row: Layer, scan: LayerScan, copy: Path | None = None) -> None:
        """Make the layer ready: its blob (kept when ``copy`` holds it), its package files,
        then its state."""
        self.keep(row, scan, copy)
        if scan.captured or scan.not_captured:
            bulk.insert(
                CapturedFile,
                ["layer", "path", "data"],
                [
                    *((row.pk, path, data) for path, data in scan.captured.items()),
                    *(
                        (row.pk, path, None)
                        for path in dict.fromkeys(scan.not_captured)
                        if path not in scan.captured
                    ),
                ],
            )
        search_index.add_layer(row.pk)
        claims.publish(
            row,
            self.owner,
            size=scan.size,
            tar_bytes=scan.tar_bytes,
            entry_count=scan.entries,
            flags=scan.flags,
            indexed_at=timezone.now(),
            gzip_estimate=scan.gzip_estimate,
        )

    def wait(self, pk: int, label: str, retry: Callable[[], None] | None) -> None:
        """Wait for another worker's layer; when that worker died, ``retry`` (or fail)."""
        self.progress.phase(progress_text.WAITING, layer_label=label)
        pausepoints.pause("wait")
        row = claims.wait_until_ready(
            Layer, pk, label=label, owner=self.owner, on_wait=lambda: self.beat()
        )
        if row is not None:
            return
        if retry is None:
            raise IngestError(
                "the worker indexing this layer stopped before finishing; run the ingest again",
                layer=label,
            )
        retry()
