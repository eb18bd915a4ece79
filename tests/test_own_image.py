"""layerviz checks itself: its own image, built by ``dev.py image``, run, and fed to itself.

The test builds ``layerviz:latest`` as ``python3 dev.py image`` does (base made locally, the
engine's cache reused), runs a web container and a worker container from it on one data
volume, waits for ``/healthz``, then ingests the image into the running app as a user without
access to the engine's socket would: the add form, GET for the CSRF cookie and token, POST of
a ``docker save`` archive. It polls the job page until the job is done and reads the image's
efficiency from ``/api/images/DIGEST/efficiency``: the score must be at least 0.95 and there
must be no advice at all. The containers use the host's network (``--network host``): the
engines here run with ``--bridge=none``, so a published port would reach nothing.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from bs4 import BeautifulSoup

from tools.image import build

from . import components

ROOT = Path(__file__).resolve().parent.parent
MIN_SCORE = 0.95


def _docker(*args: str, check: bool = True) -> str:
    done = subprocess.run(["docker", *args], capture_output=True, text=True)
    if check and done.returncode:
        raise AssertionError(f"docker {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout.strip()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _logs(name: str) -> str:
    done = subprocess.run(["docker", "logs", "--tail", "40", name], capture_output=True, text=True)
    return f"--- docker logs {name} ---\n{done.stdout}{done.stderr}"


@pytest.fixture(scope="module")
def image() -> str:
    components.need("a Docker engine", components.docker_problem())
    components.need("debootstrap (to make the image's base)", build.problem())
    return build.image()


@pytest.fixture
def app(image: str, tmp_path: Path) -> Iterator[tuple[str, list[str]]]:
    """A web container and a worker container of ``image`` on a new volume: (URL, names)."""
    tag = uuid.uuid4().hex[:10]
    volume, web, worker = f"lv-own-{tag}", f"lv-own-web-{tag}", f"lv-own-worker-{tag}"
    port = _free_port()
    _docker("volume", "create", volume)
    common = ["run", "-d", "--network", "host", "-v", f"{volume}:/data"]
    try:
        _docker(
            *common,
            "--name",
            web,
            "-e",
            f"PORT={port}",
            "-e",
            f"SECRET_KEY={secrets.token_urlsafe(50)}",
            "-e",
            "ALLOWED_HOSTS=127.0.0.1",
            "-e",
            "LAYERVIZ_WEB_WORKERS=2",
            "-e",
            "LAYERVIZ_WEB_HOST=127.0.0.1",  # the host's network: loopback only
            image,
        )
        url = f"http://127.0.0.1:{port}"
        _wait_for(f"{url}/healthz", web)  # the web entrypoint has migrated the database
        _docker(*common, "--name", worker, image, "worker")
        yield url, [web, worker]
    finally:
        for name in (web, worker):
            _docker("rm", "-f", "-v", name, check=False)
        _docker("volume", "rm", "-f", volume, check=False)


def _wait_for(url: str, container: str, timeout: float = 120) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            response = httpx.get(url, timeout=5)
            if response.status_code == 200:
                return response
        except httpx.HTTPError:
            pass
        if _docker("inspect", "-f", "{{.State.Running}}", container) != "true":
            break
        time.sleep(1)
    raise AssertionError(f"{url} did not answer 200\n{_logs(container)}")


def _upload(client: httpx.Client, archive: Path) -> int:
    """The add form as a browser sends it: its page first (the CSRF cookie and token)."""
    page = BeautifulSoup(client.get("/").text, "html.parser")
    form = page.find("form", id="add-form")
    assert form is not None
    token = form.find("input", attrs={"name": "csrfmiddlewaretoken"})
    assert token is not None
    with archive.open("rb") as f:
        response = client.post(
            str(form["action"]),
            data={"kind": "upload", "csrfmiddlewaretoken": str(token["value"])},
            files={"archive": ("layerviz.tar", f, "application/x-tar")},
            headers={"Referer": f"{client.base_url}/"},
        )
    assert response.status_code == 302, response.text[:2000]
    found = re.fullmatch(r"/jobs/(\d+)", response.headers["Location"])
    assert found, response.headers["Location"]
    return int(found.group(1))


def _wait_for_job(client: httpx.Client, job: int, names: list[str], timeout: float = 600) -> str:
    """The job page until its job is done; the manifest digest of the image it made."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        page = BeautifulSoup(client.get(f"/jobs/{job}").text, "html.parser")
        box = page.find("div", id=f"job-{job}")
        assert box is not None
        state = set(box["class"]) & {"queued", "running", "done", "failed"}
        if state == {"failed"}:
            error = box.find(class_="detail")
            raise AssertionError(f"the ingest failed: {error and error.get_text()}")
        if state == {"done"}:
            link = box.find("a", class_="go")
            assert link is not None
            found = re.search(r"/images/(sha256:[0-9a-f]{64})/", str(link["href"]))
            assert found, link["href"]
            return found.group(1)
        time.sleep(2)
    raise AssertionError(f"job {job} not done in {timeout:.0f} s\n" + "".join(map(_logs, names)))


