"""What only a browser can show: charts drawn, panels swapped in place, the tree opening, live
progress, hostile names staying text, the narrow layout. Real Chromium against the live server;
every page of every test must finish without a console error or an uncaught exception."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from pprint import pformat
from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings
from django.urls import reverse
from playwright.sync_api import Locator, Page, expect

from layerviz.images.models import Image, IngestJob, JobState
from layerviz.lib import synth
from layerviz.lib.synth import Step
from layerviz.lib.tarwriter import file, whiteout

from . import browser, plotly_bundle, processes
from .helpers import ingest_image

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WORKER_TIMEOUT = 60_000


@pytest.fixture
def app_image(tmp_path: Path) -> Image:
    """Three layers: a base, an app copied in, then a cache deleted and a file modified."""
    return ingest_image(
        tmp_path,
        "lv/app:1.0",
        [
            synth.layer(
                [
                    file("bin/sh", b"x" * 3000, mode=0o755),
                    file("etc/passwd", b"root\n"),
                    file("usr/lib/libc.so", b"c" * 20_000),
                ]
            ),
            synth.layer(
                [
                    file("app/main.py", b"print(1)\n"),
                    file("app/static/logo.png", b"p" * 8000),
                    file("app/cache/blob", b"y" * 5000),
                ]
            ),
            synth.layer([whiteout("app/cache"), file("etc/passwd", b"root\napp\n")]),
        ],
        [
            Step("ADD rootfs /"),
            Step("ENV A=1", empty_layer=True),
            Step("COPY . /app"),
            Step("RUN /bin/sh -c rm -rf /app/cache"),
        ],
        cmd=["sh"],
    )


def _image_url(image: Image, query: str = "") -> str:
    return reverse("explorer:image", args=[image.digest]) + (f"?{query}" if query else "")


def _names(page: Page, selector: str) -> list[str]:
    return [text.strip() for text in page.locator(selector).all_text_contents()]


def _tree_item(page: Page, name: str) -> Locator:
    """The tree row whose own name (not a descendant's) is ``name``."""
    return page.locator("li[role=treeitem]").filter(
        has=page.locator(":scope > .node > .name", has_text=re.compile(f"^{re.escape(name)}$"))
    )


def _chart(page: Page, chart: str) -> Locator:
    return page.locator(f"[data-chart='{chart}']")


def _plot_drawn(page: Page, chart: str) -> None:
    expect(_chart(page, chart).locator("svg.main-svg").first).to_be_visible()


def _roots(page: Page) -> Locator:
    return page.locator(".tree[role=tree] > li > .node > .name")


def _open(item: Locator) -> None:
    item.locator(":scope > .node > .name").click()


# --- adding an image ---------------------------------------------------------------------


def _finished(worker: subprocess.Popen) -> str:
    """The worker's stderr once it has exited (``--batch`` exits when the queue is empty);
    killed if it outstays the test."""
    try:
        return worker.communicate(timeout=WORKER_TIMEOUT / 1000)[1]
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.communicate()
        raise


# Every trace plotly drew in each [data-chart] of the page, with whether it is shown: plotly.js
# turns a trace of a type the bundle lacks into a hidden scatter, without an error.
DRAWN_TRACES = """() => Array.from(document.querySelectorAll("[data-chart]")).flatMap(
    (el) => (el._fullData || []).map((trace) => [trace.type, trace.visible === true]))"""


def test_our_plotly_bundle_draws_every_trace_type_our_figures_use(
    page: Page, app_image: Image, tmp_path: Path
):
    ingest_image(  # on app_image's base: the store page draws what images share
        tmp_path,
        "lv/tool:1",
        [
            synth.layer(
                [
                    file("bin/sh", b"x" * 3000, mode=0o755),
                    file("etc/passwd", b"root\n"),
                    file("usr/lib/libc.so", b"c" * 20_000),
                ]
            ),
            synth.layer([file("usr/bin/tool", b"t" * 900)]),
        ],
        [Step("ADD rootfs /"), Step("COPY tool /usr/bin/")],
    )
    drawn = []
    for url, charts in ((_image_url(app_image), 2), (reverse("compare:store"), 3)):
        page.goto(url)
        expect(page.locator("[data-chart] svg.main-svg").first).to_be_visible()
        expect(page.locator("[data-chart][data-drawn]")).to_have_count(charts)
        drawn += page.evaluate(DRAWN_TRACES)
    registered = page.evaluate("() => Object.keys(Plotly.PlotSchema.get().traces)")

    used = set(plotly_bundle.figure_trace_types())
    assert used <= set(registered)
    # A trace type a figure uses and no page here draws: add the page that draws it above.
    assert {kind for kind, _shown in drawn} == used
    assert all(shown for _kind, shown in drawn), drawn


def test_an_uploaded_archive_shows_live_progress_then_a_link_to_the_image(
    page: Page, tmp_path: Path, artifacts: Path
):
    archive = synth.write_docker_archive(
        tmp_path / "upload-me.tar",
        [
            synth.Image(
                layers=[
                    synth.layer([file("etc/os-release", b"ID=demo\n")]),
                    synth.layer([file("app/run", b"go" * 500)]),
                ],
                tags=["lv/upload:1"],
            )
        ],
        layout="docker25",
    )
    polls = browser.Requests(page, "/jobs/")
    engine = browser.Requests(page, "/engine-images")
    page.goto("/")
    page.wait_for_timeout(300)
    assert len(engine) == 0, "the engine was asked before its source was chosen"
    # The engine's image list loads once that source is chosen; it lands in its own slot.
    page.get_by_label("From the local Docker engine").check()
    expect(page.locator("#engine-images :is(.hint, select)").first).to_be_attached()
    expect(page.locator("#jobs"), "the engine list's response replaced #jobs").to_be_attached()
    assert len(engine) == 1
    browser.mark_document(page)

    page.get_by_label("Upload an archive").check()
    expect(page.get_by_label("Image reference")).to_be_hidden()
    page.get_by_label(re.compile("docker save or OCI archive")).set_input_files(archive)
    page.get_by_label("Also name it").fill("myapp:1.0")
    page.get_by_role("button", name="Add image").click()

    job = page.locator("#jobs .job")
    expect(job).to_have_count(1)
    expect(job).to_contain_text("upload-me.tar")
    expect(job).to_contain_text("waiting for a worker")
    expect(job.locator("progress")).to_be_visible()
    # The form starts afresh for the next image, from the same source.
    expect(page.get_by_label("Upload an archive")).to_be_checked()
    expect(page.get_by_label("Image reference")).to_be_hidden()
    expect(page.get_by_label("Also name it")).to_have_value("")
    # It asks the server again by itself while it waits.
    with page.expect_request(re.compile(r"/jobs/\d+$"), timeout=3_000):
        pass
    expect(job).to_contain_text("waiting for a worker")
    browser.screenshot(page, artifacts, "job-in-progress")
    job_page = page.context.new_page()
    job_page.goto(job.locator("a.job-link").get_attribute("href"))
    expect(job_page.locator("h1")).to_have_text("Ingest")
    expect(job_page.locator(".job")).to_contain_text("waiting for a worker")
    browser.screenshot(job_page, artifacts, "job-page")
    job_page.close()

    worker = processes.manage(*processes.WORKER)
    try:
        link = job.locator("a.go")
        expect(link).to_be_visible(timeout=WORKER_TIMEOUT)
        expect(link).to_have_text(re.compile(r"^Open myapp:1.0, lv/upload:1\b"))
    finally:
        err = _finished(worker)
    assert worker.returncode == 0, err
    assert browser.same_document(page), "the page reloaded instead of updating the job in place"
    expect(job.locator("progress")).to_have_count(0)
    # Done: it stops asking, and the list shows the new image without a reload.
    settled = len(polls)
    page.wait_for_timeout(1_200)
    assert len(polls) == settled
    expect(page.locator("#image-list a.image-name")).to_have_text(["myapp:1.0, lv/upload:1"])
    assert browser.same_document(page)

    link.click()
    image = Image.objects.get()
    expect(page).to_have_url(re.compile(re.escape(_image_url(image)) + "$"))
    expect(page.locator("h1 .ref")).to_have_text(["myapp:1.0", "lv/upload:1"])
    _plot_drawn(page, "size-chart-data")
    image_page = page.url

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Images").click()
    expect(page.locator("a.image-name")).to_have_text(["myapp:1.0, lv/upload:1"])
    # The job is still listed after the reload, done, with its link to the image.
    expect(page.locator("#jobs .job")).to_have_count(1)
    expect(page.locator("#jobs .job .state")).to_have_text("done")
    expect(page.locator("#jobs .job a.go")).to_have_attribute("href", _image_url(image))

    # The image remembers the name it was uploaded under, not the server's scratch file.
    page.goto(image_page)
    expect(page.locator(".facts .source")).to_have_text("upload:upload-me.tar")


def test_a_refused_reference_shows_its_error_in_the_form_and_queues_nothing(page: Page):
    page.goto("/")
    browser.mark_document(page)
    reference = page.get_by_label("Image reference")
    reference.fill("Not A Ref!")
    page.get_by_role("button", name="Add image").click()

    error = page.locator("#add-form .error")
    expect(error).to_contain_text("invalid repository name")
    expect(page.locator("#add-form")).to_have_count(1)
    expect(page.locator("#jobs .job")).to_have_count(0)
    expect(reference).to_have_value("Not A Ref!")
    assert browser.same_document(page)

    # Corrected, it queues the job and the error goes.
    reference.fill("127.0.0.1:9/lv/nothing:1")
    page.get_by_role("button", name="Add image").click()
    expect(page.locator("#jobs .job")).to_have_count(1)
    expect(error).to_have_count(0)


def test_switching_source_clears_the_error_the_previous_source_got(page: Page):
    page.goto("/")
    page.get_by_label("From the local Docker engine").check()
    page.get_by_role("button", name="Add image").click()
    error = page.locator("#add-form .error")
    expect(error).to_have_text("Give the image to read, for example python:3.12-slim.")
    expect(page.get_by_label("From the local Docker engine")).to_be_checked()

    page.get_by_label("Pull from a registry").check()
    expect(error).to_have_count(0)
    expect(page.get_by_label("Image reference")).to_be_visible()

    # A path on the server is refused in place, and that error goes the same way.
    page.get_by_label("Image reference").fill("docker-archive:/etc/passwd")
    page.get_by_role("button", name="Add image").click()
    expect(error).to_contain_text("docker-archive: reads a file on the server")
    page.get_by_label("Upload an archive").check()
    expect(error).to_have_count(0)
    expect(page.locator("#jobs .job")).to_have_count(0)


def test_the_images_page_with_an_error_and_recent_jobs_fits_a_phone_in_both_languages(
    page: Page, app_image: Image, artifacts: Path, live_server
):
    long_source = (
        "docker://registry.example.com/a-long-team-name/an-even-longer-service:2026.12.01-rc1"
    )
    failed = IngestJob.objects.create(
        source=long_source,
        state=JobState.FAILED,
        error="layer 2/3 sha256:" + "ab" * 32 + ": tar entry 'x' is truncated",
    )
    done = IngestJob.objects.create(source="docker-daemon:lv/app:1.0", state=JobState.DONE)
    done.images.set([app_image])
    assert failed.pk < done.pk
    page.set_viewport_size({"width": 390, "height": 800})
    wide = {}
    for language, button in (("en", "Add image"), ("zh-hans", "添加镜像")):
        page.context.add_cookies(
            [{"name": settings.LANGUAGE_COOKIE_NAME, "value": language, "url": live_server.url}]
        )
        page.goto("/")
        page.get_by_label(re.compile("Image reference|镜像引用")).fill(long_source + "!")
        page.get_by_role("button", name=button).click()
        expect(page.locator("#add-form .error")).to_have_count(1)
        expect(page.locator("#jobs .job")).to_have_count(2)
        wide[language] = browser.overflowing(page)
        browser.screenshot(page, artifacts, f"narrow-images-jobs-{language}")
    too_wide = {name: found for name, found in wide.items() if found}
    assert not too_wide, pformat(too_wide)
    expect(page.locator("#jobs .job.failed .error")).to_contain_text("导入失败：")


# --- the image page ----------------------------------------------------------------------


def test_clicking_a_layer_swaps_only_the_panel_and_the_arrow_keys_move_between_layers(
    page: Page, app_image: Image, artifacts: Path
):
    url = _image_url(app_image)
    page.goto("/")
    browser.screenshot(page, artifacts, "images-list")
    page.get_by_role("link", name="lv/app:1.0").click()
    expect(page).to_have_url(re.compile(re.escape(url) + "$"))
    _plot_drawn(page, "size-chart-data")
    # One bar per layer for each of the two stacked traces (compressed, saved by compression).
    expect(_chart(page, "size-chart-data").locator(".barlayer .point")).to_have_count(6)
    expect(page.locator("#panel-title")).to_have_text("Layer #3")
    _plot_drawn(page, "treemap-data")
    browser.screenshot(page, artifacts, "image-page")
    browser.mark_document(page)
    page.evaluate("window.__stack = document.querySelector('.stack')")

    page.locator(".layer-link[data-layer='0']").click()

    expect(page.locator("#panel-title")).to_have_text("Layer #1")
    expect(page).to_have_url(re.compile(re.escape(url) + r"\?layer=0&mode=layer$"))
    assert page.evaluate("window.__stack === document.querySelector('.stack')"), (
        "the layer stack was replaced, not just the panel"
    )
    assert browser.same_document(page)
    expect(page.locator(".layer-row.selected .layer-link")).to_have_attribute("data-layer", "0")
    expect(page.locator(".layer-link[aria-current]")).to_have_attribute("data-layer", "0")
    _plot_drawn(page, "treemap-data")  # drawn again inside the new panel

    expect(page.locator(".layer-link[data-layer='0']")).to_be_focused()
    page.keyboard.press("ArrowDown")
    expect(page.locator("#panel-title")).to_have_text("Layer #2")
    expect(page).to_have_url(re.compile(r"\?layer=1&mode=layer$"))
    page.keyboard.press("ArrowDown")
    expect(page.locator("#panel-title")).to_have_text("Layer #3")
    page.keyboard.press("ArrowUp")
    expect(page.locator("#panel-title")).to_have_text("Layer #2")
    # A screen reader hears the new panel's title, not the whole panel read out again.
    expect(page.get_by_role("status")).to_have_text("Layer #2")
    assert page.locator("#layer-panel").get_attribute("aria-live") is None
    expect(page.locator(".layer-row.selected .layer-link")).to_have_attribute("data-layer", "1")
    expect(page.locator(".layer-link[data-layer='1']")).to_be_focused()
    assert page.evaluate("window.__stack === document.querySelector('.stack')")


def test_back_returns_to_the_previous_layer_with_its_row_selected_and_charts_alive(
    page: Page, app_image: Image
):
    page.goto(_image_url(app_image))
    page.locator(".layer-link[data-layer='0']").click()
    expect(page.locator("#panel-title")).to_have_text("Layer #1")
    page.locator(".layer-link[data-layer='1']").click()
    expect(page.locator("#panel-title")).to_have_text("Layer #2")

    page.go_back()

    expect(page).to_have_url(re.compile(r"\?layer=0&mode=layer$"))
    expect(page.locator("#panel-title")).to_have_text("Layer #1")
    expect(page.locator(".layer-row.selected .layer-link")).to_have_attribute("data-layer", "0")
    # The charts answer the mouse again: hovering a bar explains it, clicking it opens it.
    sizes = _chart(page, "size-chart-data")
    # Layer #2's bar: #3, two whiteouts and a line, downloads a few bytes, too thin to hover.
    bar = sizes.locator(".barlayer .trace").nth(1).locator(".point").nth(1)
    assert "COPY . /app" in browser.tooltip(page, sizes, bar)
    browser.click_point(page, bar)
    expect(page.locator("#panel-title")).to_have_text("Layer #2")


def test_clicking_a_bar_of_the_size_chart_opens_that_layer(page: Page, app_image: Image):
    page.goto(_image_url(app_image))
    sizes = _chart(page, "size-chart-data")
    _plot_drawn(page, "size-chart-data")
    bar = sizes.locator(".barlayer .point").first

    assert "ADD rootfs /" in browser.tooltip(page, sizes, bar)
    browser.click_point(page, bar)

    expect(page.locator("#panel-title")).to_have_text("Layer #1")
    expect(page.locator(".layer-row.selected .layer-link")).to_have_attribute("data-layer", "0")
    expect(page).to_have_url(re.compile(r"\?layer=0&mode=layer$"))


# --- the layer panel ---------------------------------------------------------------------


def test_a_directory_opens_in_place_with_one_request_and_closes_without_one(
    page: Page, app_image: Image
):
    page.goto(_image_url(app_image, "layer=1&mode=layer"))
    trees = browser.Requests(page, reverse("explorer:tree", args=[app_image.digest]))
    app = _tree_item(page, "app/")
    expect(app).to_have_attribute("aria-expanded", "false")
    browser.mark_document(page)

    _open(app)

    expect(app).to_have_attribute("aria-expanded", "true")
    expect(app.locator(":scope > ul > li > .node > .name")).to_have_text(
        ["cache/", "main.py", "static/"]
    )
    assert len(trees) == 1
    assert "path=app" in trees.seen[0].url
    expect(page).to_have_url(re.compile(r"\?layer=1&mode=layer&path=app$"))
    assert browser.same_document(page)

    # One level further, inside the children just fetched.
    static = _tree_item(page, "static/")
    _open(static)
    expect(static.locator(":scope > ul .name")).to_have_text(["logo.png"])
    assert len(trees) == 2
    expect(page).to_have_url(re.compile(r"&path=app%2Fstatic$"))

    _open(app)

    expect(app).to_have_attribute("aria-expanded", "false")
    expect(app.locator(":scope > ul > li")).to_have_count(0)
    page.wait_for_timeout(300)
    assert len(trees) == 2, "closing a directory should not ask the server"


def test_the_panel_switches_between_the_layer_and_the_filesystem_as_of_it(
    page: Page, app_image: Image, artifacts: Path
):
    page.goto(_image_url(app_image, "layer=1&mode=layer"))
    _plot_drawn(page, "treemap-data")
    expect(_roots(page)).to_have_text(["app/"])
    layer_changes = page.get_by_role("link", name="This layer's changes")
    merged = page.get_by_role("link", name="Filesystem as of this layer")
    expect(layer_changes).to_have_attribute("aria-current", "page")

    merged.click()

    expect(merged).to_have_attribute("aria-current", "page")
    expect(page).to_have_url(re.compile(r"\?layer=1&mode=merged$"))
    expect(_roots(page)).to_have_text(["app/", "bin/", "etc/", "usr/"])
    expect(_tree_item(page, "bin/").locator(":scope > .node .badge")).to_have_attribute(
        "title", "unchanged"
    )
    expect(page.locator(".treemap figcaption")).to_have_text(
        "Where the image's bytes are, as of this layer"
    )
    _plot_drawn(page, "treemap-data")
    treemap = _chart(page, "treemap-data")
    expect(treemap.locator("g.slice").filter(has_text="usr")).not_to_have_count(0)
    browser.screenshot(page, artifacts, "layer-panel-merged")

    layer_changes.click()

    expect(layer_changes).to_have_attribute("aria-current", "page")
    expect(page).to_have_url(re.compile(r"\?layer=1&mode=layer$"))
    expect(_roots(page)).to_have_text(["app/"])
    _plot_drawn(page, "treemap-data")
    expect(treemap.locator("g.slice").filter(has_text="usr")).to_have_count(0)


def test_the_keyboard_walks_opens_and_closes_the_tree(page: Page, app_image: Image):
    page.goto(_image_url(app_image, "layer=2&mode=merged"))
    expect(_roots(page)).to_have_text(["app/", "bin/", "etc/", "usr/"])
    focused = page.locator(":focus")
    _roots(page).first.focus()

    page.keyboard.press("ArrowDown")
    expect(focused).to_have_text("bin/")
    page.keyboard.press("ArrowRight")  # opens it in place
    expect(_tree_item(page, "bin/")).to_have_attribute("aria-expanded", "true")
    expect(page).to_have_url(re.compile(r"&path=bin$"))
    page.keyboard.press("ArrowDown")
    expect(focused).to_have_text("sh")
    page.keyboard.press("ArrowLeft")  # from a file to its folder
    expect(focused).to_have_text("bin/")
    page.keyboard.press("ArrowLeft")  # closes the open folder
    expect(_tree_item(page, "bin/")).to_have_attribute("aria-expanded", "false")
    page.keyboard.press("End")
    expect(focused).to_have_text("usr/")
    page.keyboard.press("Home")
    expect(focused).to_have_text("app/")
    page.keyboard.press("Enter")  # a folder link, like a click
    expect(_tree_item(page, "app/")).to_have_attribute("aria-expanded", "true")

    # Back: the folder opened before is the one named in the address again.
    page.go_back()
    expect(page).to_have_url(re.compile(r"\?layer=2&mode=merged$"))


def test_the_open_directory_stays_open_across_modes_and_the_mode_across_layers(
    page: Page, app_image: Image
):
    page.goto(_image_url(app_image, "layer=2&mode=layer"))
    _open(_tree_item(page, "etc/"))
    expect(page).to_have_url(re.compile(r"\?layer=2&mode=layer&path=etc$"))

    page.get_by_role("link", name="Filesystem as of this layer").click()
    expect(page).to_have_url(re.compile(r"\?layer=2&mode=merged&path=etc$"))
    expect(_tree_item(page, "etc/")).to_have_attribute("aria-expanded", "true")

    # A layer picked from the stack (rendered with the page) keeps the mode chosen since.
    page.locator(".layer-link[data-layer='1']").click()
    expect(page).to_have_url(re.compile(r"\?layer=1&mode=merged$"))
    expect(page.get_by_role("link", name="Filesystem as of this layer")).to_have_attribute(
        "aria-current", "page"
    )

    # The filter form keeps a directory opened in place.
    _open(_tree_item(page, "app/"))
    expect(page).to_have_url(re.compile(r"&path=app$"))
    page.get_by_label("added").check()
    expect(page).to_have_url(re.compile(r"kind=A"))
    query = parse_qs(urlsplit(page.url).query)
    assert query["path"] == ["app"] and query["mode"] == ["merged"], query
    expect(_tree_item(page, "app/")).to_have_attribute("aria-expanded", "true")


def test_typing_in_path_contains_lists_the_matching_paths(page: Page, app_image: Image):
    page.goto(_image_url(app_image, "layer=2&mode=merged"))
    expect(_roots(page)).to_have_text(["app/", "bin/", "etc/", "usr/"])
    box = page.get_by_label("Path contains")

    box.press_sequentially("main")

    expect(page.locator(".tree.flat .name")).to_have_text(["app/main.py"])
    expect(page.locator("#tree .hint")).to_contain_text("1 path contains")
    expect(page).to_have_url(re.compile(r"[?&]q=main(&|$)"))
    expect(box).to_have_value("main")  # the swapped panel keeps what was typed

    box.press_sequentially("x")
    expect(page.locator("#tree .hint")).to_contain_text("0 paths contain")
    for _ in range(5):
        box.press("Backspace")
    expect(_roots(page)).to_have_text(["app/", "bin/", "etc/", "usr/"])


def test_a_change_kind_filter_keeps_only_those_changes_and_the_folders_leading_to_them(
    page: Page, app_image: Image
):
    page.goto(_image_url(app_image, "layer=2&mode=layer"))
    expect(_roots(page)).to_have_text(["app/", "etc/"])

    page.get_by_label("deleted").check()

    expect(page).to_have_url(re.compile(r"[?&]kind=D(&|$)"))
    _open(_tree_item(page, "app/"))
    cache = _tree_item(page, "cache/")
    expect(cache).to_have_class(re.compile(r"\bdeleted\b"))
    expect(cache.locator(".note")).to_have_text("added in layer #2")
    # etc/ holds only a modified file, so it leads to no deletion.
    expect(_roots(page)).to_have_text(["app/"])

    page.goto(_image_url(app_image, "layer=2&mode=layer&kind=M"))
    expect(page.get_by_label("modified")).to_be_checked()
    expect(_roots(page)).to_have_text(["etc/"])


def test_unticking_a_change_kind_lifts_that_filter(page: Page, app_image: Image):
    page.goto(_image_url(app_image, "layer=2&mode=layer"))
    modified = page.get_by_label("modified")
    modified.check()
    expect(page).to_have_url(re.compile(r"[?&]kind=M(&|$)"))
    _open(_tree_item(page, "etc/"))
    expect(_tree_item(page, "passwd")).to_be_visible()

    modified.uncheck()

    expect(page).not_to_have_url(re.compile(r"[?&]kind="))
    expect(modified).not_to_be_checked()
    expect(_roots(page)).to_have_text(["app/", "etc/"])
    query = parse_qs(urlsplit(page.url).query)
    assert all(len(values) == 1 for values in query.values()), f"repeated in the URL: {query}"


# --- the file page -----------------------------------------------------------------------


def test_the_file_page_follows_one_path_through_the_layers(
    page: Page, app_image: Image, artifacts: Path
):
    page.goto(_image_url(app_image, "layer=2&mode=merged&path=etc"))
    _tree_item(page, "passwd").locator(".name").click()

    # The tree opens the version it lists: the one layer 3 wrote, shown as text.
    expect(page).to_have_url(re.compile(r"/file\?path=etc/passwd&layer=3$"))
    expect(page.locator("h1")).to_have_text("/etc/passwd")
    expect(page.locator("#content .code-view")).to_contain_text("root")
    rows = page.locator("table.history tbody tr")
    expect(rows.locator("td:first-child")).to_have_text(["#1", "#3"])
    expect(rows.nth(0)).to_contain_text("added")
    expect(rows.nth(1)).to_contain_text("modified")
    expect(rows.nth(1)).to_contain_text("rm -rf /app/cache")
    browser.screenshot(page, artifacts, "file-page")

    page.get_by_label("Path", exact=True).fill("app/cache/blob")
    page.get_by_role("button", name="Show history").click()
    expect(page.locator("h1")).to_have_text("/app/cache/blob")
    expect(rows.locator("td:first-child")).to_have_text(["#2", "#3"])
    expect(rows.nth(1)).to_have_class(re.compile(r"\bdeleted\b"))

    # The breadcrumb opens the image with that directory expanded.
    page.locator(".crumbs").get_by_role("link", name="cache").click()
    expect(page.locator("#panel-title")).to_have_text("Layer #3")
    expect(_tree_item(page, "cache/")).to_have_attribute("aria-expanded", "true")


def test_a_copy_button_puts_the_whole_digest_on_the_clipboard(page: Page, app_image: Image):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.goto(_image_url(app_image))
    shown = page.locator(".facts .digest").first
    expect(shown).to_contain_text(app_image.digest[:19])
    button = shown.locator("button.copy")
    button.click()

    expect(button).to_have_class(re.compile(r"\bcopied\b"))
    assert page.evaluate("navigator.clipboard.readText()") == app_image.digest


# --- hostile input -----------------------------------------------------------------------

# Tar names cannot hold "/", so "<script>window.__xss=2</script>" is a directory
# "<script>window.__xss=2<" holding "script>"; the search results show its whole path.
IMG = "<img src=x onerror=window.__xss=1>"
SCRIPT_PATH = "<script>window.__xss=2</script>"
SVG = '"><svg onload=window.__xss=3>'
STEP_IMG = "<img src=x onerror=window.__xss=4>"


@pytest.fixture
def hostile_image(tmp_path: Path) -> Image:
    return ingest_image(
        tmp_path,
        "lv/hostile:1",
        [
            synth.layer([file("bin/sh", b"x" * 2000)]),
            synth.layer(
                [
                    file(IMG, b"i" * 40_000),
                    file(SCRIPT_PATH, b"s" * 30_000),
                    file(SVG, b"v" * 20_000),
                ]
            ),
        ],
        [Step("ADD rootfs /"), Step(f"RUN /bin/sh -c echo '{STEP_IMG}'")],
        cmd=["sh"],
    )


def test_hostile_file_names_stay_text_in_the_tree_search_and_chart_tooltips(
    page: Page, hostile_image: Image
):
    page.goto(_image_url(hostile_image))

    names = _names(page, ".tree[role=tree] > li > .node > .name")
    assert {IMG, SVG, "<script>window.__xss=2</"} <= set(names), names  # "/" marks a folder
    _open(_tree_item(page, "<script>window.__xss=2</"))
    expect(_tree_item(page, "script>")).to_be_visible()

    _plot_drawn(page, "treemap-data")
    labels = browser.tooltips(page, _chart(page, "treemap-data"), "g.slice")
    assert any(IMG in text for text in labels), labels
    assert any(SVG in text for text in labels), labels
    bars = browser.tooltips(page, _chart(page, "size-chart-data"), ".barlayer .point")
    assert any(STEP_IMG in text for text in bars), bars

    page.goto(_image_url(hostile_image, "layer=1&mode=layer&q=xss"))
    expect(page.locator(".tree.flat .name")).to_have_count(4)
    found = _names(page, ".tree.flat .name")
    assert {IMG, SCRIPT_PATH, SVG} <= set(found), found

    merged = page.get_by_role("link", name="Filesystem as of this layer")
    merged.click()
    expect(merged).to_have_attribute("aria-current", "page")
    expect(page.locator(".tree.flat .name")).to_have_count(4)
    _plot_drawn(page, "treemap-data")
    browser.tooltips(page, _chart(page, "treemap-data"), "g.slice")

    page.locator(".tree.flat .name", has_text=SCRIPT_PATH).click()
    expect(page.locator("h1")).to_have_text("/" + SCRIPT_PATH)
    expect(page.locator("table.history tbody tr")).to_have_count(1)

    assert page.evaluate("typeof window.__xss") == "undefined"
    assert page.locator("img, svg[onload]").count() == 0


# --- layout and language -----------------------------------------------------------------


def test_a_narrow_window_stacks_the_layers_above_the_panel_without_sideways_scrolling(
    page: Page, app_image: Image, artifacts: Path, tmp_path: Path
):
    # Another image with a long name: the "Compare with" picker lists it.
    ingest_image(
        tmp_path,
        "registry.example.com/a-long-team-name/an-even-longer-service-name:2026.12.01-rc1",
        [synth.layer([file("x", b"x")])],
    )
    page.set_viewport_size({"width": 390, "height": 800})
    page.goto(_image_url(app_image, "layer=1&mode=layer&path=app"))
    _plot_drawn(page, "size-chart-data")
    _plot_drawn(page, "treemap-data")
    browser.screenshot(page, artifacts, "narrow-image-page")

    stack = page.locator(".stack-card").bounding_box()
    panel = page.locator("#layer-panel").bounding_box()
    assert stack and panel
    assert panel["y"] >= stack["y"] + stack["height"], "the panel is not below the stack"
    assert abs(panel["x"] - stack["x"]) < 1
    wide = {"image page": browser.overflowing(page)}

    # Still usable: a layer opens and the tree expands.
    page.locator(".layer-link[data-layer='0']").click()
    expect(page.locator("#panel-title")).to_have_text("Layer #1")
    _open(_tree_item(page, "etc/"))
    expect(_tree_item(page, "passwd")).to_be_visible()

    page.goto(reverse("explorer:file", args=[app_image.digest]) + "?path=etc/passwd")
    wide["file page"] = browser.overflowing(page)
    browser.screenshot(page, artifacts, "narrow-file-page")

    page.goto("/")
    wide["images list"] = browser.overflowing(page)
    browser.screenshot(page, artifacts, "narrow-images-list")

    too_wide = {name: found for name, found in wide.items() if found}
    assert not too_wide, pformat(too_wide)
    expect(page.locator("a.image-name").first).to_be_visible()


def test_the_language_switcher_reloads_the_page_in_chinese_and_back(
    page: Page, app_image: Image, artifacts: Path
):
    url = _image_url(app_image, "layer=0&mode=layer")
    page.goto(url)
    assert page.locator("html").get_attribute("lang") == "en"
    expect(page.locator("form.lang button")).to_be_hidden()  # the select submits itself

    with page.expect_navigation():
        page.locator("#language").select_option(label="简体中文")

    assert page.locator("html").get_attribute("lang") == "zh-hans"
    expect(page.locator("#language option:checked")).to_have_text("简体中文")
    expect(page).to_have_url(re.compile(re.escape(url) + "$"))
    _plot_drawn(page, "size-chart-data")
    expect(page.locator("#panel-title")).to_have_text("第 1 层")
    browser.screenshot(page, artifacts, "image-page-zh")
    page.get_by_role("link", name="镜像", exact=True).click()
    expect(page.locator("#add-title")).to_have_text("添加镜像")
    browser.screenshot(page, artifacts, "images-list-zh")
    page.go_back()

    with page.expect_navigation():
        page.locator("#language").select_option(label="English")

    assert page.locator("html").get_attribute("lang") == "en"
    expect(page.locator("#language option:checked")).to_have_text("English")
    expect(page).to_have_url(re.compile(re.escape(url) + "$"))


def test_switching_language_keeps_the_layer_chosen_since_the_page_loaded(
    page: Page, app_image: Image
):
    page.goto(_image_url(app_image))
    page.locator(".layer-link[data-layer='0']").click()
    expect(page).to_have_url(re.compile(r"\?layer=0&mode=layer$"))

    with page.expect_navigation():
        page.locator("#language").select_option(label="简体中文")

    assert page.locator("html").get_attribute("lang") == "zh-hans"
    expect(page).to_have_url(re.compile(r"\?layer=0&mode=layer$"))
    expect(page.locator(".layer-row.selected .layer-link")).to_have_attribute("data-layer", "0")
