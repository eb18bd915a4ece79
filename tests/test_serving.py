"""Serving for a team: a real gunicorn process from the environment, its refusal to start without
a SECRET_KEY, and ``/healthz`` on the database, the queue and the workers' own heartbeats (a
real worker process)."""

from __future__ import annotations

import datetime as dt
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from bs4 import BeautifulSoup
from django.test import Client
from django.utils import timezone

from layerviz.images.models import IngestJob, WorkerBeat
from layerviz.images.requests import IngestRequest
from layerviz.images.tasks import enqueue

from . import components, processes
from .registries import free_port

pytestmark = pytest.mark.django_db(transaction=True)

GUNICORN = [sys.executable, "-m", "gunicorn", "--config", "python:layerviz.gunicorn_conf"]


def _gunicorn(env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        GUNICORN, cwd=components.ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def _up(base: str, server: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert server.poll() is None, server.communicate()
        try:
            httpx.get(base + "/healthz", timeout=5)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError(f"gunicorn never answered on {base}")


class Servers:
    """gunicorn processes started as the README says (settings from the environment only)."""

    def __init__(self, data: Path) -> None:
        self.data = data
        self.started: list[subprocess.Popen] = []

    def start(self, **extra: str) -> str:
        """Start one and give its address once it answers."""
        port = free_port()
        env = processes.env(
            SECRET_KEY="a-key-for-this-test",
            PORT=str(port),
            LAYERVIZ_WEB_HOST="127.0.0.1",
            LAYERVIZ_WEB_WORKERS="1",
            LAYERVIZ_WEB_THREADS="2",
            LAYERVIZ_DATA_DIR=str(self.data),
            **extra,
        )
        env.pop("DEBUG", None)
        collected = subprocess.run(
            [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
            cwd=components.ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
        assert collected.returncode == 0, collected.stderr
        server = _gunicorn(env)
        self.started.append(server)
        base = f"http://127.0.0.1:{port}"
        _up(base, server)
        return base

    def stop(self) -> str:
        """Stop the last one as a service manager does (SIGTERM); its stderr."""
        server = self.started.pop()
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
        _out, err = server.communicate(timeout=30)
        return err.decode()


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[Servers]:
    started = Servers(tmp_path / "data")
    yield started
    while started.started:
        started.stop()


def test_gunicorn_serves_the_pages_and_the_hashed_static_files_on_port(servers):
    base = servers.start()

    page = httpx.get(base + "/")
    assert page.status_code == 200
    css = BeautifulSoup(page.text, "html.parser").select_one('link[rel="stylesheet"]')["href"]
    assert css.startswith("/static/css/app.") and css != "/static/css/app.css"  # hashed
    static = httpx.get(base + css, headers={"Accept-Encoding": "gzip"})
    assert static.status_code == 200
    assert "immutable" in static.headers["cache-control"]
    assert static.headers["content-encoding"] == "gzip"
    health = httpx.get(base + "/healthz")
    assert health.status_code == 200 and health.json()["database"]["ok"]


def test_gunicorn_logs_its_own_lines_and_each_request_as_json_lines(servers):
    base = servers.start(LAYERVIZ_WEB_ACCESS_LOG="true")
    httpx.get(base + "/healthz")

    lines = [json.loads(line) for line in servers.stop().splitlines()]

    assert {line["logger"] for line in lines} == {"gunicorn.error", "gunicorn.access"}
    assert any(line["message"].startswith("Listening at: ") for line in lines)
    # The last request is ours (the ones before asked whether it was up yet).
    access = [line for line in lines if line["logger"] == "gunicorn.access"][-1]
    assert '"GET /healthz HTTP/1.1" 200 ' in access["message"]


def test_healthz_answers_503_naming_a_database_it_cannot_reach_and_never_its_password(servers):
    base = servers.start(DATABASE_URL="postgres://layerviz:hunter2-secret@127.0.0.1:1/nowhere")

    health = httpx.get(base + "/healthz")

    assert health.status_code == 503
    report = health.json()
    assert report["status"] == "down"
    assert report["database"]["ok"] is False
    assert report["database"]["error"].startswith("database nowhere on 127.0.0.1")
    assert report["queue"]["ok"] is False and report["workers"]["ok"] is False
    assert "hunter2" not in health.text


def test_gunicorn_refuses_to_start_without_a_secret_key_in_one_line_naming_it(tmp_path):
    env = processes.env(PORT=str(free_port()), LAYERVIZ_DATA_DIR=str(tmp_path))
    env.pop("SECRET_KEY", None)
    env.pop("DEBUG", None)

    server = _gunicorn(env)
    _out, err = server.communicate(timeout=60)

    assert server.returncode != 0
    assert "Traceback" not in err.decode()
    lines = err.decode().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("layerviz: SECRET_KEY is not set.")


def _health(client: Client) -> tuple[int, dict]:
    response = client.get("/healthz")
    assert response["Content-Type"] == "application/json"
    assert "no-cache" in response["Cache-Control"]
    return response.status_code, json.loads(response.content)


def test_healthz_is_ok_with_no_worker_and_nothing_queued_but_warns(client: Client):
    status, report = _health(client)

    assert status == 200
    assert report["status"] == "ok" and report["problems"] == []
    assert report["database"]["ok"] and report["queue"]["ok"]
    assert report["queue"] | {"ok": True} == {
        "ok": True,
        "backend": "database",
        "queued": 0,
        "running": 0,
        "oldest_queued_seconds": None,
    }
    assert report["workers"]["alive"] == 0
    assert report["warnings"] == ["no worker is alive: a job queued now waits until one starts"]


def test_healthz_is_503_when_jobs_wait_and_no_worker_is_alive(client: Client, tmp_path):
    job = enqueue(IngestRequest(f"docker-archive:{tmp_path / 'a.tar'}"))
    IngestJob.objects.filter(pk=job.pk).update(created_at=timezone.now() - dt.timedelta(minutes=5))
    # A worker killed outright left its row; silent for longer than three beats, it is gone.
    WorkerBeat.objects.create(
        name="killed",
        backend="database",
        host="elsewhere/boot",
        pid=1,
        beat_at=timezone.now() - WorkerBeat.silent_after() - dt.timedelta(seconds=1),
    )

    status, report = _health(client)

    assert status == 503
    assert report["status"] == "down"
    assert report["queue"]["queued"] == 1
    assert 299 <= report["queue"]["oldest_queued_seconds"] < 330
    assert report["workers"]["alive"] == 0
    [silent] = report["workers"]["list"]
    assert silent["name"] == "killed" and silent["alive"] is False
    assert silent["host"] == "elsewhere"
    assert report["problems"] == [
        f"1 job(s) queued, the oldest for {report['queue']['oldest_queued_seconds']} s, "
        "and no worker alive to run them"
    ]


def _wait(client: Client, until, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        _status, report = _health(client)
        if until(report):
            return report
        assert time.monotonic() < deadline, report
        time.sleep(0.2)


def test_healthz_sees_an_idle_worker_by_its_heartbeat_until_it_stops(client: Client):
    worker = processes.manage(
        "worker", "--name", "idle-one", env=processes.env(LAYERVIZ_WORKER_BEAT_SECONDS="1")
    )
    try:
        report = _wait(client, lambda r: r["workers"]["alive"] == 1)
        [alive] = report["workers"]["list"]
        assert alive["name"] == "idle-one" and alive["pid"] == worker.pid
        assert alive["job"] is None
        first = WorkerBeat.objects.get().beat_at
        # Idle, it still beats: three beats later its row says so.
        _wait(client, lambda r: WorkerBeat.objects.get().beat_at > first + dt.timedelta(seconds=2))
        status, report = _health(client)
        assert status == 200, report
    finally:
        worker.send_signal(signal.SIGTERM)
        _out, err = worker.communicate(timeout=30)
    assert worker.returncode == 0, err
    # Stopped cleanly, it removed its row: not a dead worker, no worker.
    assert not WorkerBeat.objects.exists()


def test_a_worker_whose_beat_waits_behind_a_long_write_is_alive_while_its_job_beats(
    client: Client, tmp_path
):
    job = enqueue(IngestRequest(f"docker-archive:{tmp_path / 'a.tar'}"))
    silent = timezone.now() - WorkerBeat.silent_after() - dt.timedelta(seconds=5)
    WorkerBeat.objects.create(
        name="busy", backend="database", host="elsewhere/boot", pid=41, beat_at=silent
    )
    IngestJob.objects.filter(pk=job.pk).update(
        state="running", owner="elsewhere/boot:41:abc", heartbeat_at=timezone.now()
    )

    status, report = _health(client)

    assert status == 200, report
    [busy] = report["workers"]["list"]
    assert (busy["name"], busy["alive"], busy["job"]) == ("busy", True, job.pk)
    assert report["workers"]["alive"] == 1 and report["queue"]["running"] == 1
