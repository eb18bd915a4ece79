"""Debian's Chromium driven by Playwright, for the few tests only a browser can answer.

Never downloads a browser: Chromium is the system one (``LAYERVIZ_CHROMIUM`` to point
elsewhere), started without the network services it would otherwise reach for.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Error,
    Locator,
    Page,
    Request,
    expect,
    sync_playwright,
)
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from . import components

ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]


@contextmanager
def chromium() -> Iterator[Browser]:
    """One headless Chromium.

    While Playwright's sync API is started, its asyncio loop counts as running in this thread,
    so Django refuses ORM calls here (``SynchronousOnlyOperation``) — including the database
    flush that ends each transactional test. Nothing async runs in this thread meanwhile, so
    the check is lifted for exactly as long as the browser lives, and restored after.
    """
    path = os.environ.get("LAYERVIZ_CHROMIUM", "/usr/bin/chromium")
    before = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=path, args=ARGS)
            try:
                yield browser
            finally:
                browser.close()
    finally:
        if before is None:
            del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = before


class Problems:
    """Console errors and uncaught exceptions of every page a context opens."""

    def __init__(self) -> None:
        self.found: list[str] = []

    def watch(self, page: Page) -> None:
        page.on("console", lambda message: self._console(page, message))
        page.on("pageerror", lambda error: self._error(page, error))

    def _console(self, page: Page, message: ConsoleMessage) -> None:
        if message.type == "error":
            where = message.location.get("url", "") if message.location else ""
            self.found.append(f"console error on {page.url}: {message.text} ({where})")

    def _error(self, page: Page, error: Error) -> None:
        self.found.append(f"uncaught {error.name}: {error.message} on {page.url}")


class Requests:
    """The requests a page makes whose URL contains ``part``."""

    def __init__(self, page: Page, part: str) -> None:
        self.part = part
        self.seen: list[Request] = []
        page.on("request", self._request)

    def _request(self, request: Request) -> None:
        if self.part in request.url:
            self.seen.append(request)

    def __len__(self) -> int:
        return len(self.seen)


def screenshot(page: Page, folder: Path, name: str) -> Path:
    path = folder / f"browser-{name}.png"
    page.screenshot(path=path, full_page=True)
    return path


def centre(locator: Locator) -> tuple[float, float]:
    """The middle of ``locator`` in the window, scrolled into view (the mouse cannot leave it)."""
    locator.scroll_into_view_if_needed()
    box = locator.bounding_box()
    assert box is not None, f"{locator} is not on the page"
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def click_point(page: Page, locator: Locator) -> None:
    """Click the middle of a chart element. Plotly listens on a drag layer drawn over its
    marks, so the mouse has to go there rather than to the element itself."""
    page.mouse.click(*centre(locator))


def tooltip(page: Page, chart: Locator, mark: Locator, *, attempts: int = 3) -> str:
    """The hover text plotly shows over ``mark`` of ``chart`` ("" when it shows none).

    A chart just drawn may be drawn again once plotly knows its size, taking the mark away
    under the mouse; so it is asked a few times."""
    text = ""
    for _ in range(attempts):
        try:
            text = _tooltip_at(page, chart, centre(mark))
        except Error:
            text = ""
        if text:
            break
        page.wait_for_timeout(100)
    return text


def tooltips(page: Page, chart: Locator, marks: str) -> list[str]:
    """Hover each of a chart's ``marks`` in turn; the hover texts shown. The points are taken
    first: plotly redraws some marks (treemap tiles) on hover, so they do not stay put."""
    chart.scroll_into_view_if_needed()
    boxes = [mark.bounding_box() for mark in chart.locator(marks).all()]
    points = [(b["x"] + b["width"] / 2, b["y"] + b["height"] / 2) for b in boxes if b]
    shown = [_tooltip_at(page, chart, point) for point in points]
    page.mouse.move(0, 0)
    return [text for text in shown if text]


def _tooltip_at(page: Page, chart: Locator, point: tuple[float, float]) -> str:
    text = chart.locator(".hoverlayer .hovertext").first
    # Away first, so that the text read is this point's and not the last one's.
    page.mouse.move(0, 0)
    text.wait_for(state="hidden", timeout=1_000)
    page.mouse.move(*point)
    try:
        text.wait_for(state="visible", timeout=1_000)
    except PlaywrightTimeoutError:
        return ""
    return text.text_content() or ""


OVERFLOW = """() => {
    const width = document.documentElement.clientWidth;
    const out = [];
    if (document.documentElement.scrollWidth <= width) return out;
    for (const el of document.querySelectorAll("body *")) {
        const right = el.getBoundingClientRect().right;
        const parent = el.parentElement.getBoundingClientRect().right;
        if (right > width + 1 && parent <= width + 1) {
            const classes = typeof el.className === "string" ? el.className.trim() : "";
            const name = el.tagName.toLowerCase() + (el.id ? "#" + el.id : "")
                + (classes ? "." + classes.split(/\\s+/).join(".") : "");
            out.push(`${name} reaches ${Math.round(right)}px`);
        }
    }
    out.unshift(`the page is ${document.documentElement.scrollWidth}px wide in ${width}px`);
    return out;
}"""


def overflowing(page: Page) -> list[str]:
    """Nothing when the page does not scroll sideways; else its width and the outermost
    elements that pass the right edge of the window."""
    return page.evaluate(OVERFLOW)


@contextmanager
def window(
    chromium_browser: Browser,
    base_url: str,
    *,
    width: int,
    language: str = "en",
    scheme: str = "light",
) -> Iterator[tuple[Page, Problems]]:
    """A fresh context of one window size, language and colour scheme, and the console errors
    of what it opens; closed after."""
    context = chromium_browser.new_context(
        base_url=base_url,
        viewport={"width": width, "height": 900},
        locale=language,
        color_scheme=scheme,  # type: ignore[arg-type]
    )
    context.add_cookies([{"name": "django_language", "value": language, "url": base_url}])
    problems = Problems()
    context.on("page", problems.watch)
    try:
        yield context.new_page(), problems
    finally:
        context.close()


def too_wide(page: Page, pages: dict[str, str], artifacts: Path, label: str) -> dict:
    """Each of ``pages`` (name: address) opened in turn and screenshot; what scrolls sideways,
    by page name (nothing when none does)."""
    wide = {}
    for name, url in pages.items():
        page.goto(url)
        page.wait_for_load_state("load")
        settled(page)
        screenshot(page, artifacts, f"{name}-{label}")
        if found := overflowing(page):
            wide[name] = found
    return wide


def settled(page: Page) -> None:
    """Wait until htmx has no request running and nothing swapping or settling: content it
    has just swapped in gets its listeners as it settles, and a person is never faster."""
    page.wait_for_function(
        "!document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling, .htmx-added')"
    )


def mark_document(page: Page) -> None:
    """Leave a mark a full page load would wipe out (see ``same_document``)."""
    page.evaluate("window.__sameDocument = true")


def same_document(page: Page) -> bool:
    return page.evaluate("window.__sameDocument === true")


TIMEOUT = 5_000  # ms; everything here is local and small


@pytest.fixture(scope="module")
def chromium_browser() -> Iterator[Browser]:
    # Module scope, not session: while Playwright runs, this thread has a running asyncio
    # loop (see chromium()), which must not leak into the test modules after this one.
    components.need("Chromium and Playwright", components.chromium_problem())
    expect.set_options(timeout=TIMEOUT)
    with chromium() as instance:
        yield instance


@pytest.fixture
def page(chromium_browser: Browser, live_server) -> Iterator[Page]:
    """A fresh browser context on the live server; fails the test if any page it opened
    logged a console error or threw."""
    context = chromium_browser.new_context(
        base_url=live_server.url, viewport={"width": 1280, "height": 900}, locale="en-US"
    )
    context.set_default_timeout(TIMEOUT)
    problems = Problems()
    context.on("page", problems.watch)
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()
    assert problems.found == [], "\n".join(problems.found)
