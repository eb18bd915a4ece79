"""Registry downloads have deadlines: a registry that trickles a blob, a manifest or a token
is cut off with an error that says how slow it was, and nothing of the image is shown.

The registry is ``TrickleRegistry`` (``tests/registries.py``): a real HTTP server on 127.0.0.1
serving a generated image over the Distribution API, one of its documents a few bytes at a
time. The limits are small (``LIMITS``) so that a test takes seconds, not minutes.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Iterator

import pytest

from layerviz.images.ingest import ingest
from layerviz.images.models import Image, IngestJob, JobState, Layer
from layerviz.images.progress import Progress
from layerviz.images.requests import IngestRequest
from layerviz.images.tasks import enqueue
from layerviz.lib import synth
from layerviz.lib.errors import ConfigError, SourceError
from layerviz.lib.limits import Limits
from layerviz.sources import SourceOptions

from . import processes
from .registries import TrickleRegistry

# Two layers of incompressible data, so each blob's size is known to within a header or two.
BASE_LAYER = synth.layer([synth.file("etc/os-release", b"ID=layerviz\n")])
DATA_LAYER = synth.layer([synth.file("data/blob.bin", random.Random(8).randbytes(16_000))])
FLOOR = 1  # seconds
MIN_RATE = 4_000  # bytes a second
LIMITS = Limits(registry_min_rate=MIN_RATE, registry_deadline_floor=FLOOR)


def _built() -> synth.BuiltImage:
    return synth.Image([BASE_LAYER, DATA_LAYER], tags=["1.0"]).build()


@pytest.fixture
def registry() -> Iterator[TrickleRegistry]:
    server = TrickleRegistry(_built())
    yield server
    server.stop()


def _options(limits: Limits = LIMITS) -> SourceOptions:
    return SourceOptions(limits=limits)


def _timed_failure(registry: TrickleRegistry, options: SourceOptions) -> tuple[str, float]:
    start = time.monotonic()
    with pytest.raises(SourceError) as caught:
        ingest(registry.reference, options=options)
    return str(caught.value), time.monotonic() - start


def _too_slow(what: str, size: str, total: float) -> re.Pattern[str]:
    """The deadline's message for ``what``, with its numbers."""
    return re.compile(
        rf"{what} is arriving too slowly: (?P<received>[\d,]+) of {size} bytes came in "
        rf"(?P<seconds>[\d.]+) s; a registry must send {MIN_RATE:,} bytes/s or more after the "
        rf"first {FLOOR} s \(LAYERVIZ_REGISTRY_MIN_RATE, LAYERVIZ_REGISTRY_DEADLINE_FLOOR\), so "
        rf"all of it within {total:.1f} s"
    )


def _nothing_shown(data_diff_id: str) -> None:
    """No image, and no trace of the layer that was cut off; what is left is complete."""
    assert not Image.objects.exists()
    assert not Layer.objects.filter(diff_id=data_diff_id).exists()
    assert all(layer.is_ready for layer in Layer.objects.all())


@pytest.mark.django_db
def test_it_cuts_off_a_layer_trickling_below_the_minimum_rate_before_its_deadline(
    registry: TrickleRegistry,
):
    registry.trickle, registry.rate = "layer 2", 1_000
    blob = registry.built.layers[1]
    total = FLOOR + blob.size / MIN_RATE

    message, elapsed = _timed_failure(registry, _options())

    what = re.escape(f"blob {blob.digest[:19]}… of lv/slow from registry {registry.host}")
    found = _too_slow(what, f"{blob.size:,}", total).search(message)
    assert found, message
    assert message.startswith(f"layer 2/2 ({registry.built.diff_ids[1][:19]}…): blob")
    received = int(found["received"].replace(",", ""))
    # Cut off once it fell behind (a second, then 4,000 bytes/s): long before the whole blob.
    assert 0 < received < blob.size / 4
    assert FLOOR <= float(found["seconds"]) < total
    assert elapsed < total
    _nothing_shown(registry.built.diff_ids[1])


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ["manifest", "config", "token"])
def test_it_cuts_off_a_manifest_a_config_or_a_token_trickling_below_the_minimum_rate(
    kind: str, registry: TrickleRegistry
):
    registry.trickle, registry.rate, registry.piece = kind, 200, 20
    registry.token_auth = kind == "token"
    built = registry.built
    # A manifest asked for by tag and a token have no size to go by: the most that is read of
    # them sets their deadline (the JSON cap, the cap on a token's answer).
    what, size, total = {
        "manifest": (
            f"manifest lv/slow:1.0 from registry {registry.host}",
            f"at most {LIMITS.json_bytes:,}",
            FLOOR + LIMITS.json_bytes / MIN_RATE,
        ),
        "config": (
            f"blob {built.config.digest[:19]}… of lv/slow from registry {registry.host}",
            f"{built.config.size:,}",
            FLOOR + built.config.size / MIN_RATE,
        ),
        "token": (
            f"the token for lv/slow from http://{registry.host}/token",
            f"at most {64 * 1024:,}",
            FLOOR + 64 * 1024 / MIN_RATE,
        ),
    }[kind]

    message, elapsed = _timed_failure(registry, _options())

    assert _too_slow(re.escape(what), size, total).fullmatch(message), message
    # However much a document may be, falling behind the rate ends it within a few seconds.
    assert elapsed < FLOOR + 3
    assert not {"layer 1", "layer 2"} & set(registry.served)
    _nothing_shown(built.diff_ids[1])


