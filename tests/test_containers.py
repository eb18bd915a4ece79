"""A container's writable layer: real containers of the real engine against ``docker diff``, the
pages in both languages, and recorded containers on a machine without an engine."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from layerviz.adapters import docker_engine as adapter
from layerviz.images import containers
from layerviz.images.ingest import ingest
from layerviz.images.models import Image, RecordedContainer
from layerviz.lib import synth
from layerviz.lib.synth import Step
from layerviz.lib.tarwriter import file

from . import components
from .helpers import ingest_image, soup

pytestmark = pytest.mark.django_db

ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-CN"}
# What the container does to its image: creates a file, appends to one from a lower layer,
# chmods one, deletes one; then it exits, and its writable layer stays for docker diff.
CHANGES = (
    "echo new > /app/new.txt && echo more >> /app/data/notes.txt"
    " && chmod 600 /app/data/blob.bin && rm /app/data/gone.txt"
)
LABEL = "org.layerviz.test"


def docker_diff(container: str) -> list[tuple[str, str]]:
    """What the docker CLI prints, as (letter, path)."""
    cli = shutil.which("docker")
    components.need("the docker CLI", None if cli else "it is not installed")
    out = subprocess.run(
        [str(cli), "diff", container], check=True, capture_output=True, text=True
    ).stdout
    return sorted((line[0], line[2:]) for line in out.splitlines() if line)


@pytest.fixture
def run_container(docker_engine) -> Iterator:
    """Runs a container (no network) until its command exits; removes them all afterwards."""
    made = []

    def run(image: str, command: str):
        name = f"lv-test-{uuid.uuid4().hex[:10]}"
        container = docker_engine.containers.run(
            image, ["sh", "-c", command], name=name, network_mode="none", detach=True,
            labels={LABEL: "containers"},
        )  # fmt: skip
        made.append(container)
        assert container.wait(timeout=60)["StatusCode"] == 0
        container.reload()
        return container

    yield run
    for container in made:
        container.remove(force=True)


@pytest.fixture
def changed(built_images, run_container):
    """The indexed image and a container that changed it."""
    [image] = ingest(f"docker-daemon:{built_images['container']}")
    return image, run_container(built_images["container"], CHANGES)


def _api(client: Client, key: str, **query: str):
    return client.get(reverse("containers:api-container", args=[key]), query)


def test_the_api_lists_the_same_changes_as_docker_diff(client, changed):
    image, container = changed
    answer = _api(client, container.name).json()

    assert answer["image"] == image.digest
    paths = [c["path"] for c in answer["changes"]]
    assert paths == sorted(paths)  # the engine's order varies from call to call; ours does not
    assert sorted((c["kind"], c["path"]) for c in answer["changes"]) == docker_diff(container.id)
    assert docker_diff(container.id) == [
        ("A", "/app/new.txt"),
        ("C", "/app"),
        ("C", "/app/data"),
        ("C", "/app/data/blob.bin"),
        ("C", "/app/data/notes.txt"),
        ("D", "/app/data/gone.txt"),
    ]


def test_sizes_are_the_writable_layers_copies_and_from_layer_the_layer_of_the_original(
    client, changed
):
    image, container = changed
    by_path = {c["path"]: c for c in _api(client, container.id).json()["changes"]}

    assert by_path["/app/new.txt"]["size"] == len(b"new\n")
    assert by_path["/app/new.txt"]["from_layer"] is None
    # Appended to: the whole file was copied up, then written to.
    assert by_path["/app/data/notes.txt"]["size"] == len(b"one\ntwo\nmore\n")
    assert by_path["/app/data/notes.txt"]["from_layer"] == 3
    # A chmod copies the whole file up too.
    assert by_path["/app/data/blob.bin"]["size"] == 64 * 1024
    assert by_path["/app/data/blob.bin"]["from_layer"] == 2
    assert by_path["/app/data/gone.txt"] == {
        "path": "/app/data/gone.txt",
        "kind": "D",
        "size": None,
        "from_layer": 2,
    }
    assert image.layer_count == 3


def test_a_chmod_is_told_from_a_write_though_both_copy_the_whole_file_up(changed):
    _image, container = changed
    view = containers.live_view(container.name)
    did = {c.path: c.did for c in view.layer.changes if c.kind == "C"}

    assert did == {
        "/app": "dir",
        "/app/data": "dir",
        "/app/data/blob.bin": "metadata",
        "/app/data/notes.txt": "content",
    }
    assert view.layer.copied_bytes == 64 * 1024 + len(b"one\ntwo\nmore\n")
    assert view.layer.added_bytes == len(b"new\n")


def test_a_second_container_of_the_image_shares_its_layers_with_a_writable_layer_of_its_own(
    client, changed, run_container, built_images
):
    _image, container = changed
    other = run_container(built_images["container"], "true")
    view = containers.live_view(container.name)
    shared = containers.sharing(view)

    assert shared.live
    assert shared.same_image == 2
    assert shared.per_layer == [shared.per_layer[0], 2, 2]
    # The base layer is shared by every container of an image built on it.
    assert shared.per_layer[0] >= 2
    assert _api(client, other.name).json()["changes"] == []
    page = soup(client.get(reverse("containers:container", args=[container.name])))
    assert "2 containers run this image" in page.select_one(".sharing").get_text(" ", strip=True)


def test_nothing_is_written_to_the_container_by_reading_it(client, changed):
    _image, container = changed
    before = docker_diff(container.id)
    client.get(reverse("containers:container", args=[container.name]))
    _api(client, container.name)

    assert docker_diff(container.id) == before


def test_the_size_reads_stop_at_the_cap_and_say_so(client, changed, settings):
    _image, container = changed
    settings.LAYERVIZ_CONTAINER_SIZE_READS = 2
    view = containers.live_view(container.name)

    assert view.layer.sizes_capped
    assert sum(1 for c in view.layer.changes if c.size is not None) == 2
    page = soup(client.get(reverse("containers:container", args=[container.name])))
    assert page.select_one(".note-capped") is not None


@pytest.mark.parametrize("headers", [{}, ZH], ids=["en", "zh-hans"])
def test_the_list_shows_the_engines_containers_with_their_number_of_changes(
    client, changed, headers
):
    image, container = changed
    page = soup(client.get(reverse("containers:containers"), **headers))
    link = page.find("a", href=reverse("containers:container", args=[container.name]))
    row = link.find_parent("tr")
    cells = [td.get_text(" ", strip=True) for td in row.find_all("td")]

    assert cells[1] == "exited"
    assert cells[2] == image.name
    assert cells[3] == "6"
    assert page.select_one(".engine-problem") is None


@pytest.mark.parametrize("headers", [{}, ZH], ids=["en", "zh-hans"])
def test_the_container_page_draws_the_writable_layer_on_top_of_the_images_layers(
    client, changed, headers
):
    image, container = changed
    page = soup(client.get(reverse("containers:container", args=[container.name]), **headers))
    rows = page.select(".container-stack .layer-row")

    assert "writable" in rows[0]["class"]
    assert [r.select_one(".idx").get_text() for r in rows] == ["RW", "#3", "#2", "#1"]
    changes = {tr.select_one("code").get_text(): tr for tr in page.select("table.changes tbody tr")}
    assert set(changes) == {p for _, p in docker_diff(container.id)}
    notes = changes["/app/data/notes.txt"]
    assert notes.select_one(".badge.k-M").get_text(strip=True).startswith("C")
    link = notes.find("a")
    assert link["href"] == f"/images/{image.digest}/?layer=2&mode=layer&path=app/data"
    assert changes["/app/new.txt"].select_one(".badge.k-A") is not None
    assert changes["/app/data/gone.txt"].select_one(".badge.k-D") is not None
    heading = page.select_one("#changes-title").get_text(" ", strip=True)
    assert heading == ("可写层 docker diff" if headers else "The writable layer docker diff")


def test_a_container_of_an_image_not_indexed_offers_to_index_it(
    client, built_images, run_container
):
    container = run_container(built_images["container"], "echo hi > /hi.txt")
    page = soup(client.get(reverse("containers:container", args=[container.name])))
    form = page.select_one(".not-indexed form")

    assert form["action"] == reverse("explorer:add")
    assert form.find("input", attrs={"name": "kind"})["value"] == "engine"
    assert form.find("input", attrs={"name": "reference"})["value"] == container.image.id
    assert _api(client, container.name).json() == {
        "image": container.image.id,
        "changes": [{"path": "/hi.txt", "kind": "A", "size": 3, "from_layer": None}],
    }


def test_recording_a_live_container_keeps_what_the_api_showed(client, changed):
    _image, container = changed
    live = _api(client, container.name).json()
    call_command("record_container", container.name, "--name", "lesson-1")

    recorded = RecordedContainer.objects.get(name="lesson-1")
    assert recorded.container_id == container.id
    assert _api(client, "lesson-1").json() == live
    assert _api(client, container.id, recorded="1").json() == live


def test_an_unknown_container_is_a_json_404(client, docker_engine):
    answer = _api(client, "lv-no-such-container")

    assert answer.status_code == 404
    assert "lv-no-such-container" in answer.json()["error"]
    assert (
        client.get(reverse("containers:container", args=["lv-no-such-container"])).status_code
        == 404
    )


# --- without an engine ----------------------------------------------------------------------


@pytest.fixture
def no_engine(monkeypatch, tmp_path: Path) -> Iterator[str]:
    """DOCKER_HOST names a socket nothing listens on."""
    where = f"unix://{tmp_path / 'absent.sock'}"
    monkeypatch.setenv("DOCKER_HOST", where)
    adapter.connect.cache_clear()
    yield where
    adapter.connect.cache_clear()


@pytest.fixture
def lesson(tmp_path: Path) -> Image:
    """A lesson's image and a container recorded on it, as a lesson loader writes one."""
    image = ingest_image(
        tmp_path,
        "lesson/app:1.0",
        [
            synth.layer([file("etc/motd", b"hello\n"), file("app/big.bin", b"z" * 4096)]),
            synth.layer([file("app/config.ini", b"a=1\n")]),
        ],
        [Step("ADD rootfs /"), Step("COPY config.ini /app/")],
    )
    containers.record(
        name="lesson-web",
        image=image,
        changes=[
            {"path": "/app", "kind": "C"},
            {"path": "/app/config.ini", "kind": "C", "size": 8},
            {"path": "/app/big.bin", "kind": "C", "size": 4096},
            {"path": "/tmp/cache", "kind": "A", "size": 100},
            {"path": "/etc/motd", "kind": "D"},
        ],
    )
    return image


