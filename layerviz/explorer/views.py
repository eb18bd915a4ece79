"""The explorer: the image list, an image's layer stack and files, one file's history.

One view and one template per page; the parts htmx swaps are partials of the page template,
rendered alone when the request comes from htmx. Every selection is in the query string, so a
link reproduces the view and the pages work without JavaScript.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRedirect, reswap, retarget, trigger_client_event

from layerviz import charts
from layerviz.access import write_access
from layerviz.adapters import docker_engine
from layerviz.http import HtmxHttpRequest, image_or_404, int_param
from layerviz.images import contents, deletion, efficiency, filesystem, jobs, refetch
from layerviz.images import dockerfile as dockerfile_
from layerviz.images import steps as layer_steps
from layerviz.images.lookup import ImageNotFound, find_image
from layerviz.images.models import Image, IngestJob, JobState
from layerviz.images.tasks import enqueue
from layerviz.lib.errors import SourceError
from layerviz.lib.limits import Limits

from . import change_words, panel, stepper, viewer
from .advice_text import ADVICE, REASONS
from .forms import AddImageForm, kind_of_job
from .uploads import save_upload

# --- the image list ----------------------------------------------------------------------


@require_GET
@vary_on_headers("HX-Request", "HX-Target")
def images(request: HtmxHttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()
    found = Image.objects.newest().search(query)
    page = Paginator(found, 50).get_page(request.GET.get("page"))
    jobs.recover()  # a job whose worker died is not shown as running
    # ``kind`` offers the source last asked for again (the job page links back with it).
    kind = request.GET.get("kind", "")
    initial = {"kind": kind} if kind in dict(AddImageForm.KINDS) else {}
    context = {
        "page": page,
        "query": query,
        "form": AddImageForm(initial=initial),
        "jobs": IngestJob.objects.recent(),
        "max_upload": settings.LAYERVIZ_MAX_UPLOAD_BYTES,
    }
    template = "explorer/images.html"
    if request.htmx and request.htmx.target == "image-list":
        template += "#image-list"
    return render(request, template, context)


@require_GET
@vary_on_headers("HX-Request")
def engine_images(request: HtmxHttpRequest) -> HttpResponse:
    """The local engine's images: for the "add" form, loaded once that source is chosen; and,
    without JavaScript, a page of its own with an "Add" button per image."""
    try:
        items = docker_engine.images_list()
        problem = ""
    except SourceError as exc:
        items, problem = [], str(exc)
    tags = sorted(
        {tag for item in items for tag in (item.get("RepoTags") or []) if tag != "<none>:<none>"}
    )
    template = "explorer/images.html#engine-images" if request.htmx else "explorer/engine.html"
    return render(request, template, {"engine_tags": tags, "engine_problem": problem})


@require_POST
@write_access
def add_image(request: HtmxHttpRequest) -> HttpResponse:
    form = AddImageForm(
        request.POST, request.FILES, upload_refused=getattr(request, "upload_refused", "")
    )
    if not form.is_valid():
        context = {"form": form, "max_upload": settings.LAYERVIZ_MAX_UPLOAD_BYTES}
        if request.htmx:
            # The form asked for a job to be added to the list; instead the form, with its
            # errors, replaces itself. A 200: htmx swaps no 4xx, and browsers log them as errors.
            response = render(request, "explorer/images.html#add-form", context)
            return retarget(reswap(response, "outerHTML"), "#add-form")
        found = Image.objects.newest()
        context.update(
            page=Paginator(found, 50).get_page(1), jobs=IngestJob.objects.recent(), query=""
        )
        return render(request, "explorer/images.html", context, status=422)
    upload = save_upload(form.cleaned_data["archive"]) if form.is_upload else ""
    job = enqueue(form.ingest_request(upload), upload=upload)
    if request.htmx:
        return render(request, "explorer/_job.html", {"job": job})
    return redirect("explorer:job", pk=job.pk)


@require_GET
@vary_on_headers("HX-Request")
def job(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    jobs.recover(IngestJob.objects.filter(pk=pk))  # its worker may have died
    job = get_object_or_404(IngestJob, pk=pk)
    template = "explorer/_job.html" if request.htmx else "explorer/job.html"
    response = render(request, template, {"job": job, "kind": kind_of_job(job)})
    if request.htmx and job.state == JobState.DONE:
        # The image list on the page (if it is there) shows the new image without a reload.
        trigger_client_event(response, IMAGE_ADDED)
    return response


IMAGE_ADDED = "layerviz:image-added"  # the event images.html listens for


@require_http_methods(["GET", "POST"])
@write_access
def delete_image(request: HtmxHttpRequest, digest: str) -> HttpResponse:
    """GET asks for confirmation (what goes, what stays); POST deletes. With JavaScript the
    buttons post straight away after the browser's own confirmation."""
    image = image_or_404(digest)
    if request.method == "GET":
        return render(
            request,
            "explorer/delete.html",
            {"image": image, "plan": deletion.deletion_plan(image)},
        )
    name = str(image)
    deletion.delete_image(image)
    messages.success(
        request, _("Deleted %(name)s. Layers other images use were kept.") % {"name": name}
    )
    if request.htmx:
        return HttpResponseClientRedirect(reverse("explorer:images"))
    return redirect("explorer:images")


