"""The union filesystem stepper in a real browser: arrow keys, the slider and autoplay step
through the layers in place, the URL following; it fits a phone and a desktop in both languages
and colour schemes, even with 30 layers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.urls import reverse
from playwright.sync_api import Browser, Page, expect

from layerviz.images.models import Image
from layerviz.lib import synth
from layerviz.lib.synth import Step
from layerviz.lib.tarwriter import file

from . import browser
from .helpers import ingest_image, union_image

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def lesson(tmp_path: Path) -> Image:
    return union_image(
        tmp_path,
        [
            file("etc/passwd", b"root\n"),
            file("etc/hosts", b"127.0.0.1 localhost\n"),
            file("usr/lib/python3/site-packages/a-rather-long-package-name/x.py", b"1"),
        ],
        "RUN /bin/sh -c rm -rf /app/cache && echo app >> /etc/passwd "
        "&& apt-get update && apt-get install -y --no-install-recommends ca-certificates",
    )


@pytest.fixture
def tall(tmp_path: Path) -> Image:
    """30 layers: the slabs must still fit a phone's screen."""
    layers = [synth.layer([file(f"srv/step-{n:02}.txt", b"x" * (n + 1))]) for n in range(30)]
    return ingest_image(
        tmp_path, "lv/tall:1", layers, [Step(f"RUN make step-{n:02}") for n in range(30)]
    )


def _url(image: Image, query: str = "") -> str:
    return reverse("explorer:steps", args=[image.digest]) + query


def _title(page: Page):
    return page.locator("#step-title")


def test_the_arrow_keys_step_through_the_layers_in_place_and_the_url_follows(page: Page, lesson):
    page.goto(_url(lesson, "?layer=0&path=etc/passwd"))
    browser.mark_document(page)
    expect(_title(page)).to_have_text("Layer #1 of 4")

    page.keyboard.press("ArrowRight")
    expect(_title(page)).to_have_text("Layer #2 of 4")
    browser.settled(page)
    page.keyboard.press("ArrowRight")
    expect(_title(page)).to_have_text("Layer #3 of 4")
    expect(page).to_have_url(re.compile(r"layer=2&path=etc"))
    expect(page.locator(".lookup-answer")).to_contain_text("answered by layer #3")
    browser.settled(page)
    page.keyboard.press("ArrowLeft")
    expect(_title(page)).to_have_text("Layer #2 of 4")
    expect(page.locator(".slab.current .slab-no")).to_have_text("#2")
    assert browser.same_document(page)

    # Back goes to the step before, as a person expects of a link.
    browser.settled(page)
    page.go_back()
    expect(_title(page)).to_have_text("Layer #3 of 4")


def test_the_slider_steps_to_the_layer_it_is_moved_to(page: Page, lesson):
    page.goto(_url(lesson))
    browser.mark_document(page)

    page.locator("#step-slider").fill("3")
    expect(_title(page)).to_have_text("Layer #4 of 4")
    expect(page.locator(".step-facts .opaque-dir > code")).to_have_text("/etc/")
    expect(page).to_have_url(re.compile(r"layer=3"))

    # The keyboard moves a focused slider one layer at a time.
    browser.settled(page)
    page.locator("#step-slider").focus()
    page.keyboard.press("ArrowLeft")
    expect(_title(page)).to_have_text("Layer #3 of 4")
    expect(page.locator("#step-slider")).to_be_focused()
    assert browser.same_document(page)


def test_play_advances_a_layer_each_interval_and_pause_stops_it(page: Page, lesson):
    page.goto(_url(lesson))
    play = page.locator("#step-play")
    expect(play).to_be_visible()
    expect(page.locator("#step-form button[type=submit]")).to_be_hidden()

    play.click()
    expect(play).to_have_attribute("aria-pressed", "true")
    expect(_title(page)).to_have_text("Layer #2 of 4")
    expect(_title(page)).to_have_text("Layer #3 of 4")
    page.locator("#step-play").click()
    expect(page.locator("#step-play")).to_have_attribute("aria-pressed", "false")
    page.wait_for_timeout(1500)
    expect(_title(page)).to_have_text("Layer #3 of 4")


def test_the_tree_keeps_its_own_arrow_keys(page: Page, lesson):
    page.goto(_url(lesson, "?layer=1"))
    name = page.locator(".step-tree li[data-path='etc'] > .node .name")
    name.focus()
    page.keyboard.press("ArrowRight")  # opens the folder, does not step
    expect(page.locator(".step-tree li[data-path='etc']")).to_have_attribute(
        "aria-expanded", "true"
    )
    expect(_title(page)).to_have_text("Layer #2 of 4")


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [390, 1440])
@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_the_stepper_fits_a_phone_and_a_desktop_in_both_languages_and_schemes(
    chromium_browser: Browser,
    live_server,
    lesson,
    tall,
    width: int,
    language: str,
    scheme: str,
    artifacts: Path,
):
    pages = {
        "lesson": _url(lesson, "?layer=2&path=app/cache/blob"),
        "opaque": _url(lesson, "?layer=3&path=etc/passwd"),
        "tall": _url(tall, "?layer=12"),
    }
    with browser.window(
        chromium_browser, live_server.url, width=width, language=language, scheme=scheme
    ) as (page, problems):
        wide = browser.too_wide(page, pages, artifacts, f"steps-{language}-{width}-{scheme}")
        # 30 slabs take less than half a phone's screen (the last page is the tall image).
        box = page.locator(".slabs").bounding_box()
        assert box is not None and box["height"] < 450, box
    assert not wide, wide
    assert problems.found == [], "\n".join(problems.found)
