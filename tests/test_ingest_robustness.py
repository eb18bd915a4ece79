"""Crashes and concurrency with real processes: a killed worker, two workers at once."""

from __future__ import annotations

import signal
import time

import pytest

from layerviz.images import claims, packed
from layerviz.images.ingest import ingest
from layerviz.images.models import BuildState, Chain, Image, Layer
from layerviz.images.progress import Progress
from layerviz.lib import synth
from layerviz.lib.tarwriter import file

from . import processes
from .helpers import write_archive

pytestmark = pytest.mark.django_db(transaction=True)


def _many_files(count: int, prefix: str = "usr/share/doc") -> bytes:
    return synth.layer(
        [file(f"{prefix}/pkg{i // 100}/file{i}.txt", b"%d\n" % i) for i in range(count)]
    )


def _wait_for(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_a_worker_killed_mid_layer_leaves_nothing_visible_and_a_rerun_completes_it(tmp_path):
    big = _many_files(60_000)
    archive = write_archive(tmp_path, "lv/big:1", [big, synth.layer([file("app/x", b"1")])])
    diff_id = synth.sha256(big)

    worker = processes.manage("ingest", f"docker-archive:{archive}")

    def half_written() -> bool:
        layer = Layer.objects.filter(diff_id=diff_id, state=BuildState.BUILDING).first()
        return layer is not None and packed.entry_count(layer.pk) >= 5000

    try:
        _wait_for(half_written)
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()

    assert Image.objects.count() == 0
    assert not Layer.objects.ready().filter(diff_id=diff_id).exists()
    partial = Layer.objects.get(diff_id=diff_id)
    assert 0 < packed.entry_count(partial.pk) < 60_000

    [image] = ingest(f"docker-archive:{archive}")

    layer = Layer.objects.get(diff_id=diff_id)
    assert layer.is_ready
    assert layer.entry_count == packed.entry_count(layer.pk)
    assert layer.entry_count == 60_000 + 600 + 3  # files, their 600 directories, usr/share/doc
    assert image.layer_count == 2


def test_two_workers_ingesting_images_that_share_a_layer_store_it_once(tmp_path):
    base = _many_files(40_000)
    first = write_archive(tmp_path, "lv/a:1", [base, synth.layer([file("a", b"a")])])
    second = write_archive(tmp_path, "lv/b:1", [base, synth.layer([file("b", b"b")])])

    workers = [processes.manage("ingest", f"docker-archive:{path}") for path in (first, second)]
    results = [w.communicate(timeout=300) for w in workers]

    assert [w.returncode for w in workers] == [0, 0], results
    assert Image.objects.count() == 2
    layer = Layer.objects.get(diff_id=synth.sha256(base))
    assert layer.is_ready
    assert packed.entry_count(layer.pk) == layer.entry_count
    assert Chain.objects.filter(layer=layer).count() == 1
    assert Layer.objects.count() == 3


class SlowReading(Progress):
    """Takes its time over every MiB read, as a slow disk or network would; once the lease has
    run out twice over since the read began, a rival worker on another machine tries to take
    the layer over."""

    def __init__(self, diff_id: str, lease: float) -> None:
        super().__init__()
        self.diff_id, self.lease = diff_id, lease
        self.started: float | None = None
        self.rival: claims.Outcome | None = None

    def advance(self, n: int) -> None:
        super().advance(n)
        if self.rival is not None:
            return
        self.started = self.started or time.monotonic()
        time.sleep(0.2)
        if time.monotonic() - self.started > 2 * self.lease:
            self.rival, _ = claims.claim(Layer, {"diff_id": self.diff_id}, "elsewhere:1:rival", {})


def test_a_layer_of_few_big_files_keeps_its_claim_while_it_is_being_read(tmp_path, settings):
    settings.LAYERVIZ_LEASE_SECONDS = 1
    # Four entries, written in one batch at the end: no sign of life while 12 MiB are read.
    big = synth.layer([file(f"data/part{i}", bytes(4 * 1024 * 1024)) for i in range(3)])
    archive = write_archive(tmp_path, "lv/big:1", [big])
    progress = SlowReading(synth.sha256(big), settings.LAYERVIZ_LEASE_SECONDS)

    [image] = ingest(f"docker-archive:{archive}", progress=progress)

    assert progress.rival is claims.Outcome.BUSY
    assert image.layers_in_order().get().layer.is_ready
