"""The search page: ``/search?q=…&kind=…&offset=…``, every indexed image at once.

One view, one template; the results are a partial (``#results``) that the page's own form
swaps in place with htmx and pushes to the URL, so a search is a link and works without
JavaScript (the header's box is a plain GET form to this page).
"""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from layerviz.http import HtmxHttpRequest, int_param

from . import queries
from .links import hit_links, package_links, search_url
from .words import KIND_WORDS, TYPE_WORDS, error_text


@require_GET
@vary_on_headers("HX-Request")
def search(request: HtmxHttpRequest) -> HttpResponse:
    text = request.GET.get("q", "")
    kind = request.GET.get("kind", "")
    offset = int_param(request, "offset", default=0, low=0, high=queries.MAX_OFFSET)
    context: dict[str, Any] = {
        "text": text.strip(),
        "kind": kind,
        "kind_choices": list(KIND_WORDS.items()),
    }
    status = 200
    if text.strip() or "q" in request.GET:
        try:
            query = queries.parse(text, kind)
            result = queries.search(query, offset=offset)
        except queries.BadQuery as exc:
            context["error"] = error_text(exc)
            status = 400
        else:
            shown_kind = "" if query.guessed else query.kind
            context["result"] = result
            context["kind_word"] = KIND_WORDS[query.kind]
            context["hits"] = [
                (hit, hit_links(hit), TYPE_WORDS.get(hit.type, hit.type)) for hit in result.hits
            ]
            context["packages"] = [(hit, package_links(hit)) for hit in result.packages]
            shown = len(result.hits) + len(result.packages)
            context["first"] = offset + 1
            context["last"] = offset + shown
            if result.more:
                following = offset + shown
                context["next_url"] = search_url("search:search", query.text, shown_kind, following)
            if offset:
                earlier = max(0, offset - result.limit)
                context["previous_url"] = search_url(
                    "search:search", query.text, shown_kind, earlier
                )
    template = "search/search.html"
    if request.htmx:
        # The fragment, a bad query's sentence included, as a 200: htmx swaps no 4xx.
        return render(request, template + "#results", context)
    return render(request, template, context, status=status)