def test_layerviz_finds_nothing_to_advise_in_its_own_image(app, image, tmp_path):
    url, names = app
    archive = tmp_path / "layerviz.tar"
    _docker("save", "-o", str(archive), build.IMAGE)
    with httpx.Client(base_url=url, timeout=120) as client:
        health = client.get("/healthz").json()
        assert health["database"]["ok"] and health["queue"]["ok"], health
        job = _upload(client, archive)
        digest = _wait_for_job(client, job, names)
        stack = client.get(f"/api/images/{digest}").json()
        figures = client.get(f"/api/images/{digest}/efficiency").json()
    assert "layerviz:latest" in [r.split("/")[-1] for r in stack["references"]]
    report = json.dumps({"ours": figures["ours"]["score"], "dive": figures["dive"]["score"]})
    print(f"layerviz:latest: {stack['size']} bytes, efficiency {report}")
    assert figures["ours"]["score"] >= MIN_SCORE, report
    assert figures["dive"]["score"] >= MIN_SCORE, report
    assert figures["advice"] == [], json.dumps(figures["advice"], indent=1)[:4000]


def test_the_image_runs_any_manage_py_command(image):
    out = _docker("run", "--rm", "--network", "none", image, "help", "--commands")
    assert {"worker", "ingest", "jobs", "migrate"} <= set(out.split())
    user = _docker("run", "--rm", "--network", "none", "--entrypoint", "id", image, "-u")
    assert user != "0"


def test_the_web_server_refuses_to_start_without_a_secret_key(image):
    done = subprocess.run(
        ["docker", "run", "--rm", "--network", "none", image],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert "SECRET_KEY is not set" in done.stderr


def _compose() -> list[str] | None:
    for cmd in (["docker", "compose"], ["docker-compose"]):
        try:
            if subprocess.run([*cmd, "version"], capture_output=True).returncode == 0:
                return cmd
        except FileNotFoundError:
            continue
    return None


def test_compose_runs_web_workers_postgresql_and_redis_from_the_image():
    cmd = _compose()
    components.need("docker compose (Debian's docker-compose)", None if cmd else "not installed")
    assert cmd is not None
    env = {**os.environ, "SECRET_KEY": "a-key-for-the-check"}
    done = subprocess.run(
        [*cmd, "-f", str(ROOT / "compose.yaml"), "config"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    services = yaml.safe_load(done.stdout)["services"]
    assert {"web", "worker", "db", "redis"} <= set(services)
    assert services["db"]["image"].startswith("postgres:")
    assert services["redis"]["image"].startswith("redis:")
    for name in ("web", "worker"):
        assert services[name]["image"] == "layerviz:latest"
        assert services[name]["environment"]["LAYERVIZ_REDIS_URL"] == "redis://redis:6379/0"
        assert services[name]["environment"]["DATABASE_URL"].startswith("postgres://")
    assert services["worker"]["command"] in ("worker", ["worker"])
