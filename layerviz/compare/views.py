"""Comparing two images, and sharing across the whole store, as pages and as JSON."""

from __future__ import annotations

import dataclasses
from typing import Any
from urllib.parse import quote, urlencode

from django.conf import settings
from django.db.models import Q
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from layerviz import charts
from layerviz.explorer import links
from layerviz.explorer.templatetags import explorer as explorer_tags
from layerviz.http import HtmxHttpRequest
from layerviz.images import comparison, filediff, sharing
from layerviz.images.lookup import ImageNotFound, find_image
from layerviz.images.models import Image, ImageLayer, ImageQuerySet
from layerviz.packages import report as packages_report

RECENT_DIFFS = 16
DIFF_KINDS = [
    (filediff.ADDED, gettext_lazy("only in B")),
    (filediff.REMOVED, gettext_lazy("only in A")),
    (filediff.CHANGED, gettext_lazy("changed")),
]


def _image_or_404(ref: str) -> Image:
    try:
        return find_image(ref)
    except ImageNotFound as exc:
        raise Http404(str(exc)) from None


@dataclasses.dataclass
class DiffState:
    """What the diff tree shows; all of it lives in the query string, as the layer tree's does."""

    a: str
    b: str
    path: str
    kinds: list[str]
    sort: str
    q: str
    # Metadata-only changes (mode, owner, mtime) are listed too; by default only changes of
    # content are, since a rebuild touches the mtime of thousands of files.
    meta: bool = False

    @classmethod
    def from_request(cls, request: HtmxHttpRequest, a: Image, b: Image) -> DiffState:
        sort = request.GET.get("sort", "name")
        known = {code for code, _label in DIFF_KINDS}
        return cls(
            a=a.digest,
            b=b.digest,
            path=request.GET.get("path", "").strip("/"),
            kinds=[k for k in request.GET.getlist("kind") if k in known],
            sort=sort if sort in ("name", "size") else "name",
            q=request.GET.get("q", "").strip(),
            meta=request.GET.get("meta") == "1",
        )

    def query(self, **changes: Any) -> str:
        state = dataclasses.replace(self, **changes)
        params: list[tuple[str, str]] = [("a", state.a), ("b", state.b)]
        params.extend(("kind", k) for k in state.kinds)
        if state.sort != "name":
            params.append(("sort", state.sort))
        if state.q:
            params.append(("q", state.q))
        if state.meta:
            params.append(("meta", "1"))
        if state.path:
            params.append(("path", state.path))
        return urlencode(params)

    @property
    def metadata_query(self) -> str:
        """This view with the metadata-only changes listed too."""
        return self.query(meta=True)

    @property
    def tree_query(self) -> str:
        """The filters without path and search: what a directory's link adds its path to."""
        return self.query(path="", q="")


@require_GET
@vary_on_headers("HX-Request", "HX-Target")
def compare(request: HtmxHttpRequest) -> HttpResponse:
    picked = request.GET.getlist("image")
    if len(picked) == 2 and not request.GET.get("a"):
        # Older first: "what changed in this release" reads from A to B.
        found = {i.digest: i for i in Image.objects.filter(digest__in=picked)}
        if len(found) == 2:
            picked.sort(
                key=lambda d: (found[d].created or found[d].indexed_at, found[d].indexed_at)
            )
        query = urlencode({"a": picked[0], "b": picked[1]})
        return redirect(f"{reverse('compare:compare')}?{query}")
    a_ref, b_ref = request.GET.get("a", ""), request.GET.get("b", "")
    all_images = Image.objects.newest()
    if not (a_ref and b_ref):
        return render(
            request,
            "compare/compare.html",
            {
                "pick": True,
                "all_images": all_images,
                "a_ref": a_ref,
                "b_ref": b_ref,
                "picked": picked,
            },
        )
    a, b = _image_or_404(a_ref), _image_or_404(b_ref)
    pair = comparison.align(a, b)
    files = comparison.file_level(pair, a, b)
    state = DiffState.from_request(request, a, b)
    context = {
        "a": a,
        "b": b,
        "state": state,
        "kind_choices": DIFF_KINDS,
        "summary": files.summary,
        "identical": not files.diffs,
        **_diff_listing(files, state),
    }
    if request.htmx and request.htmx.target == "diff-panel":
        return render(request, "compare/compare.html#diff-panel", context)
    shared, diverging = comparison.line_up(pair, a, b)
    context.update(
        {
            "name_a": a.label,
            "name_b": b.label,
            "pair": pair,
            "numbers": comparison.numbers(pair, b),
            "shared": shared,
            "diverging": diverging,
            "summary_chart": charts.diff_by_directory(files.summary.by_top),
            "config_diff": comparison.config_diff(a, b),
            "env_changes": comparison.env_changes(a, b),
            "all_images": all_images,
            "package_diff": packages_report.diff(a, b),
        }
    )
    return render(request, "compare/compare.html", context)


