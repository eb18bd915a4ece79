"""The WSGI application, for gunicorn (``gunicorn_conf.py``) or any WSGI server."""

from __future__ import annotations

import os

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "layerviz.settings")
application = get_wsgi_application()

try:
    # Signed sessions and messages need it: refused at start, not on the first login.
    settings.SECRET_KEY  # noqa: B018 - Django raises when it is empty
except ImproperlyConfigured:
    raise ImproperlyConfigured(settings.SECRET_KEY_MISSING) from None
