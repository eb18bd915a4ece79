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
