"""The design every page shares, as a browser shows it: no page scrolls sideways on a phone or a
desktop, in either language or colour scheme; dark mode follows the system and a switch pins
either; text stays readable in both; focus is visible; ``?`` shows the keyboard help."""

from __future__ import annotations

from pathlib import Path
from pprint import pformat

import pytest
from django.urls import reverse
from playwright.sync_api import Browser, Page, expect

from layerviz.images.models import Image, IngestJob, JobState
from layerviz.lib import synth
from layerviz.lib.synth import Step
from layerviz.lib.tarwriter import file, opaque, whiteout

from . import browser
from .helpers import ingest_image

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Image, Image]:
    """Two images on one base, one with a long name, a deletion and an opaque directory: every
    page has something to show, at its widest."""
    base = synth.layer(
        [
            file("bin/sh", b"x" * 3000, mode=0o755),
            file("usr/bin/passwd", b"p" * 900, mode=0o4755),
            file("etc/passwd", b"root\n"),
            file("usr/lib/python3/site-packages/a-rather-long-package-name/__init__.py", b"1"),
        ]
    )
    first = ingest_image(
        tmp_path,
        "registry.example.com/a-long-team-name/an-even-longer-service-name:2026.12.01-rc1",
        [
            base,
            synth.layer(
                [
                    file("app/main.py", b"print(1)\n"),
                    file("app/cache/blob", b"y" * 5000),
                    # A pip cache: the efficiency advice lists its long, unbroken path.
                    file(
                        f"root/.cache/pip/http-v2/b/8/7/a/a/{'5270772708aeaed2' * 4}", b"z" * 4000
                    ),
                ]
            ),
            synth.layer([whiteout("app/cache"), opaque("etc"), file("etc/passwd", b"app\n")]),
        ],
        [
            Step("ADD rootfs /"),
            Step("ENV A=1", empty_layer=True),
            Step("COPY . /app"),
            Step(
                "RUN /bin/sh -c rm -rf /app/cache && echo app > /etc/passwd "
                "&& apt-get update && apt-get install -y --no-install-recommends ca-certificates"
            ),
        ],
    )
    second = ingest_image(
        tmp_path, "lv/other:1.0", [base, synth.layer([file("srv/data.csv", b"a,b\n" * 500)])]
    )
    return first, second


def _pages(first: Image, second: Image) -> dict[str, str]:
    image = reverse("explorer:image", args=[first.digest])
    job = IngestJob.objects.create(
        source="docker://127.0.0.1:5000/team/app:1.0", state=JobState.FAILED, error="refused"
    )
    return {
        "images list": "/",
        "image": image,
        "a layer's changes": f"{image}?layer=2&mode=layer&path=app",
        "filesystem as of a layer": f"{image}?layer=2&mode=merged&path=usr/lib",
        "path search": f"{image}?layer=0&mode=merged&q=p",
        "tree page": reverse("explorer:tree", args=[first.digest]) + "?layer=2&path=etc",
        "file history": reverse("explorer:file", args=[first.digest]) + "?path=etc/passwd",
        "a file's text": reverse("explorer:file", args=[first.digest])
        + f"?path=root/.cache/pip/http-v2/b/8/7/a/a/{'5270772708aeaed2' * 4}",
        "a file as hex": reverse("explorer:file", args=[first.digest]) + "?path=bin/sh&view=hex",
        "a diff": reverse("explorer:diff", args=[first.digest])
        + f"?path=etc/passwd&b={second.digest}&view=split",
        "efficiency": reverse("explorer:efficiency", args=[first.digest]),
        "delete": reverse("explorer:delete", args=[first.digest]),
        "compare": f"{reverse('compare:compare')}?a={first.digest}&b={second.digest}",
        "compare picker": reverse("compare:compare"),
        "store": reverse("compare:store"),
        "job": reverse("explorer:job", args=[job.pk]),
        "log in": reverse("login"),
        "not found": "/images/sha256:0000/",
    }


@pytest.mark.parametrize("width", [390, 1440])
@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_no_page_scrolls_sideways_on_a_phone_or_a_desktop_in_either_language(
    chromium_browser: Browser, live_server, pair, width: int, language: str, artifacts: Path
):
    with browser.window(chromium_browser, live_server.url, width=width, language=language) as (
        page,
        problems,
    ):
        wide = browser.too_wide(page, _pages(*pair), artifacts, f"{language}-{width}")
    assert not wide, pformat(wide)
    # The browser logs the 404 page's own status as an error; nothing else may be.
    found = [text for text in problems.found if "status of 404" not in text]
    assert found == [], "\n".join(found)


def _background(page: Page) -> str:
    return page.evaluate("getComputedStyle(document.documentElement).backgroundColor")


def _dark(colour: str) -> bool:
    red, green, blue = (int(part) for part in colour[colour.index("(") + 1 : -1].split(",")[:3])
    return (red + green + blue) / 3 < 80


def test_dark_mode_follows_the_system_and_the_switch_pins_either_scheme_across_pages(
    chromium_browser: Browser, live_server, pair
):
    context = chromium_browser.new_context(base_url=live_server.url, color_scheme="dark")
    page = context.new_page()
    try:
        page.goto(reverse("explorer:image", args=[pair[0].digest]))
        assert _dark(_background(page)), "the system is dark and the page is not"

        page.select_option("#theme", "light")  # acts at once, without a reload
        expect(page.locator("html")).to_have_attribute("data-theme", "light")
        assert not _dark(_background(page))
        page.wait_for_timeout(300)  # the choice is posted in the background
        page.goto("/")
        assert not _dark(_background(page)), "the next page forgot the choice"
        expect(page.locator("#theme")).to_have_value("light")

        page.select_option("#theme", "auto")
        page.wait_for_timeout(300)
        page.reload()
        assert _dark(_background(page)), "back to the system's scheme, which is dark"
    finally:
        context.close()


