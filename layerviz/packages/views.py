"""An image's packages: the page (filtered by ecosystem and name, sorted, without JavaScript),
the JSON list, the CycloneDX SBOM; and what the layer panel and compare show of them."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from django.core.paginator import Paginator
from django.db.models import Case, Count, F, IntegerField, Q, QuerySet, Sum, When
from django.http import HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from layerviz.explorer import api
from layerviz.http import HtmxHttpRequest, image_or_404
from layerviz.images.lookup import ImageNotFound, find_image
from layerviz.images.models import Image

from . import sbom, scan
from .models import ImagePackage

ECOSYSTEMS = ("dpkg", "apk", "rpm", "python", "npm")
SHOWS = ("shipped", "all", "gone", "hidden")
SIZE = Case(
    When(installed_size__isnull=False, then=F("installed_size")),
    default=F("bytes"),
    output_field=IntegerField(),
)
SORTS = {
    "name": ("normalized", "layer"),
    "-size": ("-size_shown", "normalized"),
    "size": ("size_shown", "normalized"),
    "layer": ("layer", "normalized"),
}


def filtered(
    image: Image, *, ecosystem: str = "", q: str = "", show: str = "shipped", sort: str = "name"
) -> QuerySet[ImagePackage]:
    """The image's package rows the page and the API list: ``show`` is shipped (the final
    filesystem's), all (every version any layer installed), gone (upgraded or removed) or
    hidden (still installed, files hidden by a later layer)."""
    rows = image.packages.annotate(size_shown=SIZE)
    if ecosystem in ECOSYSTEMS:
        rows = rows.filter(ecosystem=ecosystem)
    if q:
        rows = rows.filter(Q(name__icontains=q) | Q(normalized__icontains=q))
    if show == "shipped":
        rows = rows.shipped()
    elif show == "gone":
        rows = rows.filter(gone_at__isnull=False)
    elif show == "hidden":
        rows = rows.hidden()
    return rows.order_by(*SORTS.get(sort, SORTS["name"]))


def _params(request: HtmxHttpRequest) -> dict[str, str]:
    show = request.GET.get("show", "shipped")
    sort = request.GET.get("sort", "name")
    return {
        "ecosystem": request.GET.get("ecosystem", "")
        if request.GET.get("ecosystem") in ECOSYSTEMS
        else "",
        "q": request.GET.get("q", "").strip()[:200],
        "show": show if show in SHOWS else "shipped",
        "sort": sort if sort in SORTS else "name",
    }


@require_GET
@vary_on_headers("HX-Request")
def packages_page(request: HtmxHttpRequest, digest: str) -> HttpResponse:
    image = image_or_404(digest)
    done = scan.scan(image)
    params = _params(request)
    rows = filtered(image, **params)
    page = Paginator(rows, 200).get_page(request.GET.get("page"))
    counts = dict(
        image.packages.shipped().values_list("ecosystem").annotate(n=Count("id")).order_by()
    )
    context: dict[str, Any] = {
        "image": image,
        "page": page,
        "params": params,
        "query": urlencode({k: v for k, v in params.items() if v}),
        "size_query": urlencode({k: v for k, v in {**params, "sort": "-size"}.items() if v}),
        "ecosystems": [(e, counts.get(e, 0)) for e in ECOSYSTEMS],
        "problems": done.problems,
        "steps": image.instructions(),
        "hidden_total": image.packages.hidden().aggregate(total=Sum("hidden_bytes"))["total"] or 0,
    }
    if request.htmx:
        return render(request, "packages/packages.html#package-rows", context)
    return render(request, "packages/packages.html", context)


def package_json(row: ImagePackage) -> dict[str, Any]:
    """A package as the API and ``manage.py packages --json`` give it; layers are 1-based."""
    return {
        "ecosystem": row.ecosystem,
        "name": row.name,
        "version": row.version,
        "layer": row.layer + 1,
        "files": row.files,
        "bytes": row.bytes,
        "installed_size": row.installed_size,
        "hidden_bytes": row.hidden_bytes,
        "previous": row.previous or None,
        "gone_at": None if row.gone_at is None else row.gone_at + 1,
        "gone_how": row.gone_how or None,
        "arch": row.arch or None,
        "location": row.location,
        "purl": row.purl,
        "license": row.license or None,
    }


def _image_for(ref: str) -> Image | None:
    try:
        return find_image(ref)
    except ImageNotFound:
        return None


@require_GET
def packages_api(request: HtmxHttpRequest, ref: str) -> HttpResponseBase:
    image = _image_for(ref)
    if image is None:  # an image whose name ends in "/packages"
        return api.images_api(request, f"{ref}/packages")
    path = request.GET.get("path", "").strip("/")
    if path:  # which packages own this file (``owners`` scans first)
        return JsonResponse(
            {"path": path, "packages": [package_json(r) for r in scan.owners(image, path)]}
        )
    done = scan.scan(image)
    rows = filtered(image, **_params(request))
    return JsonResponse({"packages": [package_json(r) for r in rows], "problems": done.problems})


@require_GET
def sbom_api(request: HtmxHttpRequest, ref: str) -> HttpResponseBase:
    image = _image_for(ref)
    if image is None:
        return api.images_api(request, f"{ref}/sbom")
    body = json.dumps(sbom.cyclonedx(image), indent=2)
    response = HttpResponse(body, content_type="application/vnd.cyclonedx+json")
    name = (image.label.replace("/", "_").replace(":", "_") or "image")[:100]
    response["Content-Disposition"] = f'attachment; filename="{name}.cdx.json"'
    return response
