"""Comparing two images, and sharing across the store: pages and JSON API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from django.test import Client
from django.urls import reverse

from layerviz.images.ingest import ingest
from layerviz.images.models import Image
from layerviz.lib import synth
from layerviz.lib.synth import Step, file, whiteout

pytestmark = pytest.mark.django_db

BASE = synth.layer([file("bin/sh", b"s" * 4000, mode=0o755), file("etc/os-release", b"v1\n")])
OTHER_BASE = synth.layer([file("bin/sh", b"t" * 4000, mode=0o755), file("etc/os-release", b"v1\n")])
DEPS = synth.layer([file("usr/lib/libx.so", b"x" * 3000), file("var/cache/pkg.deb", b"d" * 2000)])


def soup(response) -> BeautifulSoup:
    return BeautifulSoup(response.content.decode(), "html.parser")


def _ingest(tmp_path: Path, tag: str, layers: list[bytes], **config) -> Image:
    name = tag.replace("/", "_").replace(":", "_")
    history = [Step(f"RUN step {i}") for i in range(len(layers))]
    image = synth.Image(layers=layers, tags=[tag], history=history, **config)
    [out] = ingest(
        f"docker-archive:{synth.write_docker_archive(tmp_path / f'{name}.tar', [image], layout='docker25')}"
    )
    return out


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
    assert data["pull_bytes"] == layers_2[2].blob_size
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
    assert data["pull_bytes"] == sum(il.blob_size for il in b.layers_in_order())
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


def test_an_unknown_image_is_a_404_with_the_reason(client: Client):
    response = client.get(reverse("compare:api-compare"), {"a": "lv/nope:1", "b": "lv/nope:2"})
    assert response.status_code == 404
    assert "no indexed image is named" in response.json()["error"]


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
    assert heatmap["data"][0]["z"][0][1] == 9003  # the two releases share base and deps
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
