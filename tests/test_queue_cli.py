"""The queue from the command line, as scripts and CI use it: ``ingest --queue``, a real
``worker`` process, ``jobs [--json]``; and the JSON line every ingest logs, read from the real
output of real ingests."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from layerviz.images.models import Image, IngestJob, JobState
from layerviz.lib import synth
from layerviz.lib.tarwriter import file

from . import components, processes
from .helpers import write_archive

pytestmark = pytest.mark.django_db(transaction=True)

LAYERS = [
    synth.layer([file(f"lib/f{i}", b"%d" % i * 100) for i in range(200)]),
    synth.layer([file("app/run", b"go")]),
]


def _run(*args: str, **env: str) -> subprocess.CompletedProcess:
    process = processes.manage(*args, env=processes.env(**env))
    out, err = process.communicate(timeout=300)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def _lines(stderr: str, logger: str = "layerviz.ingest") -> list[dict]:
    """The JSON log lines of ``logger`` in ``stderr``; every line of it must be JSON."""
    lines = [json.loads(line) for line in stderr.splitlines()]
    return [line for line in lines if line["logger"] == logger]


def test_a_queued_ingest_is_run_by_a_worker_and_listed_with_its_progress(tmp_path: Path):
    archive = write_archive(tmp_path, "lv/queued:1", LAYERS)

    queued = _run("ingest", "--queue", f"docker-archive:{archive}")

    assert queued.returncode == 0, queued.stderr
    job_id = int(queued.stdout)
    [listed] = json.loads(_run("jobs", "--json").stdout)
    assert listed["id"] == job_id and listed["state"] == "queued"
    assert listed["started_at"] is None and listed["images"] == []

    worker = _run("worker", "--batch", "--interval", "0.1")

    assert worker.returncode == 0, worker.stderr
    [done] = json.loads(_run("jobs", "--json", str(job_id)).stdout)
    image = Image.objects.get()
    assert done["state"] == "done" and done["error"] == ""
    assert done["images"] == [image.digest]
    assert (done["phase"], done["layer"], done["layers"]) == ("done", 2, 2)
    assert done["bytes_total"] > 0 and done["bytes_done"] == done["bytes_total"]
    assert done["created_at"] <= done["started_at"] <= done["finished_at"]
    # The worker logged the ingest as one JSON line (JSON: its stderr is not a terminal).
    [line] = _lines(worker.stderr)
    assert line["level"] == "info" and line["event"] == "ingest"
    assert line | {"time": None, "seconds": None} == {
        "time": None,
        "level": "info",
        "logger": "layerviz.ingest",
        "message": f"ingest ok (job {job_id}): docker-archive:{archive}",
        "event": "ingest",
        "job": job_id,
        "source": f"docker-archive:{archive}",
        "platform": None,
        "images": [{"digest": image.digest, "names": ["lv/queued:1"]}],
        "layers": 2,
        "bytes": done["bytes_done"],
        "seconds": None,
        "result": "ok",
        "error": None,
        "attempts": 1,
    }
    assert 0 < line["seconds"] < 60


def test_a_queued_source_with_a_relative_path_is_read_from_where_it_was_queued(tmp_path):
    write_archive(tmp_path, "lv/relative:1", LAYERS)
    archive = next(tmp_path.glob("*.tar"))

    queued = subprocess.run(
        [
            sys.executable,
            components.ROOT / "manage.py",
            "ingest",
            "--queue",
            f"docker-archive:{archive.name}:lv/relative:1",
        ],
        cwd=tmp_path,
        env=processes.env(),
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert queued.returncode == 0, queued.stderr
    job = IngestJob.objects.get(pk=int(queued.stdout))
    assert job.source == f"docker-archive:{archive}:lv/relative:1"


def test_a_failed_job_is_listed_with_its_error_and_logged_as_failed(tmp_path: Path):
    broken = tmp_path / "broken.tar"
    broken.write_bytes(write_archive(tmp_path, "lv/broken:1", LAYERS).read_bytes()[:-20_000])
    job_id = int(_run("ingest", "--queue", f"docker-archive:{broken}").stdout)

    worker = _run("worker", "--batch", "--interval", "0.1")

    assert worker.returncode == 0, worker.stderr
    job = IngestJob.objects.get(pk=job_id)
    assert job.state == JobState.FAILED and job.error
    [line] = _lines(worker.stderr)
    assert line["level"] == "warning"
    assert (line["result"], line["error"], line["images"]) == ("failed", job.error, [])
    table = _run("jobs").stdout.splitlines()
    assert table[0].split() == ["ID", "STATE", "PROGRESS", "CREATED", "FINISHED", "SOURCE", "ERROR"]
    assert table[1].split()[:2] == [str(job_id), "failed"]
    assert table[1].endswith(" ".join(job.error.split()))


def test_ingest_run_by_the_command_logs_the_same_line_when_a_log_format_is_set(tmp_path):
    archive = write_archive(tmp_path, "lv/cli-log:1", LAYERS)

    ingested = _run("ingest", f"docker-archive:{archive}", LAYERVIZ_LOG_FORMAT="json")

    assert ingested.returncode == 0, ingested.stderr
    image = Image.objects.get()
    assert ingested.stdout == f"lv/cli-log:1 {image.digest}\n"
    logged, human = ingested.stderr.splitlines()
    assert human.startswith("indexed in ")
    line = json.loads(logged)
    assert (line["job"], line["result"], line["error"], line["layers"]) == (None, "ok", None, 2)
    assert line["images"] == [{"digest": image.digest, "names": ["lv/cli-log:1"]}]
    assert line["bytes"] > 0

    failed = _run(
        "ingest", f"docker-archive:{tmp_path / 'missing.tar'}", LAYERVIZ_LOG_FORMAT="text"
    )

    assert failed.returncode == 1
    logged, error = failed.stderr.splitlines()
    assert " WARNING layerviz.ingest: ingest failed (command): docker-archive:" in logged
    assert ' result="failed" ' in logged and " job=null " in logged
    assert error.startswith("CommandError: ") and error.removeprefix("CommandError: ") in logged


def test_ingest_without_a_log_format_prints_only_its_own_lines(tmp_path: Path):
    archive = write_archive(tmp_path, "lv/quiet:1", LAYERS)

    ingested = _run("ingest", f"docker-archive:{archive}")

    assert ingested.returncode == 0, ingested.stderr
    assert ingested.stderr.startswith("indexed in ") and len(ingested.stderr.splitlines()) == 1
