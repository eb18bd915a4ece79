"""Where a hit links to: the image, the layer's own changes, the file's history, the file."""

from __future__ import annotations

import functools
from urllib.parse import quote, urlencode

from django.urls import get_script_prefix, reverse

from layerviz.explorer.links import layer_url

from .queries import Hit, PackageHit


@functools.lru_cache(maxsize=1024)
def _image_urls(prefix: str, digest: str) -> tuple[str, str]:
    # reversed once per image (and script prefix), not per hit: 200 hits spent ~40 ms on it
    return reverse("explorer:image", args=[digest]), reverse("explorer:file", args=[digest])


def hit_links(hit: Hit) -> dict[str, str]:
    digest = hit.image.digest
    image_url, file_url = _image_urls(get_script_prefix(), digest)
    path = quote(hit.relative_path, safe="/")
    return {
        "image": image_url,
        "layer": layer_url(digest, hit.position, hit.directory),
        "history": f"{file_url}?path={path}",
        # the file as this layer wrote it (the file page's ``layer`` is 1-based)
        "open": f"{file_url}?path={path}&layer={hit.position + 1}",
    }


def package_links(hit: PackageHit) -> dict[str, str]:
    digest = hit.image.digest
    image_url, _ = _image_urls(get_script_prefix(), digest)
    package = hit.package
    links = {
        "image": image_url,
        "layer": layer_url(digest, package.layer),
        # the image's packages page, filtered to this one, every version shown
        "packages": reverse("packages:packages", args=[digest])
        + "?"
        + urlencode({"q": package.name, "show": "all"}),
    }
    if package.gone_at is not None:
        links["gone"] = layer_url(digest, package.gone_at)
    return links


def search_url(name: str, text: str, kind: str = "", offset: int = 0) -> str:
    """A search's page (``name`` "search:search") or API answer ("search:api"), shareable."""
    query: dict[str, object] = {"q": text}
    if kind:
        query["kind"] = kind
    if offset:
        query["offset"] = offset
    return reverse(name) + "?" + urlencode(query, safe="/", quote_via=quote)