@pytest.mark.django_db
def test_a_blob_the_registry_stops_sending_is_its_fault_not_a_corrupt_blob(
    registry: TrickleRegistry,
):
    registry.trickle, registry.rate, registry.piece = "layer 2", 10**6, 1_000
    registry.cut_at = 5_000
    blob = registry.built.layers[1]

    with pytest.raises(SourceError) as caught:
        ingest(registry.reference, options=_options())

    assert str(caught.value).startswith(
        f"layer 2/2 ({registry.built.diff_ids[1][:19]}…): blob {blob.digest[:19]}… of lv/slow "
        f"from registry {registry.host} stopped arriving: RemoteProtocolError"
    )
    _nothing_shown(registry.built.diff_ids[1])


@pytest.mark.django_db
def test_it_takes_a_blob_that_is_slow_but_keeps_up_the_minimum_rate(registry: TrickleRegistry):
    registry.trickle, registry.rate, registry.piece = "layer 2", 2 * MIN_RATE, 400
    blob = registry.built.layers[1]

    start = time.monotonic()
    [image] = ingest(registry.reference, options=_options())

    # Longer than the floor, as its size allows: the deadline grows with what is sent.
    assert time.monotonic() - start > FLOOR
    assert image.digest == registry.built.manifest.digest
    assert registry.served.count("layer 2") == 1
    assert blob.size > MIN_RATE * FLOOR


@pytest.mark.django_db
def test_a_minimum_rate_of_zero_sets_no_deadline(registry: TrickleRegistry):
    registry.trickle, registry.rate, registry.piece = "config", 1_000, 100

    [image] = ingest(
        registry.reference,
        options=_options(Limits(registry_min_rate=0, registry_deadline_floor=0)),
    )

    assert image.digest == registry.built.manifest.digest


class SlowIndexer(Progress):
    """Takes its time over the first bytes of the top layer, as a slow database would."""

    def __init__(self, pause: float) -> None:
        super().__init__()
        self.pause = pause
        self.paused = False

    def advance(self, n: int) -> None:
        super().advance(n)
        if self.layer == 2 and not self.paused:
            self.paused = True
            time.sleep(self.pause)


@pytest.mark.django_db
def test_the_time_the_indexer_takes_over_a_blob_is_not_the_registrys(registry: TrickleRegistry):
    # The top layer in pieces, well above the minimum rate, so that the indexer pauses between
    # two of them; the pause is longer than the whole layer's deadline.
    limits = Limits(registry_min_rate=40_000, registry_deadline_floor=FLOOR)
    registry.trickle, registry.rate, registry.piece = "layer 2", 100_000, 2_000
    deadline = FLOOR + registry.built.layers[1].size / limits.registry_min_rate
    progress = SlowIndexer(pause=deadline + 0.5)

    [image] = ingest(registry.reference, options=_options(limits), progress=progress)

    assert progress.paused
    assert image.layer_count == 2


@pytest.mark.django_db(transaction=True)
def test_a_background_job_reads_the_deadline_settings_and_fails_visibly(
    registry: TrickleRegistry,
):
    registry.trickle, registry.rate = "layer 2", 1_000
    blob = registry.built.layers[1]
    job = enqueue(IngestRequest(registry.reference))

    start = time.monotonic()
    processes.run_worker(
        LAYERVIZ_REGISTRY_MIN_RATE=str(MIN_RATE), LAYERVIZ_REGISTRY_DEADLINE_FLOOR=str(FLOOR)
    )

    job.refresh_from_db()
    assert job.state == JobState.FAILED
    assert f"blob {blob.digest[:19]}… of lv/slow from registry {registry.host} is arriving " in (
        job.error
    )
    assert "a registry must send 4,000 bytes/s or more after the first 1 s" in job.error
    assert not job.images.exists()
    assert IngestJob.objects.get().finished_at
    # The worker's own start-up aside, it gave up as soon as the layer fell behind.
    assert time.monotonic() - start < 30
    _nothing_shown(registry.built.diff_ids[1])


def test_the_deadline_settings_are_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("LAYERVIZ_REGISTRY_MIN_RATE", "1000")
    monkeypatch.setenv("LAYERVIZ_REGISTRY_DEADLINE_FLOOR", "5")

    limits = Limits.from_env()

    assert (limits.registry_min_rate, limits.registry_deadline_floor) == (1000, 5)
    assert Limits().registry_min_rate == 64 * 1024 and Limits().registry_deadline_floor == 60


def test_a_deadline_setting_set_wrong_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("LAYERVIZ_REGISTRY_MIN_RATE", "64k")

    with pytest.raises(ConfigError, match="LAYERVIZ_REGISTRY_MIN_RATE must be a whole number"):
        Limits.from_env()
