"""The request type our views receive: Django's, with django-htmx's ``request.htmx``.

django-htmx's middleware adds the attribute at run time; this class (the one its docs
recommend) tells the type checker, so ``request.htmx.target`` is checked like the rest.
"""

from __future__ import annotations

from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails
