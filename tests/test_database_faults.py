"""Database faults, caused for real on a SQLite file of the test's own: a write lock another
connection holds past the timeout, a read-only database file, a read-only data directory. The
commands say so in one line and exit non-zero; a background job records that line and fails.

These tests do not use the test database: each copies a migrated SQLite file (holding one
indexed image) into a directory of its own and runs ``manage.py`` on it.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from layerviz.lib import synth
from layerviz.lib.tarwriter import file

from . import components

IMAGE = synth.Image([synth.layer([file("etc/os-release", b"ID=synth\n")])], tags=["lv/faults:1"])
OTHER = synth.Image([synth.layer([file("app/main.py", b"print('hello')\n")])], tags=["lv/faults:2"])
TIMEOUT = "1"  # seconds (LAYERVIZ_SQLITE_TIMEOUT): a lock held longer is a fault


def _without_permission_override() -> None:
    """As root, drop the capabilities that ignore file modes, so a read-only file or
    directory is read-only to the command too (root keeps them otherwise, and would write)."""
    if os.geteuid() != 0:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    pr_capbset_drop, cap_dac_override, cap_dac_read_search = 24, 1, 2
    for cap in (cap_dac_override, cap_dac_read_search):
        if libc.prctl(pr_capbset_drop, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def _env(data: Path) -> dict[str, str]:
    # Without CI: CI=true puts `analyze` in dive's CI mode (as it does dive), which reports
    # without storing the analysis, and these tests need the command to write.
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    return dict(
        env,
        DATABASE_URL=f"sqlite:///{data / 'layerviz.sqlite3'}",
        LAYERVIZ_DATA_DIR=str(data),
        LAYERVIZ_SQLITE_TIMEOUT=TIMEOUT,
    )


def _manage(data: Path, *args: str, **popen) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", *args],
        cwd=components.ROOT,
        env=_env(data),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_without_permission_override,
        **popen,
    )


def _run(data: Path, *args: str) -> subprocess.CompletedProcess:
    proc = _manage(data, *args)
    out, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def _count(data: Path, table: str) -> int:
    db = sqlite3.connect(data / "layerviz.sqlite3")
    try:
        return db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
    finally:
        db.close()


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """A migrated database with IMAGE indexed, its analysis removed again (as for an image
    indexed before analyses were stored at ingest) so that ``analyze`` has to write."""
    data = tmp_path_factory.mktemp("template")
    archive = synth.write_docker_archive(data / "image.tar", [IMAGE])
    for args in (("migrate", "-v0"), ("ingest", f"docker-archive:{archive}")):
        done = _run(data, *args)
        assert done.returncode == 0, done.stderr
    db = sqlite3.connect(data / "layerviz.sqlite3", isolation_level=None)
    db.execute("DELETE FROM images_inefficientfile")
    db.execute("DELETE FROM images_analysis")
    db.close()  # the last connection to close folds the WAL into the file the tests copy
    return data / "layerviz.sqlite3"


@pytest.fixture
def data(template: Path, tmp_path: Path) -> Iterator[Path]:
    """A data directory of this test's own, as one in use is: a copy of the template database
    and the folders layerviz makes in it."""
    folder = tmp_path / "data"
    (folder / "uploads" / "incoming").mkdir(parents=True)
    (folder / "staticfiles").mkdir()
    shutil.copy(template, folder / "layerviz.sqlite3")
    yield folder
    folder.chmod(0o755)  # so that pytest can remove it


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    return synth.write_docker_archive(tmp_path / "other.tar", [OTHER])


def _lock(data: Path) -> sqlite3.Connection:
    """Another connection, holding the database's write lock until it rolls back."""
    holder = sqlite3.connect(data / "layerviz.sqlite3", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    return holder


@pytest.fixture
def locked(data: Path) -> Iterator[sqlite3.Connection]:
    holder = _lock(data)
    yield holder
    if holder.in_transaction:
        holder.execute("ROLLBACK")
    holder.close()


def _one_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def _database(data: Path) -> str:
    return f"database {data / 'layerviz.sqlite3'}"


LOCKED = "is locked: another connection held its write lock for longer than 1 s"


def test_it_says_in_one_line_that_the_database_stayed_locked_when_an_ingest_waits_too_long(
    data, archive, locked
):
    line = _one_line(_run(data, "ingest", f"docker-archive:{archive}"))

    assert line == f"CommandError: {_database(data)} {LOCKED} (LAYERVIZ_SQLITE_TIMEOUT)"
    locked.execute("ROLLBACK")
    assert _count(data, "images_image") == 1


def test_it_says_in_one_line_that_the_database_stayed_locked_when_analyze_waits_too_long(
    data, locked
):
    line = _one_line(_run(data, "analyze", "lv/faults:1"))

    assert line == f"CommandError: {_database(data)} {LOCKED} (LAYERVIZ_SQLITE_TIMEOUT)"


READ_ONLY = (
    "is read-only: this user may not write the file, or create its -wal and -shm files in "
    "its directory"
)


def test_it_says_in_one_line_that_the_database_file_is_read_only(data, archive):
    (data / "layerviz.sqlite3").chmod(0o444)

    for args in (("ingest", f"docker-archive:{archive}"), ("analyze", "lv/faults:1")):
        line = _one_line(_run(data, *args))
        assert line == f"CommandError: {_database(data)} {READ_ONLY}"
    # Reading needs no write: the list still shows what is indexed.
    listed = _run(data, "images")
    assert listed.returncode == 0, listed.stderr
    assert "lv/faults:1" in listed.stdout
    assert _count(data, "images_image") == 1


@pytest.mark.parametrize(
    "args",
    [("images",), ("images", "--json"), ("analyze", "lv/faults:1"), ("ingest", "{archive}")],
)
def test_it_says_in_one_line_that_the_data_directory_is_read_only(data, archive, args):
    data.chmod(0o555)  # SQLite cannot create the -wal and -shm files WAL mode needs beside it

    line = _one_line(_run(data, *(a.format(archive=f"docker-archive:{archive}") for a in args)))

    assert line == f"CommandError: {_database(data)} {READ_ONLY}"


def test_a_background_job_on_a_database_locked_too_long_fails_with_that_line(data, archive):
    """1. queue a job; 2. run it while another connection holds the write lock: its first
    write waits, then fails; 3. hold the lock through its first try at recording that too,
    release it once the worker says that try failed: the next one records why."""
    queued = _run(
        data,
        "shell",
        "-v0",
        "-c",
        "from layerviz.images.requests import IngestRequest\n"
        "from layerviz.images.tasks import enqueue\n"
        f"print(enqueue(IngestRequest('docker-archive:{archive}')).pk)",
    )
    assert queued.returncode == 0, queued.stderr
    job = int(queued.stdout)
    holder = _lock(data)
    try:
        worker = _manage(
            data,
            "shell",
            "-v0",
            "-c",
            f"from layerviz.images.tasks import ingest_job\nprint(ingest_job.call({job}))",
        )
        assert worker.stderr is not None
        seen = []
        for line in worker.stderr:
            seen.append(line)
            if f"recording job {job} as failed" in line:
                break
        holder.execute("ROLLBACK")
        out, err = worker.communicate(timeout=60)
    finally:
        holder.close()

    assert worker.returncode == 0, "".join(seen) + err
    assert f"ingest job {job} failed: {_database(data)} {LOCKED}" in "".join(seen)
    assert out == "[]\n"
    db = sqlite3.connect(data / "layerviz.sqlite3")
    state, error = db.execute(
        "SELECT state, error FROM images_ingestjob WHERE id = ?", (job,)
    ).fetchone()
    db.close()
    assert (state, error) == ("failed", f"{_database(data)} {LOCKED} (LAYERVIZ_SQLITE_TIMEOUT)")
    assert _count(data, "images_image") == 1
