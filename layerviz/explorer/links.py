"""Links into the explorer that other pages make: one definition of each URL's shape."""

from __future__ import annotations

from urllib.parse import quote, urlencode

from django.urls import reverse


def layer_url(digest: str, position: int, path: str = "") -> str:
    """The image page with one layer's own changes open (at ``path``, a directory, if given)."""
    query: dict[str, object] = {"layer": position, "mode": "layer"}
    if path:
        query["path"] = path
    # quote, not quote_plus, and "/" left alone: the same form as the template's urlencode
    return (
        reverse("explorer:image", args=[digest]) + "?" + urlencode(query, safe="/", quote_via=quote)
    )
