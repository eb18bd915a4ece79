"""The compare page's diff shows changes of content, and the metadata-only ones (mode, owner,
mtime) one click away: ``meta=1`` in the URL, kept by the tree's links and the filter form."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from layerviz.images.models import Image
from layerviz.lib import synth
from layerviz.lib.tarwriter import file

from .helpers import HTMX, ingest_image, soup

pytestmark = pytest.mark.django_db


@pytest.fixture
def rebuilt(tmp_path) -> tuple[Image, Image]:
    """A rebuild: one file's content changed; two others only got a new mtime, one a new mode,
    and lib/ holds nothing but those."""
    base = synth.layer([file("etc/os-release", b"debian")])
    a = ingest_image(
        tmp_path,
        "lv/a:1",
        [
            base,
            synth.layer(
                [
                    file("app/main.py", b"v1"),
                    file("app/run.sh", b"r", mode=0o644),
                    file("lib/m.py", b"m" * 900, mtime=1),
                    file("lib/n.py", b"n" * 100, mtime=1),
                ]
            ),
        ],
    )
    b = ingest_image(
        tmp_path,
        "lv/b:1",
        [
            base,
            synth.layer(
                [
                    file("app/main.py", b"v2!"),
                    file("app/run.sh", b"r", mode=0o755),
                    file("lib/m.py", b"m" * 900, mtime=2),
                    file("lib/n.py", b"n" * 100, mtime=2),
                ]
            ),
        ],
    )
    return a, b


def _paths(page) -> set[str]:
    return {li["data-path"] for li in page.select("#diff-panel li[data-path]")}


def test_by_default_the_diff_lists_the_content_changes_and_says_how_many_are_hidden(
    client: Client, rebuilt
):
    a, b = rebuilt
    page = soup(client.get(reverse("compare:compare"), {"a": a.digest, "b": b.digest}))
    app = client.get(
        reverse("compare:tree"), {"a": a.digest, "b": b.digest, "path": "app"}, **HTMX
    ).content.decode()
    hint = page.select_one(".meta-hidden")

    assert _paths(page) == {"app"}  # lib/ holds metadata changes only: it is not listed
    assert "app/main.py" in app and "app/run.sh" not in app
    assert "3 changes of mode, owner or mtime alone are hidden" in " ".join(hint.get_text().split())
    assert "meta=1" in hint.select_one("a")["href"]
    assert not page.select_one("input[name=meta]").has_attr("checked")


def test_with_meta_the_metadata_only_changes_are_listed_and_the_links_keep_it(
    client: Client, rebuilt
):
    a, b = rebuilt
    query = {"a": a.digest, "b": b.digest, "meta": 1}
    page = soup(client.get(reverse("compare:compare"), query))
    lib = soup(client.get(reverse("compare:tree"), {**query, "path": "lib"}, **HTMX))

    assert _paths(page) == {"app", "lib"}
    assert {li["data-path"] for li in lib.select("li")} == {"lib/m.py", "lib/n.py"}
    assert page.select_one("input[name=meta]").has_attr("checked")
    assert not page.select(".meta-hidden")
    for link in page.select("#diff-panel a.dir"):
        assert "meta=1" in link["href"] and "meta=1" in link["hx-get"]


def test_an_opened_directory_counts_only_the_changes_it_shows(client: Client, rebuilt):
    a, b = rebuilt
    hidden = soup(client.get(reverse("compare:compare"), {"a": a.digest, "b": b.digest}))
    shown = soup(client.get(reverse("compare:compare"), {"a": a.digest, "b": b.digest, "meta": 1}))

    def changed(page) -> str:
        return page.select_one("li[data-path=app] .counts .c-M").get_text()

    assert changed(hidden) == "~1"
    assert changed(shown) == "~2"


def test_a_search_of_the_diff_leaves_out_the_metadata_only_changes_unless_asked(
    client: Client, rebuilt
):
    a, b = rebuilt
    query = {"a": a.digest, "b": b.digest, "q": ".py"}
    hidden = soup(
        client.get(reverse("compare:compare"), query, HTTP_HX_TARGET="diff-panel", **HTMX)
    )
    shown = soup(client.get(reverse("compare:compare"), {**query, "meta": 1}))

    assert _paths(hidden) == {"app/main.py"}
    assert _paths(shown) == {"app/main.py", "lib/m.py", "lib/n.py"}
