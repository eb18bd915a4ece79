"""Database faults in one line: what the commands print and what a failed job records.

A fault is the database failing to do its work, not a bug in ours: SQLite locked by another
connection for longer than ``LAYERVIZ_SQLITE_TIMEOUT``, a database file or data directory this
user may not write, a PostgreSQL server that cannot be reached. Django raises those as
``OperationalError``; anything else (an ``IntegrityError``, say) is a bug and keeps its
traceback.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from django.conf import settings
from django.core.management.base import CommandError
from django.db import OperationalError, connection


def _database() -> str:
    """The database as its owner knows it: SQLite's file, PostgreSQL's name and host."""
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return str(s["NAME"])
    return f"{s['NAME']} on {s.get('HOST') or 'localhost'}"


def describe(exc: OperationalError) -> str:
    """``exc`` as one line that names the database and what is wrong with it."""
    text = " ".join(str(exc).split())  # PostgreSQL's messages run over several lines
    where = f"database {_database()}"
    if connection.vendor == "sqlite":
        # SQLite's own words, matched as its C library writes them (sqlite3_errstr).
        if "database is locked" in text or "database table is locked" in text:
            return (
                f"{where} is locked: another connection held its write lock for longer than "
                f"{settings.LAYERVIZ_SQLITE_TIMEOUT} s (LAYERVIZ_SQLITE_TIMEOUT)"
            )
        if "readonly database" in text:
            return (
                f"{where} is read-only: this user may not write the file, or create its "
                "-wal and -shm files in its directory"
            )
        if "unable to open database file" in text:
            return (
                f"{where} cannot be opened: its directory is missing, or this user may not "
                "create files in it"
            )
    return f"{where}: {text}"


@contextlib.contextmanager
def as_command_error() -> Iterator[None]:
    """Turn a database fault into a ``CommandError``: one line on stderr and exit code 1, as a
    command shows bad input."""
    try:
        yield
    except OperationalError as exc:
        raise CommandError(describe(exc)) from None
