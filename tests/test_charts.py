"""The charts (``layerviz/charts.py``) are built from plain data, so their tests need no
database: what each figure draws, says on hover, and opens on a click."""

from __future__ import annotations

import dataclasses
import json

from layerviz import charts
from layerviz.images.filesystem import LAYER, MERGED, Box
from layerviz.lib.changes import ADDED, DIR, MODIFIED, REG, ChangeRow
from layerviz.lib.units import human_bytes

# Three gzip layers: text that compresses well, a file added, one modified.
BARS = [
    charts.LayerBar(0, "ADD rootfs /", 61, 4000),
    charts.LayerBar(1, "COPY app /app", 48, 2700),
    charts.LayerBar(2, "RUN upgrade", 70, 5400),
]


def test_the_layer_size_chart_stacks_the_compressed_size_and_what_compression_saved():
    chart = charts.layer_sizes(BARS)

    bottom, top = chart["data"]
    assert chart["layout"]["barmode"] == "stack"
    assert (bottom["name"], top["name"]) == ("compressed", "saved by compression")
    assert bottom["y"] == [bar.compressed for bar in BARS]
    assert [b + t for b, t in zip(bottom["y"], top["y"], strict=True)] == [bar.size for bar in BARS]
    assert all(t > 0 for t in top["y"])
    # Either part of a bar tells both sizes; the first figure is the layer a click opens.
    for trace in (bottom, top):
        assert [row[0] for row in trace["customdata"]] == [0, 1, 2]
        assert "compressed: %{customdata[2]}" in trace["hovertemplate"]
        assert "uncompressed: %{customdata[3]}" in trace["hovertemplate"]
    assert bottom["customdata"][1][1] == "COPY app /app"
    assert bottom["customdata"][1][3] == human_bytes(BARS[1].size)


def test_an_uncompressed_layer_saves_nothing_rather_than_less_than_nothing():
    # A layer stored as a plain tar: its blob (headers and padding too) outweighs its files.
    bars = [charts.LayerBar(i, "", 10_240 + i, 9_000) for i in range(3)]

    chart = charts.layer_sizes(bars)

    assert chart["data"][1]["y"] == [0, 0, 0]


def _row(directory: str, name: str, kind: str, depth: int, type_: str = REG) -> ChangeRow:
    return ChangeRow(
        directory, name, kind, "", type_, 100, 0o644, 0, 0, 0, "", b"", 1, None, None, depth=depth
    )


def test_the_treemap_tells_the_change_in_words_and_in_the_merged_view_the_layer():
    own = charts.treemap(
        [
            Box("/", "", 100),
            Box("/etc/", "/", 100, _row("", "etc", MODIFIED, 2, DIR)),
            Box("/etc/os-release", "/etc/", 100, _row("etc", "os-release", MODIFIED, 2)),
        ],
        2,
        LAYER,
    )["data"][0]
    merged = charts.treemap(
        [Box("/", "", 300), Box("/etc/", "/", 100, _row("", "etc", MODIFIED, 2, DIR)),
         Box("/etc/os-release", "/etc/", 100, _row("etc", "os-release", MODIFIED, 2)),
         Box("/app/", "/", 200, _row("", "app", ADDED, 1, DIR)),
         Box("/app/main.py", "/app/", 200, _row("app", "main.py", ADDED, 1))],
        2,
        MERGED,
    )["data"][0]  # fmt: skip

    def notes(trace: dict) -> dict[str, str]:
        return dict(zip(trace["labels"], trace["customdata"], strict=True))

    assert "%{customdata}" in own["hovertemplate"]
    assert notes(own)["os-release"] == "modified"
    assert notes(merged)["os-release"] == "modified in layer #3"
    assert notes(merged)["main.py"] == "added in layer #2"
    assert notes(merged)["app"] == "added in layer #2"


def test_the_shared_bytes_matrix_grows_with_the_images_and_keeps_the_most_sharing():
    names = [f"lv/n:{i}" for i in range(50)]
    values = [[1000 if i != j else 5000 for j in range(50)] for i in range(50)]

    small = charts.shared_heatmap(names[:3], [row[:3] for row in values[:3]])
    big = charts.shared_heatmap(names, values)

    assert "width" not in small["layout"]
    assert big["layout"]["width"] == big["layout"]["height"] >= 16 * 50
    assert big["data"][0]["x"] == names


def test_a_small_image_wholly_on_a_big_ones_base_is_coloured_as_fully_shared():
    # big: 1 GB; small: 10 MB, all of it the big image's base; other: shares nothing.
    values = [[10**9, 10**7, 0], [10**7, 10**7, 0], [0, 0, 5 * 10**6]]
    cells = charts.shared_heatmap(["big", "small", "other"], values)["data"][0]

    assert cells["z"][0][1] == cells["z"][1][0] == 1.0
    assert cells["z"][0][2] == 0.0
    assert cells["customdata"] == values
    assert cells["colorbar"]["tickformat"] == ".0%"


def test_the_treemap_colours_every_depth_and_says_what_the_colours_mean():
    passed_through = dataclasses.replace(
        _row("", "usr", "U", 2, DIR), sub_added=900, sub_modified=3
    )
    own = charts.treemap([Box("/", "", 100), Box("/usr/", "/", 100, passed_through)], 2, LAYER)
    merged = charts.treemap(
        [Box("/", "", 300), Box("/etc/", "/", 100, _row("", "etc", MODIFIED, 2, DIR)),
         Box("/app/", "/", 200, _row("", "app", ADDED, 1, DIR))],
        2,
        MERGED,
    )  # fmt: skip

    assert own["data"][0]["marker"]["colors"][1] == charts.ADDED  # not a grey box
    assert (
        dict(zip(own["data"][0]["labels"], own["data"][0]["customdata"], strict=True))["usr"]
        == "added"
    )
    legend = own["layout"]["annotations"][0]["text"]
    assert "added" in legend and "modified" in legend and "unchanged" in legend
    colours = merged["data"][0]["marker"]["colors"]
    assert colours[1] != colours[2]  # layer #3 and layer #2 apart
    assert "layer #2" in merged["layout"]["annotations"][0]["text"]
    assert "layer #3" in merged["layout"]["annotations"][0]["text"]


def test_no_figure_carries_plotlys_default_template():
    figure = charts.layer_sizes(BARS)

    assert "template" not in figure["layout"]
    assert len(json.dumps(figure)) < 4000
