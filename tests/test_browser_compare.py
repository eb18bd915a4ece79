"""Comparing two images, the layers shared across the store and the efficiency panel, in a
real browser: charts drawn and answering the mouse, the diff tree opening in place, the lazy
efficiency panel and its table swapped alone, hostile names staying text, the narrow layout.
Every page of every test must finish without a console error or an uncaught exception."""

from __future__ import annotations

import re
from itertools import pairwise
from pathlib import Path
from pprint import pformat
from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings
from django.urls import reverse
from playwright.sync_api import Locator, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from layerviz.images.ingest import ingest
from layerviz.images.models import Image
from layerviz.lib import synth
from layerviz.lib.synth import Step
from layerviz.lib.tarwriter import file, whiteout

from . import browser
from .helpers import ingest_image

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


# --- images ------------------------------------------------------------------------------

BASE = synth.layer([file("bin/sh", b"s" * 4000, mode=0o755), file("etc/os-release", b"v1\n")])
OTHER_BASE = synth.layer([file("bin/sh", b"t" * 4000, mode=0o755), file("etc/os-release", b"v1\n")])
DEPS = synth.layer([file("usr/lib/libx.so", b"x" * 3000), file("var/cache/pkg.deb", b"d" * 2000)])
BASE_STEP = Step("ADD rootfs /")
DEPS_STEP = Step("RUN /bin/sh -c apt-get install -y libx")
APP_STEP = Step("COPY app /app")


@pytest.fixture
def release_pair(tmp_path: Path) -> tuple[Image, Image]:
    """Two releases of one app on the same base and dependencies: they diverge at layer #3,
    where main.py changes, old.txt goes and new.txt comes; A=1 becomes A=2, MODE goes, NEW
    comes."""
    v1 = ingest_image(
        tmp_path,
        "lv/app:1.0",
        [BASE, DEPS, synth.layer([file("app/main.py", b"v1" * 100), file("app/old.txt", b"o")])],
        [BASE_STEP, DEPS_STEP, APP_STEP],
        env=["A=1", "MODE=x"],
    )
    v2 = ingest_image(
        tmp_path,
        "lv/app:2.0",
        [BASE, DEPS, synth.layer([file("app/main.py", b"v2" * 150), file("app/new.txt", b"nnnn")])],
        [BASE_STEP, DEPS_STEP, APP_STEP],
        env=["A=2", "NEW=1"],
    )
    return v1, v2


@pytest.fixture
def wasteful(tmp_path: Path) -> Image:
    """61 paths written twice (two pages of inefficient files), an APT cache, a build log
    deleted a step after it was written."""
    return ingest_image(
        tmp_path,
        "lv/waste:1",
        [
            synth.layer(
                [file("var/lib/apt/lists/x", b"l" * 900)]
                + [file(f"f{i:02}", b"a" * 50) for i in range(60)]
            ),
            synth.layer(
                [file("tmp/build.log", b"b" * 700)]
                + [file(f"f{i:02}", b"b" * 60) for i in range(60)]
            ),
            synth.layer([whiteout("tmp/build.log")]),
        ],
        [
            BASE_STEP,
            Step("RUN /bin/sh -c apt-get install -y x"),
            Step("RUN /bin/sh -c rm /tmp/build.log"),
        ],
    )


# --- helpers -----------------------------------------------------------------------------


def _compare_url(a: Image, b: Image) -> str:
    return reverse("compare:compare") + f"?a={a.digest}&b={b.digest}"


def _image_url(image: Image) -> str:
    return reverse("explorer:image", args=[image.digest])


def _chart(page: Page, chart: str) -> Locator:
    return page.locator(f"[data-chart='{chart}']")


def _plot_drawn(page: Page, chart: str) -> Locator:
    drawn = _chart(page, chart)
    expect(drawn.locator("svg.main-svg").first).to_be_visible()
    return drawn


def _texts(locator: Locator) -> list[str]:
    return [" ".join(text.split()) for text in locator.all_text_contents()]


