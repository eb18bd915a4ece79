"""Plotly figures, built in Python and drawn by static/js/app.js from a ``json_script``.

Every label that comes from an image (file names, instructions) is HTML-escaped before it goes
into a figure: plotly renders a subset of HTML in labels and hover text, and a file name is
hostile input.
"""

from __future__ import annotations

import html
import json
from typing import Any

import plotly.graph_objects as go
from django.db.models import Case, F, Q, Sum, When
from django.utils.translation import gettext as _

from layerviz.images.filesystem import LAYER, listing_queryset
from layerviz.images.models import Chain, Change, ChangeKind, Image
from layerviz.lib.instructions import clean_instruction

TREEMAP_CHILDREN = 12  # biggest children shown per directory; the rest is one "other" box
TREEMAP_DEPTH = 3
TREEMAP_NODES = 160

ADDED = "#2e9e55"
MODIFIED = "#d9a21b"
DELETED = "#d0453c"
NEUTRAL = "#6b7a90"


def escape(text: str) -> str:
    return html.escape(text, quote=False)


def _plain(fig: go.Figure) -> dict[str, Any]:
    return json.loads(fig.to_json())


def _layout(fig: go.Figure, height: int) -> None:
    fig.update_layout(
        height=height,
        margin={"l": 8, "r": 8, "t": 8, "b": 8},
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
        font={"family": "system-ui, sans-serif", "size": 12},
    )


def layer_sizes(image: Image, image_layers: list) -> dict[str, Any]:
    """Size of each layer: uncompressed content with the compressed blob drawn over it."""
    steps = {s.position: s for s in image.history.all() if s.position is not None}
    labels, hover, positions = [], [], []
    for il in image_layers:
        step = steps.get(il.position)
        text = clean_instruction(step.created_by) if step else ""
        labels.append(f"#{il.position + 1}")
        hover.append(escape(text[:160] or _("(no history)")))
        positions.append(il.position)
    fig = go.Figure()
    fig.add_bar(
        x=labels,
        y=[il.layer.size for il in image_layers],
        name=_("uncompressed"),
        marker_color="#8fb3de",
        customdata=list(zip(positions, hover, strict=True)),
        hovertemplate="%{customdata[1]}<br>" + _("uncompressed") + ": %{y:.3s}B<extra></extra>",
    )
    fig.add_bar(
        x=labels,
        y=[il.blob_size for il in image_layers],
        name=_("compressed"),
        marker_color="#2f5f98",
        width=0.45,
        customdata=list(zip(positions, hover, strict=True)),
        hovertemplate="%{customdata[1]}<br>" + _("compressed") + ": %{y:.3s}B<extra></extra>",
    )
    fig.update_layout(
        barmode="overlay",
        legend={"orientation": "h", "y": 1.1},
        yaxis={"tickformat": ".2s", "ticksuffix": "B"},
    )
    _layout(fig, 260)
    return _plain(fig)


def treemap(chains: list[Chain], depth: int, mode: str) -> dict[str, Any] | None:
    """Where the bytes go by directory, as of ``chains[depth]``, aggregated to stay readable:
    the biggest children of each directory, the rest as "other", a few levels deep."""
    rows = _TreemapRows(chains, depth, mode)
    total = rows.total()
    if total <= 0:
        return None
    ids, parents, labels, values, colors = ["/"], [""], ["/"], [total], [NEUTRAL]
    queue = [("", "/", total, 0)]
    while queue and len(ids) < TREEMAP_NODES:
        directory, node_id, size, level = queue.pop(0)
        shown = 0
        for row, value in rows.children(directory):
            if value <= 0 or len(ids) >= TREEMAP_NODES:
                continue
            child_id = f"{node_id}{row.name}/" if row.type == "5" else f"{node_id}{row.name}"
            ids.append(child_id)
            parents.append(node_id)
            labels.append(escape(row.name))
            values.append(value)
            colors.append(_colour(row, depth, mode))
            shown += value
            if row.type == "5" and level + 1 < TREEMAP_DEPTH and value >= total / 100:
                queue.append((row.path, child_id, value, level + 1))
        if size - shown > 0 and shown:
            ids.append(f"{node_id}\x00other")
            parents.append(node_id)
            labels.append(_("other"))
            values.append(size - shown)
            colors.append("#c9d1dc")
    fig = go.Figure(
        go.Treemap(
            ids=ids,
            parents=parents,
            labels=labels,
            values=values,
            branchvalues="total",
            marker={"colors": colors},
            hovertemplate="%{label}<br>%{value:.3s}B<extra></extra>",
            texttemplate="%{label}<br>%{value:.3s}B",
            maxdepth=3,
        )
    )
    _layout(fig, 360)
    return _plain(fig)


def _colour(row: Change, depth: int, mode: str) -> str:
    if mode != LAYER and row.depth != depth:
        return NEUTRAL
    return {ChangeKind.ADDED: ADDED, ChangeKind.MODIFIED: MODIFIED}.get(row.kind, NEUTRAL)


class _TreemapRows:
    """The queries behind the treemap: a directory's biggest children and their sizes."""

    def __init__(self, chains: list[Chain], depth: int, mode: str) -> None:
        self.chain = chains[depth]
        self.ids = [c.pk for c in chains[: depth + 1]]
        self.depth = depth
        self.mode = mode

    def _rows(self, directory: str):
        if self.mode == LAYER:
            qs = Change.objects.filter(chain=self.chain, dir=directory).exclude(
                kind=ChangeKind.DELETED
            )
            size = Case(When(type="5", then=F("layer_bytes")), default=F("size"))
        else:
            qs = listing_queryset(self.ids, self.depth, directory).exclude(kind=ChangeKind.DELETED)
            size = Case(When(type="5", then=F("tree_bytes")), default=F("size"))
        return qs.annotate(value=size)

    def total(self) -> int:
        if self.mode == LAYER:
            return int(self._rows("").aggregate(total=Sum("value"))["total"] or 0)
        return self.chain.total_bytes

    def children(self, directory: str) -> list[tuple[Change, int]]:
        rows = (
            self._rows(directory).filter(~Q(value=0)).order_by("-value", "name")[:TREEMAP_CHILDREN]
        )
        return [(row, int(row.value)) for row in rows]
