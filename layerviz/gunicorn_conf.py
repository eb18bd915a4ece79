"""gunicorn's settings for layerviz, all from the environment:

    gunicorn -c python:layerviz.gunicorn_conf

serves the app on ``$PORT`` (default 8000) of every address (``LAYERVIZ_WEB_HOST``, default
0.0.0.0), static files included (whitenoise, from what ``collectstatic`` wrote). Workers are
processes of threads (gthread): a page mostly waits on the database, and a thread waiting on an
upload or a slow client holds no process. ``LAYERVIZ_WEB_WORKERS`` processes (default: one per
CPU, plus one) of ``LAYERVIZ_WEB_THREADS`` threads (default 4); ``LAYERVIZ_WEB_TIMEOUT``
seconds (default 60) for a process that stops answering gunicorn before it is restarted, and
``LAYERVIZ_WEB_GRACEFUL_TIMEOUT`` (default 30) for requests to end on a restart or SIGTERM.
``LAYERVIZ_WEB_ACCESS_LOG=true`` logs each request. Behind a proxy on another machine, set
``FORWARDED_ALLOW_IPS`` (gunicorn's own variable) to its address.

The app does not start without ``SECRET_KEY`` when ``DEBUG`` is off: one line, not a traceback.
"""

from __future__ import annotations

import os
import sys

from layerviz import settings

if not settings.SECRET_KEY:
    sys.exit(settings.SECRET_KEY_MISSING)

wsgi_app = "layerviz.wsgi:application"
bind = [f"{os.environ.get('LAYERVIZ_WEB_HOST', '0.0.0.0')}:{settings.envint('PORT', 8000)}"]
worker_class = "gthread"
workers = settings.envint("LAYERVIZ_WEB_WORKERS", (os.cpu_count() or 1) + 1)
threads = settings.envint("LAYERVIZ_WEB_THREADS", 4)
timeout = settings.envint("LAYERVIZ_WEB_TIMEOUT", 60)
graceful_timeout = settings.envint("LAYERVIZ_WEB_GRACEFUL_TIMEOUT", 30)
keepalive = 5
# gunicorn's own lines (starting, workers booted or restarted; requests, when asked for) on
# stderr in the app's format (``LAYERVIZ_LOG_FORMAT``), so that one collector reads them all.
_stderr = {"class": "logging.StreamHandler", "formatter": "layerviz", "stream": "ext://sys.stderr"}
_access = "INFO" if settings.envbool("LAYERVIZ_WEB_ACCESS_LOG", False) else "WARNING"
logconfig_dict = {
    "formatters": {"layerviz": settings.LOG_FORMATTERS[settings.LAYERVIZ_LOG_FORMAT]},
    "handlers": {"console": _stderr, "error_console": _stderr},
    "root": {"level": "WARNING", "handlers": ["console"]},
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": ["error_console"], "propagate": False},
        "gunicorn.access": {"level": _access, "handlers": ["console"], "propagate": False},
    },
}
# gunicorn's control socket defaults to one path per user ($HOME/.gunicorn/gunicorn.ctl): a
# second server on the machine (a test, another checkout) would take it over. Not used here.
control_socket_disable = True