def _facts(page: Page) -> dict[str, str]:
    """The figures of a page's ``dl.numbers``, by their term."""
    terms, values = page.locator(".numbers dt"), page.locator(".numbers dd")
    return dict(zip(_texts(terms), _texts(values), strict=True))


def _tree_item(page: Page, name: str) -> Locator:
    """The tree row whose own name (not a descendant's) is ``name``."""
    return page.locator("li[role=treeitem]").filter(
        has=page.locator(":scope > .node > .name", has_text=re.compile(f"^{re.escape(name)}$"))
    )


def _query(page: Page) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


def _hover_grid(page: Page, chart: Locator, rows: int, columns: int) -> list[str]:
    """Hover texts over the centre of each cell of a ``rows`` × ``columns`` heatmap: a heatmap
    is one picture, with no mark per cell to aim at."""
    chart.scroll_into_view_if_needed()
    area = chart.locator(".nsewdrag").first.bounding_box()
    assert area is not None, "the heatmap has no plot area"
    text = chart.locator(".hoverlayer .hovertext").first
    shown = []
    for row in range(rows):
        for column in range(columns):
            page.mouse.move(0, 0)
            text.wait_for(state="hidden", timeout=1_000)
            page.mouse.move(
                area["x"] + area["width"] * (column + 0.5) / columns,
                area["y"] + area["height"] * (row + 0.5) / rows,
            )
            try:
                text.wait_for(state="visible", timeout=1_000)
            except PlaywrightTimeoutError:
                continue
            shown.append(text.text_content() or "")
    page.mouse.move(0, 0)
    return shown


def _efficiency_panel(page: Page) -> Locator:
    """The efficiency panel of an image page, scrolled to so that it loads. A tall window may
    have shown the slot, and so replaced it, already: whichever is there is scrolled to, in
    one step, so that it cannot be swapped out half-way."""
    page.evaluate("document.querySelector('#efficiency-slot, #efficiency').scrollIntoView()")
    panel = page.locator("section#efficiency")
    expect(panel).to_be_visible()
    return panel


def _no_script_ran(page: Page) -> None:
    assert page.evaluate("typeof window.__xss") == "undefined", f"a name ran as code on {page.url}"
    assert page.locator("img").count() == 0, f"a name became an <img> on {page.url}"


# --- comparing two images ----------------------------------------------------------------


def test_two_images_ticked_in_the_list_open_their_comparison_with_the_common_base_once(
    page: Page, release_pair: tuple[Image, Image], artifacts: Path
):
    v1, v2 = release_pair
    page.goto("/")
    listed = _texts(page.locator("a.image-name"))
    assert sorted(listed) == ["lv/app:1.0", "lv/app:2.0"]
    for box in page.get_by_label("Select for comparison").all():
        box.check()

    page.get_by_role("button", name="Compare the two selected").click()

    # The older image is A whatever the list's order ("what changed in this release").
    expect(page).to_have_url(re.compile(r"/compare\?a=[^&]+&b=[^&]+$"))
    assert _query(page) == {"a": [v1.digest], "b": [v2.digest]}
    expect(page.locator("table.aligned thead th")).to_have_text(
        ["A · lv/app:1.0", "B · lv/app:2.0"]
    )
    expect(page.locator("h2#numbers-title")).to_have_text("What they share")

    shared = page.locator("table.aligned .shared-row")
    expect(shared).to_have_count(2)
    expect(shared.locator("td")).to_have_count(2)  # one cell across both sides
    expect(shared.nth(0)).to_contain_text("#1")
    expect(shared.nth(0)).to_contain_text("rootfs /")
    expect(shared.nth(1)).to_contain_text("#2")
    expect(shared.nth(1)).to_contain_text("apt-get install -y libx")
    expect(page.locator("table.aligned .diverge")).to_have_text("They diverge at layer #3")
    diverging = page.locator("table.aligned tbody tr:not(.shared-row):not(.diverge)")
    expect(diverging).to_have_count(1)
    expect(diverging.locator("td.side .idx")).to_have_text(["#3", "#3"])

    chart = _plot_drawn(page, "diff-chart-data")
    expect(chart.locator(".barlayer .point")).not_to_have_count(0)
    bars = browser.tooltips(page, chart, ".barlayer .point")
    assert len(bars) == 3 and all("app: " in text for text in bars), bars
    browser.screenshot(page, artifacts, "compare")