@dataclasses.dataclass
class TreeRow:
    """A line of the diff tree with its links and sizes worked out here (a search shows 500
    lines, and a template tag per field on each cost more than the search)."""

    node: filediff.DiffNode
    children: list[TreeRow] | None
    path_query: str = ""  # the filters with this path open (or, for a file, its directory)
    changed: int = 0  # changed files beneath, as many as the filters show
    size_a: str = ""  # safe HTML
    size_b: str = ""
    delta: str = ""

    @classmethod
    def of(
        cls, node: filediff.DiffNode, state: DiffState, children: list[TreeRow] | None = None
    ) -> TreeRow:
        row = cls(node, children)
        opened = node.path if node.is_dir or node.diff is None else node.diff.dir
        row.path_query = f"{state.tree_query}&path={quote(opened, safe='/')}"
        row.changed = node.changed if state.meta else node.changed - node.metadata
        if node.diff is not None:
            row.size_a = explorer_tags.bytes_(node.diff.size_a)
            row.size_b = explorer_tags.bytes_(node.diff.size_b)
        if node.delta:
            row.delta = explorer_tags.human(node.delta)
        return row


def _diff_listing(files: comparison.FileLevel, state: DiffState) -> dict:
    """The diff tree with every directory on ``state.path`` open, or the search's flat list."""
    kinds = set(state.kinds)
    if state.q:
        found, total = files.tree.search(state.q, kinds=kinds, sort=state.sort, metadata=state.meta)
        return {
            "search_rows": [TreeRow.of(files.tree.node(d.path), state) for d in found],
            "search_total": total,
        }
    wanted = state.path.split("/") if state.path else []

    def level(directory: str, depth: int) -> list[TreeRow]:
        rows = []
        for node in files.tree.children(
            directory, kinds=kinds, sort=state.sort, metadata=state.meta
        ):
            open_it = node.is_dir and depth < len(wanted) and node.name == wanted[depth]
            rows.append(TreeRow.of(node, state, level(node.path, depth + 1) if open_it else None))
        return rows

    return {"nodes": level("", 0)}


@require_GET
def compare_tree(request: HtmxHttpRequest) -> HttpResponse:
    """The children of one directory of the diff (lazy expansion in place)."""
    a, b = _image_or_404(request.GET.get("a", "")), _image_or_404(request.GET.get("b", ""))
    pair = comparison.align(a, b)
    tree = comparison.file_level(pair, a, b).tree
    state = DiffState.from_request(request, a, b)
    rows = tree.children(state.path, kinds=set(state.kinds), sort=state.sort, metadata=state.meta)
    context = {"a": a, "b": b, "state": state, "nodes": [TreeRow.of(n, state) for n in rows]}
    return render(request, "compare/_diff_tree.html", context)


@require_GET
def compare_api(request: HtmxHttpRequest) -> JsonResponse:
    try:
        a, b = find_image(request.GET.get("a", "")), find_image(request.GET.get("b", ""))
    except ImageNotFound as exc:
        return JsonResponse({"error": str(exc)}, status=404)
    pair = comparison.align(a, b)
    nums = comparison.numbers(pair, b)
    summary = comparison.file_level(pair, a, b).summary
    return JsonResponse(
        {
            "a": {"digest": a.digest, "references": a.names},
            "b": {"digest": b.digest, "references": b.names},
            "shared_layers": [la.layer.diff_id for la, _ in pair.shared],
            "shared_chain_ids": [la.chain.chain_id for la, _ in pair.shared],
            "diverge_at": pair.diverge_at,
            "relation": pair.relation,
            **dataclasses.asdict(nums),
            "files": {
                "added": summary.added,
                "removed": summary.removed,
                "changed": summary.changed,
                "changed_content": summary.changed_content,
                "changed_metadata": summary.changed_metadata,
                "changed_content_delta_bytes": summary.changed_content_delta,
                "metadata_bytes": summary.metadata_bytes,
                "added_bytes": summary.added_bytes,
                "removed_bytes": summary.removed_bytes,
                "changed_delta_bytes": summary.changed_delta,
                "by_top_directory": summary.by_top,
            },
            "config": [{"key": c.key, "a": c.a, "b": c.b} for c in comparison.config_diff(a, b)],
            "packages": packages_report.diff_json(packages_report.diff(a, b)),
        }
    )


# --- the store ---------------------------------------------------------------------------


