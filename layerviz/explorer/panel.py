"""What the image page shows, worked out from the request and the index: the panel's URL state,
the layer stack's rows and the layer tree's lines.

``views.image`` and ``views.tree`` parse the request into a ``PanelState``, call these and
render; nothing here reads the request beyond ``PanelState.from_request``.
"""

from __future__ import annotations

import dataclasses
from typing import Any
from urllib.parse import urlencode

from django.utils.html import escape
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _

from layerviz import charts
from layerviz.http import HtmxHttpRequest, int_param
from layerviz.images import filesystem, sharing
from layerviz.images.models import Image
from layerviz.lib import changes, filemode, stored_text
from layerviz.lib.changes import DIR, ChangeRow
from layerviz.lib.instructions import clean_instruction, keyword
from layerviz.lib.layer import WH_PREFIX
from layerviz.lib.limits import Limits
from layerviz.lib.units import human_bytes, layer_no, layer_number
from layerviz.packages import report as packages_report

from . import change_words
from .templatetags import explorer as explorer_tags


@dataclasses.dataclass
class PanelState:
    """What the layer panel shows; all of it lives in the query string."""

    layer: int
    mode: str
    path: str
    sort: str
    kinds: list[str]
    q: str
    offset: int = 0  # the first search result shown
    # The layer's deletions as the whiteout entries of its tar (``filesystem.tar_rows``); only
    # the layer's own changes have a tar to show.
    raw: bool = False

    @classmethod
    def from_request(cls, request: HtmxHttpRequest, layer_count: int) -> PanelState:
        top = max(layer_count - 1, 0)
        layer = int_param(request, "layer", default=top, low=0, high=top)
        mode = request.GET.get("mode", filesystem.LAYER)
        if mode not in (filesystem.LAYER, filesystem.MERGED):
            mode = filesystem.LAYER
        sort = request.GET.get("sort", "name")
        if sort not in ("name", "size"):
            sort = "name"
        kinds = [k for k in request.GET.getlist("kind") if k in change_words.KINDS]
        return cls(
            layer=layer,
            mode=mode,
            path=request.GET.get("path", "").strip("/"),
            sort=sort,
            kinds=kinds,
            q=request.GET.get("q", "").strip(),
            # A search finds at most an image's paths.
            offset=int_param(
                request, "offset", default=0, low=0, high=Limits.from_env().paths_per_image
            ),
            raw=mode == filesystem.LAYER and request.GET.get("raw") == "1",
        )

    def query(self, **changes: Any) -> str:
        """The query string of this state with ``changes``; a page of search results is kept
        only when asked for, since any other change starts the results again."""
        state = dataclasses.replace(self, **{"offset": 0, **changes})
        params: list[tuple[str, object]] = [("layer", state.layer), ("mode", state.mode)]
        if state.path:
            params.append(("path", state.path))
        if state.sort != "name":
            params.append(("sort", state.sort))
        params.extend(("kind", k) for k in state.kinds)
        if state.raw and state.mode == filesystem.LAYER:
            params.append(("raw", 1))
        if state.q:
            params.append(("q", state.q))
        if state.offset:
            params.append(("offset", state.offset))
        return urlencode(params)


@dataclasses.dataclass
class StackRow:
    index: int  # history index
    instruction: str
    keyword: str
    created: str
    layer: object | None  # ImageLayer
    position: int | None
    used_by: int = 0  # images holding this layer (its content, on any base)

    @property
    def rest(self) -> str:
        """The instruction without its keyword (the keyword is shown as a badge)."""
        return self.instruction[len(self.keyword) :].strip() if self.keyword else self.instruction


def layer_stack(image: Image) -> tuple[list[StackRow], list]:
    """History steps in build order, each with the layer it made; metadata steps stay as rows
    without a layer. Layers the history does not account for (no history, or history that does
    not match the layers) come first, in layer order, without an instruction."""
    image_layers = list(image.layers_in_order())
    rows: list[StackRow] = []
    placed = set()
    for step in image.history.all():
        il = image_layers[step.position] if step.position is not None else None
        text = clean_instruction(step.created_by) or stored_text.visible(step.comment)
        rows.append(StackRow(step.index, text, keyword(text), step.created, il, step.position))
        if step.position is not None:
            placed.add(step.position)
    unplaced = [
        StackRow(-1, "", "", "", il, il.position)
        for il in image_layers
        if il.position not in placed
    ]
    users = sharing.images_per_layer([il.layer_id for il in image_layers])
    for row in rows + unplaced:
        if row.layer is not None:
            row.used_by = users.get(row.layer.layer_id, 1)  # type: ignore[attr-defined]
    return unplaced + rows, image_layers


def selected_row(stack: list[StackRow], position: int) -> StackRow | None:
    """The stack's row of the layer at ``position``: its full instruction heads the panel."""
    return next((row for row in stack if row.layer is not None and row.position == position), None)


def layer_panel(image_layers: list, state: PanelState) -> dict:
    """The layer panel's context: the selected layer, its tree (or search results), treemap."""
    if not image_layers:
        return {"selected": None}
    chains = [il.chain for il in image_layers]
    selected = image_layers[state.layer]
    context: dict = {"selected": selected, "chains": chains}
    if state.q:
        rows, total = filesystem.search(
            chains, state.layer, state.mode, state.q, kinds=set(state.kinds), offset=state.offset
        )
        context.update(
            search_rows=tree_nodes(chains, rows, state),
            search_total=total,
            search_page=SearchPage(state, len(rows), total),
        )
    else:
        context["tree"], context["tree_more"] = expanded_tree(chains, state)
    context["layer_packages"] = packages_report.layer_changes(selected.image, state.layer)
    boxes = filesystem.treemap_boxes(chains, state.layer, state.mode)
    context["treemap"] = charts.treemap(boxes, state.layer, state.mode)
    return context


