"""The efficiency page and its htmx fragments."""

from __future__ import annotations

import json

import pytest
from bs4 import BeautifulSoup
from django.test import Client
from django.urls import reverse

from layerviz.images.ingest import ingest
from layerviz.lib import synth
from layerviz.lib.synth import Step, file, whiteout

pytestmark = pytest.mark.django_db


def soup(response) -> BeautifulSoup:
    return BeautifulSoup(response.content.decode(), "html.parser")


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
    archive = synth.write_docker_archive(
        tmp_path / "w.tar",
        [synth.Image(layers=layers, history=history, tags=["lv/waste:1"])],
        layout="docker25",
    )
    [image] = ingest(f"docker-archive:{archive}")
    return image


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
