"""The lessons in a browser, with the lesson images loaded: every lesson fits a phone and a
projector-sized window in both languages, in presentation mode too; answers open on a click;
the arrows go from lesson to lesson."""

from __future__ import annotations

from pathlib import Path
from pprint import pformat

import pytest
from django.urls import reverse
from playwright.sync_api import Browser, expect

from layerviz.learn import catalog
from layerviz.lessons import load

from . import browser

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def lessons(tmp_path: Path) -> None:
    load.load(tmp_path)


def _pages(present: bool) -> dict[str, str]:
    suffix = "?present=1" if present else "?present=0"
    pages = {"lessons": reverse("learn:index") + suffix}
    for lesson in catalog.LESSONS:
        pages[lesson.slug] = reverse("learn:lesson", args=[lesson.slug]) + suffix
    return pages


@pytest.mark.parametrize("present", [False, True], ids=["page", "presenting"])
@pytest.mark.parametrize("width", [390, 1440])
@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_every_lesson_fits_the_window_in_both_languages_and_in_presentation_mode(
    chromium_browser: Browser, live_server, lessons, width, language, present, artifacts: Path
):
    label = f"learn-{language}-{width}-{'present' if present else 'page'}"
    with browser.window(chromium_browser, live_server.url, width=width, language=language) as (
        page,
        problems,
    ):
        wide = browser.too_wide(page, _pages(present), artifacts, label)
        if present:
            expect(page.locator("header.top")).to_be_hidden()
            expect(page.locator(".present-exit")).to_be_visible()
    assert not wide, pformat(wide)
    assert problems.found == [], "\n".join(problems.found)


def test_an_answer_opens_on_a_click_and_the_arrows_go_from_lesson_to_lesson(
    chromium_browser: Browser, live_server, lessons
):
    with browser.window(chromium_browser, live_server.url, width=1440) as (page, problems):
        page.goto(reverse("learn:lesson", args=["sharing"]) + "?present=1")
        question = page.locator(".question").first
        expect(question.locator(".answer")).to_be_hidden()
        question.locator("summary").click()
        expect(question.locator(".answer")).to_contain_text("layers")
        page.keyboard.press("ArrowRight")
        after = catalog.LESSONS[[lesson.slug for lesson in catalog.LESSONS].index("sharing") + 1]
        expect(page).to_have_url(f"{live_server.url}/learn/{after.slug}/")
        expect(page.locator("html")).to_have_attribute("data-present", "")  # still presenting
        page.keyboard.press("ArrowLeft")
        expect(page).to_have_url(f"{live_server.url}/learn/sharing/")
        page.locator(".present-exit").click()
        expect(page.locator("header.top")).to_be_visible()
    assert problems.found == [], "\n".join(problems.found)
