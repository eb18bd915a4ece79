"""Pages and panels with nothing to show say what a person can do about it, in both languages."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import translation

from layerviz.images.models import Image
from layerviz.lib import synth
from layerviz.lib.tarwriter import file

from .helpers import ingest_image, soup

pytestmark = pytest.mark.django_db

ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-CN"}


@pytest.fixture(autouse=True)
def _english_again():
    """Requests activate the language they ask for; leave the thread as the next test expects."""
    yield
    translation.activate(settings.LANGUAGE_CODE)


@pytest.fixture
def image(tmp_path) -> Image:
    """A base, then a layer that changes no file (``RUN true``)."""
    return ingest_image(
        tmp_path, "lv/empty:1", [synth.layer([file("etc/os-release", b"v1\n")]), synth.layer([])]
    )


def _empty(client: Client, url: str, selector: str = ".empty", **headers) -> str:
    return soup(client.get(url, **headers)).select_one(selector).get_text(" ", strip=True)


def test_an_empty_image_list_says_to_use_the_form_or_load_the_demo(client: Client):
    english = _empty(client, reverse("explorer:images"), "#image-list .empty")
    chinese = _empty(client, reverse("explorer:images"), "#image-list .empty", **ZH)

    assert english.startswith("Nothing indexed yet. Add an image with the form:")
    assert english.endswith("run python manage.py demo on the server.")
    assert chinese.startswith("尚未索引任何镜像。请用表单添加")
    assert "python manage.py demo" in chinese


def test_a_search_of_the_list_that_finds_nothing_offers_every_image(client: Client, image):
    page = soup(client.get(reverse("explorer:images"), {"q": "nope"}))

    empty = page.select_one("#image-list .empty")
    assert empty.get_text(" ", strip=True).startswith("No image matches “nope”.")
    assert empty.a["href"] == reverse("explorer:images")


def test_an_empty_store_says_how_to_get_images_and_lists_no_layers(client: Client):
    page = soup(client.get(reverse("compare:store")))

    empty = page.select_one(".empty")
    assert "python manage.py demo" in empty.get_text()
    assert empty.a["href"] == reverse("explorer:images")
    assert page.select("#most-title, #single-title, #plan-title") == []
    assert "加载演示镜像" in _empty(client, reverse("compare:store"), **ZH)


def test_a_store_filter_that_selects_nothing_offers_every_image(client: Client, image):
    page = soup(client.get(reverse("compare:store"), {"q": "nope"}))

    empty = page.select_one(".empty")
    assert empty.get_text(" ", strip=True) == "No image matches these filters. Show every image ."
    assert empty.a["href"] == reverse("compare:store")


def test_a_layer_that_changes_no_file_says_so_and_links_to_the_filesystem_as_of_it(
    client: Client, image
):
    url = reverse("explorer:image", args=[image.digest])

    empty = soup(client.get(url, {"layer": 1})).select_one("#tree .empty")

    assert empty.get_text(" ", strip=True) == (
        "This layer changes no file. See the filesystem as of this layer ."
    )
    assert parse_qs(urlsplit(empty.a["href"]).query) == {"layer": ["1"], "mode": ["merged"]}
    assert _empty(client, f"{url}?layer=1", "#tree .empty", **ZH).startswith(
        "这一层没有更改任何文件。"
    )


def test_filters_that_hide_every_row_say_which_to_loosen(client: Client, image):
    url = reverse("explorer:image", args=[image.digest])

    by_kind = _empty(client, f"{url}?layer=0&kind=D&q=os", "#tree .empty")
    by_path = _empty(client, f"{url}?layer=0&mode=merged&q=nothing-here", "#tree .empty")
    in_layer = _empty(client, f"{url}?layer=0&q=nothing-here", "#tree .empty")

    assert by_kind.startswith(
        "Tick more change kinds above to see more. Or search for a shorter part of the path."
    )
    assert by_path == "Search for a shorter part of the path."
    assert in_layer == (
        "Search for a shorter part of the path. See the filesystem as of this layer ."
    )


def test_a_comparison_search_that_finds_nothing_says_what_to_try(client: Client, image, tmp_path):
    other = ingest_image(tmp_path, "lv/other:1", [synth.layer([file("etc/os-release", b"v2\n")])])
    url = reverse("compare:compare")

    found = _empty(client, f"{url}?a={image.digest}&b={other.digest}&q=zzz", "#diff-panel .empty")

    assert found == "Search for a shorter part of the path."
