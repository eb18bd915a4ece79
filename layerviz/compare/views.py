"""Comparing two images, and sharing across the whole store, as pages and as JSON."""

from __future__ import annotations

import dataclasses
import threading
from collections import OrderedDict
from itertools import zip_longest
from urllib.parse import urlencode

from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from layerviz import charts
from layerviz.images import comparison, sharing
from layerviz.images.lookup import ImageNotFound, find_image
from layerviz.images.models import Image, ImageLayer
from layerviz.lib.instructions import keyword

RECENT_DIFFS = 16
MAX_GRAPH_IMAGES = 250


def _image_or_404(ref: str) -> Image:
    try:
        return find_image(ref)
    except ImageNotFound as exc:
        raise Http404(str(exc)) from None


@dataclasses.dataclass
class FileLevel:
    diffs: list[comparison.FileDiff]
    tree: dict[str, list[comparison.DiffNode]]
    summary: comparison.DiffSummary


_recent: OrderedDict[str, FileLevel] = OrderedDict()
_recent_lock = threading.Lock()


def _file_level(pair: comparison.StackPair, a: Image, b: Image) -> FileLevel:
    """The file diff of two images, its tree and summary, computed once per process.

    Kept in memory, not in Django's cache: the local-memory cache pickles every value, which for
    two unrelated images (every file differs) costs more than the page. A chain ID names an
    exact stack of layers, so the diff of two never changes; database ids would not do as a
    key, they can be reused after a delete.
    """
    key = f"{a.top_chain.chain_id} {b.top_chain.chain_id}"
    with _recent_lock:
        if key in _recent:
            _recent.move_to_end(key)
            return _recent[key]
    diffs = comparison.file_diff(pair)
    level = FileLevel(diffs, comparison.diff_tree(diffs), comparison.summarize(diffs))
    with _recent_lock:
        _recent[key] = level
        while len(_recent) > RECENT_DIFFS:
            _recent.popitem(last=False)
    return level


def _name(image: Image) -> str:
    refs = [r.display for r in image.references.all()]
    return refs[0] if refs else image.digest[:19]


@dataclasses.dataclass
class Side:
    link: ImageLayer | None
    instruction: str
    keyword: str
    note: str = ""

    @property
    def rest(self) -> str:
        """The instruction without its keyword (the keyword is shown as a badge)."""
        return self.instruction[len(self.keyword) :].strip() if self.keyword else self.instruction


def _rows(pair: comparison.StackPair, a: Image, b: Image) -> tuple[list, list]:
    """Shared rows (one per common layer) and diverging rows (A's and B's side by side)."""
    ia, ib = a.instructions(), b.instructions()
    shared = [
        Side(la, ia.get(la.position, ""), keyword(ia.get(la.position, ""))) for la, _ in pair.shared
    ]
    same_content_b = {pb: pa for pa, pb in pair.same_content.items()}
    diverging = []
    for la, lb in zip_longest(pair.only_a, pair.only_b):
        left = right = None
        if la is not None:
            text = ia.get(la.position, "")
            left = Side(la, text, keyword(text))
            if la.position in pair.same_content:
                left.note = _("same content as B's layer #%(n)s, on another base: not shared") % {
                    "n": pair.same_content[la.position] + 1
                }
            elif lb is not None and text and text == ib.get(lb.position):
                left.note = _(
                    "same instruction as B, on another base or with another result: not shared"
                )
        if lb is not None:
            text = ib.get(lb.position, "")
            right = Side(lb, text, keyword(text))
            if lb.position in same_content_b:
                right.note = _("same content as A's layer #%(n)s, on another base: not shared") % {
                    "n": same_content_b[lb.position] + 1
                }
            elif la is not None and text and text == ia.get(la.position):
                right.note = _(
                    "same instruction as A, on another base or with another result: not shared"
                )
        diverging.append((left, right))
    return shared, diverging


@require_GET
@vary_on_headers("HX-Request")
def compare(request: HttpRequest) -> HttpResponse:
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
    all_images = Image.objects.with_names().order_by("-indexed_at")
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
    files = _file_level(pair, a, b)
    path = request.GET.get("path", "").strip("/")
    summary = files.summary
    shared, diverging = _rows(pair, a, b)
    context = {
        "a": a,
        "b": b,
        "name_a": _name(a),
        "name_b": _name(b),
        "pair": pair,
        "numbers": comparison.numbers(pair, b),
        "shared": shared,
        "diverging": diverging,
        "summary": summary,
        "summary_chart": charts.diff_by_directory(summary.by_top),
        "config_diff": comparison.config_diff(a, b),
        "env_changes": comparison.env_changes(a, b),
        "nodes": _expanded(files.tree, path),
        "path": path,
        "base_query": urlencode({"a": a.digest, "b": b.digest}),
        "all_images": all_images,
    }
    return render(request, "compare/compare.html", context)


@dataclasses.dataclass
class TreeRow:
    node: comparison.DiffNode
    children: list[TreeRow] | None


