"""The request type our views receive: Django's, with django-htmx's ``request.htmx``.

django-htmx's middleware adds the attribute at run time; this class (the one its docs
recommend) tells the type checker, so ``request.htmx.target`` is checked like the rest.
"""

from __future__ import annotations

from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails


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
