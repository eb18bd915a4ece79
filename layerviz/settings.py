"""Settings for layerviz, all read from environment variables with safe defaults.

The defaults give a working single-machine setup: SQLite in ``var/``, a database-backed task
queue, static files served by the app itself (the app must work offline in a classroom).
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent


def envbool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{name} must be true or false, not {value!r}")


def envint(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


DATA_DIR = Path(os.environ.get("LAYERVIZ_DATA_DIR", BASE_DIR / "var"))
# The database, uploads and collected static files live here; whitenoise wants STATIC_ROOT.
# A data directory this user may not write is left for what uses it to report in one line
# (the database: ``images.faults``), not a traceback here; so are its folders below.
with contextlib.suppress(OSError):
    (DATA_DIR / "staticfiles").mkdir(parents=True, exist_ok=True)

DEBUG = envbool("DEBUG", False)
# With DEBUG off there is no default key: the web server refuses to start without one
# (``wsgi.py``, ``gunicorn_conf.py``: SECRET_KEY_MISSING), while the commands that sign
# nothing (ingest, worker, migrate, collectstatic…) run without. ``dev.py start`` passes a key
# it generated once into var/; the tests set their own.
SECRET_KEY = os.environ.get("SECRET_KEY", "layerviz-development-only-not-secret" if DEBUG else "")
SECRET_KEY_MISSING = (
    "layerviz: SECRET_KEY is not set. With DEBUG off the web server needs one: set SECRET_KEY "
    "to a long random string, the same on every web server (python3 -c 'import secrets; "
    "print(secrets.token_urlsafe(50))'), or use python3 dev.py start on your own machine."
)
ALLOWED_HOSTS = os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]").split(",")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    # Ahead of staticfiles: runserver then leaves static files to whitenoise, with DEBUG on
    # too, so that they reach a browser the same way whatever serves the app.
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "template_partials",
    # Ahead of django_tasks_db, so that its ``db_worker`` command is ours (which first
    # recovers the jobs of dead workers): the first app to define a command wins.
    "layerviz.images.apps.ImagesConfig",
    "django_tasks",
    "django_tasks_db",
    "layerviz.explorer.apps.ExplorerConfig",
    "layerviz.compare.apps.CompareConfig",
    "layerviz.learn.apps.LearnConfig",
    "layerviz.containers.apps.ContainersConfig",
    "layerviz.packages.apps.PackagesConfig",
    "layerviz.search.apps.SearchConfig",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "layerviz.middleware.reject_nul",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "layerviz.access.RefuseAnonymousWrites",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "layerviz.presentation.presentation",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "layerviz.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "layerviz.context_processors.write_access",
                "layerviz.theme.context",
                "layerviz.presentation.context",
            ],
        },
    },
]

WSGI_APPLICATION = "layerviz.wsgi.application"

LAYERVIZ_SQLITE_TIMEOUT = envint("LAYERVIZ_SQLITE_TIMEOUT", 60)
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{DATA_DIR / 'layerviz.sqlite3'}"),
        conn_max_age=0,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server read while the worker writes; IMMEDIATE transactions take the
    # write lock up front so two writers queue on the timeout instead of failing mid-way.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        # Seconds a write waits for another connection's write lock before it fails.
        "timeout": LAYERVIZ_SQLITE_TIMEOUT,
    }
    DATABASES["default"]["TEST"] = {
        # A file, not memory, so that worker processes started by tests see the same data;
        # one per test run, so two runs on one machine do not share it.
        "NAME": os.environ.get(
            "LAYERVIZ_TEST_SQLITE", str(DATA_DIR / f"test-{os.getpid()}.sqlite3")
        ),
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The queue ingests wait in (``images/queue.py``): django-tasks' database backend, a table of
# the database above, unless ``LAYERVIZ_REDIS_URL`` names a Redis (``redis://host:6379/0``),
# which workers on several machines share through django-tasks' RQ backend.
REDIS_URL = os.environ.get("LAYERVIZ_REDIS_URL", "")
if REDIS_URL:
    INSTALLED_APPS.append("django_rq")
    TASKS = {"default": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": ["default"]}}
    # No time limit on a job, as under the database backend: an ingest of a big image takes
    # as long as it takes, and a worker that dies is found by its heartbeat (``jobs.py``).
    # A Redis that does not answer a connection is an error within seconds (``/healthz``
    # included), unless the URL says otherwise (``?socket_connect_timeout=N``).
    if "socket_connect_timeout" not in REDIS_URL:
        separator = "&" if "?" in REDIS_URL else "?"
        REDIS_URL += f"{separator}socket_connect_timeout=5"
    RQ_QUEUES = {"default": {"URL": REDIS_URL, "DEFAULT_TIMEOUT": -1}}
else:
    TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# plotly.js is our own build of it, with only the traces we draw (static/vendor/, made by
# tools/plotly-bundle): no CDN, and a quarter of the full bundle's bytes.
STATICFILES_DIRS = [BASE_DIR / "static"]
# The image collects them at build time, outside its data volume: LAYERVIZ_STATIC_ROOT.
STATIC_ROOT = Path(os.environ.get("LAYERVIZ_STATIC_ROOT", DATA_DIR / "staticfiles"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # ``collectstatic`` (``dev.py start`` runs it) writes each file under a name with its hash
    # and gzips it beside; ``{% static %}`` links the hashed name, which whitenoise serves
    # compressed and cached for ten years: a browser fetches plotly.js once per version.
    # Before any collectstatic (``manage.py runserver`` run by hand, a worker, a command) a
    # page must not fail: a file not in the manifest is linked by its own name, and whitenoise
    # finds it where it is (its finders), uncompressed and briefly cached.
    "staticfiles": {"BACKEND": "layerviz.staticfiles.Storage"},
}
WHITENOISE_USE_FINDERS = True

MEDIA_ROOT = DATA_DIR / "uploads"
# Uploads are written here, on the same file system as MEDIA_ROOT, so that handing one to the
# worker is a link, not a copy. Django checks at start-up that the folder exists.
FILE_UPLOAD_TEMP_DIR = str(MEDIA_ROOT / "incoming")
with contextlib.suppress(OSError):
    Path(FILE_UPLOAD_TEMP_DIR).mkdir(parents=True, exist_ok=True)
FILE_UPLOAD_HANDLERS = ["layerviz.explorer.uploads.CappedUploadHandler"]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"

# --- layerviz ---
# Write actions (ingest, upload, delete) can be limited to logged-in users.
LAYERVIZ_REQUIRE_LOGIN_TO_WRITE = envbool("LAYERVIZ_REQUIRE_LOGIN_TO_WRITE", False)
LAYERVIZ_MAX_UPLOAD_BYTES = envint("LAYERVIZ_MAX_UPLOAD_BYTES", 8 * 1024**3)
# All uploads on disk and not indexed yet (being received, or waiting for a worker), together.
LAYERVIZ_MAX_UPLOADS_IN_FLIGHT_BYTES = envint(
    "LAYERVIZ_MAX_UPLOADS_IN_FLIGHT_BYTES", 2 * LAYERVIZ_MAX_UPLOAD_BYTES
)
# How long a claim on a layer being indexed lasts without a heartbeat before another worker
# may take the layer over (a worker on the same host that has died is detected at once).
LAYERVIZ_LEASE_SECONDS = envint("LAYERVIZ_LEASE_SECONDS", 120)
# How often a background worker records that it is alive, busy or idle (``images/workers.py``);
# three beats missed and /healthz counts it gone.
LAYERVIZ_WORKER_BEAT_SECONDS = envint("LAYERVIZ_WORKER_BEAT_SECONDS", 10)
# How many times a background ingest is started before a job whose worker died (killed,
# restarted) is failed rather than queued again: a worker may die *of* the image.
LAYERVIZ_INGEST_ATTEMPTS = envint("LAYERVIZ_INGEST_ATTEMPTS", 2)
# The shared-layers page draws its charts for at most this many images (its figures count them
# all), and its heatmap for the ones sharing the most: a matrix of more has cells too small to
# point at.
LAYERVIZ_STORE_CHART_IMAGES = envint("LAYERVIZ_STORE_CHART_IMAGES", 250)
LAYERVIZ_STORE_HEATMAP_IMAGES = envint("LAYERVIZ_STORE_HEATMAP_IMAGES", 60)
# A container page asks the engine for the size of each path its writable layer changed, one
# request each: at most this many per page (the rest are shown without a size, and say so).
LAYERVIZ_CONTAINER_SIZE_READS = envint("LAYERVIZ_CONTAINER_SIZE_READS", 300)
# Registry downloads have deadlines: LAYERVIZ_REGISTRY_MIN_RATE (bytes a second a registry must
# keep up, default 64 KiB; 0 for none) after LAYERVIZ_REGISTRY_DEADLINE_FLOOR (seconds, default
# 60). They are not read here but, like the LAYERVIZ_MAX_* input caps, by lib/limits.Limits
# (one definition), when a job's source options are made, so that a worker sees them as set for
# its run and a test can pass its own.
# Layers that lie in files are read by worker processes, side by side, once an image has this
# many bytes of layers to read (starting a worker costs ~50 ms).
LAYERVIZ_PARALLEL_READ_BYTES = envint("LAYERVIZ_PARALLEL_READ_BYTES", 64 * 1024**2)
# Layer blobs are kept as ingest reads them (``lib/blobstore``), so that any file's content can
# be shown, until the kept blobs reach LAYERVIZ_BLOB_BUDGET bytes (0: keep none). A blob that
# would pass the budget is not kept; its files say so and how to get them back.
LAYERVIZ_BLOB_ROOT = Path(os.environ.get("LAYERVIZ_BLOB_ROOT", DATA_DIR / "blobs"))
LAYERVIZ_BLOB_BUDGET = envint("LAYERVIZ_BLOB_BUDGET", 50 * 1024**3)

# Every log line goes to stderr, as JSON lines (one object a line: time, level, logger,
# message, and an event's fields, as ``layerviz.ingest`` writes for every ingest) or as text
# for people. Unset: JSON, for whatever collects a server's logs, and text on a terminal.
LAYERVIZ_LOG_FORMAT = os.environ.get("LAYERVIZ_LOG_FORMAT") or (
    "text" if sys.stderr.isatty() else "json"
)
if LAYERVIZ_LOG_FORMAT not in ("json", "text"):
    raise ValueError(f"LAYERVIZ_LOG_FORMAT must be json or text, not {LAYERVIZ_LOG_FORMAT!r}")
LOG_FORMATTERS = {
    "json": {"()": "layerviz.logs.JSONFormatter"},
    "text": {"()": "layerviz.logs.TextFormatter"},
}
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": LOG_FORMATTERS,
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LAYERVIZ_LOG_FORMAT},
    },
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "layerviz": {"level": os.environ.get("LAYERVIZ_LOG_LEVEL", "INFO")},
        "django_tasks": {"level": "INFO"},
    },
}
