"""The history read back as a Dockerfile, and the build cache's what-if: checked on generated
images for the rules, and on two real engine builds for the prediction."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from django.urls import reverse

from layerviz.images import dockerfile
from layerviz.images.ingest import ingest
from layerviz.images.models import Image
from layerviz.lib import synth
from layerviz.lib.synth import Step
from layerviz.lib.tarwriter import file

from . import engine
from .helpers import ingest_image, soup

pytestmark = pytest.mark.django_db

ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-CN"}
BASE = synth.layer([file("bin/sh", b"x" * 3000, mode=0o755)])


@pytest.fixture
def base_and_app(tmp_path: Path) -> tuple[Image, Image]:
    """A base built FROM scratch, and an app on it with classic and BuildKit history lines."""
    base_steps = [
        Step("/bin/sh -c #(nop) ADD file:4a1c0e in / "),
        Step('/bin/sh -c #(nop)  CMD ["sh"]', empty_layer=True),
    ]
    base = ingest_image(tmp_path, "lv/base:1", [BASE], base_steps)
    app = ingest_image(
        tmp_path,
        "lv/app:1",
        [
            BASE,
            synth.layer([file("app/deps/lib.so", b"d" * 20_000)]),
            synth.layer([file("app/main.py", b"print(1)\n")]),
        ],
        [
            *base_steps,
            Step("/bin/sh -c #(nop)  ENV A=1", empty_layer=True),
            Step("RUN |1 PIP=1 /bin/sh -c pip install -r requirements.txt # buildkit"),
            Step("/bin/sh -c #(nop) COPY dir:9f2b3c in /app "),
            Step("EXPOSE map[8080/tcp:{}]", empty_layer=True),
        ],
    )
    return base, app


def test_the_dockerfile_names_the_base_in_the_store_and_unwraps_every_line(base_and_app):
    base, app = base_and_app
    built = dockerfile.reconstruct(app)
    assert built.base == base
    assert built.text() == (
        "FROM lv/base:1\n"
        "ENV A=1\n"
        "RUN pip install -r requirements.txt\n"
        "COPY dir:9f2b3c in /app\n"
        "EXPOSE 8080/tcp\n"
    )
    assert [line.number for line in built.own] == [None, 2, 3, None]


def test_an_image_whose_first_step_adds_files_to_nothing_is_from_scratch(base_and_app):
    base, _ = base_and_app
    built = dockerfile.reconstruct(base)
    assert built.base is None and built.scratch
    assert built.text() == 'FROM scratch\nADD file:4a1c0e in /\nCMD ["sh"]\n'


def test_a_base_not_in_the_store_is_said_to_be_missing_and_every_step_is_shown(tmp_path):
    image = ingest_image(
        tmp_path,
        "lv/alone:1",
        [BASE, synth.layer([file("a", b"1")])],
        [Step("RUN /bin/sh -c make base"), Step("RUN /bin/sh -c make app")],
    )
    text = dockerfile.reconstruct(image).text()
    assert text.startswith("# FROM: the base image is not in this store")
    assert text.endswith("RUN make base\nRUN make app\n")


def test_changing_a_step_rebuilds_it_and_every_step_after_it(base_and_app):
    _, app = base_and_app
    built = dockerfile.reconstruct(app)
    answer = dockerfile.what_if(built, 4)  # the RUN pip install
    assert [il.position + 1 for il in answer.reused] == [1]
    assert [il.position + 1 for il in answer.rebuilt] == [2, 3]
    layers = list(app.layers_in_order())
    assert answer.rebuild_bytes == layers[1].layer.size + layers[2].layer.size
    assert answer.push_bytes == layers[1].download + layers[2].download
    assert answer.push_estimated  # a docker save archive holds no compressed blobs
    assert [line.cache for line in built.lines] == ["reused"] * 3 + ["rebuilt"] * 3


def test_a_metadata_step_changed_rebuilds_the_layers_after_it_too(base_and_app):
    _, app = base_and_app
    answer = dockerfile.what_if(dockerfile.reconstruct(app), 3)  # ENV A=1
    assert [il.position + 1 for il in answer.rebuilt] == [2, 3]


def test_the_cache_api_takes_a_layer_number_and_gives_what_is_reused_and_rebuilt(
    client, base_and_app
):
    _, app = base_and_app
    answer = client.get("/api/images/lv/app:1/cache?change=3").json()
    assert answer["reused"] == [1, 2] and answer["rebuilt"] == [3]
    assert answer["instruction"] == "COPY dir:9f2b3c in /app"
    layer = list(app.layers_in_order())[2]
    assert answer["rebuild_bytes"] == layer.layer.size
    assert answer["push_bytes"] == layer.download and answer["push_estimated"] is True


@pytest.mark.parametrize("change", ["", "0", "4", "x"])
def test_the_cache_api_refuses_a_layer_the_image_does_not_have(client, base_and_app, change):
    response = client.get(f"/api/images/lv/app:1/cache?change={change}")
    assert response.status_code == 400
    assert "1 to 3" in response.json()["error"]


def test_the_dockerfile_api_is_plain_text_and_an_unknown_image_a_json_404(client, base_and_app):
    response = client.get("/api/images/lv/app:1/dockerfile")
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response.content.decode().startswith("FROM lv/base:1\nENV A=1\n")
    missing = client.get("/api/images/lv/nothing:1/dockerfile")
    assert missing.status_code == 404 and "lv/nothing:1" in missing.json()["error"]


def test_the_page_links_each_line_to_its_layer_and_marks_what_a_change_rebuilds(
    client, base_and_app
):
    _, app = base_and_app
    url = reverse("explorer:dockerfile", args=[app.digest])
    page = soup(client.get(url + "?change=5"))
    lines = page.select(".df-line:not(.df-from)")
    assert [line.select_one(".df-text").get_text() for line in lines] == [
        "ENV A=1",
        "RUN pip install -r requirements.txt",
        "COPY dir:9f2b3c in /app",
        "EXPOSE 8080/tcp",
    ]
    assert [line.select_one(".df-layer a") is not None for line in lines] == [
        False,
        True,
        True,
        False,
    ]
    assert lines[2].select_one(".df-layer a")["href"].endswith("?layer=2&mode=layer")
    assert [line["class"][1:] for line in lines] == [
        ["meta", "reused"],
        ["reused"],
        ["rebuilt", "changed"],
        ["meta", "rebuilt"],
    ]
    summary = page.select_one(".what-if").get_text(" ", strip=True)
    assert "If step 5 changed" in summary and "1 layer" in summary
    assert page.select_one(".df-from a").get_text() == "lv/base:1"


def test_the_page_speaks_chinese_and_without_a_change_marks_nothing(client, base_and_app):
    _, app = base_and_app
    page = soup(client.get(reverse("explorer:dockerfile", args=[app.digest]), **ZH))
    assert page.select_one("h1").get_text().startswith("Dockerfile")
    assert "从镜像历史" in page.select_one("h1 small").get_text()
    assert page.select(".what-if") == [] and page.select(".df-line.rebuilt") == []


def test_an_image_without_history_says_there_is_nothing_to_read_back(client, tmp_path):
    image = ingest_image(tmp_path, "lv/bare:1", [BASE], [])
    page = soup(client.get(reverse("explorer:dockerfile", args=[image.digest]) + "?change=1"))
    assert page.select_one(".empty") is not None


# --- two real builds: the prediction against what the engine's cache really did -------------


@pytest.mark.parametrize("order", ["bad", "good"])
def test_the_predicted_rebuild_is_what_a_real_rebuild_after_a_one_line_change_rebuilt(
    docker_engine, built_images, tmp_path, order
):
    context = tmp_path / "context"
    shutil.copytree(engine.DOCKERFILES / "cache-order", context)
    images = []
    for version in ("1", "2"):
        (context / "app.txt").write_text(f"hello from version {version}\n")
        tag = f"lv/cache-{order}:{version}"
        docker_engine.images.build(
            path=str(context),
            dockerfile=f"Dockerfile.{order}",
            tag=tag,
            network_mode="none",
            rm=True,
        )
        [image] = ingest(f"docker-daemon:{tag}")
        images.append(image)
    old, new = images

    step = dockerfile.first_changed_step(old, new)
    assert step is not None
    predicted = dockerfile.what_if(dockerfile.reconstruct(old), step)
    assert [il.position + 1 for il in predicted.rebuilt] == dockerfile.rebuilt_between(old, new)
    # The lesson: the bad order installs the dependencies again, the good order does not.
    install = old.history.get(created_by__contains="/dev/urandom")
    deps = old.layers_in_order().get(position=install.position)
    assert (deps in predicted.rebuilt) == (order == "bad")
    for tag in ("1", "2"):
        docker_engine.images.remove(f"lv/cache-{order}:{tag}", force=True)