def test_a_directory_of_the_diff_opens_in_place_with_one_request_and_closes_without_one(
    page: Page, release_pair: tuple[Image, Image]
):
    v1, v2 = release_pair
    page.goto(_compare_url(v1, v2))
    trees = browser.Requests(page, reverse("compare:tree"))
    app = _tree_item(page, "app/")
    expect(page.locator(".diff-body .tree[role=tree] > li")).to_have_count(1)
    expect(app).to_have_attribute("aria-expanded", "false")
    expect(app.locator(":scope > .node .counts")).to_have_text("+1 −1 ~1")
    browser.mark_document(page)

    app.locator(":scope > .node > .name").click()

    expect(app).to_have_attribute("aria-expanded", "true")
    children = app.locator(":scope > ul > li")
    expect(children.locator(":scope > .node > .name")).to_have_text(
        ["main.py", "new.txt", "old.txt"]
    )
    expect(children).to_have_class(["d-changed", "d-added", "d-removed"])
    assert len(trees) == 1
    assert parse_qs(urlsplit(trees.seen[0].url).query)["path"] == ["app"]
    assert _query(page)["path"] == ["app"]
    assert browser.same_document(page)
    # Each changed file links to the layer of each image that wrote it.
    expect(_tree_item(page, "main.py").locator(".note a")).to_have_text(["A #3", "B #3"])

    app.locator(":scope > .node > .name").click()

    expect(app).to_have_attribute("aria-expanded", "false")
    expect(children).to_have_count(0)
    page.wait_for_timeout(300)
    assert len(trees) == 1, "closing a directory should not ask the server"
    assert "path" not in _query(page)
    assert browser.same_document(page)


def test_the_diff_filters_swap_only_the_tree_and_keep_their_state_in_the_url(
    page: Page, release_pair: tuple[Image, Image]
):
    v1, v2 = release_pair
    page.goto(_compare_url(v1, v2))
    panel = page.locator("#diff-panel")
    swaps = browser.Requests(page, reverse("compare:compare"))
    browser.mark_document(page)
    page.evaluate("window.__stacks = document.querySelector('table.aligned')")

    panel.get_by_label("only in A").check()

    expect(page).to_have_url(re.compile(r"[?&]kind=removed(&|$)"))
    app = _tree_item(page, "app/")
    app.locator(":scope > .node > .name").click()
    expect(app.locator(":scope > ul > li > .node > .name")).to_have_text(["old.txt"])
    assert _query(page)["path"] == ["app"] and _query(page)["kind"] == ["removed"]

    panel.get_by_label("Path contains").fill(".txt")

    expect(panel.locator(".tree.flat .name")).to_have_text(["app/old.txt"])
    panel.get_by_label("only in A").uncheck()
    expect(panel.locator(".tree.flat .name")).to_have_text(["app/new.txt", "app/old.txt"])
    browser.settled(page)  # the swapped-in form listens only once htmx has settled it
    panel.get_by_label("Sort").select_option("size")
    expect(page).to_have_url(re.compile(r"[?&]sort=size(&|$)"))
    expect(panel.get_by_label("Sort")).to_have_value("size")
    assert _query(page)["q"] == [".txt"]
    assert browser.same_document(page)
    assert page.evaluate("window.__stacks === document.querySelector('table.aligned')"), (
        "more than the diff's panel was swapped"
    )
    filtered = [r for r in swaps.seen if urlsplit(r.url).path == reverse("compare:compare")]
    assert filtered and all(r.headers.get("hx-target") == "diff-panel" for r in filtered)

    # A result opens the tree at its folder, with the filters and without the search.
    panel.locator(".tree.flat .name", has_text="app/old.txt").click()
    expect(_tree_item(page, "app/")).to_have_attribute("aria-expanded", "true")
    expect(page).not_to_have_url(re.compile(r"[?&]q="))
    assert _query(page)["sort"] == ["size"]

    # The URL alone gives the same view.
    page.goto(_compare_url(v1, v2) + "&kind=added&q=.txt")
    expect(panel.locator(".tree.flat .name")).to_have_text(["app/new.txt"])
    expect(panel.get_by_label("only in B")).to_be_checked()
    expect(panel.get_by_label("Path contains")).to_have_value(".txt")