def _refetch_offer(image: Image) -> dict[str, Any] | None:
    """What ``explorer/_refetch.html`` offers for an image whose layer bytes are missing: the
    image, its pinned source and the bytes to download; None when there is nothing to offer."""
    fetch = refetch.request_for(image)
    if fetch is None:
        return None
    return {"image": image, "source": fetch.source, "bytes": refetch.missing_bytes(image)}


@require_POST
@write_access
def refetch_layers(request: HtmxHttpRequest, digest: str) -> HttpResponse:
    """Fetch again, from the registry the image came from, the layer bytes that were not kept
    (``images/refetch.py``); to the job's page, where its progress shows."""
    image = image_or_404(digest)
    job = refetch.queue(image)
    if job is None:
        return HttpResponse(
            _(
                "%(image)s did not come from a registry, or layerviz keeps no layer bytes "
                "(LAYERVIZ_BLOB_BUDGET): there is nowhere to fetch its layers from. Ingest it "
                "again from where it came from."
            )
            % {"image": image},
            status=400,
            content_type="text/plain; charset=utf-8",
        )
    return redirect("explorer:job", pk=job.pk)


@require_GET
def find(request: HtmxHttpRequest) -> HttpResponse:
    """``/find?ref=python:3.12`` — any reference or digest, to the image's page."""
    ref = request.GET.get("ref", "")
    try:
        image = find_image(ref)
    except ImageNotFound as exc:
        raise Http404(str(exc)) from None
    return redirect("explorer:image", digest=image.digest)


# --- one image ---------------------------------------------------------------------------


@require_GET
@vary_on_headers("HX-Request", "HX-Target")
def image(request: HtmxHttpRequest, digest: str) -> HttpResponse:
    image = image_or_404(digest)
    stack, image_layers = panel.layer_stack(image)
    state = panel.PanelState.from_request(request, len(image_layers))
    context = {
        "image": image,
        "stack": stack,
        "state": state,
        "image_layers": image_layers,
        "kind_choices": change_words.CHOICES,
        "max_layer_size": max((il.layer.size for il in image_layers), default=0) or 1,
        "selected_row": panel.selected_row(stack, state.layer),
    }
    context.update(panel.layer_panel(image_layers, state))
    if request.htmx and request.htmx.target == "layer-panel":
        return render(request, "explorer/image.html#layer-panel", context)
    context["size_chart"] = panel.size_chart(image, image_layers)
    context["other_images"] = Image.objects.newest().exclude(pk=image.pk)[:200]
    context["references"] = list(image.references.all())
    return render(request, "explorer/image.html", context)


@require_GET
@vary_on_headers("HX-Request")
def tree(request: HtmxHttpRequest, digest: str) -> HttpResponse:
    """The children of one directory: swapped in place by htmx (lazy expansion, "more"), or,
    without JavaScript, a page of its own that pages through a big directory."""
    image = image_or_404(digest)
    image_layers = list(image.layers_in_order())
    state = panel.PanelState.from_request(request, len(image_layers))
    if not image_layers:
        raise Http404(_("This image has no layers."))
    chains = [il.chain for il in image_layers]
    # No directory holds more entries than an image may hold paths.
    offset = int_param(request, "offset", default=0, low=0, high=Limits.from_env().paths_per_image)
    rows, total = filesystem.listing(
        chains,
        state.layer,
        state.mode,
        state.path,
        sort=state.sort,
        kinds=set(state.kinds),
        offset=offset,
        raw=state.raw,
    )
    nodes = panel.tree_nodes(chains, rows, state)
    context = {
        "image": image,
        "state": state,
        "nodes": nodes,
        "more": max(total - offset - len(rows), 0),
        "next_offset": offset + len(rows),
        "directory": state.path,
    }
    if request.htmx:
        return render(request, "explorer/_tree.html", context)
    context.update(offset=offset, parents=_breadcrumbs(state.path))
    return render(request, "explorer/tree.html", context)


