"""Where a hit links to: the image, the layer's own changes, the file's history, the file."""

from __future__ import annotations

from urllib.parse import quote, urlencode

from django.urls import reverse

from layerviz.explorer.links import layer_url

from .queries import Hit, Query


def hit_links(hit: Hit) -> dict[str, str]:
    digest = hit.image.digest
    file_url = reverse("explorer:file", args=[digest])
    path = quote(hit.relative_path, safe="/")
    return {
        "image": reverse("explorer:image", args=[digest]),
        "layer": layer_url(digest, hit.position, hit.directory),
        "history": f"{file_url}?path={path}",
        # the file as this layer wrote it (``layer`` is 0-based, as on the image page)
        "open": f"{file_url}?path={path}&layer={hit.position}",
    }


def search_url(name: str, text: str, kind: str = "", offset: int = 0) -> str:
    """A search's page (``name`` "search:search") or API answer ("search:api"), shareable."""
    query: dict[str, object] = {"q": text}
    if kind:
        query["kind"] = kind
    if offset:
        query["offset"] = offset
    return reverse(name) + "?" + urlencode(query, safe="/", quote_via=quote)


def page_of(query: Query) -> str:
    return search_url("search:search", query.text, "" if query.guessed else query.kind)
