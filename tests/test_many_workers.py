"""Workers on several machines sharing one database and one Redis (the RQ queue backend).

Three workers, each on a machine of its own (a network namespace: its own address, this host's
services reached only over the network, ``tests/netns.py``), take the jobs a person queues
through the web app: eight images that share base layers, uploaded through the add form. Every
job ends done, every layer is indexed once (one row each, and no layer's bytes read twice),
and the figures are those of a serial ingest of the same archives into an empty database.
Then a machine is lost mid-job (its worker killed with SIGKILL at a known point,
``lib/pausepoints.py``) and one of the workers left runs the job again to its end.

With its attempts spent, such a job fails instead, saying why, in RQ's records as in ours;
``/healthz`` pings Redis when it is the queue; an RQ worker beats as a database-backend one
does; and a job the queue lost (a Redis emptied) is queued again.

Redis is a private ``redis-server`` listening on this host's address on the machines'
network; the database is the test database, reached on that address too (directly when the
server listens there, as ``.ci/run`` sets PostgreSQL up, else through a relay). SQLite's file
is on the disk the machines share, as the uploads and the data directory are.
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
import redis
from django.core.management import call_command
from django.db import connection
from django.urls import reverse
from rq.job import Job, JobStatus
from rq.queue import Queue

from layerviz.images import efficiency
from layerviz.images.ingest import ingest
from layerviz.images.models import Image, ImageLayer, IngestJob, JobState, Layer, WorkerBeat
from layerviz.images.progress import Progress
from layerviz.images.requests import IngestRequest
from layerviz.images.tasks import enqueue
from layerviz.lib import synth
from layerviz.lib.tarwriter import file

from . import components, netns, processes
from .helpers import soup, write_archive
from .registries import free_port

pytestmark = pytest.mark.django_db(transaction=True)

PAUSE = "read:1"


def _redis_problem() -> str | None:
    if shutil.which("redis-server") is None:
        return "Debian's redis-server is not installed (apt install redis-server)"
    return None


@pytest.fixture
def machines() -> Iterator[netns.Machines]:
    components.need("network namespaces", netns.problem())
    made = netns.Machines(3)
    yield made
    made.close()


@contextlib.contextmanager
def _redis_server(host: str, folder: Path) -> Iterator[str]:
    """A private ``redis-server`` on ``host``, with a password (as a Redis that other machines
    reach must have: it refuses them otherwise); its URL."""
    components.need("Redis", _redis_problem())
    port, password = free_port(), secrets.token_hex(8)
    options = {"bind": host, "port": str(port), "requirepass": password, "save": ""}
    server = subprocess.Popen(
        ["redis-server", *(arg for name, value in options.items() for arg in (f"--{name}", value))],
        cwd=folder,
        stdout=subprocess.DEVNULL,
    )
    client = redis.Redis(host=host, port=port, password=password)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                assert server.poll() is None, "redis-server stopped"
                assert time.monotonic() < deadline, "redis-server never answered"
                time.sleep(0.1)
        yield f"redis://:{password}@{host}:{port}/0"
    finally:
        client.close()
        server.kill()
        server.wait()


@pytest.fixture
def redis_url(machines: netns.Machines, tmp_path: Path) -> Iterator[str]:
    """Redis on this host's address on the machines' network."""
    with _redis_server(netns.HOST, tmp_path) as url:
        yield url


@pytest.fixture
def database_url(machines: netns.Machines) -> Iterator[str]:
    """The test database as the machines reach it: at this host's address on their network."""
    url = processes.database_url()
    if connection.vendor == "sqlite":
        yield url  # a file on the disk they share
        return
    parts = urlsplit(url)
    port = parts.port or 5432
    relay = None
    if not _listens(netns.HOST, port):
        relay = netns.Relay((netns.HOST, 0), (parts.hostname or "127.0.0.1", port))
        port = relay.address[1]
    auth = parts.netloc.rpartition("@")[0]
    yield urlunsplit(parts._replace(netloc=f"{auth}@{netns.HOST}:{port}"))
    if relay is not None:
        relay.close()


def _listens(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=2).close()
    except OSError:
        return False
    return True


