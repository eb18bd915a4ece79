"""A layer's deletions as its tar holds them (``?raw=1``): the whiteout entries, named exactly as
the layer wrote them, on the image page, the tree page and the JSON tree."""

from __future__ import annotations

import pytest
from django.test import Client

from layerviz.images.models import Image
from layerviz.lib import synth
from layerviz.lib.tarwriter import directory, file, opaque, whiteout

from .helpers import HTMX, ingest_image, soup

pytestmark = pytest.mark.django_db


@pytest.fixture
def image(tmp_path) -> Image:
    """A base, then a layer written the way `tar -C rootfs .` writes one: every name starts with
    "./". It deletes a file and a directory, names a path no layer has, and makes srv/data
    opaque while adding a file to it."""
    return ingest_image(
        tmp_path,
        "lv/whiteouts:1",
        [
            synth.layer(
                [
                    file("etc/motd", b"hello\n"),
                    file("etc/app/conf", b"x" * 40),
                    file("srv/data/a", b"a"),
                    file("srv/data/b", b"b"),
                    file("srv/keep", b"k"),
                ]
            ),
            synth.layer(
                [
                    directory("./etc"),
                    whiteout("./etc/motd"),
                    whiteout("./etc/app"),
                    whiteout("./etc/ghost"),
                    directory("./srv"),
                    directory("./srv/data"),
                    opaque("./srv/data"),
                    file("./srv/data/new", b"n"),
                ],
                parents=False,
            ),
        ],
    )


def _names(page, selector: str = "#tree .tree > li") -> dict[str, object]:
    return {li["data-path"]: li for li in page.select(selector)}


def test_the_layer_tree_shows_each_deletion_as_the_whiteout_entry_the_tar_holds(
    client: Client, image: Image
):
    page = soup(client.get(f"/images/{image.digest}/", {"layer": 1, "path": "etc", "raw": 1}))
    [etc] = [li for li in page.select("#tree .tree > li") if li["data-path"] == "etc"]
    lines = {li["data-path"]: li for li in etc.select("ul > li")}

    assert set(lines) == {"etc/.wh.motd", "etc/.wh.app", "etc/.wh.ghost"}
    assert lines["etc/.wh.motd"].select_one("code.entry").get_text() == "./etc/.wh.motd"
    assert lines["etc/.wh.app"].select_one("code.entry").get_text() == "./etc/.wh.app"
    assert "deletes motd from layer #1" in lines["etc/.wh.motd"].select_one(".note").get_text()
    assert "no layer below has" in lines["etc/.wh.ghost"].select_one(".note").get_text()
    assert page.select_one("input[name=raw]").has_attr("checked")


def test_without_raw_the_tree_lists_every_path_a_whiteout_removed(client: Client, image: Image):
    page = soup(client.get(f"/images/{image.digest}/", {"layer": 1, "path": "etc"}))
    [etc] = [li for li in page.select("#tree .tree > li") if li["data-path"] == "etc"]

    assert {li["data-path"] for li in etc.select(":scope > ul > li")} == {"etc/app", "etc/motd"}
    assert not page.select("code.entry")


def test_an_opaque_directory_holds_its_marker_and_not_the_paths_it_hid(
    client: Client, image: Image
):
    response = client.get(
        f"/images/{image.digest}/tree", {"layer": 1, "path": "srv/data", "raw": 1}, **HTMX
    )
    lines = _names(soup(response), "li")

    assert set(lines) == {"srv/data/.wh..wh..opq", "srv/data/new"}
    marker = lines["srv/data/.wh..wh..opq"]
    assert marker.select_one("code.entry").get_text() == "./srv/data/.wh..wh..opq"
    # A directory's link keeps the raw view, so opening one more level shows the tar too.
    root = soup(client.get(f"/images/{image.digest}/", {"layer": 1, "raw": 1}))
    assert "raw=1" in root.select_one("li[data-path=srv] a.dir")["hx-get"]


def test_the_json_tree_gives_whiteout_rows_their_tar_entry(client: Client, image: Image):
    etc = client.get(f"/api/images/{image.digest}/tree", {"path": "etc", "raw": 1}).json()
    data = client.get(f"/api/images/{image.digest}/tree", {"path": "srv/data", "raw": 1}).json()

    assert {row["path"]: row.get("tar_entry") for row in etc["rows"]} == {
        "etc/.wh.app": "./etc/.wh.app",
        "etc/.wh.ghost": "./etc/.wh.ghost",
        "etc/.wh.motd": "./etc/.wh.motd",
    }
    assert {row["path"]: row.get("tar_entry") for row in data["rows"]} == {
        "srv/data/.wh..wh..opq": "./srv/data/.wh..wh..opq",
        "srv/data/new": None,
    }
    assert {row["detail"] for row in etc["rows"]} == {"whiteout"}
    assert etc["raw"] is True


def test_the_json_tree_without_raw_keeps_one_row_per_removed_path(client: Client, image: Image):
    rows = client.get(f"/api/images/{image.digest}/tree", {"path": "srv/data"}).json()["rows"]

    assert {row["path"]: row["kind"] for row in rows} == {
        "srv/data/a": "deleted",
        "srv/data/b": "deleted",
        "srv/data/new": "added",
    }
    assert not any("tar_entry" in row for row in rows)


def test_raw_is_refused_where_there_is_no_tar_to_show(client: Client, image: Image):
    merged = client.get(f"/api/images/{image.digest}/tree", {"mode": "merged", "raw": 1})
    searched = client.get(f"/api/images/{image.digest}/tree", {"q": "motd", "raw": 1})

    assert merged.status_code == 400
    assert searched.status_code == 400


def test_the_merged_view_has_no_raw_toggle(client: Client, image: Image):
    page = soup(client.get(f"/images/{image.digest}/", {"layer": 1, "mode": "merged", "raw": 1}))

    assert not page.select("input[name=raw]")
    assert not page.select("code.entry")