def test_compare_with_on_an_image_page_opens_the_same_comparison_and_its_settings(
    page: Page, release_pair: tuple[Image, Image]
):
    v1, v2 = release_pair
    page.goto("/")
    for box in page.get_by_label("Select for comparison").all():
        box.check()
    page.get_by_role("button", name="Compare the two selected").click()
    expect(page).to_have_url(re.compile(r"/compare\?a="))
    from_list = _query(page)
    a = v1 if from_list["a"] == [v1.digest] else v2
    b = v2 if a == v1 else v1

    page.goto(_image_url(a))
    page.get_by_label("Compare with").select_option(value=b.digest)
    page.get_by_role("button", name="Compare", exact=True).click()

    expect(page).to_have_url(re.compile(r"/compare\?"))
    assert _query(page) == from_list
    env = {
        row[0]: row[1:]
        for row in (
            _texts(tr.locator("th, td")) for tr in page.locator("table.config-diff tbody tr").all()
        )
    }
    values = {v1: {"A": "1", "MODE": "x"}, v2: {"A": "2", "NEW": "1"}}
    expected = {
        f"Env {name}": [values[a].get(name, "–"), values[b].get(name, "–")]
        for name in ("A", "MODE", "NEW")
    }
    assert {key: value for key, value in env.items() if key.startswith("Env ")} == expected


def test_identical_layers_on_another_base_are_marked_as_not_shared(page: Page, tmp_path: Path):
    a = ingest_image(tmp_path, "lv/a:1", [BASE, DEPS], [BASE_STEP, DEPS_STEP])
    b = ingest_image(tmp_path, "lv/b:1", [OTHER_BASE, DEPS], [BASE_STEP, DEPS_STEP])

    page.goto(_compare_url(a, b))

    expect(page.locator("table.aligned .shared-row")).to_have_count(0)
    expect(page.locator("table.aligned .diverge")).to_have_text("They share no layer at all")
    rows = page.locator("table.aligned tbody tr:not(.diverge)")
    expect(rows).to_have_count(2)
    expect(rows.nth(1).locator("td.side .note")).to_have_text(
        [
            "same content as B's layer #2, on another base: not shared",
            "same content as A's layer #2, on another base: not shared",
        ]
    )
    expect(page.locator(".numbers dd").first).to_contain_text("0 B")


# --- the store ---------------------------------------------------------------------------


@pytest.fixture
def store(release_pair: tuple[Image, Image], tmp_path: Path) -> tuple[Image, Image, Image]:
    """The two releases and an image on another base."""
    other = ingest_image(tmp_path, "lv/other:1", [OTHER_BASE], [BASE_STEP])
    return *release_pair, other


