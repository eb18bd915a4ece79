"""The app's own error pages: in its layout and the reader's language, naming what was not
found (Django's own 404 says "Resolver404" for an address no URL matches)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    # A view's Http404 carries its message; the resolver's carries a dict of what it tried.
    said = exception.args[0] if exception.args else ""
    problem = said if isinstance(said, str) else ""
    return render(request, "404.html", {"problem": problem, "path": request.path}, status=404)