def _queue_on(settings, url: str) -> None:
    """This process (the web app under ``live_server`` too) queues on the Redis at ``url``."""
    settings.TASKS = {"default": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": ["default"]}}
    settings.RQ_QUEUES = {"default": {"URL": url, "DEFAULT_TIMEOUT": -1}}


@pytest.fixture
def rq_settings(settings, redis_url: str) -> str:
    _queue_on(settings, redis_url)
    return redis_url


@pytest.fixture
def local_rq(settings, tmp_path: Path) -> Iterator[str]:
    """This process, and the workers it starts on this machine, queue on a Redis on loopback."""
    with _redis_server("127.0.0.1", tmp_path) as url:
        _queue_on(settings, url)
        yield url


class Workers:
    """``manage.py worker`` on each machine, each holding at ``PAUSE`` until let go."""

    def __init__(self, machines: netns.Machines, folder: Path, env: dict[str, str]) -> None:
        self.machines = machines
        self.folders = []
        self.logs = []
        for i in range(len(machines.names)):
            pauses = folder / f"pauses-{i}"
            pauses.mkdir()
            self.folders.append(pauses)
            log = folder / f"worker-{i}.log"
            self.logs.append(log)
            with log.open("w") as err:  # the worker writes to its own copy
                machines.run(
                    i,
                    [sys.executable, "manage.py", "worker", "--name", f"machine-{i}"],
                    cwd=components.ROOT,
                    env=env | {"LAYERVIZ_TEST_PAUSE": f"{PAUSE}@{pauses}"},
                    stdout=subprocess.DEVNULL,
                    stderr=err,
                )

    def let_go(self) -> None:
        for pauses in self.folders:
            (pauses / f"{PAUSE}.go").touch()

    def hold(self) -> None:
        for pauses in self.folders:
            for mark in pauses.iterdir():
                mark.unlink()

    def paused(self) -> int | None:
        for i, pauses in enumerate(self.folders):
            if (pauses / f"{PAUSE}.reached").exists():
                return i
        return None

    def log(self, machine: int) -> str:
        return self.logs[machine].read_text()


@pytest.fixture
def workers(machines, database_url, rq_settings, tmp_path) -> Iterator[Workers]:
    env = processes.env(
        DATABASE_URL=database_url,
        LAYERVIZ_REDIS_URL=rq_settings,
        LAYERVIZ_WORKER_BEAT_SECONDS="1",
        LAYERVIZ_LOG_FORMAT="json",
    )
    started = Workers(machines, tmp_path, env)
    started.let_go()
    yield started
    # Before the database relay and Redis go: their connections end with them.
    for machine in range(len(machines.names)):
        machines.lose(machine)


def _images(folder: Path) -> list[Path]:
    """Eight archives on three bases, two of them sharing a second layer."""

    def files(prefix: str, count: int, size: int) -> bytes:
        return synth.layer(
            [
                file(f"{prefix}/f{i}.txt", (f"{prefix} {i} ".encode() * size)[:size])
                for i in range(count)
            ]
        )

    debian, alpine = files("usr/lib/debian", 3000, 300), files("lib/alpine", 1000, 200)
    python, node = files("usr/lib/python3", 2000, 400), files("usr/lib/node", 1500, 400)
    stacks = [
        [debian, python],
        [debian, python],
        [debian, python],
        [debian, node],
        [debian, node],
        [debian],
        [alpine],
        [alpine],
    ]
    return [
        write_archive(folder, f"lv/app{i}:1", [*base, files(f"app{i}", 50, 100)])
        for i, base in enumerate(stacks)
    ]


def _add(web: httpx.Client, archive: Path) -> int:
    """The add form, as a person fills it in: an upload; the job's number."""
    page = web.get(reverse("explorer:images"))
    token = web.cookies["csrftoken"]
    with archive.open("rb") as upload:
        answer = web.post(
            reverse("explorer:add"),
            data={"kind": "upload", "csrfmiddlewaretoken": token},
            files={"archive": (archive.name, upload, "application/x-tar")},
            headers={"Referer": str(page.url)},
        )
    assert answer.status_code == 302, answer.text
    return int(answer.headers["location"].rstrip("/").rsplit("/", 1)[-1])


def _wait(until, what: str, timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = until()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _all_ended(ids: list[int]) -> bool:
    return not IngestJob.objects.filter(
        pk__in=ids, state__in=[JobState.QUEUED, JobState.RUNNING]
    ).exists()


def _figures(digests: set[str]) -> dict[str, Any]:
    """What layerviz says of these images: each image's sizes and efficiency, and the layers."""
    images = {
        image.digest: {
            "names": sorted(image.names),
            "size": image.size,
            "layers": image.layer_count,
            "efficiency": image.analysis.dive,
        }
        for image in Image.objects.filter(digest__in=digests).select_related("analysis")
    }
    layers = sorted(
        ImageLayer.objects.filter(image__digest__in=digests)
        .values_list("layer__diff_id", "layer__size", "layer__tar_bytes", "layer__entry_count")
        .distinct()
    )
    return {"images": images, "layers": layers}


def test_three_machines_index_eight_images_once_each_and_survive_a_lost_machine(
    workers, rq_settings, live_server, tmp_path
):
    (tmp_path / "archives").mkdir()
    archives = _images(tmp_path / "archives")
    web = httpx.Client(base_url=live_server.url, timeout=60)

    ids = [_add(web, archive) for archive in archives]
    _wait(lambda: _all_ended(ids), "the eight jobs")

    jobs = list(IngestJob.objects.filter(pk__in=ids))
    assert [job.state for job in jobs] == [JobState.DONE] * 8, [job.error for job in jobs]
    # The three machines shared the work.
    ran = {job.owner.rsplit(":", 2)[1] for job in jobs}
    assert len(ran) >= 2, ran
    # Each layer indexed once: one row per layer, and no layer's bytes read by two jobs.
    digests = {image.digest for job in jobs for image in job.images.all()}
    assert len(digests) == 8
    distributed = _figures(digests)
    assert Layer.objects.count() == len(distributed["layers"]) == 4 + 8
    read = sum(job.bytes_done for job in jobs)

    health = web.get("/healthz").json()
    assert health["status"] == "ok", health
    assert rq_settings.split("@")[0].split(":")[-1] not in str(health)  # no password
    assert health["queue"]["backend"] == "rq" and health["queue"]["length"] == 0
    assert health["workers"]["alive"] == 3

    # A machine lost mid-job: the job is run again, to its end, on one of the two left.
    workers.hold()
    big = synth.layer([file(f"srv/data/f{i}", b"%d\n" % i) for i in range(20_000)])
    kept = write_archive(tmp_path / "archives", "lv/late:1", [synth.layer([file("a", b"1")]), big])
    late = _add(web, kept)
    _wait(lambda: workers.paused() is not None, "a worker to reach the pause point")
    lost = workers.paused()
    assert lost is not None
    first_task = IngestJob.objects.get(pk=late).task_id
    workers.machines.lose(lost)
    workers.let_go()
    _wait(lambda: _all_ended([late]), "the job of the lost machine")

    job = IngestJob.objects.get(pk=late)
    assert job.state == JobState.DONE, job.error
    assert job.attempts == 2 and job.task_id != first_task
    survivors = [i for i in range(3) if i != lost]
    assert any(f'"job": {late}' in workers.log(i) for i in survivors)
    # RQ's record of the first run says why it failed, as the database backend's does.
    dead = Job.fetch(first_task, connection=redis.Redis.from_url(rq_settings))
    assert dead.get_status() == JobStatus.FAILED
    assert "the worker running this ingest stopped" in (dead.latest_result().exc_string or "")

    # The same archives ingested one after another into an empty database: the same figures.
    call_command("flush", interactive=False, verbosity=0)
    serial_read = 0
    for archive in archives:
        progress = Progress()
        images = ingest(f"docker-archive:{archive}", progress=progress)
        efficiency.analyze_ingested(images)
        serial_read += progress.done
    assert _figures(digests) == distributed
    assert read == serial_read


def test_a_job_whose_rq_worker_was_killed_with_its_attempts_spent_fails_saying_why(
    local_rq, client, settings, tmp_path
):
    settings.LAYERVIZ_INGEST_ATTEMPTS = 1
    layers = [synth.layer([file("a", b"1")]), synth.layer([file("b", b"2")])]
    job = enqueue(IngestRequest(f"docker-archive:{write_archive(tmp_path, 'lv/two:1', layers)}"))
    pauses = tmp_path / "pauses"
    pauses.mkdir()
    worker = processes.manage(
        "worker",
        env=processes.env(LAYERVIZ_REDIS_URL=local_rq, LAYERVIZ_TEST_PAUSE=f"{PAUSE}@{pauses}"),
    )
    try:
        _wait(
            lambda: (pauses / f"{PAUSE}.reached").exists() or worker.poll() is not None,
            "the worker to reach the pause point",
        )
        assert worker.poll() is None, worker.communicate()
    finally:
        worker.kill()
        worker.communicate()

    page = soup(client.get(reverse("explorer:job", args=[job.pk])))

    error = page.select_one(f"#job-{job.pk} .error").text
    assert f"the worker running this ingest stopped (process {worker.pid} on host" in error
    assert "failed after 1 attempt" in error
    job.refresh_from_db()
    assert job.state == JobState.FAILED
    # RQ's record says so too, and no longer counts the job as running.
    queue = Queue("default", connection=redis.Redis.from_url(local_rq))
    dead = queue.fetch_job(job.task_id)
    assert dead is not None and dead.get_status() == JobStatus.FAILED
    assert f"process {worker.pid}" in (dead.latest_result().exc_string or "")
    assert job.task_id not in queue.started_job_registry.get_job_ids()
    assert job.task_id in queue.failed_job_registry.get_job_ids()


def test_healthz_pings_redis_when_it_is_the_queue_and_is_503_when_redis_does_not_answer(
    local_rq, client, settings
):
    queue = client.get("/healthz").json()["queue"]
    assert queue["backend"] == "rq" and queue["redis_ping_ms"] >= 0
    assert queue["length"] == 0 and queue["oldest_seconds"] is None

    enqueue(IngestRequest("docker-archive:/nowhere.tar"))
    answer = client.get("/healthz")

    assert answer.status_code == 503  # queued, and no worker to run it
    queue = answer.json()["queue"]
    assert queue["length"] == 1 and queue["oldest_seconds"] >= 0

    gone = f"redis://:secret@127.0.0.1:{free_port()}/0"
    settings.RQ_QUEUES = {"default": {"URL": gone, "DEFAULT_TIMEOUT": -1}}
    answer = client.get("/healthz")

    assert answer.status_code == 503
    assert "queue: ConnectionError" in answer.json()["problems"]
    assert "secret" not in answer.content.decode()


def test_a_job_queued_from_the_command_line_that_redis_lost_is_queued_again_and_runs(
    local_rq, client, tmp_path
):
    archive = write_archive(tmp_path, "lv/one:1", [synth.layer([file("a", b"1")])])
    queued = processes.manage(
        "ingest",
        "--queue",
        f"docker-archive:{archive}",
        env=processes.env(LAYERVIZ_REDIS_URL=local_rq),
    )
    out, err = queued.communicate(timeout=120)
    assert queued.returncode == 0, err
    job = IngestJob.objects.get(pk=int(out.split()[-1]))
    lost_task = job.task_id
    assert Queue("default", connection=redis.Redis.from_url(local_rq)).fetch_job(lost_task)
    redis.Redis.from_url(local_rq).flushall()  # a Redis restarted without its data

    soup(client.get(reverse("explorer:job", args=[job.pk])))

    job.refresh_from_db()
    assert job.state == JobState.QUEUED and job.task_id != lost_task
    assert "the queue no longer had this ingest" in job.error
    worker = processes.manage("worker", "--batch", env=processes.env(LAYERVIZ_REDIS_URL=local_rq))
    _out, err = worker.communicate(timeout=120)
    assert worker.returncode == 0, err
    job.refresh_from_db()
    assert job.state == JobState.DONE and job.error == ""


def test_an_rq_worker_beats_while_it_waits_and_removes_its_beat_when_stopped(local_rq, client):
    worker = processes.manage(
        "worker",
        "--name",
        "rq-idle",
        env=processes.env(LAYERVIZ_REDIS_URL=local_rq, LAYERVIZ_WORKER_BEAT_SECONDS="1"),
    )
    try:
        _wait(lambda: WorkerBeat.objects.filter(name="rq-idle").exists(), "the worker's beat")
        listed = client.get("/healthz").json()["workers"]
        assert listed["alive"] == 1
        assert listed["list"][0]["backend"] == "rq" and listed["list"][0]["pid"] == worker.pid
    finally:
        worker.send_signal(signal.SIGTERM)
        _out, err = worker.communicate(timeout=60)
    assert worker.returncode == 0, err
    assert not WorkerBeat.objects.filter(name="rq-idle").exists()