@require_GET
def file_history(request: HtmxHttpRequest, digest: str) -> HttpResponse:
    """One path: every layer that touched it, and the content of one version (``?layer=N``,
    the top by default) as text, hex, an image or an ELF summary (``?view=``)."""
    image = image_or_404(digest)
    path = request.GET.get("path", "").strip("/")
    image_layers = list(image.layers_in_order())
    chains = [il.chain for il in image_layers]
    rows = filesystem.path_history(chains, path) if path else []
    steps = {step.position: step for step in image.history.all() if step.position is not None}
    history = []
    previous = None  # the last version below that had content, to diff against
    for row in rows:
        history.append(
            {
                "row": row,
                "layer": image_layers[row.depth],
                "step": steps.get(row.depth),
                "previous": previous if row.sha256 else None,
            }
        )
        if row.sha256:
            previous = row.depth
    count = len(chains)
    position = int_param(request, "layer", default=count, low=1, high=max(count, 1)) - 1
    shown = _content(request, image, chains, path, position) if path and chains else None
    context = {
        "image": image,
        "path": path,
        "history": history,
        "parents": _breadcrumbs(path),
        "shown": shown,
        "position": position,
    }
    if request.htmx and request.htmx.target == "content":
        return render(request, "explorer/file.html#content", context)
    return render(request, "explorer/file.html", context)


