"""The efficiency page and its htmx fragments."""

from __future__ import annotations

import json

import pytest
from bs4 import BeautifulSoup
from django.test import Client
from django.urls import reverse

from layerviz.lib import synth
from layerviz.lib.synth import Step
from layerviz.lib.tarwriter import file, whiteout

from .builder import NON_UTF8
from .helpers import ingest_image, soup

pytestmark = pytest.mark.django_db


@pytest.fixture
def wasteful(tmp_path):
    layers = [
        synth.layer(
            [file("var/lib/apt/lists/x", b"l" * 900)]
            + [file(f"f{i}", b"%d" % i * 50) for i in range(60)]
        ),
        synth.layer(
            [file(b"<img src=x onerror=alert(1)>", b"1")]
            + [file(f"f{i}", b"%d" % i * 60) for i in range(60)]
        ),
        synth.layer([whiteout(b"<img src=x onerror=alert(1)>")]),
    ]
    history = [
        Step("ADD rootfs /"),
        Step("RUN /bin/sh -c apt-get install -y x"),
        Step("RUN /bin/sh -c rm '<script>alert(2)</script>'"),
    ]
    return ingest_image(tmp_path, "lv/waste:1", layers, history)


def test_the_page_shows_dive_figures_beside_ours_and_the_advice(client: Client, wasteful):
    page = soup(client.get(reverse("explorer:efficiency", args=[wasteful.digest])))

    boxes = page.select(".score-box")
    assert "dive" in boxes[0].h3.get_text() and boxes[1].h3.get_text(strip=True) == "layerviz"
    codes = [li["class"][1] for li in page.select("ol.advice > li")]
    assert "f-cache_apt" in codes and "f-deleted_later" in codes
    assert page.select_one("#reason-chart-data") is not None
    rows = page.select("table.inefficient tbody tr")
    assert len(rows) == 50  # paginated
    assert page.select_one(".pager") is not None


def test_the_image_page_loads_the_panel_lazily_with_a_plain_link_for_no_javascript(
    client: Client, wasteful
):
    page = soup(client.get(reverse("explorer:image", args=[wasteful.digest])))
    slot = page.select_one("#efficiency-slot")
    assert slot["hx-trigger"] == "revealed"
    assert slot.a["href"] == reverse("explorer:efficiency", args=[wasteful.digest])

    fragment = soup(
        client.get(slot["hx-get"], HTTP_HX_REQUEST="true", HTTP_HX_TARGET="efficiency-slot")
    )
    assert fragment.select_one("html") is None
    assert fragment.select_one("section#efficiency") is not None


