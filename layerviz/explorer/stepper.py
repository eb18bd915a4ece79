"""What the union filesystem stepper shows, worked out from the request and the index: its URL
state (the layer, the path in focus), the slabs of the stack and the merged tree opened where
the layer changed something.

``views.steps`` parses the request into a ``StepState`` and calls these; the facts of a step
and a lookup are ``images.steps``.
"""

from __future__ import annotations

import dataclasses
import re
from urllib.parse import urlencode

from django.utils.translation import gettext as _

from layerviz.images import filesystem
from layerviz.lib.changes import DIR
from layerviz.lib.instructions import keyword
from layerviz.lib.units import layer_no

from . import panel

EXPAND_CHANGES = 40  # a directory opens by itself when the layer changed at most this many files
EXPAND_LISTINGS = 24  # directories listed for one tree at most
INTERVALS = (1, 2, 3, 5)  # seconds a step stays on screen while playing; the first is the default
_WHOLE = re.compile(r"-?\d{1,9}")


class BadLayer(ValueError):
    """``?layer=`` is not a number (400) or names no layer of the image (``missing``: 404)."""

    def __init__(self, message: str, *, missing: bool) -> None:
        super().__init__(message)
        self.missing = missing


@dataclasses.dataclass
class StepState:
    """The layer shown (0-based, as ``?layer=`` on the image page) and the path in focus: the
    tree is opened down to it and the lookup answers for it."""

    layer: int
    path: str

    @classmethod
    def from_request(cls, request, layer_count: int) -> StepState:
        """The state of ``?layer=N&path=P``; the bottom layer when no layer is given. A layer
        that is not there is an error rather than clamped: a shared link to step 12 of an
        image of 5 layers should say so, not show step 5."""
        raw = request.GET.get("layer", "").strip()
        if not raw:
            return cls(0, _path(request))
        if not _WHOLE.fullmatch(raw):
            raise BadLayer(
                _("The layer must be a whole number, from 0 for the bottom layer."),
                missing=False,
            )
        layer = int(raw)
        if not 0 <= layer < layer_count:
            raise BadLayer(
                _(
                    "This image has %(count)s layers, #1 to #%(count)s (layer=0 to "
                    "layer=%(top)s in the address); there is no layer=%(layer)s."
                )
                % {"count": layer_count, "top": layer_count - 1, "layer": layer},
                missing=True,
            )
        return cls(layer, _path(request))

    def query(self, **changes: object) -> str:
        state = dataclasses.replace(self, **changes)  # type: ignore[arg-type]
        params: list[tuple[str, object]] = [("layer", state.layer)]
        if state.path:
            params.append(("path", state.path))
        return urlencode(params)

    @property
    def panel(self) -> panel.PanelState:
        """The image page's state of the merged view as of this layer, which the tree's lines
        and links are made with (``_tree.html``)."""
        return panel.PanelState(
            layer=self.layer, mode=filesystem.MERGED, path=self.path, sort="name", kinds=[], q=""
        )


def _path(request) -> str:
    return request.GET.get("path", "").strip().strip("/")


@dataclasses.dataclass
class Slab:
    """One layer of the stack as the stepper draws it."""

    position: int
    keyword: str
    instruction: str
    size: int
    place: str  # "below", "current" or "above" the layer shown

    @property
    def label(self) -> str:
        return layer_no(self.position)

    @property
    def rest(self) -> str:
        """The instruction without its keyword (shown as a badge)."""
        return self.instruction[len(self.keyword) :].strip()


def slabs(image_layers: list, instructions: dict[int, str], current: int) -> list[Slab]:
    """The layers bottom first, each placed against the ``current`` one."""
    out = []
    for il in image_layers:
        text = instructions.get(il.position, "")
        place = "current" if il.position == current else "below"
        if il.position > current:
            place = "above"
        out.append(Slab(il.position, keyword(text), text, il.layer.size, place))
    return out


def changed_tree(chains: list, state: StepState) -> tuple[list[panel.TreeNode], int]:
    """The merged tree as of ``state.layer``, with every directory on the path in focus open,
    and, breadth first, the directories where the layer changed a few files (a base layer,
    which adds everything, opens nothing by itself): at most ``EXPAND_LISTINGS`` listings."""
    view = state.panel
    wanted = state.path.split("/") if state.path else []
    budget = [EXPAND_LISTINGS]

    def level(directory: str) -> tuple[list[panel.TreeNode], int]:
        budget[0] -= 1
        rows, total = filesystem.listing(chains, state.layer, filesystem.MERGED, directory)
        return panel.tree_nodes(chains, rows, view), total - len(rows)

    def changed_here(node: panel.TreeNode) -> bool:
        row = node.row
        changed = row.sub_added + row.sub_modified + row.sub_deleted
        return row.depth == state.layer and 0 < changed <= EXPAND_CHANGES

    root, more = level("")
    # (a line, whether it is the next directory of the path in focus)
    queue = [(node, bool(wanted) and node.row.name == wanted[0]) for node in root]
    while queue:
        node, on_path = queue.pop(0)
        if node.row.type != DIR:
            continue
        # The path in focus always opens; the rest while the budget lasts.
        if on_path or (budget[0] > 0 and changed_here(node)):
            node.children, node.more = level(node.row.path)
            depth = node.row.path.count("/") + 1
            queue.extend(
                (child, on_path and depth < len(wanted) and child.row.name == wanted[depth])
                for child in node.children
            )
    return root, more