@dataclasses.dataclass
class SearchPage:
    """Which search results a page shows, of how many, and the links to the pages around."""

    state: PanelState
    shown: int
    total: int

    @property
    def first(self) -> int:
        return self.state.offset + 1 if self.shown else 0

    @property
    def last(self) -> int:
        return self.state.offset + self.shown

    @property
    def next_query(self) -> str:
        if self.last >= self.total:
            return ""
        return self.state.query(offset=self.last)

    @property
    def previous_query(self) -> str:
        if not self.state.offset:
            return ""
        return self.state.query(offset=max(self.state.offset - filesystem.PAGE, 0))


@dataclasses.dataclass
class TreeNode:
    """A row of the layer tree with what its line shows worked out here: a directory of 500
    entries is 500 lines, and a template tag per field on each cost more than the query."""

    row: ChangeRow
    children: list[TreeNode] | None  # None: not expanded
    more: int = 0  # children not shown on this page
    query: str = ""  # the panel's state with this path open
    badge: str = ""  # safe HTML
    size: str = ""
    size_title: str = ""
    mode: str = ""
    note: str = ""  # safe HTML
    note_from: bool = False  # the note is "from layer #n" (merged view, a lower layer)

    @classmethod
    def of(
        cls,
        row: ChangeRow,
        state: PanelState,
        children: list[TreeNode] | None = None,
        more=0,
        previous: ChangeRow | None = None,
    ) -> TreeNode:
        """``previous``: the version a metadata-only change replaced, to say what changed."""
        node = cls(row, children, more, badge=explorer_tags.kind_badge(row, state))
        if row.type == DIR:
            node.query = state.query(path=row.path)
        node.size = human_bytes(row.shown_size)
        node.size_title = explorer_tags.exact(row.shown_size)
        node.mode = explorer_tags.mode_string(row.mode, row.type)
        own = row.depth == state.layer
        n = layer_number(row.prev_depth or 0)
        if row.entry:
            node.note = escape(_whiteout_note(row))
        elif row.kind == changes.DELETED and own:
            node.note = escape(_("added in layer #%(n)s") % {"n": n})
        elif row.kind == changes.MODIFIED and own and previous is not None:
            node.note = escape(
                explorer_tags.metadata_changes(filemode.metadata_changes(previous, row))
            )
        elif row.kind == changes.MODIFIED and own and row.prev_size is not None:
            if row.type != DIR:
                size = explorer_tags.human(row.prev_size)
                node.note = mark_safe(
                    escape(_("was %(size)s in layer #%(n)s")) % {"size": size, "n": n}
                )
        elif own and row.flags & changes.OPAQUE_DIR:
            node.note = escape(change_words.OPAQUE)
        elif state.mode == filesystem.MERGED and not own:
            node.note, node.note_from = layer_no(row.depth), True
        return node


def _whiteout_note(row: ChangeRow) -> str:
    """What a whiteout entry of the tar did (``filesystem.tar_rows``)."""
    if row.detail == changes.BY_OPAQUE:
        return str(change_words.OPAQUE)
    name = row.name[len(WH_PREFIX) :]
    if row.prev_depth is None:
        return _("deletes %(name)s, which no layer below has") % {"name": name}
    return _("deletes %(name)s from layer #%(n)s") % {
        "name": name,
        "n": layer_number(row.prev_depth),
    }


def tree_nodes(chains: list, rows: list[ChangeRow], state: PanelState) -> list[TreeNode]:
    """The lines of a listing (or a page of search results) with what each change did."""
    previous = filesystem.previous_versions(chains, rows) if state.mode == filesystem.LAYER else {}
    return [TreeNode.of(row, state, previous=previous.get(row.path)) for row in rows]


def expanded_tree(chains: list, state: PanelState) -> tuple[list[TreeNode], int]:
    """The root listing with every directory on ``state.path`` expanded, so that a link to a
    deep path shows the same tree a person had clicked open."""
    wanted = state.path.split("/") if state.path else []

    def level(directory: str, depth: int) -> tuple[list[TreeNode], int]:
        rows, total = filesystem.listing(
            chains,
            state.layer,
            state.mode,
            directory,
            sort=state.sort,
            kinds=set(state.kinds),
            raw=state.raw,
        )
        nodes = tree_nodes(chains, rows, state)
        for node in nodes:
            row = node.row
            if depth < len(wanted) and row.name == wanted[depth] and row.is_dir:
                node.children, node.more = level(row.path, depth + 1)
        return nodes, total - len(rows)

    return level("", 0)


def size_chart(image: Image, image_layers: list) -> dict:
    """The layer sizes chart: each layer's download and unpacked size, with its instruction."""
    steps = image.instructions()
    return charts.layer_sizes(
        [
            charts.LayerBar(
                il.position,
                steps.get(il.position, ""),
                il.download,
                il.layer.size,
                il.download_estimated,
            )
            for il in image_layers
        ]
    )
