"""Presentation mode, for a projector: large type, high contrast, no header, keyboard driven.

``?present=1`` on any page turns it on and ``?present=0`` off, so a link can hand a class the
page exactly as the teacher shows it; a cookie keeps it on for the pages the teacher opens
from there. The look is app.css's (``:root[data-present]``); this only decides when.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

PARAM = "present"
COOKIE = "layerviz_present"


def presentation(get_response: Callable[[HttpRequest], HttpResponse]) -> Callable:
    def middleware(request: HttpRequest) -> HttpResponse:
        asked = request.GET.get(PARAM)
        on = asked == "1" if asked in ("0", "1") else request.COOKIES.get(COOKIE) == "1"
        request.presenting = on  # type: ignore[attr-defined]
        response = get_response(request)
        if asked == "1":
            response.set_cookie(COOKIE, "1", samesite="Lax")  # for this browser session
        elif asked == "0":
            response.delete_cookie(COOKIE, samesite="Lax")
        return response

    return middleware


def context(request: HttpRequest) -> dict[str, object]:
    presenting = getattr(request, "presenting", False)
    # The same page with the mode switched: every other parameter kept.
    query = request.GET.copy()
    query[PARAM] = "0" if presenting else "1"
    return {"presenting": presenting, "present_toggle": f"{request.path}?{query.urlencode()}"}
