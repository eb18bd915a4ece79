"""Layers read by worker processes (``lib/readers.py``): the same index as reading them in
process, errors named by layer, a worker that dies, and the image-wide cap on paths."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from layerviz.images import deletion, packed
from layerviz.images.ingest import ingest
from layerviz.images.models import Blob, Chain, DirChanges, EntryChunk, Image, Layer
from layerviz.lib import synth
from layerviz.lib.errors import IngestError, LimitExceeded
from layerviz.lib.limits import Limits
from layerviz.lib.tarwriter import directory, file, opaque, symlink, whiteout
from layerviz.sources import SourceOptions

from . import builder

pytestmark = pytest.mark.django_db(transaction=True)

LAYERS = [
    synth.layer([file(f"usr/lib/{i}.so", bytes([i]) * (1000 + i)) for i in range(200)]),
    synth.layer([whiteout("usr/lib/3.so"), file("usr/lib/4.so", b"changed"), symlink("l", "x")]),
    synth.layer([opaque("usr/lib"), file("usr/lib/new.so", b"n"), directory("etc", mode=0o700)]),
    synth.layer([file("app/main.py", b"print(1)\n" * 100)]),
]


def _counts() -> dict[str, int]:
    models = (Image, Layer, EntryChunk, Chain, DirChanges, Blob)
    return {m.__name__: m.objects.count() for m in models}


def _index(image: Image) -> list:
    """Everything the index holds for an image, as plain values."""
    out = []
    for link in image.layers_in_order():
        layer = Layer.objects.get(pk=link.layer_id)
        out.append(
            (
                layer.diff_id,
                layer.size,
                layer.tar_bytes,
                layer.entry_count,
                layer.flags,
                [e for e in packed.entry_records(layer.pk)],
                sorted(packed.chain_changes(link.chain_id).items()),
            )
        )
    return out


def test_layers_read_in_workers_give_the_index_reading_in_process_gives(tmp_path, settings):
    path = synth.write_docker_archive(tmp_path / "a.tar", [synth.Image(LAYERS, tags=["lv/p:1"])])
    settings.LAYERVIZ_PARALLEL_READ_BYTES = 10**12  # in this process
    [serial] = ingest(f"docker-archive:{path}")
    expected = _index(serial)
    deletion.delete_image(serial)
    assert _counts() == dict.fromkeys(_counts(), 0)

    settings.LAYERVIZ_PARALLEL_READ_BYTES = 0  # every layer in a worker
    seen: list[int] = []
    watching = threading.Event()

    def watch() -> None:
        while not watching.is_set():
            seen.append(len(_reader_pids()))
            time.sleep(0.005)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        [parallel] = ingest(f"docker-archive:{path}")
    finally:
        watching.set()
        watcher.join()
    assert max(seen) == 2  # two CPUs here: two workers read the four layers
    assert _index(parallel) == expected
    assert (parallel.size, parallel.layer_count) == (serial.size, serial.layer_count)


def test_a_layer_a_worker_finds_corrupt_is_named_and_nothing_is_kept(tmp_path, settings):
    settings.LAYERVIZ_PARALLEL_READ_BYTES = 0
    image = builder.lying_diff_ids(synth.Image(LAYERS, tags=["lv/bad:1"]), 2)
    path = synth.write_docker_archive(tmp_path / "bad.tar", [image])
    before = _counts()
    with pytest.raises(IngestError, match=r"^layer 3/4 \(sha256:[0-9a-f]{12}…\): layer content"):
        ingest(f"docker-archive:{path}")
    assert _counts() == before


def _reader_pids() -> list[int]:
    """Worker processes of this test process (``lib/readers.py``)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        parent = int(stat.rpartition(")")[2].split()[1])
        if parent == os.getpid() and b"layerviz.lib.readers" in cmdline:
            pids.append(int(entry.name))
    return pids


def test_a_worker_killed_mid_layer_fails_the_ingest_with_a_clear_message(tmp_path, settings):
    settings.LAYERVIZ_PARALLEL_READ_BYTES = 0
    big = [file(f"blob/{i}", os.urandom(1 << 20)) for i in range(300)]
    layers = [synth.layer(big), synth.layer(big[:150])]
    path = synth.write_docker_archive(tmp_path / "big.tar", [synth.Image(layers, tags=["lv/k:1"])])
    before = _counts()

    def kill_a_worker() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            pids = _reader_pids()
            if pids:
                time.sleep(0.05)  # let it start reading
                os.kill(pids[0], signal.SIGKILL)
                return
            time.sleep(0.01)

    killer = threading.Thread(target=kill_a_worker)
    killer.start()
    with pytest.raises(IngestError, match=r"a layer reader process stopped \(exit status -9\)"):
        ingest(f"docker-archive:{path}")
    killer.join()
    assert _counts() == before
    assert _reader_pids() == []  # the other worker was stopped too


def test_an_image_of_more_paths_than_the_cap_is_refused_and_nothing_is_written(tmp_path):
    path = synth.write_docker_archive(tmp_path / "a.tar", [synth.Image(LAYERS, tags=["lv/c:1"])])
    before = _counts()
    options = SourceOptions(limits=Limits(paths_per_image=100))
    with pytest.raises(LimitExceeded, match=r"more than 100 paths .*LAYERVIZ_MAX_PATHS_PER_IMAGE"):
        ingest(f"docker-archive:{path}", options=options)
    assert _counts() == before