def _selection(request: HtmxHttpRequest) -> tuple[ImageQuerySet, str, str]:
    """The images the store page is about, newest first, as a queryset: the figures count all of
    them in the database, only the charts take the first LAYERVIZ_STORE_CHART_IMAGES."""
    query = request.GET.get("q", "").strip()
    base = request.GET.get("base", "").strip()
    images = Image.objects.newest().search(query)
    if base:
        images = images.filter(
            Q(image_layers__chain__chain_id__startswith=base)
            | Q(image_layers__layer__diff_id__startswith=base)
        ).distinct()
    return images, query, base


def _chart_links(forest: sharing.Forest) -> dict[str, str]:
    """Node id -> the page a click on it opens: a chain opens its layer in an image that has it
    (``c<pk>``), an image its own page (``i<pk>``)."""
    digests = {image.pk: image.digest for image in forest.images}
    urls = {}
    for node in forest.nodes.values():
        owner = min(node.images)
        urls[f"c{node.pk}"] = links.layer_url(digests[owner], node.depth)
    for image in forest.images:
        urls[f"i{image.pk}"] = reverse("explorer:image", args=[image.digest])
    return urls


def _layer_pages(layers: list, selection: ImageQuerySet) -> None:
    """Give each listed layer ``page``: the layer in the newest selected image that has it."""
    wanted = {layer.pk: layer for layer in layers}
    newest_first = (
        ImageLayer.objects.filter(layer_id__in=wanted, image__in=selection)
        .order_by("layer_id", "-image__indexed_at")
        .values_list("layer_id", "image__digest", "position")
    )
    for layer_id, digest, position in newest_first:
        layer = wanted[layer_id]
        if not hasattr(layer, "page"):
            layer.page = links.layer_url(digest, position)


@require_GET
def store(request: HtmxHttpRequest) -> HttpResponse:
    selection, query, base = _selection(request)
    selected = selection.count()
    images = list(selection[: settings.LAYERVIZ_STORE_CHART_IMAGES])
    forest = sharing.forest(images)
    names = {i.pk: i.label for i in images}
    urls = _chart_links(forest)
    in_heatmap = sharing.most_sharing(forest, settings.LAYERVIZ_STORE_HEATMAP_IMAGES)
    have = list(selection.filter(digest__in=request.GET.getlist("have")))
    target_digest = request.GET.get("target", "")
    target = selection.filter(digest=target_digest).first() if target_digest else None
    plan = sharing.pull_plan(have, target) if target else None
    # The whole store is counted without a subquery of every image.
    counted = selection if (query or base) else None
    most, single = sharing.layer_usage(counted)
    _layer_pages([*most, *single], selection)
    context = {
        "images": images,
        "names": names,
        "query": query,
        "base": base,
        "totals": sharing.totals(counted),
        "icicle": charts.chain_icicle(forest, names, urls),
        "sankey": charts.chain_sankey(forest, names, urls),
        "heatmap": charts.shared_heatmap(
            [names[i.pk] for i in in_heatmap], sharing.matrix(forest, in_heatmap)
        ),
        "heatmap_capped": len(in_heatmap) < len(images),
        "heatmap_count": len(in_heatmap),
        "most_shared": most,
        "single_use": single,
        "have": have,
        "target": target,
        "plan": plan,
        "truncated": selected > len(images),
        "drawn": len(images),
        "selected": selected,
    }
    return render(request, "compare/store.html", context)


@require_GET
def store_api(request: HtmxHttpRequest) -> JsonResponse:
    selection, query, base = _selection(request)
    chosen = selection if (query or base) else None
    totals = sharing.totals(chosen)
    most, single = sharing.layer_usage(chosen)
    return JsonResponse(
        {
            "images": totals.images,
            "layers": totals.layers,
            "chains": totals.chains,
            "logical_bytes": totals.logical_bytes,
            "stored_bytes": totals.stored_bytes,
            "saved_bytes": totals.saved_bytes,
            "stored_bytes_by_chain": totals.stored_bytes_by_chain,
            "saved_bytes_by_chain": totals.saved_bytes_by_chain,
            "shared_chains": [
                {
                    "chain_id": shared.chain.chain_id,
                    "diff_id": shared.chain.layer.diff_id,
                    "depth": shared.chain.depth,
                    "size": shared.chain.layer.size,
                    "images": [
                        {"digest": image.digest, "references": image.names}
                        for image in shared.images
                    ],
                }
                for shared in sharing.shared_chains(chosen)
            ],
            "most_shared_layers": [
                {"diff_id": layer.diff_id, "images": layer.users, "size": layer.size}
                for layer in most
            ],
            "single_use_layers": [
                {"diff_id": layer.diff_id, "size": layer.size} for layer in single
            ],
        }
    )