def test_sorting_the_inefficient_files_returns_only_the_table(client: Client, wasteful):
    url = reverse("explorer:efficiency", args=[wasteful.digest])
    fragment = soup(
        client.get(
            url, {"sort": "path"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="inefficient-files"
        )
    )

    assert fragment.select_one("#efficiency") is None
    paths = [a.get_text() for a in fragment.select("table.inefficient tbody td:first-child a")]
    assert paths == sorted(paths)


def test_hostile_names_in_the_analysis_render_as_text(client: Client, wasteful):
    response = client.get(
        reverse("explorer:efficiency", args=[wasteful.digest]), {"sort": "reclaimable"}
    )
    page = soup(response)

    assert page.select("img") == [] and page.select("script:not([src]):not([type])") == []
    assert "/<img src=x onerror=alert(1)>" in page.get_text()
    chart = json.loads(page.select_one("#layer-waste-data").string)
    assert all("<script>" not in text for trace in chart["data"] for text in trace["hovertext"])


def test_a_name_that_is_not_utf8_is_listed_in_its_escaped_form_and_links_to_its_history(
    client: Client, tmp_path
):
    layers = [
        synth.layer([file(NON_UTF8, b"a" * 500)]),
        synth.layer([file(NON_UTF8, b"b" * 700)]),
    ]
    image = ingest_image(tmp_path, "lv/latin1:1", layers)

    response = client.get(reverse("explorer:efficiency", args=[image.digest]))

    assert response.status_code == 200
    [link] = soup(response).select("table.inefficient tbody td:first-child a")
    assert link.get_text() == "/caf\\xe9/\\xff\\xfe-name.txt"
    history = soup(client.get(link["href"]))
    assert len(history.select("table tbody tr")) == 2  # both layers that wrote it


def _sort_links(page: BeautifulSoup) -> dict[str, tuple[str, str | None]]:
    """Column label -> (where its link sorts, the header's aria-sort)."""
    return {
        th.a.get_text(): (th.a["hx-get"].partition("?sort=")[2], th.get("aria-sort"))
        for th in page.select("table.inefficient thead th")
    }


def test_sorting_and_paging_push_the_url_and_a_second_click_offers_the_reverse_order(
    client: Client, wasteful
):
    url = reverse("explorer:efficiency", args=[wasteful.digest])
    fragment = soup(
        client.get(
            url, {"sort": "path"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="inefficient-files"
        )
    )

    links = fragment.select("table.inefficient thead a") + fragment.select(".pager a")
    assert links and all(a["hx-push-url"] == "true" and a["href"] == a["hx-get"] for a in links)
    assert _sort_links(fragment) == {
        "Path": ("-path", "ascending"),
        "Layers": ("count", None),
        "dive: wasted": ("size", None),
        "layerviz: reclaimable": ("reclaimable", None),
    }


def test_the_reversed_sort_lists_the_files_the_other_way_round(client: Client, wasteful):
    url = reverse("explorer:efficiency", args=[wasteful.digest])
    page = soup(client.get(url, {"sort": "-path"}))

    paths = [a.get_text() for a in page.select("table.inefficient tbody td:first-child a")]
    assert paths == sorted(paths, reverse=True)
    assert _sort_links(page)["Path"] == ("path", "descending")
    assert "sort=-path" in page.select_one(".pager a")["href"]


def test_a_cache_and_a_secret_removed_later_are_explained_on_the_page(client: Client, tmp_path):
    layers = [
        synth.layer([file("etc/os-release", b"base")]),
        synth.layer(
            [file("var/cache/apk/APKINDEX.tar.gz", b"i" * 900), file("root/.npmrc", b"t" * 40)]
        ),
        synth.layer([whiteout("var/cache/apk/APKINDEX.tar.gz"), whiteout("root/.npmrc")]),
    ]
    history = [
        Step("ADD file:4f2a in / "),
        Step("RUN /bin/sh -c apk add nodejs"),
        Step("RUN /bin/sh -c rm -rf /var/cache/apk/* /root/.npmrc"),
    ]
    image = ingest_image(tmp_path, "lv/clean:1", layers, history)

    page = soup(client.get(reverse("explorer:efficiency", args=[image.digest])))

    findings = page.select("ol.advice > li")
    assert [li["class"][1] for li in findings] == ["f-secrets", "f-cache_apk", "f-deleted_later"]
    secret, cache = findings[0], findings[1]
    assert "deleted or replaced later" in secret.select_one(".evidence").get_text()
    assert [a.get_text() for a in secret.select(".sample a")] == ["/root/.npmrc"]
    cleaned = cache.select(".evidence a")
    assert [a.get_text() for a in cleaned] == ["#2", "#3", "#3"]  # layers, then the cleaner
    assert cleaned[-1]["href"].endswith("?layer=2&mode=layer")


def test_restoring_a_pushed_url_from_history_gets_the_whole_page(client: Client, wasteful):
    # htmx asks for the whole page when its history cache has no snapshot of the URL.
    response = client.get(
        reverse("explorer:efficiency", args=[wasteful.digest]),
        {"sort": "count", "page": "2"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_HISTORY_RESTORE_REQUEST="true",
    )
    page = soup(response)
    assert page.select_one("html") is not None and page.select_one("#inefficient-files")


def test_advice_that_removes_files_still_in_the_image_says_so_apart_from_the_reclaimable(
    client, tmp_path
):
    image = ingest_image(
        tmp_path,
        "lv/tools:1",
        [synth.layer([file("usr/bin/gcc-12", b"g" * 5000), file("etc/os-release", b"base")])],
        [Step("ADD file:4f2a in / ")],
    )
    page = soup(client.get(reverse("explorer:efficiency", args=[image.digest])))

    [toolchain] = page.select("li.f-toolchain")
    assert (
        "5.0 kB of it are files still in the image" in toolchain.select_one(".in-image").get_text()
    )


def test_the_api_gives_the_page_s_scores_and_advice_with_layers_numbered_from_one(
    client: Client, wasteful
):
    answer = client.get(f"/api/images/{wasteful.digest}/efficiency").json()
    page = soup(client.get(reverse("explorer:efficiency", args=[wasteful.digest])))

    assert answer["image"] == wasteful.digest
    assert 0 < answer["ours"]["score"] < 1 and 0 < answer["dive"]["score"] < 1
    codes = [finding["code"] for finding in answer["advice"]]
    assert codes == [li["class"][1].removeprefix("f-") for li in page.select("ol.advice > li")]
    cache = next(f for f in answer["advice"] if f["code"] == "cache_apt")
    assert cache["layers"] == [1]  # the first layer, as the page numbers it
    deleted = next(f for f in answer["advice"] if f["code"] == "deleted_later")
    assert deleted["layers"] == [2, 3]
    assert [row["layer"] for row in answer["ours"]["per_layer"]] == [1, 2, 3]