def test_the_store_page_totals_the_layers_and_the_layer_tree_zooms_then_opens_an_image(
    page: Page, store: tuple[Image, Image, Image], artifacts: Path
):
    v1, _v2, _other = store
    page.goto(reverse("compare:store"))

    facts = _facts(page)
    assert facts["Images"] == "3"
    assert facts["Unique layers"] == "5"  # BASE, DEPS, two app layers, OTHER_BASE
    # Both meanings of sharing, named: a registry stores content once, a host each chain once.
    assert "saves 0 B" not in facts["Stored by a registry"]
    assert "each layer once per base it sits on" in facts["Stored on a Docker host"]
    _plot_drawn(page, "sankey-data")
    expect(_chart(page, "sankey-data").locator(".sankey-node")).not_to_have_count(0)
    heatmap = _plot_drawn(page, "heatmap-data")
    expect(heatmap.locator(".hm")).to_have_count(1)
    icicle = _plot_drawn(page, "icicle-data")
    browser.screenshot(page, artifacts, "store")

    # The dependencies' layer is no image's top, so its box is named by the step that made it;
    # it has layers built on it, so a click zooms into it rather than leaving the page.
    box = icicle.locator("g.slice").filter(has_text="RUN apt-get install -y libx")
    expect(box).to_have_count(1)
    assert "shared by 2 images" in browser.tooltip(page, icicle, box)
    mark = "window.__sameDocument = true"
    page.evaluate(mark)
    browser.click_point(page, box)

    # Zoomed: the base and the other image's branch are out of the picture.
    expect(icicle.locator("g.slice")).to_have_count(3)
    assert browser.same_document(page)
    assert urlsplit(page.url).path == reverse("compare:store")
    app = icicle.locator("g.slice").filter(has_text="lv/app:1.0")
    page.wait_for_timeout(800)  # plotly's zoom is animated
    assert "click to open the image" in browser.tooltip(page, icicle, app)
    browser.click_point(page, app)

    expect(page).to_have_url(re.compile(re.escape(_image_url(v1)) + r"\?layer=2&mode=layer$"))
    expect(page.locator("#panel-title")).to_have_text("Layer #3")
    expect(page.locator(".layer-row.selected .layer-link")).to_have_attribute("data-layer", "2")


def test_a_click_on_an_image_of_the_flow_chart_opens_that_image(
    page: Page, store: tuple[Image, Image, Image]
):
    _v1, v2, _other = store
    page.goto(reverse("compare:store"))
    sankey = _plot_drawn(page, "sankey-data")
    node = sankey.locator(".sankey-node").filter(has_text="lv/app:2.0")
    expect(node).to_have_count(1)

    browser.click_point(page, node.locator(".node-rect"))

    expect(page).to_have_url(re.compile(re.escape(_image_url(v2)) + "$"))
    expect(page.locator("h1")).to_have_text("lv/app:2.0")


@pytest.fixture
def big_store(tmp_path: Path) -> list[Image]:
    """200 images shaped like bench_compare.py's store, with small files: 8 bases, 5 dependency
    layers, 40 applications of 5 releases each (one archive, one ingest: about a second)."""
    bases = [
        synth.layer([file(f"usr/lib/b{b}/f{i}", b"%d" % i * (50 + 40 * b)) for i in range(20)])
        for b in range(8)
    ]
    deps = [
        synth.layer([file(f"opt/deps{d}/m{i}.py", b"x" * (100 + i + d)) for i in range(30)])
        for d in range(5)
    ]
    images = [
        synth.Image(
            layers=[
                bases[n % 8],
                deps[n % 5],
                synth.layer([file(f"app/main{n}.py", b"print(%d)\n" % n * 20)]),
            ],
            history=[BASE_STEP, DEPS_STEP, APP_STEP],
            tags=[f"lv/app{n % 40}:{n // 40}"],
        )
        for n in range(200)
    ]
    archive = synth.write_docker_archive(tmp_path / "big.tar", images, layout="docker25")
    return ingest(f"docker-archive:{archive}")