def _content(
    request: HtmxHttpRequest, image: Image, chains: list, path: str, position: int
) -> dict[str, Any]:
    """What the content part of the file page shows: the version read, or why it cannot be."""
    try:
        found = contents.version(image, path, position, chains=chains)
        data = contents.read(image, found, viewer.INLINE_BYTES)
        if viewer.is_elf(data) and len(data) < found.size <= viewer.ELF_BYTES:
            # An ELF file's section headers lie at its end: the summary needs all of it.
            data = contents.read(image, found, viewer.ELF_BYTES)
    except contents.NotKept as exc:
        return {"error": str(exc), "status": exc.status, "refetch": _refetch_offer(image)}
    except contents.ContentError as exc:
        return {"error": str(exc), "status": exc.status}
    view = request.GET.get("view", "")
    if view not in viewer.VIEWS:
        view = viewer.default_view(data)
    elf = viewer.elf_summary(data) if view == viewer.ELF and viewer.is_elf(data) else None
    data = data[: viewer.INLINE_BYTES]
    shown: dict[str, Any] = {
        "found": found,
        "view": view,
        "cut": found.size > len(data),
        "image_type": viewer.image_type(data),
        "is_elf": viewer.is_elf(data),
        # This version's page; the view and page links add to it.
        "here": "?" + urlencode({"path": path, "layer": position + 1}),
    }
    text = viewer.as_text(data)
    shown["is_text"] = text is not None
    if view == viewer.TEXT and text is not None:
        shown["text"] = viewer.text_page(
            found.path, text, int_param(request, "page", default=1, low=1, high=10**6)
        )
    elif elf is not None:
        shown["elf"] = elf
    elif view == viewer.IMAGE and shown["image_type"]:
        pass
    else:
        shown["view"] = viewer.HEX
        pages = max(1, -(-len(data) // viewer.HEX_PAGE))
        page = int_param(request, "page", default=1, low=1, high=pages)
        start = (page - 1) * viewer.HEX_PAGE
        shown["hex"] = viewer.hex_rows(data[start : start + viewer.HEX_PAGE], start)
        shown["hex_page"], shown["hex_pages"] = page, pages
    return shown


# What a browser may do with a file of an image it is sent: nothing but show an image.
_UNTRUSTED = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox"


@require_GET
def file_raw(request: HtmxHttpRequest, digest: str) -> HttpResponseBase:
    """A file's bytes as of ``?layer=N``, checked against the index: a download, or with
    ``?inline=1`` a raster image shown as itself (nothing else is ever sent inline)."""
    image = image_or_404(digest)
    count = image.layer_count
    position = int_param(request, "layer", default=count, low=1, high=max(count, 1)) - 1
    return file_response(request, image, request.GET.get("path", ""), position)


def file_response(
    request: HtmxHttpRequest, image: Image, path: str, position: int, *, api: bool = False
) -> HttpResponseBase:
    """The bytes of the file, for the page's download and ``/api/images/REF/content``; an
    error is JSON for the API and a short text otherwise."""
    try:
        found = contents.version(image, path, position)
        body = contents.spooled(image, found)
    except contents.ContentError as exc:
        if api:
            answer: dict[str, Any] = {"error": str(exc)}
            fetch = refetch.request_for(image) if isinstance(exc, contents.NotKept) else None
            if fetch is not None:
                # What fetches the missing layers: the source to ingest again (``manage.py
                # ingest SOURCE --queue``), and the page's button (a form POST).
                answer["refetch"] = {
                    "source": fetch.source,
                    "form": reverse("explorer:refetch", args=[image.digest]),
                }
            return JsonResponse(answer, status=exc.status)
        return HttpResponse(str(exc), status=exc.status, content_type="text/plain; charset=utf-8")
    kind = viewer.image_type(body.read(16)) if request.GET.get("inline") == "1" else None
    body.seek(0)
    name = found.path.rpartition("/")[2] or "file"
    response = FileResponse(
        body,
        as_attachment=kind is None,
        filename=name,
        content_type=kind or "application/octet-stream",
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = _UNTRUSTED
    response["X-Layerviz-Sha256"] = found.row.sha256
    return response


@require_GET
def file_diff(request: HtmxHttpRequest, digest: str) -> HttpResponse:
    """One path in two versions, as a text diff: two layers of this image (``?from=M&to=N``),
    or this image and another (``?b=DIGEST``, its top unless ``to`` is given), unified or side by
    side (``?view=split``)."""
    image = image_or_404(digest)
    path = request.GET.get("path", "").strip("/")
    other_digest = request.GET.get("b", "").strip()
    other = image_or_404(other_digest) if other_digest else image
    a_count, b_count = image.layer_count, other.layer_count
    a_default = a_count if other is not image else max(a_count - 1, 1)
    a_at = int_param(request, "from", default=a_default, low=1, high=max(a_count, 1)) - 1
    b_at = int_param(request, "to", default=b_count, low=1, high=max(b_count, 1)) - 1
    split = request.GET.get("view") == "split"
    sides: list[dict[str, Any]] = []
    error = ""
    offer = None
    for img, at in ((image, a_at), (other, b_at)):
        try:
            found = contents.version(img, path, at)
            data = contents.read(img, found, viewer.INLINE_BYTES)
        except contents.ContentError as exc:
            if isinstance(exc, contents.NoSuchFile | contents.NotRegular):
                sides.append({"image": img, "at": at, "lines": [], "missing": str(exc)})
                continue
            error = str(exc)
            offer = _refetch_offer(img) if isinstance(exc, contents.NotKept) else None
            break
        text = viewer.as_text(data)
        if text is None:
            error = _("/%(path)s is not text in layer %(n)d: compare it as a download.") % {
                "path": found.path,
                "n": at + 1,
            }
            break
        lines = text.splitlines()
        sides.append(
            {
                "image": img,
                "at": at,
                "found": found,
                "lines": lines[: viewer.DIFF_LINES],
                "cut": len(lines) > viewer.DIFF_LINES or found.size > len(data),
            }
        )
    context: dict[str, Any] = {
        "image": image,
        "other": other if other is not image else None,
        "path": path,
        "a_at": a_at,
        "b_at": b_at,
        "split": split,
        "error": error,
        "refetch": offer,
        "sides": sides,
        "parents": _breadcrumbs(path),
    }
    if not error and len(sides) == 2 and path:
        a, b = sides
        if split:
            context["rows"] = viewer.side_by_side(a["lines"], b["lines"])
        else:
            context["lines"] = viewer.unified(
                a["lines"],
                b["lines"],
                f"/{path} ({a['image'].name}, {a['at'] + 1})",
                f"/{path} ({b['image'].name}, {b['at'] + 1})",
            )
        context["same"] = a["lines"] == b["lines"]
    return render(request, "explorer/diff.html", context)


@require_GET
def dockerfile(request: HtmxHttpRequest, digest: str) -> HttpResponse:
    """The history read back as a Dockerfile, and with ``?change=K`` the build cache's answer
    to changing step K: what is reused, what is rebuilt, what a push and a pull then cost."""
    image = image_or_404(digest)
    built = dockerfile_.reconstruct(image)
    context: dict[str, Any] = {"image": image, "dockerfile": built, "what_if": None}
    if built.lines and request.GET.get("change"):
        step = int_param(request, "change", default=1, low=1, high=len(built.lines))
        context["what_if"] = dockerfile_.what_if(built, step)
    return render(request, "explorer/dockerfile.html", context)


@require_GET
@vary_on_headers("HX-Request", "HX-Target")
def steps(request: HtmxHttpRequest, digest: str) -> HttpResponse:
    """The union filesystem stepper: the stack as slabs, one layer lit, what it did, the merged
    tree as of it, and how a read of the path in focus is answered. Stepping swaps ``#step``."""
    image = image_or_404(digest)
    image_layers = list(image.layers_in_order())
    if not image_layers:
        raise Http404(_("This image has no layers."))
    try:
        state = stepper.StepState.from_request(request, len(image_layers))
    except stepper.BadLayer as exc:
        if exc.missing:
            raise Http404(str(exc)) from None
        return render(request, "400.html", {"problem": str(exc)}, status=400)
    chains = [il.chain for il in image_layers]
    instructions = image.instructions()
    tree, tree_more = stepper.changed_tree(chains, state)
    context = {
        "image": image,
        "state": state.panel,  # what the tree's lines and links are made with
        "step_state": state,
        "step": layer_steps.layer_step(chains, state.layer, instructions.get(state.layer, "")),
        "slabs": stepper.slabs(image_layers, instructions, state.layer),
        "selected": image_layers[state.layer],
        "tree": tree,
        "tree_more": tree_more,
        "found": layer_steps.lookup(chains, state.path, state.layer) if state.path else None,
        "intervals": stepper.INTERVALS,
    }
    # A history restore (htmx had no snapshot of a pushed URL) needs the whole page.
    if request.htmx and request.htmx.target == "step" and not request.htmx.history_restore_request:
        return render(request, "explorer/steps.html#step", context)
    return render(request, "explorer/steps.html", context)


def _breadcrumbs(path: str) -> list[tuple[str, str]]:
    parts = path.split("/") if path else []
    return [(part, "/".join(parts[: i + 1])) for i, part in enumerate(parts)]


# --- efficiency ----------------------------------------------------------------------------

FILE_SORTS = {
    "size": ("-dive_bytes", "path"),
    "reclaimable": ("-reclaimable", "path"),
    "count": ("-count", "-dive_bytes"),
    "path": ("path",),
}


def _file_order(sort: str) -> tuple[str, tuple[str, ...]]:
    """``sort`` is a FILE_SORTS key, or a key with a leading "-" for the reverse order."""
    key = sort.removeprefix("-")
    if key not in FILE_SORTS:
        return "size", FILE_SORTS["size"]
    if sort == key:
        return sort, FILE_SORTS[key]
    return sort, tuple(f[1:] if f.startswith("-") else f"-{f}" for f in FILE_SORTS[key])


@require_GET
@vary_on_headers("HX-Request", "HX-Target", "HX-History-Restore-Request")
def efficiency_page(request: HtmxHttpRequest, digest: str) -> HttpResponse:
    """dive's figures beside ours, the waste chart, the inefficient files, the advice."""
    image = image_or_404(digest)
    analysis = efficiency.analyze(image)
    sort, order = _file_order(request.GET.get("sort", "size"))
    files = Paginator(analysis.files.order_by(*order), 50).get_page(request.GET.get("page"))
    steps = image.instructions()
    figures = analysis.figures
    context = {
        "image": image,
        "dive": figures.dive,
        "ours": figures.ours,
        "reasons": [(key, label, *figures.ours.by_reason[key]) for key, label in REASONS.items()],
        "per_layer": [(row, steps.get(row.layer, "")) for row in figures.ours.wasteful_layers()],
        "files": files,
        "sort": sort,
        "findings": [(finding, ADVICE[finding.code]) for finding in figures.advice],
        "reason_chart": charts.waste_by_reason(figures.ours, REASONS),
        "layer_chart": charts.waste_by_layer(figures.ours, steps),
        "privileged": analysis.privileged,
    }
    # A history restore (htmx had no snapshot of a pushed URL) needs the whole page.
    if request.htmx and not request.htmx.history_restore_request:
        target = request.htmx.target
        if target == "inefficient-files":
            return render(request, "explorer/efficiency.html#inefficient-files", context)
        return render(request, "explorer/efficiency.html#efficiency-panel", context)
    return render(request, "explorer/efficiency.html", context)
