"""The request type our views receive: Django's, with django-htmx's ``request.htmx``.

django-htmx's middleware adds the attribute at run time; this class (the one its docs
recommend) tells the type checker, so ``request.htmx.target`` is checked like the rest.
"""

from __future__ import annotations

from django.http import Http404, HttpRequest
from django.utils.translation import gettext as _
from django_htmx.middleware import HtmxDetails

from layerviz.images.models import Image


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def int_param(request: HttpRequest, name: str, *, default: int, low: int, high: int) -> int:
    """A whole-number query parameter, clamped to ``low``..``high``; ``default`` when it is
    missing or not a number. Every numeric parameter goes through here, so none reaches SQL
    out of range (an OFFSET of 10**20 is an error on PostgreSQL and SQLite alike)."""
    raw = request.GET.get(name, "")
    try:
        value = int(raw) if len(raw) <= 20 else default  # int() of a huge string is slow
    except ValueError:
        value = default
    return min(max(value, low), high)


def image_or_404(digest: str) -> Image:
    """The image a page's URL names by its manifest digest; a 404 naming the digest otherwise.
    Its top chain comes along: most pages read it."""
    image = Image.objects.filter(digest=digest).select_related("top_chain").first()
    if image is None:
        raise Http404(_("No indexed image has the digest %(digest)s.") % {"digest": digest})
    return image
