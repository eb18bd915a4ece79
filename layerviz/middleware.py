"""Requests refused before any view or database sees them."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import translation
from django.utils.translation import gettext as _


def nul_problem(request: HttpRequest) -> str:
    """What in the request holds a NUL character, or "".

    No name, digest, path or search of ours can hold NUL, and PostgreSQL refuses it in any
    query, so a request holding one is refused here, the same way on both databases, instead
    of failing wherever its value first reaches SQL. Form fields (POST) are checked by the
    forms, whose CharFields refuse NUL themselves.
    """
    if "\x00" in request.path:
        return _("The address holds a NUL character.")
    for key, values in request.GET.lists():
        if "\x00" in key or any("\x00" in v for v in values):
            return _("The query parameter %(name)s holds a NUL character.") % {
                "name": repr(key.replace("\x00", "\\x00"))
            }
    if any("\x00" in k or "\x00" in v for k, v in request.COOKIES.items()):
        return _("A cookie holds a NUL character.")
    return ""


def reject_nul(get_response: Callable[[HttpRequest], HttpResponse]) -> Callable:
    def middleware(request: HttpRequest) -> HttpResponse:
        # Before the locale middleware (nothing may read the session first), so the refusal
        # picks the reader's language itself.
        with translation.override(translation.get_language_from_request(request)):
            problem = nul_problem(request)
            if problem:
                return render(request, "400.html", {"problem": problem}, status=400)
        return get_response(request)

    return middleware