def test_a_store_of_200_images_keeps_its_charts_readable_and_the_page_its_width(
    page: Page, big_store: list[Image], artifacts: Path
):
    page.goto(reverse("compare:store"))
    assert _facts(page)["Images"] == "200"

    heatmap = _plot_drawn(page, "heatmap-data")
    ticks = heatmap.locator(".yaxislayer-above .ytick text")
    expect(ticks).to_have_count(settings.LAYERVIZ_STORE_HEATMAP_IMAGES)
    expect(page.locator("#matrix-title ~ .note-capped")).to_contain_text(
        f"The {settings.LAYERVIZ_STORE_HEATMAP_IMAGES} images that share the most bytes"
    )
    # Every label keeps a row of its own: no label overlaps the next.
    boxes = [tick.bounding_box() for tick in ticks.all()]
    tops = sorted(box["y"] for box in boxes if box)
    assert min(b - a for a, b in pairwise(tops)) >= 12
    sankey = _plot_drawn(page, "sankey-data")
    expect(sankey.locator(".sankey-node").filter(has_text="lv/app39:4")).to_have_count(1)

    # The ends of the tree are too narrow to read from the top: a click zooms into a branch
    # until the images' names show.
    icicle = _plot_drawn(page, "icicle-data")
    browser.screenshot(page, artifacts, "store-200")
    assert browser.overflowing(page) == []
    first = icicle.locator("g.slice").nth(1)
    browser.click_point(page, first)
    page.wait_for_timeout(800)
    deps = icicle.locator("g.slice").nth(1)
    browser.click_point(page, deps)
    page.wait_for_timeout(800)
    names = [text for text in _texts(icicle.locator("g.slice text")) if text.startswith("lv/")]
    assert len(names) == 5, names
    browser.screenshot(page, artifacts, "store-200-zoomed")

    page.set_viewport_size({"width": 390, "height": 800})
    page.reload()
    _plot_drawn(page, "heatmap-data")
    assert browser.overflowing(page) == []


def test_the_pull_planner_lists_the_layers_to_download_and_a_name_narrows_the_images(
    page: Page, store: tuple[Image, Image, Image]
):
    page.goto(reverse("compare:store"))
    planner = page.locator("form.planner")
    planner.get_by_label("lv/app:1.0").check()
    planner.get_by_label("Image to pull").select_option(label="lv/app:2.0")
    planner.get_by_role("button", name="Plan the pull").click()

    steps = page.locator("ol.plan li")
    expect(steps).to_have_count(3)
    expect(steps).to_have_class(["have", "have", "get"])
    expect(steps.nth(0)).to_contain_text("already there")
    expect(steps.nth(2)).to_contain_text("download")
    expect(page.locator("ol.plan").locator("xpath=preceding-sibling::p[1]")).to_contain_text(
        re.compile(r"^Download .+ of .+\.$")
    )
    # The form remembers the plan it made.
    expect(planner.get_by_label("lv/app:1.0")).to_be_checked()
    expect(planner.get_by_label("Image to pull")).to_have_value(store[1].digest)

    page.get_by_label("Images named").fill("app")
    page.get_by_role("button", name="Show").click()

    expect(page).to_have_url(re.compile(r"[?&]q=app(&|$)"))
    facts = _facts(page)
    assert facts["Images"] == "2"
    expect(planner.locator(".checks label")).to_have_text(["lv/app:2.0", "lv/app:1.0"])
    _plot_drawn(page, "icicle-data")
    _plot_drawn(page, "heatmap-data")


# --- efficiency --------------------------------------------------------------------------


def test_the_image_page_loads_the_efficiency_panel_once_it_is_scrolled_into_view(
    page: Page, wasteful: Image, artifacts: Path
):
    page.set_viewport_size({"width": 1280, "height": 600})
    loads = browser.Requests(page, reverse("explorer:efficiency", args=[wasteful.digest]))
    page.goto(_image_url(wasteful))
    _plot_drawn(page, "size-chart-data")
    slot = page.locator("#efficiency-slot")
    box = slot.bounding_box()
    assert box is not None and box["y"] > 600, "the panel's slot should start below the fold"
    page.wait_for_timeout(400)
    assert len(loads) == 0, "the panel loaded before anyone scrolled to it"
    browser.mark_document(page)

    slot.scroll_into_view_if_needed()

    panel = page.locator("section#efficiency")
    expect(panel).to_be_visible()
    expect(slot).to_have_count(0)
    assert len(loads) == 1
    assert browser.same_document(page)
    assert urlsplit(page.url).path == _image_url(wasteful)
    expect(panel.locator(".score-box h3").first).to_contain_text("dive's figures")
    _plot_drawn(page, "reason-chart-data")
    layers = _plot_drawn(page, "layer-waste-data")
    bars = browser.tooltips(page, layers, ".barlayer .point")
    assert any("apt-get install -y x" in text for text in bars), bars
    expect(panel.locator("ol.advice > li")).not_to_have_count(0)
    browser.screenshot(page, artifacts, "efficiency")


