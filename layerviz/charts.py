"""Plotly figures, built in Python and drawn by static/js/app.js from a ``json_script``.

Every label that comes from an image (file names, instructions) is HTML-escaped before it goes
into a figure: plotly renders a subset of HTML in labels and hover text, and a file name is
hostile input.
"""

from __future__ import annotations

import dataclasses
import html
import json
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

import plotly.graph_objects as go
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from layerviz.images.filesystem import LAYER, Box
from layerviz.lib import changes
from layerviz.lib.changes import DIR, ChangeRow
from layerviz.lib.figures import OurFigures
from layerviz.lib.units import human_bytes, layer_no, layer_number

ADDED = "#2e9e55"
MODIFIED = "#d9a21b"
DELETED = "#d0453c"
NEUTRAL = "#6b7a90"


def escape(text: str) -> str:
    return html.escape(text, quote=False)


def _plain(fig: go.Figure) -> dict[str, Any]:
    """The figure as JSON for the page, without the ~7 kB default template plotly.py embeds in
    every figure: plotly.js has its own defaults, and our layout sets what we care about."""
    data = json.loads(fig.to_json())
    data.get("layout", {}).pop("template", None)
    return data


def _mix(light: str, dark: str, share: float) -> str:
    """The colour ``share`` of the way from ``light`` to ``dark``, opaque: a see-through colour
    would look lighter or darker with the page behind it (light or dark mode), and plotly would
    pick its text colour for the wrong one."""
    a = [int(light[i : i + 2], 16) for i in (1, 3, 5)]
    b = [int(dark[i : i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(x + (y - x) * share):02x}" for x, y in zip(a, b, strict=True))


def _ink_on(colour: str) -> str:
    """Dark or white text, whichever reads on ``colour`` (an opaque #rrggbb)."""
    red, green, blue = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return "#1c2430" if 0.299 * red + 0.587 * green + 0.114 * blue > 150 else "#ffffff"


def _layout(fig: go.Figure, height: int) -> None:
    fig.update_layout(
        height=height,
        margin={"l": 8, "r": 8, "t": 8, "b": 8},
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
        font={"family": "system-ui, sans-serif", "size": 12},
        # What plotly.py's default template gave and plotly.js's defaults do not: room made
        # for the tick labels, the hover of the nearest point, and labels such as "#2" kept
        # as categories (plotly.js would read them as numbers).
        xaxis={"automargin": True},
        yaxis={"automargin": True},
        hovermode="closest",
        autotypenumbers="strict",
    )


@dataclasses.dataclass(frozen=True)
class LayerBar:
    position: int  # 0-based, as stored
    instruction: str
    compressed: int  # what pulling it downloads (ImageLayer.download)
    size: int  # bytes of the layer's files
    estimated: bool = False  # ``compressed`` is an estimate (the source had a plain tar)


def layer_sizes(bars: list[LayerBar]) -> dict[str, Any]:
    """Size of each layer as a stack: the compressed download at the bottom, and on top what
    compression saved, so the whole bar is the uncompressed size. Either part's hover gives both
    sizes, since the top part alone is neither."""
    labels, details = [], []
    for bar in bars:
        labels.append(layer_no(bar.position))
        # position first: static/js/app.js opens the layer a click lands on from customdata[0].
        details.append(
            [
                bar.position,
                escape(bar.instruction[:160] or _("(no history)")),
                human_bytes(bar.compressed) + (" " + _("(estimated)") if bar.estimated else ""),
                human_bytes(bar.size),
            ]
        )
    hover = (
        "%{customdata[1]}<br>"
        + _("compressed")
        + ": %{customdata[2]}<br>"
        + _("uncompressed")
        + ": %{customdata[3]}<extra></extra>"
    )
    fig = go.Figure()
    fig.add_bar(
        x=labels,
        y=[bar.compressed for bar in bars],
        name=_("compressed"),
        marker_color="#2f5f98",
        customdata=details,
        hovertemplate=hover,
    )
    fig.add_bar(
        x=labels,
        # A layer stored uncompressed has a blob (the tar) bigger than its files: nothing saved.
        y=[max(bar.size - bar.compressed, 0) for bar in bars],
        name=_("saved by compression"),
        marker_color="#8fb3de",
        customdata=details,
        hovertemplate=hover,
    )
    fig.update_layout(
        barmode="stack",
        legend={"orientation": "h", "y": 1.1},
        yaxis={"tickformat": ".2s", "ticksuffix": "B"},
    )
    _layout(fig, 260)
    return _plain(fig)


def treemap(boxes: list[Box], depth: int, mode: str) -> dict[str, Any] | None:
    """Where the bytes go by directory, as of layer ``depth``: the boxes
    ``filesystem.treemap_boxes`` chose, coloured by what the layer did (its own changes) or by
    the layer that brought the bytes (the merged filesystem)."""
    if not boxes:
        return None
    ids, parents, labels, values, colors, notes = [], [], [], [], [], []
    for box in boxes:
        ids.append(box.id)
        parents.append(box.parent)
        values.append(box.value)
        if box.row is None:
            labels.append("/" if box.id == "/" else _("other"))
            colors.append(NEUTRAL if box.id == "/" else "#c9d1dc")
            notes.append("")
        else:
            labels.append(escape(box.row.name))
            colors.append(_colour(box.row, depth, mode))
            notes.append(_origin(box.row, mode))
    fig = go.Figure(
        go.Treemap(
            ids=ids,
            parents=parents,
            labels=labels,
            values=values,
            branchvalues="total",
            marker={"colors": colors},
            customdata=notes,
            # The colour's meaning in words too, so that it is never the only signal.
            hovertemplate="%{label}<br>%{value:.3s}B<br>%{customdata}<extra></extra>",
            texttemplate="%{label}<br>%{value:.3s}B",
            maxdepth=3,
        )
    )
    _layout(fig, 360)
    if mode == LAYER:
        _legend(fig, [(ADDED, _("added")), (MODIFIED, _("modified")), (NEUTRAL, _("unchanged"))])
    else:
        layers = sorted({box.row.depth for box in boxes if box.row is not None})
        _legend(
            fig,
            [
                (LAYER_SHADES[n % len(LAYER_SHADES)], _("layer %(n)s") % {"n": layer_no(n)})
                for n in layers
            ],
        )
    return _plain(fig)


# The merged view colours each box by the layer that brought it: a qualitative palette that
# stays apart for colour-blind readers (Okabe and Ito's), one colour per layer, repeating after
# eight. The legend names them.
LAYER_SHADES = (
    "#0072b2",
    "#e69f00",
    "#56b4e9",
    "#009e73",
    "#cc79a7",
    "#f0e442",
    "#d55e00",
    "#999999",
)


def _origin(row: ChangeRow, mode: str) -> str:
    """What the colour of a box says: the change the layer made (this layer's changes), or the
    layer that brought the bytes and how (the merged filesystem)."""
    if mode == LAYER:
        return {changes.ADDED: _("added"), changes.MODIFIED: _("modified")}.get(
            _kind(row), _("unchanged")
        )
    n = layer_number(row.depth)
    if row.kind == changes.ADDED:
        return _("added in layer #%(n)s") % {"n": n}
    if row.kind == changes.MODIFIED:
        return _("modified in layer #%(n)s") % {"n": n}
    return _("unchanged in layer #%(n)s") % {"n": n}


def _colour(row: ChangeRow, depth: int, mode: str) -> str:
    if mode != LAYER:
        return LAYER_SHADES[row.depth % len(LAYER_SHADES)]
    return {changes.ADDED: ADDED, changes.MODIFIED: MODIFIED}.get(_kind(row), NEUTRAL)


def _kind(row: ChangeRow) -> str:
    """The change a box stands for in a layer's own changes: a directory the layer only passed
    through takes the kind of most of what it holds beneath, so colour reaches every depth."""
    if row.type == DIR and row.kind == changes.UNCHANGED and (row.sub_added or row.sub_modified):
        return changes.ADDED if row.sub_added >= row.sub_modified else changes.MODIFIED
    return row.kind


def _legend(fig: go.Figure, items: list[tuple[str, str]]) -> None:
    """A treemap has no legend of its own: a line of coloured squares and words above it."""
    fig.add_annotation(
        text="   ".join(
            f'<span style="color:{colour}">■</span> {escape(label)}' for colour, label in items
        ),
        xref="paper",
        yref="paper",
        x=0,
        y=1,
        yanchor="bottom",
        xanchor="left",
        showarrow=False,
        font={"size": 12},
    )
    fig.update_layout(margin={"t": 30})


# --- comparing and sharing ------------------------------------------------------------------


def diff_by_directory(by_top: dict[str, dict[str, int]]) -> dict[str, Any] | None:
    """Bytes added, removed and changed between two images, per top-level directory: content
    changes and metadata-only changes (files stored again with a new mode, owner or mtime)
    apart, as the counts are."""
    if not by_top:
        return None
    tops = sorted(by_top, key=lambda t: -sum(by_top[t].values()))[:15]
    fig = go.Figure()
    for key, label, colour in (
        ("added", _("only in B"), ADDED),
        ("removed", _("only in A"), DELETED),
        ("changed", _("content changed"), MODIFIED),
        ("metadata", _("metadata only"), NEUTRAL),
    ):
        if not any(by_top[t].get(key, 0) for t in tops):
            continue  # a kind of difference these images do not have: no empty legend entry
        fig.add_bar(
            y=[escape(t) for t in tops],
            x=[by_top[t].get(key, 0) for t in tops],
            name=label,
            orientation="h",
            marker_color=colour,
            hovertemplate="%{y}: %{x:.3s}B<extra>" + escape(label) + "</extra>",
        )
    fig.update_layout(
        barmode="stack",
        yaxis={"autorange": "reversed"},
        xaxis={"tickformat": ".2s", "ticksuffix": "B"},
        # Under the bars, not over them: a legend that wraps on a phone would cover the top rows.
        legend={"orientation": "h", "y": -0.08, "yanchor": "top", "x": 0},
    )
    _layout(fig, 110 + 26 * len(tops))
    fig.update_layout(margin={"b": 60})
    return _plain(fig)


def chain_icicle(forest, names: dict[int, str], urls: dict[str, str]) -> dict[str, Any] | None:
    """The tree of chains as an icicle: width is bytes, shared chains darker.

    ``names`` maps image pk to a display name; ``urls`` maps a node id to the page a click opens.
    Only the ends of branches (an image's top layer) open a page: a click on a box with layers
    built on it zooms into it (plotly's own behaviour), which is how the deep, narrow branches
    of a big store, where the images' names are, come into reach.
    """
    if not forest.nodes:
        return None
    ids, parents, labels, values, colours, hover, links = (
        ["root"],
        [""],
        [_("empty filesystem")],
        [0],
        ["#e8edf3"],
        [""],
        [""],
    )
    most = max(len(n.images) for n in forest.nodes.values())
    has_children = {n.parent for n in forest.nodes.values()}
    shown = _icicle_widths(forest)
    for node in sorted(forest.nodes.values(), key=lambda n: n.depth):
        node_id = f"c{node.pk}"
        ids.append(node_id)
        parents.append(
            f"c{node.parent}" if node.parent is not None and node.parent in forest.nodes else "root"
        )
        tops = ", ".join(escape(names[i]) for i in node.tops)
        step = escape(_short(node.instruction)) if node.instruction else ""
        labels.append(tops or step or node.diff_id.partition(":")[2][:10])
        values.append(shown[node.pk])
        shade = 0.25 + 0.75 * (len(node.images) - 1) / max(most - 1, 1) if node.shared else 0.0
        colours.append(_mix("#c9d8ec", "#173f73", shade) if node.shared else "#c9d8ec")
        used_by = len(node.images)
        leaf = node.pk not in has_children
        hover.append(
            (f"{escape(node.instruction[:120])}<br>" if node.instruction else "")
            + f"{node.diff_id[:19]}…<br>"
            + _("layer %(n)s, %(size)s")
            % {"n": layer_number(node.depth), "size": human_bytes(node.size)}
            + "<br>"
            + (
                _("shared by %(n)s images") % {"n": used_by}
                if used_by > 1
                else _("used by one image")
            )
            + (f"<br>{tops}" if tops else "")
            + "<br><i>"
            + (_("click to open the image") if leaf else _("click to zoom in or out"))
            + "</i>"
        )
        links.append(urls.get(node_id, "") if leaf else "")
    fig = go.Figure(
        go.Icicle(
            ids=ids,
            parents=parents,
            labels=labels,
            values=values,
            branchvalues="remainder",
            marker={"colors": colours, "line": {"width": 1, "color": "#ffffff"}},
            # Each box's text in the ink that reads on it, whatever the page's scheme.
            insidetextfont={"color": [_ink_on(c) for c in colours]},
            customdata=links,
            hovertext=hover,
            hoverinfo="text",
            tiling={"orientation": "v"},
            maxdepth=ICICLE_LEVELS,
        )
    )
    # As tall as the levels it shows: no blank band under a shallow store.
    levels = min(max(n.depth for n in forest.nodes.values()) + 2, ICICLE_LEVELS)
    _layout(fig, 20 + 44 * levels)
    return _plain(fig)


ICICLE_LEVELS = 8  # levels shown at once; a click on a box zooms into the levels beneath
# The narrowest box, as a share of the bytes of the whole tree: on a phone 1/60 of the chart
# is about 6 px, enough to see and to tap (a zoomed branch widens its boxes). Boxes raised to
# it widen the tree too, so that of many tiny layers each is a little less.
ICICLE_MIN_SHARE = 1 / 60


def _icicle_widths(forest) -> dict[int, int]:
    """Chain pk -> what the icicle is given as the chain's own value (``branchvalues=
    "remainder"``: a box is as wide as its value plus its children's).

    Bytes decide the widths, but no box is narrower than ICICLE_MIN_SHARE of the whole tree's
    bytes: a layer of a few bytes beside a base of hundreds of megabytes is still a box to hover
    and click, and a parent is at least as wide as the children it must hold. The hover says
    the true sizes. Bottom up: a chain's width is its own bytes and its children's widths, raised
    to the minimum; its value is that width less its children's."""
    nodes = forest.nodes
    children: dict[int, list[int]] = defaultdict(list)
    for node in nodes.values():
        if node.parent in nodes:
            children[node.parent].append(node.pk)
    floor = max(int(sum(n.size for n in nodes.values()) * ICICLE_MIN_SHARE), 1)
    widths: dict[int, int] = {}
    values: dict[int, int] = {}
    for node in sorted(nodes.values(), key=lambda n: -n.depth):
        held = sum(widths[c] for c in children[node.pk])
        widths[node.pk] = max(node.size + held, floor)
        values[node.pk] = widths[node.pk] - held
    return values


SANKEY_ROW = 22  # px per image at the right-hand edge: a label's height and a gap
SANKEY_COLUMN = 170  # px per column: a label cut to 24 characters, and the node beside it


def chain_sankey(forest, names: dict[int, str], urls: dict[str, str]) -> dict[str, Any] | None:
    """The same tree as flows: each link is as wide as the number of images passing through.

    Only what images share is a node: a layer one image alone uses lets no other image flow
    through it, so an image's own layers above the last shared one are one link to the image
    (its hover says how many and how big). That keeps the columns few and far apart, and the
    labels, cut short, off each other; the hover has them whole.

    ``urls`` maps a node id (``c<chain pk>``, ``i<image pk>``) to the page a click opens; each
    node's ``customdata`` is [that page, its hover]. The nodes stay where they are drawn:
    plotly's draggable nodes swallow the click."""
    if not forest.nodes:
        return None
    index: dict[str, int] = {}
    labels: list[str] = []
    colours: list[str] = []
    data: list[list[str]] = []

    def node(key: str, label: str, colour: str, hover: str) -> int:
        if key not in index:
            index[key] = len(labels)
            labels.append(label)
            colours.append(colour)
            data.append([urls.get(key, ""), hover])
        return index[key]

    source: list[int] = []
    target: list[int] = []
    value: list[int] = []
    link_hover: list[str] = []
    root = node("root", _("empty"), "#9aa5b1", escape(_("empty filesystem")))
    nodes = forest.nodes
    for chain in sorted(nodes.values(), key=lambda n: n.depth):
        if not chain.shared:
            continue
        step = escape(chain.instruction) if chain.instruction else chain.diff_id[:19] + "…"
        me = node(
            f"c{chain.pk}",
            escape(_short(chain.instruction, 24)) or chain.diff_id.partition(":")[2][:8],
            "#2f5f98",
            f"{step}<br>"
            + _("layer %(n)s, %(size)s")
            % {"n": layer_number(chain.depth), "size": human_bytes(chain.size)}
            + "<br>"
            + _("shared by %(n)s images") % {"n": len(chain.images)},
        )
        parent = index[f"c{chain.parent}"] if chain.parent in nodes else root
        source.append(parent)
        target.append(me)
        value.append(len(chain.images))
        link_hover.append(_("shared by %(n)s images") % {"n": len(chain.images)})
    for image in forest.images:
        lineage = forest.lineage.get(image.pk, [])
        own = [nodes[pk] for pk in lineage if not nodes[pk].shared]
        shared = [pk for pk in lineage if nodes[pk].shared]
        name = escape(names[image.pk])
        leaf = node(f"i{image.pk}", escape(_short(names[image.pk], 28)), "#2e9e55", name)
        source.append(index[f"c{shared[-1]}"] if shared else root)
        target.append(leaf)
        value.append(1)
        link_hover.append(
            name
            + "<br>"
            + ngettext(
                "%(n)s layer of its own, %(size)s", "%(n)s layers of its own, %(size)s", len(own)
            )
            % {"n": len(own), "size": human_bytes(sum(n.size for n in own))}
        )
    fig = go.Figure(
        go.Sankey(
            arrangement="fixed",
            node={
                "label": labels,
                "color": colours,
                "customdata": data,
                "hovertemplate": "%{customdata[1]}<extra></extra>",
                "pad": 10,
                "thickness": 12,
            },
            link={
                "source": source,
                "target": target,
                "value": value,
                "customdata": link_hover,
                "hovertemplate": "%{customdata}<extra></extra>",
                "color": "rgba(120,140,170,0.35)",
            },
        )
    )
    # Every image is a node of the last column, and each needs a row for its label.
    _layout(fig, max(320, SANKEY_ROW * len(forest.images) + 40))
    # Each column needs the width of a label: on a narrow window the chart scrolls in its slot
    # (the page reads ``meta.min_width``) rather than drawing its labels over each other.
    shared_levels = max(
        (sum(nodes[pk].shared for pk in lineage) for lineage in forest.lineage.values()), default=0
    )
    fig.update_layout(meta={"min_width": SANKEY_COLUMN * (shared_levels + 2)})
    return _plain(fig)


def _short(instruction: str, length: int = 40) -> str:
    """An instruction cut to fit a box's label; the hover has it whole."""
    return instruction if len(instruction) <= length else instruction[: length - 1] + "…"


HEATMAP_CELL = 16  # px per image: room for a label at the chart's font size
HEATMAP_FIXED = 600  # px: a smaller matrix takes the width of its card


def shared_heatmap(names: list[str], values: list[list[int]]) -> dict[str, Any] | None:
    """Shared bytes of every two images, coloured by the share of the smaller image, so that a
    small image built wholly on a big one's base is as dark as it deserves (bytes alone would
    leave it near white beside two big images). It grows with the number of images, so that
    each keeps a readable label; past the width of a page its slot scrolls sideways."""
    if len(names) < 2:
        return None
    labels = [escape(n) for n in names]
    sizes = [values[i][i] for i in range(len(names))]
    share = [
        [v / max(min(sizes[i], sizes[j]), 1) for j, v in enumerate(row)]
        for i, row in enumerate(values)
    ]
    text = [[human_bytes(v) for v in row] for row in values]
    of_smaller = _("of the smaller image")
    fig = go.Figure(
        go.Heatmap(
            z=share,
            zmin=0,
            zmax=1,
            x=labels,
            y=labels,
            text=text,
            customdata=values,
            colorscale=[[0, "#f4f6f9"], [0.001, "#c6dbef"], [1, "#08306b"]],
            hovertemplate="%{y} ∩ %{x}: %{text} (%{z:.0%} "
            + escape(of_smaller)
            + ")<extra></extra>",
            colorbar={
                "tickformat": ".0%",
                "title": {"text": escape(_("shared")), "side": "right"},
                "thickness": 12,
            },
        )
    )
    fig.update_layout(
        yaxis={"autorange": "reversed", "tickfont": {"size": 11}},
        xaxis={"tickangle": -45, "tickfont": {"size": 11}},
    )
    # Room for the labels (plotly widens the margins to fit them) plus one cell per image.
    size = max(320, HEATMAP_CELL * len(names) + 200)
    _layout(fig, size)
    if size > HEATMAP_FIXED:
        # A fixed width, scrolled inside its slot on a narrow window, keeps the cells square.
        fig.update_layout(width=size)
    return _plain(fig)


# --- efficiency -------------------------------------------------------------------------------

REASON_COLOURS = {
    "deleted": DELETED,
    "overwritten": MODIFIED,
    "identical": "#6b7a90",
    "metadata": "#8a63b8",
}


def waste_by_reason(ours: OurFigures, labels: Mapping[str, object]) -> dict[str, Any] | None:
    """Reclaimable bytes by why the copies do not survive."""
    reasons = [r for r, (size, _files) in ours.by_reason.items() if size]
    if not reasons:
        return None
    fig = go.Figure(
        go.Bar(
            y=[str(labels[r]) for r in reasons],
            x=[ours.by_reason[r][0] for r in reasons],
            orientation="h",
            marker_color=[REASON_COLOURS[r] for r in reasons],
            customdata=[ours.by_reason[r][1] for r in reasons],
            hovertemplate="%{y}: %{x:.3s}B · %{customdata}<extra></extra>",
        )
    )
    fig.update_layout(
        xaxis={"tickformat": ".2s", "ticksuffix": "B"}, yaxis={"autorange": "reversed"}
    )
    _layout(fig, 70 + 34 * len(reasons))
    return _plain(fig)


def waste_by_layer(ours: OurFigures, instructions: dict[int, str]) -> dict[str, Any] | None:
    """For each layer, the bytes it wrote that later layers undid, split by the undoing layer."""
    rows = ours.wasteful_layers()
    if not rows:
        return None
    undoers = sorted({undone for row in rows for undone, _size in row.undone_by})
    labels = [layer_no(row.layer) for row in rows]
    fig = go.Figure()
    for undone in undoers:
        name = _("undone by #%(n)s") % {"n": layer_number(undone)}
        fig.add_bar(
            x=labels,
            y=[dict(row.undone_by).get(undone, 0) for row in rows],
            name=name,
            hovertext=[escape(instructions.get(row.layer, "")[:120]) for row in rows],
            hovertemplate="%{hovertext}<br>%{y:.3s}B<extra>" + escape(name) + "</extra>",
        )
    fig.update_layout(
        barmode="stack",
        yaxis={"tickformat": ".2s", "ticksuffix": "B"},
        legend={"orientation": "h", "y": 1.15},
    )
    _layout(fig, 260)
    return _plain(fig)
