"""Helpers several test modules share: a page parsed, the header htmx sends, and a generated
image written as a real ``docker save`` archive and ingested.

Fixtures shared between modules belong in ``conftest.py``; these are plain functions, imported
where they are used.
"""

from __future__ import annotations

from pathlib import Path

from bs4 import BeautifulSoup

from layerviz.images.ingest import ingest
from layerviz.images.models import Image
from layerviz.lib import synth
from layerviz.lib.tarwriter import directory, file, opaque, whiteout

# What htmx adds to every request it makes: the views answer with the fragment, not the page.
HTMX = {"HTTP_HX_REQUEST": "true"}


def soup(response) -> BeautifulSoup:
    """The HTML of a response that must have succeeded, parsed."""
    assert response.status_code == 200
    return BeautifulSoup(response.content.decode(), "html.parser")


def write_archive(
    folder: Path,
    tag: str,
    layers: list[bytes],
    history: list[synth.Step] | None = None,
    *,
    layout: str = "docker25",
    **config: object,
) -> Path:
    """A ``docker save`` archive of one image named ``tag``, in ``folder`` under a file name
    made from the tag. ``config`` goes to ``synth.Image`` (``env``, ``cmd``…); ``history``
    None gives one step per layer."""
    name = tag.replace("/", "_").replace(":", "_")
    image = synth.Image(layers=layers, history=history, tags=[tag], **config)
    return synth.write_docker_archive(folder / f"{name}.tar", [image], layout=layout)


def ingest_image(
    folder: Path,
    tag: str,
    layers: list[bytes],
    history: list[synth.Step] | None = None,
    **config: object,
) -> Image:
    """The indexed image of ``write_archive``'s archive (a Docker >= 25 layout)."""
    [image] = ingest(f"docker-archive:{write_archive(folder, tag, layers, history, **config)}")
    return image


def union_image(folder: Path, base: list, run: str) -> Image:
    """Four layers for the union filesystem: a base (``base``: its entries), an app with a
    cache, then ``run`` deleting the cache (a whiteout) and writing passwd again, then an
    opaque /etc refilled. The stepper's tests, as a page and in a browser, step through it."""
    return ingest_image(
        folder,
        "lv/lesson:1",
        [
            synth.layer(base),
            synth.layer([file("app/main.py", b"print(1)\n"), file("app/cache/blob", b"y" * 5000)]),
            synth.layer([whiteout("app/cache"), file("etc/passwd", b"root\napp\n")]),
            synth.layer([opaque("etc"), directory("etc"), file("etc/motd", b"hi\n")]),
        ],
        [
            synth.Step("ADD rootfs /"),
            synth.Step("COPY . /app"),
            synth.Step(run),
            synth.Step("COPY etc /etc"),
        ],
    )
