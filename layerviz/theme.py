"""Light or dark: the system's setting unless the reader pinned one with the header's switch.

The choice is a cookie, read on every page so the server writes it into ``<html data-theme>``
(no flash of the wrong colours, and the switch works without JavaScript: it is a form, as the
language switch is). The colours themselves are defined once, in app.css.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

COOKIE = "layerviz_theme"
AUTO = "auto"
THEMES = ((AUTO, _("Auto colours")), ("light", _("Light")), ("dark", _("Dark")))
YEAR = 365 * 24 * 3600


def chosen(request: HttpRequest) -> str:
    value = request.COOKIES.get(COOKIE, AUTO)
    return value if value in dict(THEMES) else AUTO


def context(request: HttpRequest) -> dict[str, object]:
    return {"theme": chosen(request), "themes": THEMES}


@require_POST
def set_theme(request: HttpRequest) -> HttpResponse:
    """Pin a scheme (or go back to the system's) and return to the page it was chosen on."""
    theme = request.POST.get("theme", AUTO)
    after = request.POST.get("next", "/")
    if not url_has_allowed_host_and_scheme(after, {request.get_host()}, request.is_secure()):
        after = "/"
    response = HttpResponseRedirect(after)
    if theme in dict(THEMES) and theme != AUTO:
        response.set_cookie(COOKIE, theme, max_age=YEAR, samesite="Lax")
    else:
        response.delete_cookie(COOKIE, samesite="Lax")
    return response