def test_on_a_wide_window_the_efficiency_panel_comes_below_the_stack_and_the_layer_panel(
    page: Page, wasteful: Image
):
    page.goto(_image_url(wasteful))
    efficiency = _efficiency_panel(page).bounding_box()
    stack = page.locator(".stack-card").bounding_box()
    layer = page.locator("#layer-panel").bounding_box()
    assert stack and layer and efficiency

    assert layer["x"] >= stack["x"] + stack["width"], "the layer panel is not beside the stack"
    assert abs(layer["y"] - stack["y"]) < 1
    bottom = max(stack["y"] + stack["height"], layer["y"] + layer["height"])
    assert efficiency["y"] >= bottom, "the efficiency panel comes between the stack and its panel"


def test_sorting_and_paging_the_inefficient_files_swap_only_their_table(
    page: Page, wasteful: Image
):
    page.goto(_image_url(wasteful))
    table = _efficiency_panel(page).locator("#inefficient-files")
    expect(table.locator("table.inefficient tbody tr")).to_have_count(50)
    expect(table.locator("h3 small")).to_have_text("61 paths")
    page.evaluate("window.__panel = document.getElementById('efficiency')")
    page.evaluate("window.__charts = document.querySelector('[data-chart=reason-chart-data]')")
    swaps = browser.Requests(page, reverse("explorer:efficiency", args=[wasteful.digest]))
    browser.mark_document(page)

    table.get_by_role("link", name="Path", exact=True).click()

    expect(table.get_by_role("columnheader", name="Path", exact=True)).to_have_attribute(
        "aria-sort", "ascending"
    )
    paths = _texts(table.locator("tbody td:first-child"))
    assert paths == sorted(paths) and paths[0] == "/f00", paths[:3]
    assert len(swaps) == 1 and swaps.seen[0].headers.get("hx-target") == "inefficient-files"
    assert page.evaluate("window.__panel === document.getElementById('efficiency')")
    assert page.evaluate(
        "window.__charts === document.querySelector('[data-chart=reason-chart-data]')"
    ), "the charts were redrawn: more than the table was swapped"

    table.locator(".pager").get_by_role("link", name="Next").click()

    expect(table.locator(".pager span")).to_have_text("Page 2 of 2")
    expect(table.locator("table.inefficient tbody tr")).to_have_count(11)
    expect(table.locator("tbody td:first-child").first).to_have_text("/f50")
    expect(table.get_by_role("columnheader", name="Path", exact=True)).to_have_attribute(
        "aria-sort", "ascending"
    )
    assert page.evaluate("window.__panel === document.getElementById('efficiency')")
    assert browser.same_document(page)

    table.locator(".pager").get_by_role("link", name="Previous").click()
    expect(table.locator(".pager span")).to_have_text("Page 1 of 2")
    expect(table.locator("tbody td:first-child").first).to_have_text("/f00")
    assert len(swaps) == 3


def test_an_advice_item_links_to_its_layer(page: Page, wasteful: Image):
    page.goto(_image_url(wasteful))
    finding = _efficiency_panel(page).locator("ol.advice > li.f-deleted_later")
    expect(finding).to_contain_text("deleted in a later one")
    expect(finding.locator(".evidence a")).to_have_text(["#2", "#3"])

    finding.locator(".evidence a").first.click()

    expect(page).to_have_url(re.compile(re.escape(_image_url(wasteful)) + r"\?layer=1&mode=layer$"))
    expect(page.locator("#panel-title")).to_have_text("Layer #2")
    expect(page.locator(".layer-row.selected .layer-link")).to_have_attribute("data-layer", "1")


# --- hostile input -----------------------------------------------------------------------

