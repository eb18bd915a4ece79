"""Running ``manage.py`` in separate processes against the test database.

Tests that need real concurrency or a real crash (two workers, a killed worker, the background
worker) start processes; they must use ``transaction=True`` so what they write is committed
where the other processes can see it.
"""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
import tty
from urllib.parse import quote

from django.db import connection

from . import components

# The background worker as tests run it: it polls often and exits once the queue is empty.
WORKER = ("db_worker", "--batch", "--no-startup-delay", "--no-reload", "--interval", "0.1")


def database_url() -> str:
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    auth = quote(s["USER"] or "")
    if s.get("PASSWORD"):
        auth += ":" + quote(s["PASSWORD"])
    host = s.get("HOST") or "localhost"
    port = f":{s['PORT']}" if s.get("PORT") else ""
    return f"postgres://{auth}@{host}{port}/{s['NAME']}"


def env(**extra: str) -> dict[str, str]:
    out = dict(os.environ)
    out["DATABASE_URL"] = database_url()
    out.update(extra)
    return out


def manage(*args: str, **popen) -> subprocess.Popen:
    """``manage.py ARGS`` with its output piped, unless ``popen`` says otherwise (a
    pseudo-terminal as ``stdout``, say)."""
    options = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True} | popen
    return subprocess.Popen(
        [sys.executable, "manage.py", *args],
        cwd=components.ROOT,
        env=options.pop("env", None) or env(),
        **options,
    )


def manage_on_a_terminal(*args: str, timeout: float = 120) -> tuple[int, bytes, str]:
    """``manage.py ARGS`` with a pseudo-terminal as its standard output, as when a person runs
    it: its exit code, the bytes it sent to the terminal, and its standard error. The terminal
    is raw, so the bytes are the process's own (no "\\n" made "\\r\\n")."""
    terminal, attached = pty.openpty()
    tty.setraw(attached)
    process = manage(*args, stdout=attached)
    os.close(attached)
    shown = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([terminal], [], [], deadline - time.monotonic())
            if not ready:
                continue
            try:
                data = os.read(terminal, 1 << 16)
            except OSError:  # EIO: every writer has closed the terminal
                break
            if not data:
                break
            shown += data
        _out, err = process.communicate(timeout=max(deadline - time.monotonic(), 1))
    finally:
        process.kill()
        process.wait()
        os.close(terminal)
    return process.returncode, bytes(shown), err


def run_worker(**extra_env: str) -> None:
    """Run the background worker until the queue is empty; it must exit cleanly.
    ``extra_env``: settings for it, on top of this process's environment."""
    worker = manage(*WORKER, env=env(**extra_env))
    _out, err = worker.communicate(timeout=300)
    assert worker.returncode == 0, err
