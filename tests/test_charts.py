"""The charts (``layerviz/charts.py``) are built from plain data, so their tests need no
database: what each figure draws, says on hover, and opens on a click."""

from __future__ import annotations

import dataclasses
import json
import re
from types import SimpleNamespace

from layerviz import charts
from layerviz.images import sharing
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


# --- the store's tree of chains ---------------------------------------------------------------


def _forest(chains: list[tuple[int, int | None, int, str, list[int]]]) -> sharing.Forest:
    """A forest from (pk, parent pk, size, instruction, images using it); an image's top chain
    is the deepest it uses."""
    nodes: dict[int, sharing.ChainNode] = {}
    for pk, parent, size, instruction, images in chains:
        depth = nodes[parent].depth + 1 if parent is not None else 0
        nodes[pk] = sharing.ChainNode(
            f"sha256:{pk:064x}", pk, parent, depth, pk, f"sha256:{pk:064x}", size, size,
            set(images), instruction=instruction,
        )  # fmt: skip
    lineage: dict[int, list[int]] = {}
    for node in sorted(nodes.values(), key=lambda n: n.depth):
        for image in node.images:
            lineage.setdefault(image, []).append(node.pk)
    for image, pks in lineage.items():
        nodes[pks[-1]].tops.append(image)
    images = [SimpleNamespace(pk=image) for image in sorted(lineage)]
    return sharing.Forest(nodes, images, lineage)  # type: ignore[arg-type]


def _widths(icicle: dict) -> dict[str, int]:
    """Each box's drawn width ("remainder": its value and its children's), by id."""
    value = dict(zip(icicle["ids"], icicle["values"], strict=True))
    parent = dict(zip(icicle["ids"], icicle["parents"], strict=True))
    width = dict(value)
    for box in sorted(icicle["ids"], key=lambda b: -_depth(parent, b)):
        if parent[box]:
            width[parent[box]] += width[box]
    return width


def _depth(parent: dict[str, str], box: str) -> int:
    return 0 if not parent[box] else 1 + _depth(parent, parent[box])


# A 300 MB base, a 1-byte layer on it, and on that an empty layer and a 10-byte one: the
# three small ones are images' tops, the ends a click on the tree must reach.
TINY_ON_BIG = [
    (1, None, 300_000_000, "ADD rootfs /", [10, 11, 12]),
    (2, 1, 1, "RUN touch /x", [11, 12]),
    (3, 2, 0, "RUN rm /x", [11]),
    (4, 2, 10, "RUN echo hi > /y", [12]),
]


def test_every_layer_of_the_tree_is_a_box_wide_enough_to_click_however_few_its_bytes():
    chart = charts.chain_icicle(_forest(TINY_ON_BIG), {10: "big", 11: "a", 12: "b"}, {})
    icicle = chart["data"][0]
    width = _widths(icicle)

    assert set(icicle["ids"]) == {"root", "c1", "c2", "c3", "c4"}
    store = sum(size for _pk, _parent, size, _step, _images in TINY_ON_BIG)
    for box in ("c2", "c3", "c4"):
        # 1/60 of the store's bytes, and so over 1/70 of the drawn width here
        assert width[box] >= int(store * charts.ICICLE_MIN_SHARE), box
        assert width[box] / width["root"] > 1 / 70, box


def test_the_tree_hovers_with_the_true_bytes_whatever_width_a_box_is_drawn():
    icicle = charts.chain_icicle(_forest(TINY_ON_BIG), {10: "big", 11: "a", 12: "b"}, {})["data"][0]
    hover = dict(zip(icicle["ids"], icicle["hovertext"], strict=True))

    assert "layer 2, 1 B" in hover["c2"]
    assert "layer 3, 0 B" in hover["c3"]
    assert "layer 1, 300.0 MB" in hover["c1"]
    # The base still takes nearly all the width: the bytes decide, the minimum only helps.
    width = _widths(icicle)
    assert width["c1"] - width["c2"] > 0.9 * width["root"]


def _luminance(colour: str) -> float:
    def channel(c: int) -> float:
        c /= 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    red, green, blue = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(red) + 0.7152 * channel(green) + 0.0722 * channel(blue)


