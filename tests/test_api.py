"""The explorer's JSON: an image's stack, a layer's changes or the merged tree, a file's
history, found by any reference, with the rows the pages list."""

from __future__ import annotations

import pytest
from django.test import Client

from layerviz.images.models import Image
from layerviz.lib import synth
from layerviz.lib.synth import Step
from layerviz.lib.tarwriter import directory, file, whiteout

from . import builder
from .helpers import ingest_image, soup

pytestmark = pytest.mark.django_db


@pytest.fixture
def app_image(tmp_path) -> Image:
    return ingest_image(
        tmp_path,
        "lv/team/app:1.0",
        [
            synth.layer(
                [file("usr/bin/passwd", b"x" * 30, mode=0o4755), directory("tmp", mode=0o1777)]
            ),
            synth.layer([file("app/main.py", b"print(1)\n"), file("app/cache/blob", b"y" * 50)]),
            synth.layer([whiteout("app/cache"), file("app/main.py", b"print(2)\n")]),
        ],
        [
            Step("ADD rootfs /"),
            Step("ENV A=1", empty_layer=True),
            Step("COPY . /app"),
            Step("RUN rm -rf /app/cache"),
        ],
    )


def test_the_stack_is_found_by_a_name_with_slashes_and_numbers_layers_from_1(
    client: Client, app_image
):
    answer = client.get("/api/images/lv/team/app:1.0").json()

    assert answer["digest"] == app_image.digest
    assert [layer["diff_id"] for layer in answer["layers"]] == [
        il.layer.diff_id for il in app_image.layers_in_order()
    ]
    assert [(s["instruction"], s["layer"]) for s in answer["history"]] == [
        ("ADD rootfs /", 1),
        ("ENV A=1", None),
        ("COPY . /app", 2),
        ("RUN rm -rf /app/cache", 3),
    ]


@pytest.mark.parametrize("ref", ["digest", "image_id", "prefix"])
def test_the_stack_is_found_by_digest_image_id_or_a_unique_prefix(client: Client, app_image, ref):
    text = {
        "digest": app_image.digest,
        "image_id": app_image.image_id,
        "prefix": app_image.digest.removeprefix("sha256:")[:12],
    }[ref]

    assert client.get(f"/api/images/{text}").json()["digest"] == app_image.digest


def test_a_layers_changes_are_the_rows_the_page_lists(client: Client, app_image):
    answer = client.get("/api/images/lv/team/app:1.0/tree", {"layer": 3, "path": "app"}).json()
    page = soup(client.get(f"/images/{app_image.digest}/", {"layer": 2, "path": "app"}))
    listed = [a.get_text(strip=True).rstrip("/") for a in page.select("#tree .tree li li .name")]

    assert (answer["layer"], answer["mode"], answer["total"]) == (3, "layer", 2)
    assert (
        [r["path"].removeprefix("app/") for r in answer["rows"]] == listed == ["cache", "main.py"]
    )
    cache, main = answer["rows"]
    assert (cache["kind"], cache["detail"], cache["type"], cache["layer"]) == (
        "deleted",
        "whiteout",
        "dir",
        3,
    )
    assert (main["kind"], main["detail"], main["size"]) == ("modified", "content", 9)
    assert main["sha256"] and len(main["sha256"]) == 64


def test_the_merged_tree_says_which_layer_each_path_came_from(client: Client, app_image):
    answer = client.get(
        "/api/images/lv/team/app:1.0/tree", {"layer": 3, "mode": "merged", "path": "usr/bin"}
    ).json()

    assert [(r["path"], r["kind"], r["layer"], r["mode_string"]) for r in answer["rows"]] == [
        ("usr/bin/passwd", "added", 1, "-rwsr-xr-x")  # what layer 1 did
    ]


def test_search_kind_filter_offset_and_limit_page_through_the_matches(client: Client, app_image):
    url = "/api/images/lv/team/app:1.0/tree"
    first = client.get(url, {"layer": 2, "q": "app", "limit": 2}).json()
    rest = client.get(url, {"layer": 2, "q": "app", "limit": 2, "offset": 2}).json()
    deleted = client.get(url, {"layer": 3, "q": "app", "kind": "deleted"}).json()

    assert first["total"] == rest["total"] == 4
    assert [r["path"] for r in first["rows"] + rest["rows"]] == [
        "app",
        "app/cache",
        "app/main.py",
        "app/cache/blob",
    ]  # directory by directory
    assert [r["path"] for r in deleted["rows"]] == ["app/cache", "app/cache/blob"]


def test_a_files_history_lists_every_layer_that_touched_it_with_its_instruction(
    client: Client, app_image
):
    answer = client.get("/api/images/lv/team/app:1.0/history", {"path": "app/main.py"}).json()

    assert [(r["layer"], r["kind"], r["instruction"]) for r in answer["rows"]] == [
        (2, "added", "COPY . /app"),
        (3, "modified", "RUN rm -rf /app/cache"),
    ]


@pytest.mark.parametrize(
    ("url", "status", "says"),
    [
        ("/api/images/lv/nothing:1", 404, "lv/nothing"),
        ("/api/images/lv/nothing:1/tree", 404, "lv/nothing"),
        ("/api/images/lv/team/app:1.0/tree?mode=sideways", 400, "mode"),
        ("/api/images/lv/team/app:1.0/tree?kind=gone", 400, "gone"),
        ("/api/images/lv/team/app:1.0/history", 400, "path"),
        ("/api/images/lv/team/app:1.0/history?path=nowhere", 404, "nowhere"),
        ("/api/images/lv/team/app:1.0/tree?layer=99999999999999999999999&offset=-5", 200, ""),
    ],
)
def test_bad_requests_get_a_json_error_that_names_the_problem(client, app_image, url, status, says):
    response = client.get(url)

    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    if says:
        assert says in response.json()["error"]


def test_an_opaque_directory_is_marked_opaque_on_the_page_and_in_json(client: Client, tmp_path):
    image = ingest_image(tmp_path, "lv/opaque:1", builder.opaque_layers())
    rows = client.get(f"/api/images/{image.digest}/tree", {"layer": 2}).json()["rows"]
    page = soup(client.get(f"/images/{image.digest}/", {"layer": 1}))
    [a_line] = [
        li
        for li in page.select("#tree .tree > li")
        if li.select_one(".name").get_text(strip=True) == "a/"
    ]

    assert {row["path"]: row["opaque"] for row in rows}["a"] is True
    assert {row["path"]: row["opaque"] for row in rows}["n"] is False
    assert "opaque: hides what the layers below had here" in a_line.select_one(".badge")["title"]
