"""``GET /api/search?q=…[&kind=path|name|sha256|package][&offset=N]``: the search as JSON.

The hits are those of the page (``queries.search``), with layer numbers 1-based as the other
APIs give them; a query that cannot be answered is a 400 with ``error`` (its words) and
``code``.
"""

from __future__ import annotations

from django.http import HttpResponse, JsonResponse
from django.views.decorators.http import require_GET

from layerviz.http import HtmxHttpRequest, int_param
from layerviz.lib import filemode

from . import queries
from .links import hit_links, package_links, search_url
from .words import error_text


@require_GET
def search_api(request: HtmxHttpRequest) -> HttpResponse:
    offset = int_param(request, "offset", default=0, low=0, high=queries.MAX_OFFSET)
    try:
        query = queries.parse(request.GET.get("q", ""), request.GET.get("kind", ""))
        result = queries.search(query, offset=offset)
    except queries.BadQuery as exc:
        return JsonResponse({"error": error_text(exc), "code": exc.code}, status=400)
    kind = "" if query.guessed else query.kind
    following = offset + len(result.hits) + len(result.packages)
    return JsonResponse(
        {
            "query": query.text,
            "kind": query.kind,
            "kind_guessed": query.guessed,
            "match": query.match,
            "offset": offset,
            "limit": result.limit,
            "more": result.more,
            "next": search_url("search:api", query.text, kind, following) if result.more else None,
            "hits": [
                {
                    "image": {
                        "digest": hit.image.digest,
                        "names": hit.image.names,
                        "url": links["image"],
                    },
                    "layer": hit.position + 1,
                    "diff_id": hit.diff_id,
                    "path": hit.path,
                    "type": filemode.TYPE_NAMES.get(hit.type, hit.type),
                    "size": hit.size,
                    "sha256": hit.sha256 or None,
                    "visible": hit.visible,
                    "hidden_by": None
                    if hit.hidden_by is None
                    else {"layer": hit.hidden_by + 1, "how": hit.hidden_how},
                    "links": links,
                }
                for hit in result.hits
                for links in [hit_links(hit)]
            ],
            # kind=package: the images holding a version of the package, one row each
            "packages": [
                {
                    "image": {
                        "digest": hit.image.digest,
                        "names": hit.image.names,
                        "url": links["image"],
                    },
                    "ecosystem": package.ecosystem,
                    "name": package.name,
                    "version": package.version,
                    "layer": package.layer + 1,
                    "visible": hit.visible,
                    "gone": None
                    if package.gone_at is None
                    else {"layer": package.gone_at + 1, "how": package.gone_how},
                    "files": package.files,
                    "bytes": package.bytes,
                    "hidden_bytes": package.hidden_bytes,
                    "purl": package.purl or None,
                    "links": links,
                }
                for hit in result.packages
                for package, links in [(hit.package, package_links(hit))]
            ],
        }
    )
