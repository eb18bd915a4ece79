"""What the in-process benchmarks share: Django on a fresh database in var/bench/."""

from __future__ import annotations

import os
import secrets
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "var" / "bench"


def fresh_database() -> None:
    """Set Django up on a new SQLite file (or the database DATABASE_URL names), migrated, with
    the test environment on so the test client can be used."""
    sys.path.insert(0, str(ROOT))
    BENCH.mkdir(parents=True, exist_ok=True)
    tmp = tempfile.mkdtemp(dir=BENCH)
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{tmp}/bench.sqlite3")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "layerviz.settings")
    # With DEBUG off settings has no key of its own; the test client's sessions and messages
    # sign with one. A benchmark's database is thrown away, and so is its key.
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(32))
    import django

    django.setup()
    from django.core.management import call_command
    from django.test.utils import setup_test_environment

    setup_test_environment()
    call_command("migrate", verbosity=0)
