"""Values every page template needs."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def write_access(request: HttpRequest) -> dict[str, bool]:
    # The header offers "Log in" only where writing needs it.
    return {"login_to_write": settings.LAYERVIZ_REQUIRE_LOGIN_TO_WRITE}
