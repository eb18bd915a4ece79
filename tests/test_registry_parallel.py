"""``docker://REF`` layers downloaded side by side, a broken blob resumed with ``Range``, and
references with a digest pinned to it.

The real registry (``tests/registries.py``: Debian's ``docker-registry``, no auth) sits behind a
real TCP relay (``TcpProxy``) that sees every request and breaks connections as a bad network
does: it cuts one blob's answer after so many bytes, drops ``Range`` headers as a proxy that
ignores them would, or holds each blob request back to show which ones overlap.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import random
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings

from layerviz.images import packed
from layerviz.images.ingest import ingest
from layerviz.images.models import Image
from layerviz.images.progress import Progress
from layerviz.lib import synth
from layerviz.lib.errors import SourceError
from layerviz.lib.limits import Limits
from layerviz.sources import SourceOptions

from .registries import Registry, TcpProxy

pytestmark = [pytest.mark.django_db, pytest.mark.registry]

LAYER_BYTES = 600_000


def _random_layer(seed: int) -> bytes:
    data = random.Random(seed).randbytes(LAYER_BYTES)  # incompressible: the blob is this big
    return synth.layer([synth.file(f"data/{seed}.bin", data)])


@dataclasses.dataclass
class Pushed:
    four: synth.BuiltImage  # four layers of random bytes, gzip
    first: synth.BuiltImage  # what lv/pin:1.0 named first
    second: synth.BuiltImage  # what it names now


def _push(registry: Registry, tmp: Path, name: str, image: synth.Image, tag: str) -> None:
    archive = synth.write_oci_layout(
        tmp / f"{name.replace('/', '-')}-{tag}.tar", [image], as_tar=True
    )
    registry.push(f"oci-archive:{archive}:{tag}", f"{name}:{tag}")


@pytest.fixture(scope="module")
def pushed(open_registry: Registry, tmp_path_factory: pytest.TempPathFactory) -> Pushed:
    tmp = tmp_path_factory.mktemp("parallel")
    four = synth.Image([_random_layer(n) for n in range(4)], tags=["1.0"], compression="gzip")
    _push(open_registry, tmp, "lv/par", four, "1.0")
    first = synth.Image([_random_layer(10)], tags=["1.0"], compression="gzip")
    second = synth.Image([_random_layer(11)], tags=["1.0"], compression="gzip")
    _push(open_registry, tmp, "lv/pin", first, "1.0")
    _push(open_registry, tmp, "lv/pin", second, "1.0")  # the tag moves to other content
    return Pushed(four=four.build(), first=first.build(), second=second.build())


@pytest.fixture
def proxy(open_registry: Registry) -> Iterator[TcpProxy]:
    relay = TcpProxy(open_registry.host)
    yield relay
    relay.stop()


def _options(parallel: int) -> SourceOptions:
    return SourceOptions(limits=Limits(registry_parallel=parallel))


def _downloads() -> set[str]:
    where = settings.DATA_DIR / "downloads"
    return {p.name for p in where.iterdir()} if where.exists() else set()


def _paths(image: Image) -> set[str]:
    return {
        path
        for il in image.layers_in_order()
        for batch in packed.entry_batches(il.layer_id)
        for path in batch.path
    }


# --- side by side -----------------------------------------------------------------------------


def test_layers_download_side_by_side_up_to_the_limit(pushed: Pushed, proxy: TcpProxy):
    proxy.blob_delay = 0.4  # every blob request waits: overlapping ones arrive together
    before = _downloads()

    [image] = ingest(f"docker://{proxy.host}/lv/par:1.0", options=_options(4))

    assert [il.layer.diff_id for il in image.layers_in_order()] == pushed.four.diff_ids
    layer_digests = {blob.digest for blob in pushed.four.layers}
    arrivals = sorted(
        r.at for r in proxy.blob_requests() if r.path.rpartition("/")[2] in layer_digests
    )
    assert len(arrivals) == 4
    # All four asked for within one delay of each other: none waited for another to finish.
    assert arrivals[-1] - arrivals[0] < proxy.blob_delay
    assert len({r.connection for r in proxy.blob_requests()}) >= 4
    # The temporary files are gone with the source.
    assert _downloads() == before


class _Recorded(Progress):
    """What an ingest reports, with the time of each report and each heartbeat."""

    def __init__(self) -> None:
        super().__init__()
        self.beats: list[float] = []
        self.shown: list[tuple[float, str, int, int]] = []

    def beat(self) -> None:
        self.beats.append(time.monotonic())

    def show(self) -> None:
        self.shown.append((time.monotonic(), self.phase_code, self.done, self.total))


def test_a_download_longer_than_a_lease_keeps_beating_and_shows_its_bytes_as_they_come(
    pushed: Pushed, proxy: TcpProxy, settings
):
    settings.LAYERVIZ_LEASE_SECONDS = 2  # a heartbeat every half second
    proxy.rate = 250_000  # bytes a second per connection: each layer takes over 2 s
    progress = _Recorded()

    [image] = ingest(f"docker://{proxy.host}/lv/par:1.0", options=_options(4), progress=progress)

    assert image.digest == pushed.four.manifest.digest
    downloading = [
        (at, done, total) for at, code, done, total in progress.shown if code == "downloading"
    ]
    assert downloading, "the job never said it was downloading"
    start, end = downloading[0][0], downloading[-1][0]
    assert end - start > settings.LAYERVIZ_LEASE_SECONDS  # it was a long download
    total = sum(blob.size for blob in pushed.four.layers)
    done = [d for _, d, _ in downloading]
    assert all(t == total for _, _, t in downloading)
    assert done == sorted(done) and any(0 < d < total for d in done) and done[-1] == total
    # No silence as long as a lease while it downloaded: its job and leases stayed alive.
    beats = [start, *(b for b in progress.beats if start <= b <= end), end]
    assert max(b - a for a, b in itertools.pairwise(beats)) < settings.LAYERVIZ_LEASE_SECONDS


def test_a_limit_of_one_downloads_the_layers_one_after_another(pushed: Pushed, proxy: TcpProxy):
    proxy.blob_delay = 0.3
    layer_digests = {blob.digest for blob in pushed.four.layers}

    [image] = ingest(f"docker://{proxy.host}/lv/par:1.0", options=_options(1))

    assert image.digest == pushed.four.manifest.digest
    arrivals = sorted(
        r.at for r in proxy.blob_requests() if r.path.rpartition("/")[2] in layer_digests
    )
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    assert len(arrivals) == 4 and min(gaps) >= proxy.blob_delay * 0.9


def test_a_layer_that_fails_while_others_download_is_named_and_nothing_is_left(
    pushed: Pushed, proxy: TcpProxy
):
    broken = pushed.four.layers[2]
    # Cut every time, so that resuming cannot save it.
    proxy.cut_blob, proxy.cut_after, proxy.cut_times = broken.digest, 1000, 100
    before = _downloads()

    with pytest.raises(SourceError) as caught:
        ingest(f"docker://{proxy.host}/lv/par:1.0", options=_options(4))

    message = str(caught.value)
    assert message.startswith(
        f"layer 3/4 ({pushed.four.diff_ids[2][:19]}…): blob {broken.digest[:19]}…"
    )
    assert "stopped arriving" in message and "(after 4 requests)" in message
    assert Image.objects.count() == 0
    assert _downloads() == before


def test_a_layer_that_fails_is_reported_without_waiting_for_the_others_to_finish(
    pushed: Pushed, proxy: TcpProxy
):
    broken = pushed.four.layers[0]
    proxy.cut_blob, proxy.cut_after, proxy.cut_times = broken.digest, 1000, 100
    proxy.rate = 40_000  # bytes a second per connection: the other layers take 15 s each
    started = time.monotonic()

    with pytest.raises(SourceError, match="stopped arriving"):
        ingest(f"docker://{proxy.host}/lv/par:1.0", options=_options(4))

    assert time.monotonic() - started < 6  # far less than the others would have taken
    assert Image.objects.count() == 0


def test_downloads_left_by_a_pull_that_died_are_removed_by_the_next_one(
    pushed: Pushed, open_registry: Registry
):
    where = settings.DATA_DIR / "downloads"
    stale, fresh = where / "pull-died", where / "pull-running"
    for directory in (stale, fresh):
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "sha256-ab").write_bytes(b"half a blob")
    day_ago = time.time() - 25 * 3600
    for path in (stale / "sha256-ab", stale):
        os.utime(path, (day_ago, day_ago))

    ingest(f"docker://{open_registry.host}/lv/par:1.0", options=_options(4))

    assert not stale.exists()
    assert (fresh / "sha256-ab").exists()
    shutil.rmtree(fresh)


# --- resuming ---------------------------------------------------------------------------------


@pytest.mark.parametrize("parallel", [4, 1], ids=["downloaded side by side", "streamed"])
def test_a_blob_cut_off_midway_resumes_with_a_range_request(
    pushed: Pushed, proxy: TcpProxy, parallel: int
):
    cut = pushed.four.layers[1]
    proxy.cut_blob, proxy.cut_after = cut.digest, 200_000

    [image] = ingest(f"docker://{proxy.host}/lv/par:1.0", options=_options(parallel))

    assert proxy.cuts == 1
    first, second = proxy.blob_requests(cut.digest)
    assert "range" not in first.headers
    start = int(second.headers["range"].removeprefix("bytes=").removesuffix("-"))
    # It asks for what it lacks: some bytes arrived (headers took part of the 200,000).
    assert 100_000 < start < 200_000
    assert proxy.status_of(second) == "HTTP/1.1 206 Partial Content"
    assert [il.layer.diff_id for il in image.layers_in_order()] == pushed.four.diff_ids
    assert "data/1.bin" in _paths(image)


def test_a_registry_that_ignores_range_sends_the_blob_again_from_the_start(
    pushed: Pushed, proxy: TcpProxy
):
    cut = pushed.four.layers[3]
    proxy.cut_blob, proxy.cut_after = cut.digest, 300_000
    proxy.strip_range = True

    [image] = ingest(f"docker://{proxy.host}/lv/par:1.0", options=_options(4))

    assert proxy.cuts == 1
    _first, second = proxy.blob_requests(cut.digest)
    assert "range" in second.headers  # asked; the relay dropped it, the registry sent all
    assert proxy.status_of(second) == "HTTP/1.1 200 OK"
    assert [il.layer.diff_id for il in image.layers_in_order()] == pushed.four.diff_ids
    assert image.layers_in_order()[3].layer.size > 0


# --- pinned by digest -------------------------------------------------------------------------


def test_a_digest_pins_the_image_though_its_tag_now_names_other_content(
    pushed: Pushed, open_registry: Registry, proxy: TcpProxy
):
    pinned = pushed.first.manifest.digest

    [by_tag] = ingest(f"docker://{open_registry.host}/lv/pin:1.0")
    [by_both] = ingest(f"docker://{proxy.host}/lv/pin:1.0@{pinned}")
    [by_digest] = ingest(f"docker://{open_registry.host}/lv/pin@{pinned}")

    assert by_tag.digest == pushed.second.manifest.digest
    assert by_both.digest == by_digest.digest == pinned
    assert [il.layer.diff_id for il in by_both.layers_in_order()] == pushed.first.diff_ids
    # As docker does: the digest is what is asked for, never the tag beside it.
    manifests = [r for r in proxy.requests if "/manifests/" in r.path]
    assert manifests and all(r.path == f"/v2/lv/pin/manifests/{pinned}" for r in manifests)
    # And the tag is not given to an image it may no longer name.
    assert f"{proxy.host}/lv/pin:1.0" not in {r.name for r in by_both.references.all()}
