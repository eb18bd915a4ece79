"""Comparing two images, and sharing across the store: pages and JSON API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from django.test import Client
from django.urls import reverse

from layerviz.images import comparison, filediff
from layerviz.images.ingest import ingest
from layerviz.images.lookup import find_image
from layerviz.images.models import Image
from layerviz.lib import oci, synth, tarwriter
from layerviz.lib.synth import Step
from layerviz.lib.tarwriter import file, whiteout

from .helpers import ingest_image, soup

pytestmark = pytest.mark.django_db

BASE = synth.layer([file("bin/sh", b"s" * 4000, mode=0o755), file("etc/os-release", b"v1\n")])
OTHER_BASE = synth.layer([file("bin/sh", b"t" * 4000, mode=0o755), file("etc/os-release", b"v1\n")])
DEPS = synth.layer([file("usr/lib/libx.so", b"x" * 3000), file("var/cache/pkg.deb", b"d" * 2000)])


def _ingest(
    tmp_path: Path, tag: str, layers: list[bytes], steps: list[str] | None = None, **config
) -> Image:
    """``ingest_image`` with the instructions ``steps``, else ``RUN step i`` for layer i."""
    history = [Step(text) for text in steps or [f"RUN step {i}" for i in range(len(layers))]]
    return ingest_image(tmp_path, tag, layers, history, **config)


@pytest.fixture
def release_pair(tmp_path) -> tuple[Image, Image]:
    v1 = _ingest(
        tmp_path,
        "lv/app:1.0",
        [BASE, DEPS, synth.layer([file("app/main.py", b"v1" * 100), file("app/old.txt", b"o")])],
        env=["A=1", "MODE=x"],
    )
    v2 = _ingest(
        tmp_path,
        "lv/app:2.0",
        [BASE, DEPS, synth.layer([file("app/main.py", b"v2" * 150), file("app/new.txt", b"nnnn")])],
        env=["A=2", "NEW=1"],
        cmd=["serve"],
    )
    return v1, v2


def test_the_api_reports_the_common_chain_and_the_bytes_on_each_side(client: Client, release_pair):
    v1, v2 = release_pair
    data = client.get(reverse("compare:api-compare"), {"a": "lv/app:1.0", "b": "lv/app:2.0"}).json()

    layers_1 = list(v1.layers_in_order())
    layers_2 = list(v2.layers_in_order())
    assert data["shared_layers"] == [layers_1[0].layer.diff_id, layers_1[1].layer.diff_id]
    assert (
        data["shared_bytes"] == layers_1[0].layer.size + layers_1[1].layer.size == 4000 + 3 + 5000
    )
    assert data["only_a_bytes"] == layers_1[2].layer.size == 201
    assert data["only_b_bytes"] == layers_2[2].layer.size == 304
    # The archive held plain tars: what a pull downloads is the layer gzipped, estimated.
    assert data["pull_bytes"] == layers_2[2].download_size < layers_2[2].blob_size
    assert layers_2[2].download_estimated
    assert (
        data["files"]["added"] == 1
        and data["files"]["removed"] == 1
        and data["files"]["changed"] == 1
    )
    assert data["files"]["added_bytes"] == 4 and data["files"]["removed_bytes"] == 1
    assert data["files"]["changed_delta_bytes"] == 100
    keys = {item["key"] for item in data["config"]}
    assert {"Env", "Cmd"} <= keys


def test_the_compare_page_draws_the_common_base_once_and_marks_the_divergence(
    client: Client, release_pair
):
    v1, v2 = release_pair
    page = soup(client.get(reverse("compare:compare"), {"a": v1.digest, "b": v2.digest}))

    assert len(page.select("table.aligned .shared-row")) == 2
    assert "diverge at layer #3" in page.select_one("table.aligned .diverge").get_text()
    tree = {li.select_one(".name").get_text(strip=True): li for li in page.select(".tree > li")}
    assert list(tree) == ["app/"]
    assert tree["app/"].select_one(".counts").get_text(" ", strip=True) == "+1 −1 ~1"
    env_rows = [tr.get_text(" ", strip=True) for tr in page.select("table.config-diff tbody tr")]
    assert any(row.startswith("Env A 1 2") for row in env_rows)


def test_expanding_a_directory_of_the_diff_returns_its_rows(client: Client, release_pair):
    v1, v2 = release_pair
    fragment = soup(
        client.get(
            reverse("compare:tree"),
            {"a": v1.digest, "b": v2.digest, "path": "app"},
            HTTP_HX_REQUEST="true",
        )
    )

    rows = {
        li.select_one(".name").get_text(strip=True): li["class"] for li in fragment.select("li")
    }
    assert rows == {"main.py": ["d-changed"], "new.txt": ["d-added"], "old.txt": ["d-removed"]}


def test_identical_layers_on_another_base_share_nothing_and_the_page_says_why(
    client: Client, tmp_path
):
    a = _ingest(tmp_path, "lv/a:1", [BASE, DEPS])
    b = _ingest(tmp_path, "lv/b:1", [OTHER_BASE, DEPS])

    data = client.get(reverse("compare:api-compare"), {"a": a.digest, "b": b.digest}).json()
    assert data["shared_layers"] == []
    assert data["shared_bytes"] == 0
    assert data["pull_bytes"] == sum(il.download for il in b.layers_in_order())
    page = soup(client.get(reverse("compare:compare"), {"a": a.digest, "b": b.digest}))
    notes = [p.get_text(strip=True) for p in page.select("table.aligned .note")]
    assert "same content as B's layer #2, on another base: not shared" in notes


def test_two_platforms_of_one_multi_arch_image_can_be_compared(client: Client, tmp_path):
    amd = synth.Image(
        layers=[BASE, synth.layer([file("lib/arch", b"amd64")])], architecture="amd64"
    )
    arm = synth.Image(
        layers=[OTHER_BASE, synth.layer([file("lib/arch", b"arm64!")])], architecture="arm64"
    )
    layout = synth.write_oci_layout(
        tmp_path / "multi", [synth.ImageIndex(images=[amd, arm], tags=["lv/multi:1"])]
    )
    [x] = ingest(f"oci:{layout}", platform="linux/amd64")
    [y] = ingest(f"oci:{layout}", platform="linux/arm64")

    data = client.get(reverse("compare:api-compare"), {"a": x.digest, "b": y.digest}).json()
    assert {"key": "platform", "a": "linux/amd64", "b": "linux/arm64"} in data["config"]
    assert data["files"]["changed"] == 2  # bin/sh and lib/arch


def test_both_platforms_of_a_tag_keep_it_and_the_short_name_means_this_machines(
    client: Client, tmp_path
):
    images = [
        synth.Image(layers=[synth.layer([file("lib/arch", arch.encode())])], architecture=arch)
        for arch in ("amd64", "arm64")
    ]
    layout = synth.write_oci_layout(
        tmp_path / "multi", [synth.ImageIndex(images=images, tags=["lv/multi:1"])]
    )
    [arm] = ingest(f"oci:{layout}", platform="linux/arm64")
    [amd] = ingest(f"oci:{layout}", platform="linux/amd64")

    assert [r.display for r in arm.references.all()] == ["lv/multi:1"]
    assert [r.display for r in amd.references.all()] == ["lv/multi:1"]
    host = str(oci.host_platform())
    assert find_image("lv/multi:1") == (amd if host == "linux/amd64" else arm)
    listed = soup(client.get(reverse("explorer:images"))).select("table.images tbody tr")
    assert sorted(
        (row.select_one("a.image-name").get_text(strip=True), row.select_one(".col-platform").text)
        for row in listed
    ) == [("lv/multi:1", "linux/amd64"), ("lv/multi:1", "linux/arm64")]

    # Re-tagged on one platform, the name moves there only.
    images[1].layers = [synth.layer([file("lib/arch", b"arm64, rebuilt")])]
    layout2 = synth.write_oci_layout(
        tmp_path / "multi2", [synth.ImageIndex(images=images, tags=["lv/multi:1"])]
    )
    [arm2] = ingest(f"oci:{layout2}", platform="linux/arm64")
    assert list(arm.references.all()) == [] and arm2.references.get().display == "lv/multi:1"
    assert amd.references.get().display == "lv/multi:1"


def test_an_unknown_image_is_a_404_with_the_reason(client: Client):
    response = client.get(reverse("compare:api-compare"), {"a": "lv/nope:1", "b": "lv/nope:2"})
    assert response.status_code == 404
    assert "No indexed image is named" in response.json()["error"]


def test_choosing_two_images_from_the_list_opens_their_comparison(client: Client, release_pair):
    v1, v2 = release_pair
    response = client.get(reverse("compare:compare"), {"image": [v1.digest, v2.digest]})
    assert response.status_code == 302
    assert f"a={v1.digest.replace(':', '%3A')}" in response["Location"]


def test_the_store_api_counts_every_layer_once(client: Client, release_pair):
    v1, v2 = release_pair
    data = client.get(reverse("compare:api-store")).json()

    sizes = {
        il.layer.diff_id: il.layer.size for image in (v1, v2) for il in image.layers_in_order()
    }
    logical = sum(il.layer.size for image in (v1, v2) for il in image.layers_in_order())
    assert data["images"] == 2
    assert data["layers"] == len(sizes) == 4
    assert data["logical_bytes"] == logical
    assert data["stored_bytes"] == sum(sizes.values())
    assert data["saved_bytes"] == logical - sum(sizes.values())
    assert {layer["images"] for layer in data["most_shared_layers"]} == {2}


def test_the_store_page_draws_the_chain_tree_matrix_and_plans_a_pull(client: Client, release_pair):
    v1, v2 = release_pair
    page = soup(client.get(reverse("compare:store"), {"have": v1.digest, "target": v2.digest}))

    icicle = json.loads(page.select_one("#icicle-data").string)
    assert icicle["data"][0]["type"] == "icicle"
    assert len(icicle["data"][0]["ids"]) == 1 + 4  # the empty root and four chains
    heatmap = json.loads(page.select_one("#heatmap-data").string)
    cells = heatmap["data"][0]
    assert cells["customdata"][0][1] == 9003  # the two releases share base and deps
    # coloured by the share of the smaller release
    assert cells["z"][0][1] == 9003 / min(cells["customdata"][0][0], cells["customdata"][1][1])
    assert cells["zmin"] == 0 and cells["zmax"] == 1
    labels = icicle["data"][0]["labels"]
    assert any(label.startswith(("RUN", "COPY", "ADD")) for label in labels)  # not layer ids
    plan = [li.get_text(" ", strip=True) for li in page.select("ol.plan li")]
    assert len(plan) == 3
    assert "already there" in plan[0] and "already there" in plan[1] and "download" in plan[2]


def test_filtering_the_store_by_a_base_layer_keeps_the_images_built_on_it(
    client: Client, release_pair, tmp_path
):
    _ingest(tmp_path, "lv/elsewhere:1", [OTHER_BASE])
    base = release_pair[0].layers_in_order().first().layer.diff_id

    data = client.get(reverse("compare:api-store"), {"base": base}).json()
    assert data["images"] == 2


def test_hostile_names_in_a_diff_render_as_text(client: Client, tmp_path):
    a = _ingest(tmp_path, "lv/h:1", [BASE])
    b = _ingest(
        tmp_path,
        "lv/h:2",
        [
            BASE,
            synth.layer([file(b"<img src=x onerror=alert(1)>", b"1"), whiteout("etc/os-release")]),
        ],
    )

    page = soup(client.get(reverse("compare:compare"), {"a": a.digest, "b": b.digest}))
    assert page.select("img") == []
    assert "<img src=x onerror=alert(1)>" in page.select_one(".tree").get_text()
    chart = json.loads(page.select_one("#diff-chart-data").string)
    assert all("<" not in label for trace in chart["data"] for label in trace["y"])


# --- the diff tree's filters -------------------------------------------------------------


def _compare(client: Client, a: Image, b: Image, **params) -> BeautifulSoup:
    return soup(client.get(reverse("compare:compare"), {"a": a.digest, "b": b.digest, **params}))


def _names(page: BeautifulSoup, selector: str = "#diff-panel li") -> list[str]:
    return [
        li.select_one(":scope > .node > .name").get_text(strip=True) for li in page.select(selector)
    ]


@pytest.fixture
def sized_pair(tmp_path) -> tuple[Image, Image]:
    """Differences whose size order is not their name order: b.bin grows by 5000 bytes,
    a.txt by 10, c.txt (only in A) takes 300 away, d.txt (only in B) brings 2000."""
    a = _ingest(
        tmp_path,
        "lv/sized:1",
        [
            BASE,
            synth.layer(
                [
                    file("data/a.txt", b"a" * 10),
                    file("data/b.bin", b"b"),
                    file("data/c.txt", b"c" * 300),
                ]
            ),
        ],
    )
    b = _ingest(
        tmp_path,
        "lv/sized:2",
        [
            BASE,
            synth.layer(
                [
                    file("data/a.txt", b"A" * 20),
                    file("data/b.bin", b"B" * 5001),
                    file("data/d.txt", b"d" * 2000),
                ]
            ),
        ],
    )
    return a, b


def test_an_htmx_filter_of_the_diff_gets_the_panel_alone_and_a_plain_one_the_whole_page(
    client: Client, release_pair
):
    v1, v2 = release_pair
    params = {"a": v1.digest, "b": v2.digest, "kind": "removed", "path": "app"}

    fragment = client.get(
        reverse("compare:compare"), params, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="diff-panel"
    )
    whole = client.get(reverse("compare:compare"), params)

    panel = soup(fragment)
    assert panel.select("html, h1, table.aligned") == []
    assert [tag["id"] for tag in panel.find_all(recursive=False)] == ["diff-panel"]
    assert _names(panel) == ["app/", "old.txt"]
    assert "HX-Target" in fragment["Vary"]
    page = soup(whole)
    assert page.select_one("h1") is not None and page.select_one("table.aligned") is not None
    assert _names(page) == ["app/", "old.txt"]
    # The filter form is a plain GET form of the page, which works without JavaScript.
    form = page.select_one("#diff-panel form.filters")
    assert form["method"] == "get" and form["action"] == reverse("compare:compare")
    assert {i["name"]: i["value"] for i in form.select("input[type=hidden]")} == {
        "a": v1.digest,
        "b": v2.digest,
        "path": "app",
    }
    checked = [box["value"] for box in form.select("input[name=kind][checked]")]
    assert checked == ["removed"]


def test_the_kind_filter_keeps_differences_of_the_chosen_kinds_and_the_folders_leading_there(
    client: Client, release_pair
):
    v1, v2 = release_pair

    only_b = _compare(client, v1, v2, kind="added", path="app")
    changed_or_a = _compare(client, v1, v2, kind=["changed", "removed"], path="app")
    nothing = _compare(client, v1, v2, kind="added", path="app", q="old")

    assert _names(only_b) == ["app/", "new.txt"]
    assert _names(changed_or_a) == ["app/", "main.py", "old.txt"]
    assert nothing.select("#diff-panel li") == []
    assert "0 paths contain “old”" in nothing.select_one("#diff-panel .hint").get_text()


def test_expanding_a_folder_keeps_the_filters_in_its_links_and_its_rows(
    client: Client, release_pair
):
    v1, v2 = release_pair
    page = _compare(client, v1, v2, kind="changed", sort="size")
    link = page.select_one("#diff-panel a.dir")
    for attribute in ("href", "hx-get", "hx-push-url"):
        assert "kind=changed" in link[attribute] and "sort=size" in link[attribute]

    fragment = soup(
        client.get(
            reverse("compare:tree"),
            {"a": v1.digest, "b": v2.digest, "path": "app", "kind": "changed"},
            HTTP_HX_REQUEST="true",
        )
    )
    assert [li.select_one(".name").get_text(strip=True) for li in fragment.select("li")] == [
        "main.py"
    ]


def test_searching_the_diff_lists_the_matching_paths_flat_with_their_layers(
    client: Client, release_pair
):
    v1, v2 = release_pair

    page = _compare(client, v1, v2, q=".txt")

    assert "2 paths contain “.txt”" in page.select_one("#diff-panel .hint").get_text()
    rows = page.select("#diff-panel ul.tree.flat > li")
    assert [row.select_one(".name").get_text(strip=True) for row in rows] == [
        "app/new.txt",
        "app/old.txt",
    ]
    assert [row["class"] for row in rows] == [["d-added"], ["d-removed"]]
    # A result opens the tree where it is, without the search.
    href = rows[0].select_one(".name")["href"]
    assert "path=app" in href and "q=" not in href
    assert page.select_one("#diff-filter")["value"] == ".txt"


def test_sorting_the_diff_by_size_puts_the_biggest_change_first_either_way(
    client: Client, sized_pair
):
    a, b = sized_pair

    by_name = _compare(client, a, b, path="data")
    by_size = _compare(client, a, b, path="data", sort="size")
    search = _compare(client, a, b, q="data/", sort="size")

    assert _names(by_name) == ["data/", "a.txt", "b.bin", "c.txt", "d.txt"]
    assert _names(by_size) == ["data/", "b.bin", "d.txt", "c.txt", "a.txt"]
    assert [n.get_text(strip=True) for n in search.select("#diff-panel .flat .name")] == [
        "data/b.bin",
        "data/d.txt",
        "data/c.txt",
        "data/a.txt",
    ]
    assert search.select_one("#diff-sort option[selected]")["value"] == "size"


def test_an_empty_folder_only_one_side_has_is_reachable_with_or_without_the_kind_filter(
    client: Client, tmp_path
):
    a = _ingest(tmp_path, "lv/e:1", [BASE])
    b = _ingest(tmp_path, "lv/e:2", [BASE, synth.layer([tarwriter.directory("etc/new.d")])])

    for kinds in ([], ["added"]):
        page = _compare(client, a, b, path="etc", kind=kinds)
        assert _names(page) == ["etc/", "new.d/"], kinds
    assert _names(_compare(client, a, b, kind="removed")) == []


def test_filters_that_match_nothing_say_so_rather_than_that_the_images_are_identical(
    client: Client, tmp_path
):
    a = _ingest(tmp_path, "lv/f:1", [BASE, synth.layer([file("new", b"n")])])
    b = _ingest(tmp_path, "lv/f:2", [BASE])

    page = _compare(client, a, b, kind="added")

    assert page.select_one("#diff-panel .empty").get_text(strip=True) == (
        "No difference matches these filters: tick more kinds above."
    )


# --- which layer made each difference ----------------------------------------------------


def _notes(page: BeautifulSoup, name: str) -> list[tuple[str, str]]:
    """The layer links of the diff row named ``name``: (text, href)."""
    for li in page.select("#diff-panel li"):
        if li.select_one(":scope > .node > .name").get_text(strip=True) == name:
            return [
                (a.get_text(strip=True), a["href"]) for a in li.select(":scope > .node > .note a")
            ]
    raise AssertionError(f"no row {name}")


def test_a_file_one_side_deleted_from_the_common_base_names_the_layer_that_deleted_it(
    client: Client, tmp_path
):
    app = synth.layer([file("app/main.py", b"1")])
    kept = _ingest(tmp_path, "lv/d:1", [BASE, app])
    removed = _ingest(tmp_path, "lv/d:2", [BASE, app, synth.layer([whiteout("etc/os-release")])])

    forward = filediff.file_diff(comparison.align(kept, removed))
    backward = filediff.file_diff(comparison.align(removed, kept))

    assert [(d.path, d.status, d.layer_a, d.layer_b, d.deleted_in) for d in forward] == [
        ("etc/os-release", "removed", 0, 2, "b")
    ]
    assert [(d.path, d.status, d.layer_a, d.layer_b, d.deleted_in) for d in backward] == [
        ("etc/os-release", "added", 2, 0, "a")
    ]
    page = _compare(client, kept, removed, path="etc")
    image = reverse("explorer:image", args=[kept.digest])
    other = reverse("explorer:image", args=[removed.digest])
    assert _notes(page, "os-release") == [
        ("A #1", f"{image}?layer=0&mode=layer&path=etc"),
        ("deleted in B #3", f"{other}?layer=2&mode=layer&path=etc"),
    ]
    page = _compare(client, removed, kept, path="etc")
    assert [text for text, _href in _notes(page, "os-release")] == ["deleted in A #3", "B #1"]


def test_a_file_only_one_side_added_names_that_layer_alone(client: Client, release_pair):
    v1, v2 = release_pair

    page = _compare(client, v1, v2, path="app")

    assert [text for text, _href in _notes(page, "new.txt")] == ["B #3"]
    assert [text for text, _href in _notes(page, "old.txt")] == ["A #3"]
    assert [text for text, _href in _notes(page, "main.py")] == ["A #3", "B #3"]


# --- lining up the diverging layers ------------------------------------------------------


def test_a_layer_inserted_on_one_side_leaves_the_same_instructions_paired_and_noted(
    client: Client, tmp_path
):
    steps = ["ADD rootfs /", "RUN apt-get install -y libx", "COPY app /app"]
    app = synth.layer([file("app/main.py", b"1")])
    a = _ingest(tmp_path, "lv/i:1", [BASE, DEPS, app], steps)
    b = _ingest(
        tmp_path,
        "lv/i:2",
        [
            BASE,
            synth.layer([file("etc/extra", b"e")]),
            DEPS,
            synth.layer([file("app/main.py", b"2")]),
        ],
        [steps[0], "RUN echo extra", *steps[1:]],
    )

    page = _compare(client, a, b)

    rows = [
        [
            (cell.select_one(".idx").get_text(strip=True), cell.select_one(".note"))
            if cell.select_one(".idx")
            else None
            for cell in tr.select("td.side")
        ]
        for tr in page.select("table.aligned tbody tr:not(.shared-row):not(.diverge)")
    ]
    assert [[cell[0] if cell else None for cell in row] for row in rows] == [
        [None, "#2"],
        ["#2", "#3"],
        ["#3", "#4"],
    ]
    notes = [
        [cell[1].get_text(strip=True) if cell and cell[1] else "" for cell in row] for row in rows
    ]
    assert notes == [
        ["", ""],
        [
            "same content as B's layer #3, on another base: not shared",
            "same content as A's layer #2, on another base: not shared",
        ],
        [
            "same instruction as B's layer #4, on another base or with another result: not shared",
            "same instruction as A's layer #3, on another base or with another result: not shared",
        ],
    ]


# --- the store: the figures count the whole selection ------------------------------------


def _facts(page: BeautifulSoup) -> dict[str, str]:
    return {
        dt.get_text(strip=True): dd.get_text(" ", strip=True)
        for dt, dd in zip(page.select(".numbers dt"), page.select(".numbers dd"), strict=True)
    }


def test_the_store_counts_every_selected_image_even_past_the_charts_cap(
    client: Client, release_pair, tmp_path, settings
):
    _ingest(tmp_path, "lv/other:1", [OTHER_BASE])
    settings.LAYERVIZ_STORE_CHART_IMAGES = 2

    page = soup(client.get(reverse("compare:store")))
    api = client.get(reverse("compare:api-store")).json()
    narrowed = soup(client.get(reverse("compare:store"), {"q": "lv/"}))

    assert _facts(page)["Images"] == "3" == str(api["images"])
    assert _facts(page)["Unique layers"] == "5" == str(api["layers"])
    assert (
        page.select_one(".note-capped")
        .get_text(" ", strip=True)
        .startswith("The charts below draw the 2 most recent of these 3 images")
    )
    # Only the charts are capped: the newest two images, OTHER_BASE alone and the releases' top.
    icicle = json.loads(page.select_one("#icicle-data").string)["data"][0]
    assert len(icicle["ids"]) == 1 + 4
    single = [
        row.select_one("code")["title"] for row in page.select("#single-title + table tbody tr")
    ]
    assert len(single) == 3 == len(api["single_use_layers"])
    assert _facts(narrowed)["Images"] == "3"
    assert narrowed.select_one(".note-capped") is not None


def test_the_store_api_filtered_by_name_counts_past_the_charts_cap(
    client: Client, release_pair, settings
):
    settings.LAYERVIZ_STORE_CHART_IMAGES = 1

    data = client.get(reverse("compare:api-store"), {"q": "lv/app"}).json()

    assert data["images"] == 2
    assert {layer["images"] for layer in data["most_shared_layers"]} == {2}


def test_without_a_cap_reached_the_store_page_has_no_note(client: Client, release_pair):
    page = soup(client.get(reverse("compare:store")))
    assert page.select(".note-capped") == []


def test_the_store_lists_link_each_layer_to_an_image_that_has_it(client: Client, release_pair):
    _v1, v2 = release_pair
    page = soup(client.get(reverse("compare:store")))

    links = {a["href"] for a in page.select("#most-title + table a.open")}
    assert links == {
        reverse("explorer:image", args=[v2.digest]) + "?layer=0&mode=layer",
        reverse("explorer:image", args=[v2.digest]) + "?layer=1&mode=layer",
    }


# --- the store's charts ------------------------------------------------------------------


def test_only_the_ends_of_the_layer_tree_open_a_page_the_other_boxes_zoom(
    client: Client, release_pair
):
    v1, v2 = release_pair
    page = soup(client.get(reverse("compare:store")))

    icicle = json.loads(page.select_one("#icicle-data").string)["data"][0]
    links = dict(zip(icicle["labels"], icicle["customdata"], strict=True))
    assert (
        links["lv/app:1.0"] == reverse("explorer:image", args=[v1.digest]) + "?layer=2&mode=layer"
    )
    assert (
        links["lv/app:2.0"] == reverse("explorer:image", args=[v2.digest]) + "?layer=2&mode=layer"
    )
    assert sorted(link for link in links.values()) == sorted(
        ["", "", "", links["lv/app:1.0"], links["lv/app:2.0"]]
    )
    assert "click to zoom" in icicle["hovertext"][1]


def test_every_node_of_the_flow_chart_but_the_empty_root_opens_a_page(client: Client, release_pair):
    v1, _v2 = release_pair
    page = soup(client.get(reverse("compare:store")))

    sankey = json.loads(page.select_one("#sankey-data").string)["data"][0]
    # Each node's customdata is [the page it opens, its hover].
    links = {
        label: page
        for label, (page, _hover) in zip(
            sankey["node"]["label"], sankey["node"]["customdata"], strict=True
        )
    }
    assert links["lv/app:1.0"] == reverse("explorer:image", args=[v1.digest])
    assert links["empty"] == ""
    assert all(link.startswith("/images/") for label, link in links.items() if label != "empty")
    # Draggable nodes swallow the click.
    assert sankey["arrangement"] == "fixed"
    assert page.select_one("[data-chart=sankey-data]").has_attr("data-chart-links")


def test_the_matrix_of_a_store_with_more_images_than_it_holds_says_which_it_shows(
    client: Client, release_pair, tmp_path, settings
):
    _ingest(tmp_path, "lv/other:1", [OTHER_BASE])
    settings.LAYERVIZ_STORE_HEATMAP_IMAGES = 2

    page = soup(client.get(reverse("compare:store")))

    heatmap = json.loads(page.select_one("#heatmap-data").string)["data"][0]
    # The two releases share their base and dependencies; the other image shares nothing.
    assert sorted(heatmap["x"]) == ["lv/app:1.0", "lv/app:2.0"]
    assert (
        "The 2 images that share the most bytes"
        in page.select_one("#matrix-title ~ .note-capped").get_text()
    )


def test_the_store_api_counts_shared_content_and_shared_chains_apart(client: Client, tmp_path):
    # The same app layer on two bases: one blob in a registry, two unpacked layers on a host.
    app = synth.layer([file("app/main.py", b"m" * 4000)])
    base_a = synth.layer([file("etc/os-release", b"a" * 1000)])
    base_b = synth.layer([file("etc/os-release", b"b" * 2000)])
    one = ingest_image(tmp_path, "lv/one:1", [base_a, app])
    two = ingest_image(tmp_path, "lv/two:1", [base_b, app])
    three = ingest_image(tmp_path, "lv/three:1", [base_a, app], cmd=["other"])

    data = client.get(reverse("compare:api-store")).json()

    size = {il.layer.diff_id: il.layer.size for il in one.layers_in_order()}
    size.update({il.layer.diff_id: il.layer.size for il in two.layers_in_order()})
    app_size = one.layers_in_order()[1].layer.size
    assert data["layers"] == 3 and data["chains"] == 4
    assert data["stored_bytes"] == sum(size.values())
    assert data["stored_bytes_by_chain"] == sum(size.values()) + app_size  # app once per base
    assert data["saved_bytes_by_chain"] == data["logical_bytes"] - data["stored_bytes_by_chain"]
    shared = {s["chain_id"]: s for s in data["shared_chains"]}
    top = one.layers_in_order()[1].chain.chain_id
    assert set(shared) == {one.layers_in_order()[0].chain.chain_id, top}
    assert sorted(i["references"][0] for i in shared[top]["images"]) == ["lv/one:1", "lv/three:1"]
    assert two.digest not in {i["digest"] for s in shared.values() for i in s["images"]}
    assert three.digest in {i["digest"] for i in shared[top]["images"]}


def test_metadata_only_changes_are_counted_and_charted_apart_from_content(client, tmp_path):
    base = synth.layer([file("etc/os-release", b"debian")])
    lib = [file(f"usr/lib/m{i}.py", b"x" * 1000, mtime=1_700_000_000) for i in range(20)]
    a = ingest_image(tmp_path, "lv/a:1", [base, synth.layer([*lib, file("app/main.py", b"v1")])])
    touched = [file(f"usr/lib/m{i}.py", b"x" * 1000, mtime=1_710_000_000) for i in range(20)]
    b = ingest_image(
        tmp_path,
        "lv/b:1",
        [
            base,
            synth.layer(
                [*touched, file("app/main.py", b"v2 longer"), file("app/run.sh", b"r", mode=0o755)]
            ),
        ],
    )

    files = client.get(reverse("compare:api-compare"), {"a": a.digest, "b": b.digest}).json()[
        "files"
    ]
    diffs = {d.path: d for d in filediff.file_diff(comparison.align(a, b))}

    assert (files["changed"], files["changed_content"], files["changed_metadata"]) == (21, 1, 20)
    assert files["changed_content_delta_bytes"] == len(b"v2 longer") - len(b"v1")
    assert files["metadata_bytes"] == 20 * 1000
    assert files["by_top_directory"]["usr"] == {
        "added": 0,
        "removed": 0,
        "changed": 0,
        "metadata": 20_000,
    }
    assert files["by_top_directory"]["app"]["changed"] == 7
    assert diffs["usr/lib/m0.py"].meta == (
        ("mtime", "2023-11-14 22:13:20 UTC", "2024-03-09 16:00:00 UTC"),
    )
    assert diffs["app/main.py"].content_changed and not diffs["usr/lib/m0.py"].content_changed


def test_how_two_stacks_relate_is_named(client: Client, tmp_path):
    base = synth.layer([file("etc/os-release", b"debian")])
    app = synth.layer([file("app/main.py", b"v1")])
    one = ingest_image(tmp_path, "lv/base:1", [base])
    two = ingest_image(tmp_path, "lv/app:1", [base, app])
    other = ingest_image(tmp_path, "lv/other:1", [synth.layer([file("x", b"x")])])
    fork = ingest_image(tmp_path, "lv/fork:1", [base, synth.layer([file("app/main.py", b"v2")])])

    def relation(a: Image, b: Image) -> str:
        return client.get(reverse("compare:api-compare"), {"a": a.digest, "b": b.digest}).json()[
            "relation"
        ]

    assert relation(two, two) == "same"
    assert relation(one, two) == "a_below_b"
    assert relation(two, one) == "b_below_a"
    assert relation(one, other) == "apart"
    assert relation(two, fork) == "diverge"


def test_the_compare_page_names_the_relation_and_keeps_content_apart_from_metadata(
    client: Client, tmp_path
):
    base = synth.layer([file("etc/os-release", b"debian")])
    a = ingest_image(
        tmp_path,
        "lv/a:1",
        [base, synth.layer([file("lib/m.py", b"x" * 900, mtime=1), file("app", b"1")])],
    )
    b = ingest_image(
        tmp_path,
        "lv/b:1",
        [base, synth.layer([file("lib/m.py", b"x" * 900, mtime=2), file("app", b"22")])],
    )

    same = soup(client.get(reverse("compare:compare"), {"a": a.digest, "b": a.digest}))
    pair = soup(client.get(reverse("compare:compare"), {"a": a.digest, "b": b.digest}))
    files = " ".join(
        pair.select_one("#files-title").find_parent("section").find("p").get_text().split()
    )

    assert same.select_one("tr.diverge").get_text(strip=True) == "They have the same layers"
    assert "~1 content changed (+1 B)" in files
    assert "~1 metadata only (900 B stored again)" in files
    assert "to download, estimated" in pair.select_one(".numbers").get_text()


@pytest.mark.parametrize("ticked", [1, 3])
def test_ticking_other_than_two_images_says_why_there_is_no_comparison(client, tmp_path, ticked):
    images = [
        ingest_image(tmp_path, f"lv/t:{n}", [synth.layer([file("f", str(n).encode())])])
        for n in range(3)
    ]
    page = soup(
        client.get(reverse("compare:compare"), {"image": [i.digest for i in images[:ticked]]})
    )

    assert f"{ticked} image" in page.select_one(".note.warn").get_text()
    assert "needs exactly two" in page.select_one(".note.warn").get_text()
    assert page.select_one("form.pick select#pick-a")


def test_with_fewer_than_two_images_the_compare_page_says_how_to_get_some(client, tmp_path):
    ingest_image(tmp_path, "lv/alone:1", [synth.layer([file("f", b"1")])])
    page = soup(client.get(reverse("compare:compare")))

    assert "python3 dev.py start" in page.select_one("p.empty").get_text()
