"""Our plotly.js bundle and how static files are served: the bundle has every trace our
figures use, is the plotly.js the Python package bundles, is built from its recipe; pages link
it by a hashed name that whitenoise serves gzipped and cached for years. That it draws each of
our charts in a real browser is in test_browser.py."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from layerviz.images.models import Image
from layerviz.lib import synth
from layerviz.lib.synth import Step
from layerviz.lib.tarwriter import file

from . import plotly_bundle
from .helpers import ingest_image, soup

HASHED_BUNDLE = re.compile(r"^/static/vendor/plotly-layerviz\.min\.[0-9a-f]{12}\.js$")
TEN_YEARS = 315360000


def test_the_bundle_registers_every_trace_type_our_figures_use():
    used = plotly_bundle.figure_trace_types()
    registered = set(plotly_bundle.recipe_trace_types())
    missing = {kind: sorted(where) for kind, where in used.items() if kind not in registered}

    assert "bar" in used  # the scan finds our figures at all
    assert missing == {}, "add these to tools/plotly-bundle/index.js and rebuild"


def test_the_trace_scan_finds_traces_made_every_way_plotly_graph_objects_offers(tmp_path: Path):
    (tmp_path / "figures.py").write_text(
        "import plotly.graph_objects as go\n"
        "from plotly.graph_objects import Funnel as F\n"
        "fig = go.Figure(go.Pie(values=[1]))\n"
        "fig.add_scatter(y=[1])\n"
        "fig.add_trace(F(y=[1]))\n"
        "fig.add_annotation(text='not a trace')\n"
    )
    (tmp_path / "models.py").write_text("class Image: ...\nImage()\nrows.add_image(1)\n")

    found = plotly_bundle.figure_trace_types(tmp_path)

    assert set(found) == {"pie", "scatter", "funnel"}


def test_the_vendored_bundle_was_built_from_the_recipe_as_it_is():
    _version, traces = plotly_bundle.bundle_banner()

    assert traces == plotly_bundle.recipe_trace_types(), "rebuild: tools/plotly-bundle/README.md"


def test_the_bundle_is_the_plotly_js_the_python_plotly_package_bundles():
    built, _traces = plotly_bundle.bundle_banner()
    pinned, locked = plotly_bundle.recipe_versions()

    assert built == pinned == locked == plotly_bundle.plotly_py_version()


@pytest.fixture
def image(tmp_path: Path) -> Image:
    return ingest_image(
        tmp_path,
        "lv/app:1.0",
        [synth.layer([file("bin/sh", b"x" * 3000)]), synth.layer([file("app/a.py", b"1\n")])],
        [Step("ADD rootfs /"), Step("COPY . /app")],
    )


@pytest.mark.django_db
def test_the_image_page_links_a_hashed_bundle_served_gzipped_and_cached_for_years(
    client: Client, image: Image
):
    source = _bundle_link(client, image)
    assert HASHED_BUNDLE.match(source), source

    response = client.get(source, headers={"accept-encoding": "gzip, deflate, br"})

    assert response.status_code == 200
    assert response["Content-Encoding"] == "gzip"
    assert response["Cache-Control"] == f"max-age={TEN_YEARS}, public, immutable"
    assert "Accept-Encoding" in response["Vary"]
    body = gzip.decompress(b"".join(response.streaming_content))
    assert body == plotly_bundle.BUNDLE.read_bytes()


@pytest.mark.django_db
def test_every_static_file_a_page_links_is_hashed_and_cached_for_years(
    client: Client, image: Image
):
    page = soup(client.get(reverse("explorer:image", args=[image.digest])))
    links = [s["src"] for s in page.select("script[src]")]
    links += [link["href"] for link in page.select("link[href]")]
    assert len(links) >= 4  # app.js, htmx, plotly.js; app.css, the icon

    for link in links:
        response = client.get(link)
        assert response.status_code == 200, link
        assert "immutable" in response["Cache-Control"], link


@pytest.mark.django_db
def test_a_browser_that_takes_no_gzip_gets_the_bundle_as_it_is(client: Client, image: Image):
    source = _bundle_link(client, image)

    response = client.get(source)

    assert "Content-Encoding" not in response
    assert b"".join(response.streaming_content) == plotly_bundle.BUNDLE.read_bytes()


def _bundle_link(client: Client, image: Image) -> str:
    """The one plotly.js the image page links."""
    page = soup(client.get(reverse("explorer:image", args=[image.digest])))
    sources = [s["src"] for s in page.select("script[src]") if "plotly" in s["src"]]
    assert len(sources) == 1, sources
    return sources[0]


@pytest.mark.django_db
def test_before_any_collectstatic_a_page_links_the_files_by_their_own_names(
    client: Client, image: Image, settings, tmp_path: Path
):
    settings.STATIC_ROOT = tmp_path / "never-collected"  # no manifest, no files
    settings.STATIC_ROOT.mkdir()
    page = soup(client.get(reverse("explorer:image", args=[image.digest])))
    linked = [tag.get("src") or tag.get("href") for tag in page.select("script[src], link[href]")]
    assert "/static/css/app.css" in linked
    assert "/static/vendor/plotly-layerviz.min.js" in linked
    assert client.get("/static/css/app.css").status_code == 200  # found where it is


def test_collectstatic_still_fails_on_a_stylesheet_that_names_a_missing_file(
    settings, tmp_path: Path
):
    from django.core.management import call_command

    sources = tmp_path / "static"
    sources.mkdir()
    (sources / "broken.css").write_text("body { background: url('nowhere.png'); }")
    settings.STATICFILES_DIRS = [sources]
    settings.STATIC_ROOT = tmp_path / "collected"
    with pytest.raises(ValueError, match=re.escape("nowhere.png")):
        call_command("collectstatic", "--noinput", "--verbosity", "0")