def test_a_recorded_container_is_served_without_an_engine(client, no_engine, lesson):
    answer = _api(client, "lesson-web")

    assert answer.status_code == 200
    assert answer.json() == {
        "image": lesson.digest,
        "changes": [
            {"path": "/app", "kind": "C", "size": None, "from_layer": 2},
            {"path": "/app/big.bin", "kind": "C", "size": 4096, "from_layer": 1},
            {"path": "/app/config.ini", "kind": "C", "size": 8, "from_layer": 2},
            {"path": "/etc/motd", "kind": "D", "size": None, "from_layer": 1},
            {"path": "/tmp/cache", "kind": "A", "size": 100, "from_layer": None},
        ],
    }


@pytest.mark.parametrize("headers", [{}, ZH], ids=["en", "zh-hans"])
def test_without_an_engine_the_list_names_docker_host_and_still_shows_recorded_ones(
    client, no_engine, lesson, headers
):
    page = soup(client.get(reverse("containers:containers"), **headers))

    assert no_engine in page.select_one(".engine-problem").get_text()
    assert "DOCKER_HOST" in page.get_text()
    assert page.find("h1").get_text() == ("容器" if headers else "Containers")
    link = page.find("a", href=reverse("containers:container", args=["lesson-web"]) + "?recorded=1")
    assert link is not None