IMG = "<img src=x onerror=window.__xss=1>"
SCRIPT = "<script>window.__xss=2</script>"
# The compare chart is by top directory, so a hostile name must also be a directory's.
IMG_DIR = "<img src=y onerror=window.__xss=3>"


@pytest.fixture
def hostile_pair(tmp_path: Path) -> tuple[Image, Image]:
    """A base image, and on it a layer holding a file (and a directory) named as an <img> tag,
    written by a step holding a <script>, then overwritten (so that step's bytes are wasted
    and charted)."""
    plain = ingest_image(tmp_path, "lv/h:1", [BASE], [BASE_STEP])
    hostile = ingest_image(
        tmp_path,
        "lv/h:2",
        [
            BASE,
            synth.layer([file(IMG, b"i" * 40_000), file(f"{IMG_DIR}/lib.so", b"d" * 9000)]),
            synth.layer([file(IMG, b"j" * 30_000)]),
        ],
        [BASE_STEP, Step(f"RUN /bin/sh -c echo '{SCRIPT}'"), Step("RUN /bin/sh -c make")],
    )
    return plain, hostile


def test_hostile_names_stay_text_in_every_chart_of_compare_store_and_efficiency(
    page: Page, hostile_pair: tuple[Image, Image]
):
    plain, hostile = hostile_pair

    page.goto(_compare_url(plain, hostile))
    expect(page.locator("table.aligned .cmd").filter(has_text=SCRIPT)).to_have_count(1)
    expect(_tree_item(page, IMG)).to_be_visible()
    chart = _plot_drawn(page, "diff-chart-data")
    bars = browser.tooltips(page, chart, ".barlayer .point")
    assert any(IMG_DIR in text for text in bars), bars
    _no_script_ran(page)

    page.goto(reverse("compare:store"))
    icicle = _plot_drawn(page, "icicle-data")
    boxes = browser.tooltips(page, icicle, "g.slice")
    assert any("lv/h:2" in text for text in boxes), boxes
    sankey = _plot_drawn(page, "sankey-data")
    assert browser.tooltips(page, sankey, ".sankey-node"), "the sankey's nodes explain nothing"
    browser.tooltips(page, sankey, ".sankey-link")  # hovered for the script check below
    cells = _hover_grid(page, _plot_drawn(page, "heatmap-data"), 2, 2)
    assert any("∩" in text for text in cells), cells
    _no_script_ran(page)

    page.goto(reverse("explorer:efficiency", args=[hostile.digest]))
    expect(page.locator("table.inefficient tbody td:first-child")).to_contain_text(["/" + IMG])
    reasons = _plot_drawn(page, "reason-chart-data")
    assert browser.tooltips(page, reasons, ".barlayer .point")
    layers = _plot_drawn(page, "layer-waste-data")
    bars = browser.tooltips(page, layers, ".barlayer .point")
    assert any(SCRIPT in text for text in bars), bars
    _no_script_ran(page)


# --- layout ------------------------------------------------------------------------------


def test_a_narrow_window_shows_the_comparison_and_the_efficiency_without_sideways_scrolling(
    page: Page, release_pair: tuple[Image, Image], wasteful: Image, artifacts: Path
):
    page.set_viewport_size({"width": 390, "height": 800})
    v1, v2 = release_pair

    page.goto(_compare_url(v1, v2))
    _plot_drawn(page, "diff-chart-data")
    # Opened: a file's row (change, sizes, delta, links to both layers) is the widest thing.
    _tree_item(page, "app/").locator(":scope > .node > .name").click()
    expect(_tree_item(page, "main.py")).to_be_visible()
    wide = {"compare page": browser.overflowing(page)}
    browser.screenshot(page, artifacts, "compare-narrow")

    page.goto(reverse("explorer:efficiency", args=[wasteful.digest]))
    _plot_drawn(page, "reason-chart-data")
    _plot_drawn(page, "layer-waste-data")
    wide["efficiency page"] = browser.overflowing(page)
    browser.screenshot(page, artifacts, "efficiency-narrow")

    too_wide = {name: found for name, found in wide.items() if found}
    assert not too_wide, pformat(too_wide)