def _expanded(tree: dict[str, list[comparison.DiffNode]], path: str) -> list[TreeRow]:
    wanted = path.split("/") if path else []

    def level(directory: str, depth: int) -> list[TreeRow]:
        rows = []
        for node in tree.get(directory, []):
            open_it = node.is_dir and depth < len(wanted) and node.name == wanted[depth]
            rows.append(TreeRow(node, level(node.path, depth + 1) if open_it else None))
        return rows

    return level("", 0)


@require_GET
def compare_tree(request: HttpRequest) -> HttpResponse:
    a, b = _image_or_404(request.GET.get("a", "")), _image_or_404(request.GET.get("b", ""))
    pair = comparison.align(a, b)
    tree = _file_level(pair, a, b).tree
    path = request.GET.get("path", "").strip("/")
    context = {
        "a": a,
        "b": b,
        "nodes": [TreeRow(n, None) for n in tree.get(path, [])],
        "base_query": urlencode({"a": a.digest, "b": b.digest}),
    }
    return render(request, "compare/_diff_tree.html", context)


@require_GET
def compare_api(request: HttpRequest) -> JsonResponse:
    try:
        a, b = find_image(request.GET.get("a", "")), find_image(request.GET.get("b", ""))
    except ImageNotFound as exc:
        return JsonResponse({"error": str(exc)}, status=404)
    pair = comparison.align(a, b)
    nums = comparison.numbers(pair, b)
    summary = _file_level(pair, a, b).summary
    return JsonResponse(
        {
            "a": {"digest": a.digest, "references": [r.display for r in a.references.all()]},
            "b": {"digest": b.digest, "references": [r.display for r in b.references.all()]},
            "shared_layers": [la.layer.diff_id for la, _ in pair.shared],
            "shared_chain_ids": [la.chain.chain_id for la, _ in pair.shared],
            "diverge_at": pair.diverge_at,
            **dataclasses.asdict(nums),
            "files": {
                "added": summary.added,
                "removed": summary.removed,
                "changed": summary.changed,
                "added_bytes": summary.added_bytes,
                "removed_bytes": summary.removed_bytes,
                "changed_delta_bytes": summary.changed_delta,
                "by_top_directory": summary.by_top,
            },
            "config": [{"key": c.key, "a": c.a, "b": c.b} for c in comparison.config_diff(a, b)],
        }
    )


# --- the store ---------------------------------------------------------------------------


def _selection(request: HttpRequest) -> tuple[list[Image], str, str]:
    query = request.GET.get("q", "").strip()
    base = request.GET.get("base", "").strip()
    images = Image.objects.with_names().order_by("-indexed_at")
    if query:
        images = images.filter(
            Q(references__display__icontains=query) | Q(digest__icontains=query)
        ).distinct()
    if base:
        images = images.filter(
            Q(image_layers__chain__chain_id__startswith=base)
            | Q(image_layers__layer__diff_id__startswith=base)
        ).distinct()
    return list(images[:MAX_GRAPH_IMAGES]), query, base


@require_GET
def store(request: HttpRequest) -> HttpResponse:
    images, query, base = _selection(request)
    forest = sharing.forest(images)
    names = {i.pk: _name(i) for i in images}
    digests = {i.pk: i.digest for i in images}
    urls = {}
    for node in forest.nodes.values():
        owner = next(iter(sorted(node.images)))
        urls[f"c{node.pk}"] = (
            reverse("explorer:image", args=[digests[owner]]) + f"?layer={node.depth}&mode=layer"
        )
    matrix = sharing.matrix(forest)
    have = [i for i in images if i.digest in request.GET.getlist("have")]
    target_digest = request.GET.get("target", "")
    target = next((i for i in images if i.digest == target_digest), None)
    plan = sharing.pull_plan(have, target) if target else None
    most, single = sharing.layer_usage(images)
    context = {
        "images": images,
        "names": names,
        "query": query,
        "base": base,
        "totals": sharing.totals(images),
        "icicle": charts.chain_icicle(forest, names, urls),
        "sankey": charts.chain_sankey(forest, names),
        "heatmap": charts.shared_heatmap([names[i.pk] for i in images], matrix),
        "most_shared": most,
        "single_use": single,
        "have": have,
        "target": target,
        "plan": plan,
        "truncated": len(images) >= MAX_GRAPH_IMAGES,
    }
    return render(request, "compare/store.html", context)


@require_GET
def store_api(request: HttpRequest) -> JsonResponse:
    images, query, base = _selection(request)
    selected = images if (query or base) else None
    totals = sharing.totals(selected)
    most, single = sharing.layer_usage(selected)
    return JsonResponse(
        {
            "images": totals.images,
            "layers": totals.layers,
            "logical_bytes": totals.logical_bytes,
            "stored_bytes": totals.stored_bytes,
            "saved_bytes": totals.saved_bytes,
            "most_shared_layers": [
                {"diff_id": layer.diff_id, "images": layer.users, "size": layer.size}
                for layer in most
            ],
            "single_use_layers": [
                {"diff_id": layer.diff_id, "size": layer.size} for layer in single
            ],
        }
    )
