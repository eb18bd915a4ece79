#!/usr/bin/env python3
"""The two commands a newcomer needs, with nothing but Python 3.11+ installed.

    python3 dev.py start   # set up, then run the app (web + worker) on http://127.0.0.1:8000
    python3 dev.py test    # set up, then run the whole test suite

Setting up means: a virtual environment in .venv with the pinned requirements (reinstalled when
requirements.txt or requirements-dev.txt changes) and a migrated database. ``start`` also loads
demo images the first time and the lesson images (``manage.py lessons``) while any is missing. ``test`` runs the suite on SQLite and, when LAYERVIZ_TEST_POSTGRES names a PostgreSQL
database, again on PostgreSQL.

``python3 dev.py image`` builds layerviz's own image, ``layerviz:latest``, with the local Docker
engine (README, "layerviz's own image"); a team needs it, a newcomer does not.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import signal
import subprocess
import sys
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
PYTHON = VENV / "bin" / "python"
STAMP = VENV / ".requirements.sha256"
# What the app runs on (all its image installs), then the tests' and checks' tools on top.
REQUIREMENTS = ("requirements.txt", "requirements-dev.txt")


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def setup() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - dev.py runs before any venv exists
        sys.exit(f"layerviz needs Python 3.11 or newer, not {sys.version.split()[0]}")
    if not PYTHON.exists():
        print("creating .venv ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    wanted = hashlib.sha256(
        b"".join((ROOT / name).read_bytes() for name in REQUIREMENTS)
    ).hexdigest()
    if not STAMP.exists() or STAMP.read_text() != wanted:
        print("installing requirements into .venv ...", flush=True)
        run(
            [
                str(PYTHON),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-r",
                "requirements-dev.txt",
            ]
        )
        STAMP.write_text(wanted)
    (ROOT / "var").mkdir(exist_ok=True)


def run(args: list[str], env: dict[str, str] | None = None) -> None:
    result = subprocess.run(args, cwd=ROOT, env=env)
    if result.returncode:
        sys.exit(result.returncode)


def manage(*args: str, env: dict[str, str] | None = None) -> None:
    run([str(PYTHON), "manage.py", *args], env=env)


# What ``start`` runs before it serves, in order (tests/benchmarks/bench_first_paint.py runs
# the same): the database migrated, the demo images the first time, and the static files
# collected, hashed and compressed, which is what whitenoise serves (settings.STORAGES).
PREPARE = [
    ("migrate", "--verbosity", "0"),
    # demo first: it loads only into an empty database, and the lessons would fill it.
    ("demo",),
    ("lessons",),
    ("collectstatic", "--noinput", "--verbosity", "0"),
]


def web_args(port: str) -> list[str]:
    """The web server ``start`` runs, after the interpreter: gunicorn as a team runs it
    (``layerviz/gunicorn_conf.py``, whitenoise serving the static files), on this machine
    only, with two processes rather than one per CPU. Its environment: ``serve_env``."""
    return [
        "-m",
        "gunicorn",
        "--config",
        "python:layerviz.gunicorn_conf",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "2",
    ]


def serve_env(env: dict[str, str]) -> dict[str, str]:
    """``env`` with what the web server needs and a newcomer should not have to set: a
    SECRET_KEY of this checkout (made once, kept in var/secret_key, so that logins outlive a
    restart) and logs as text."""
    key_file = ROOT / "var" / "secret_key"
    if not key_file.exists():
        key_file.parent.mkdir(exist_ok=True)
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(50))
    out = dict(env)
    out.setdefault("SECRET_KEY", key_file.read_text().strip())
    out.setdefault("LAYERVIZ_LOG_FORMAT", "text")
    return out


def start(argv: list[str]) -> None:
    setup()
    port = argv[0] if argv else os.environ.get("PORT", "8000")
    env = serve_env(dict(os.environ))
    for step in PREPARE:
        manage(*step, env=env)
    print(
        f"layerviz: http://127.0.0.1:{port}/  (Ctrl-C stops the web server and the worker)",
        flush=True,
    )
    # Stopped with SIGTERM (a service manager, `timeout`), stop the children as for Ctrl-C.
    signal.signal(signal.SIGTERM, _interrupt)
    worker = subprocess.Popen([str(PYTHON), "manage.py", "worker"], cwd=ROOT, env=env)
    web = subprocess.Popen([str(PYTHON), *web_args(port)], cwd=ROOT, env=env)
    try:
        while worker.poll() is None and web.poll() is None:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        for proc in (web, worker):
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for proc in (web, worker):
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def test(argv: list[str]) -> None:
    setup()
    env = dict(os.environ)
    env.pop("DATABASE_URL", None)
    print("== test suite on SQLite ==", flush=True)
    sqlite = subprocess.run([str(PYTHON), "-m", "pytest", *argv], cwd=ROOT, env=env).returncode
    postgres_url = os.environ.get("LAYERVIZ_TEST_POSTGRES", "")
    postgres = 0
    if postgres_url:
        print("== test suite on PostgreSQL ==", flush=True)
        env["DATABASE_URL"] = postgres_url
        postgres = subprocess.run(
            [str(PYTHON), "-m", "pytest", *argv], cwd=ROOT, env=env
        ).returncode
    else:
        message = (
            "PostgreSQL run SKIPPED: set LAYERVIZ_TEST_POSTGRES=postgres://USER:PASSWORD@HOST/DB "
            "(a user that may create databases) to run the suite on PostgreSQL too"
        )
        print(message, flush=True)
        if in_ci():
            print("CI=true: a missing PostgreSQL is a failure", flush=True)
            postgres = 1
    sys.exit(sqlite or postgres)


def image(argv: list[str]) -> None:
    """``layerviz:latest`` built with the local Docker engine, its base made here first (nothing
    is pulled): tools/image/build.py, which needs only the standard library."""
    run([sys.executable, str(ROOT / "tools" / "image" / "build.py"), *argv])


def main() -> None:
    commands = {"start": start, "test": test, "setup": lambda argv: setup(), "image": image}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        sys.exit(__doc__)
    commands[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    main()
