"""A container's writable layer on top of its image's layers: the list of containers (the
engine's and the recorded ones), one container's page, and the same as JSON.

The engine is asked each time a page is shown (``images/containers.py``, which reads only);
when it cannot be reached, the pages say so, naming ``DOCKER_HOST``, and still show the
recorded containers.
"""

from __future__ import annotations

from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from layerviz.explorer import panel
from layerviz.http import HtmxHttpRequest
from layerviz.images import containers as writable
from layerviz.lib.errors import SourceError


def _get_container_or_404(request: HtmxHttpRequest, key: str) -> writable.ContainerView:
    """``?recorded=1`` asks for the recorded one even while the engine has a live one."""
    try:
        return writable.find(key, recorded=request.GET.get("recorded") == "1")
    except writable.ContainerNotFound:
        raise Http404(_("No container is named %(key)s.") % {"key": repr(key)}) from None


@require_GET
def containers(request: HtmxHttpRequest) -> HttpResponse:
    found, problem = writable.listing()
    return render(
        request,
        "containers/containers.html",
        {
            "live": [c for c in found if not c.recorded],
            "recorded": [c for c in found if c.recorded],
            "engine_problem": problem,
        },
    )


@require_GET
def container(request: HtmxHttpRequest, key: str) -> HttpResponse:
    try:
        view = _get_container_or_404(request, key)
    except SourceError as exc:
        # The engine did not answer and nothing recorded has that name.
        return render(
            request,
            "containers/container.html",
            {"key": key, "engine_problem": str(exc)},
            status=503,
        )
    shared = writable.sharing(view)
    rows = _stack_rows(view, shared)
    return render(
        request,
        "containers/container.html",
        {
            "view": view,
            "key": key,
            "layer": view.layer,
            "rows": rows,
            "sharing": shared,
            "max_layer_size": max((row["layer"].layer.size for row in rows), default=0) or 1,
        },
    )


def _stack_rows(view: writable.ContainerView, shared: writable.Sharing) -> list[dict]:
    """The image's layers top first, as the writable layer sits above them: each with its
    instruction (the image page's stack row) and how many containers stand on it."""
    if view.image is None:
        return []
    stack, image_layers = panel.layer_stack(view.image)
    by_position = {row.position: row for row in stack if row.layer is not None}
    return [
        {
            "layer": il,
            "row": by_position.get(il.position),
            "containers": shared.per_layer[il.position],
        }
        for il in reversed(image_layers)
    ]


def _error(message: str, status: int) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


@require_GET
def container_api(request: HtmxHttpRequest, key: str) -> JsonResponse:
    """``{"image": manifest or image digest, "changes": [{"path", "kind", "size",
    "from_layer"}]}``; ``kind`` is docker diff's letter, ``from_layer`` 1-based or null."""
    try:
        view = writable.find(key, recorded=request.GET.get("recorded") == "1")
    except writable.ContainerNotFound:
        return _error(f"no container is named {key!r}", 404)
    except SourceError as exc:
        return _error(str(exc), 503)
    return JsonResponse(view.as_json())