def test_charts_take_the_ink_of_the_scheme_they_are_shown_in(
    chromium_browser: Browser, live_server, pair
):
    inks = {}
    for scheme in ("light", "dark"):
        context = chromium_browser.new_context(base_url=live_server.url, color_scheme=scheme)
        page = context.new_page()
        try:
            page.goto(reverse("explorer:image", args=[pair[0].digest]))
            tick = page.locator("[data-chart='size-chart-data'] .xtick text").first
            expect(tick).to_be_visible()
            inks[scheme] = tick.evaluate("el => getComputedStyle(el).fill")
            # Switching redraws the drawn charts too.
            page.select_option("#theme", "dark" if scheme == "light" else "light")
            expect(tick).not_to_have_css("fill", inks[scheme])
        finally:
            context.close()
    assert _dark(inks["light"]) and not _dark(inks["dark"]), inks


CONTRAST = """(selectors) => {
    const channel = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
    const rgb = (text) => text.match(/[\\d.]+/g).map(Number);
    const luminance = ([r, g, b]) => 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
    const behind = (el) => {
        for (; el; el = el.parentElement) {
            const colour = rgb(getComputedStyle(el).backgroundColor);
            if (colour.length < 4 || colour[3] > 0) return colour;
        }
        return rgb(getComputedStyle(document.documentElement).backgroundColor);
    };
    const out = {};
    for (const selector of selectors) {
        const el = document.querySelector(selector);
        if (!el) { out[selector] = null; continue; }
        const a = luminance(rgb(getComputedStyle(el).color)), b = luminance(behind(el));
        out[selector] = Math.round(100 * (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05)) / 100;
    }
    return out;
}"""

# Text of every colour the pages use, on the background it sits on.
READ = [
    "main h1",
    "h2 small",
    "dt",
    "main a",
    ".kw-RUN",
    ".kw-COPY",
    ".kw-ADD",
    ".badge.k-A",
    ".badge.k-D",
    ".badge.k-U",
    ".c-A",
    ".c-D",
    ".used-by",
    ".modes a[aria-current]",
    ".node .mode",
    "button",
]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_text_keeps_a_readable_contrast_in_both_colour_schemes(
    chromium_browser: Browser, live_server, pair, scheme: str
):
    context = chromium_browser.new_context(base_url=live_server.url, color_scheme=scheme)
    page = context.new_page()
    ratios: dict[str, float | None] = dict.fromkeys(READ)
    try:
        # An added layer, then one that deletes: between them, every kind of change.
        for query in ("?layer=1&mode=layer", "?layer=2&mode=layer&path=app"):
            page.goto(reverse("explorer:image", args=[pair[0].digest]) + query)
            for selector, ratio in page.evaluate(CONTRAST, READ).items():
                if ratio is not None:
                    ratios[selector] = min(ratio, ratios[selector] or ratio)
    finally:
        context.close()
    missing = [selector for selector, ratio in ratios.items() if ratio is None]
    assert not missing, f"not on the page: {missing}"
    # WCAG AA for body text.
    low = {selector: ratio for selector, ratio in ratios.items() if ratio and ratio < 4.5}
    assert not low, low


def test_the_keyboard_focus_is_always_visible(page: Page, pair):
    page.goto(reverse("explorer:image", args=[pair[0].digest]))
    for _ in range(4):
        page.keyboard.press("Tab")
        outline = page.evaluate(
            "(() => { const s = getComputedStyle(document.activeElement);"
            " return [s.outlineStyle, parseFloat(s.outlineWidth)]; })()"
        )
        assert outline[0] != "none" and outline[1] >= 2, outline


def test_question_mark_shows_the_keyboard_help_and_escape_closes_it(page: Page, pair):
    page.goto(reverse("explorer:image", args=[pair[0].digest]))
    help = page.locator("#keys-help")
    expect(help).to_be_hidden()
    page.keyboard.press("?")
    expect(help).to_be_visible()
    expect(help).to_contain_text("Next and previous layer")
    page.keyboard.press("Escape")
    expect(help).to_be_hidden()

    # Typed into a field, "?" is a character, not a shortcut.
    page.locator("input[type=search]").first.fill("")
    page.locator("input[type=search]").first.press("?")
    expect(help).to_be_hidden()
    # The header's button opens it for those without a keyboard.
    page.locator(".keys-button").click()
    expect(help).to_be_visible()


def test_j_and_k_step_through_the_layers_and_slash_goes_to_the_search(page: Page, pair):
    page.goto(reverse("explorer:image", args=[pair[0].digest]) + "?layer=0")
    expect(page.locator("#panel-title")).to_have_text("Layer #1")
    page.keyboard.press("j")
    expect(page.locator("#panel-title")).to_have_text("Layer #2")
    page.keyboard.press("j")
    page.keyboard.press("k")
    expect(page.locator("#panel-title")).to_have_text("Layer #2")
    browser.settled(page)
    page.keyboard.press("/")
    expect(page.locator("input[type=search]").first).to_be_focused()
