"""Who may write: with ``LAYERVIZ_REQUIRE_LOGIN_TO_WRITE`` only logged-in users ingest, upload
and delete. A write view is marked by ``write_access``; ``refuse_anonymous_writes`` turns an
anonymous request to one away *before* anything reads its body, so an anonymous upload never
reaches the disk (the CSRF check would otherwise read, and spool, the whole body first).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django_htmx.http import HttpResponseClientRedirect

from .http import HtmxHttpRequest


def must_log_in(request: HttpRequest) -> bool:
    return settings.LAYERVIZ_REQUIRE_LOGIN_TO_WRITE and not request.user.is_authenticated


def to_login(request: HtmxHttpRequest) -> HttpResponse:
    """Off to the login page, and back to the page the action was started from afterwards:
    the action's own URL is POST-only."""
    login = redirect_to_login(_page_of(request))
    if getattr(request, "htmx", False):
        # A plain redirect would be followed inside the htmx request and the login page
        # swapped into a fragment; the whole window has to go there.
        return HttpResponseClientRedirect(login["Location"])
    return login


def _page_of(request: HtmxHttpRequest) -> str:
    """The page a write action was sent from, when it is one of ours; else the image list."""
    htmx = getattr(request, "htmx", None)
    page = htmx.current_url if htmx else request.headers.get("Referer", "")
    if page and url_has_allowed_host_and_scheme(page, {request.get_host()}):
        parts = urlsplit(page)
        return parts.path + (f"?{parts.query}" if parts.query else "")
    return reverse("explorer:images")


def write_access(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Marks a view that writes; it then answers only users allowed to write."""

    @wraps(view)
    def wrapper(request: HtmxHttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if must_log_in(request):
            return to_login(request)
        return view(request, *args, **kwargs)

    wrapper.writes = True  # type: ignore[attr-defined]
    return wrapper


class RefuseAnonymousWrites:
    """Before the CSRF check (which reads the body) a write view's anonymous request is sent to
    log in. Listed before ``CsrfViewMiddleware``: view hooks run in list order, after every
    middleware's request part, so ``request.user`` is already known here."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self, request: HtmxHttpRequest, view: Callable, args: Any, kwargs: Any
    ) -> HttpResponse | None:
        if getattr(view, "writes", False) and must_log_in(request):
            return to_login(request)
        return None