@pytest.mark.parametrize("headers", [{}, ZH], ids=["en", "zh-hans"])
def test_a_recorded_containers_page_shows_its_stack_and_changes_without_an_engine(
    client, no_engine, lesson, headers
):
    page = soup(client.get(reverse("containers:container", args=["lesson-web"]), **headers))

    assert [
        r.select_one(".idx").get_text() for r in page.select(".container-stack .layer-row")
    ] == [
        "RW",
        "#2",
        "#1",
    ]
    assert len(page.select("table.changes tbody tr")) == 5
    assert page.select_one(".recorded-tag") is not None
    assert page.select_one(".sharing").get_text(" ", strip=True).startswith("1 ")


def test_without_an_engine_an_unrecorded_container_is_a_json_503(client, no_engine):
    answer = _api(client, "web-1")

    assert answer.status_code == 503
    assert no_engine in answer.json()["error"]
    page = client.get(reverse("containers:container", args=["web-1"]))
    assert page.status_code == 503
    assert "DOCKER_HOST" in page.content.decode()


def test_a_lesson_cannot_record_a_kind_docker_diff_has_no_letter_for(lesson):
    with pytest.raises(ValueError, match="kind must be one of A, C, D"):
        containers.record(name="bad", image=lesson, changes=[{"path": "/x", "kind": "M"}])


def test_containers_share_a_layer_when_their_images_stand_on_the_same_chain():
    shared = containers.count_sharing(
        "sha256:mine",
        ["c1", "c2"],
        [("sha256:mine", {"c1", "c2"}), ("sha256:mine", {"c1", "c2"}), ("sha256:sib", {"c1", "x"})],
        live=True,
    )

    assert (shared.same_image, shared.per_layer) == (2, [3, 2])