def test_every_box_of_the_tree_is_opaque_with_text_that_reads_on_it_in_either_scheme():
    # A see-through box looks other on a dark page, and its text was picked for a light one.
    icicle = charts.chain_icicle(_forest(TINY_ON_BIG), {10: "big", 11: "a", 12: "b"}, {})["data"][0]
    boxes = icicle["marker"]["colors"]
    inks = icicle["insidetextfont"]["color"]
    assert all(re.fullmatch(r"#[0-9a-f]{6}", colour) for colour in boxes), boxes
    for box, ink in zip(boxes, inks, strict=True):
        a, b = sorted((_luminance(box), _luminance(ink)))
        assert (b + 0.05) / (a + 0.05) >= 4.5, (box, ink)
    # More images on a box, a darker box.
    shade = dict(zip(icicle["ids"], (_luminance(c) for c in boxes), strict=True))
    assert shade["c1"] < shade["c2"] < shade["c4"]


def test_the_tree_is_as_tall_as_the_levels_it_shows():
    shallow = charts.chain_icicle(_forest(TINY_ON_BIG[:1]), {10: "big", 11: "a", 12: "b"}, {})
    deep = charts.chain_icicle(_forest(TINY_ON_BIG), {10: "big", 11: "a", 12: "b"}, {})

    assert shallow["layout"]["height"] < deep["layout"]["height"] <= 20 + 44 * 5


def _many_images(count: int) -> sharing.Forest:
    """``count`` images on one shared base, each with three layers of its own."""
    chains: list[tuple[int, int | None, int, str, list[int]]] = [
        (1, None, 80_000_000, "ADD rootfs /", list(range(1000, 1000 + count)))
    ]
    for i in range(count):
        image = 1000 + i
        own = [
            f"COPY requirements-{i}.txt /srv/app/requirements.txt",
            f"RUN pip install --no-cache-dir -r /srv/app/requirements-{i}.txt",
            f"COPY . /srv/app/{i}",
        ]
        parent = 1
        for j, text in enumerate(own):
            pk = 10 + i * 3 + j
            chains.append((pk, parent, 1000 * (j + 1), text, [image]))
            parent = pk
    return _forest(chains)


def test_the_flow_chart_draws_what_images_share_and_the_images_with_short_labels():
    forest = _many_images(40)
    names = {
        image.pk: f"registry.example.com/team/service-{image.pk}:2024.1" for image in forest.images
    }
    sankey = charts.chain_sankey(forest, names, {})["data"][0]
    labels = sankey["node"]["label"]

    # The empty root, the shared base and the 40 images; no image's own layers.
    assert len(labels) == 42
    assert max(len(label) for label in labels) <= 28
    # The hover has each label whole.
    hovers = [hover for _page, hover in sankey["node"]["customdata"]]
    assert any(names[1000] in hover for hover in hovers)
    assert "%{customdata[1]}" in sankey["node"]["hovertemplate"]


def test_the_flow_chart_sends_each_image_through_the_layers_it_shares_and_says_what_it_adds():
    sankey = charts.chain_sankey(_many_images(3), {1000: "a", 1001: "b", 1002: "c"}, {})["data"][0]
    link = sankey["link"]
    into = {}
    for target, value in zip(link["target"], link["value"], strict=True):
        into[target] = into.get(target, 0) + value
    out = {}
    for source, value in zip(link["source"], link["value"], strict=True):
        out[source] = out.get(source, 0) + value

    base = sankey["node"]["label"].index("ADD rootfs /")
    assert into[base] == out[base] == 3
    assert "3 layers of its own, 6.0 kB" in link["customdata"][-1]


def test_the_flow_chart_is_as_tall_as_its_images_need_and_asks_for_its_columns_width():
    sankey = charts.chain_sankey(_many_images(40), {1000 + i: f"i{i}" for i in range(40)}, {})

    assert sankey["layout"]["height"] >= charts.SANKEY_ROW * 40
    # The root, the base, the images.
    assert sankey["layout"]["meta"]["min_width"] == 3 * charts.SANKEY_COLUMN
