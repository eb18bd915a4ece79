"""The search in a browser: the header's box, the page at a phone's and a desktop's width in
both languages and colour schemes, and a search swapped in place with its URL pushed."""

from __future__ import annotations

from pathlib import Path
from pprint import pformat

import pytest
from django.urls import reverse
from playwright.sync_api import Browser, Page, expect

from layerviz.lib import synth
from layerviz.lib.tarwriter import file, whiteout

from . import browser
from .helpers import ingest_image

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def images(tmp_path: Path) -> None:
    """Two images on one base; one deletes a long-named key a layer after copying it."""
    base = synth.layer([file("usr/lib/x86_64-linux-gnu/libssl.so.3", b"s" * 4000)])
    long_name = "a-rather-long-directory-name-that-does-not-break/" * 3
    ingest_image(
        tmp_path,
        "registry.example.com/a-long-team-name/an-even-longer-service-name:2026.12.01-rc1",
        [
            base,
            synth.layer([file(f"app/{long_name}key.pem", b"k" * 100)]),
            synth.layer([whiteout("app/a-rather-long-directory-name-that-does-not-break")]),
        ],
    )
    ingest_image(tmp_path, "lv/other:1.0", [base])


def _pages() -> dict[str, str]:
    search = reverse("search:search")
    return {
        "hits": f"{search}?q=key.pem",
        "shared": f"{search}?q=libssl.so.3",
        "refused": f"{search}?q=ab&kind=path",
        "empty": search,
        "images list, header box": "/",
    }


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [390, 1440])
@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_the_search_never_scrolls_sideways(
    chromium_browser: Browser, live_server, images, width, language, scheme, artifacts: Path
):
    with browser.window(
        chromium_browser, live_server.url, width=width, language=language, scheme=scheme
    ) as (page, problems):
        wide = browser.too_wide(page, _pages(), artifacts, f"search-{language}-{width}-{scheme}")
    assert not wide, pformat(wide)
    # The refused query is a 400, which the browser logs; nothing else may be logged.
    assert [text for text in problems.found if "status of 400" not in text] == []


def test_the_header_box_searches_every_image(page: Page, images):
    page.goto("/")
    page.fill("#top-search-q", "libssl.so.3")
    page.press("#top-search-q", "Enter")
    page.wait_for_url("**/search?q=libssl.so.3")
    expect(page.locator("table.search-hits tbody tr")).to_have_count(2)


def test_a_search_on_the_page_swaps_the_results_and_pushes_its_address(page: Page, images):
    page.goto(reverse("search:search") + "?q=libssl.so.3")
    browser.mark_document(page)
    page.fill("#search-q", "key.pem")
    page.press("#search-q", "Enter")
    expect(page.locator("table.search-hits tbody tr.ghost")).to_have_count(1)
    assert page.url.endswith("/search?q=key.pem&kind=")
    assert browser.same_document(page)
