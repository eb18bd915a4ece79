"""A background worker killed mid-ingest: its job is found dead and retried, or failed with
the reason, by the next worker or by the next look at the job (real worker, real SIGKILL)."""

from __future__ import annotations

import datetime as dt
import re
import signal
import time
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone
from django_tasks.base import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from layerviz.images import packed
from layerviz.images.models import BuildState, IngestJob, JobState, Layer
from layerviz.images.requests import IngestRequest
from layerviz.images.tasks import enqueue
from layerviz.lib import synth
from layerviz.lib.tarwriter import file

from . import processes
from .helpers import HTMX, soup, write_archive

pytestmark = pytest.mark.django_db(transaction=True)


def _killed_mid_ingest(tmp_path: Path) -> tuple[IngestJob, int]:
    """A job (of an uploaded archive) whose worker was killed with SIGKILL half-way through its
    big layer, and the worker's process id."""
    big = synth.layer(
        [file(f"usr/share/doc/pkg{i // 100}/file{i}.txt", b"%d\n" % i) for i in range(60_000)]
    )
    archive = write_archive(tmp_path, "lv/big:1", [big, synth.layer([file("app/x", b"1")])])
    job = enqueue(IngestRequest(f"docker-archive:{archive}"), upload=str(archive))
    worker = processes.manage(*processes.WORKER)
    deadline = time.monotonic() + 60
    try:
        while True:
            layer = Layer.objects.filter(
                diff_id=synth.sha256(big), state=BuildState.BUILDING
            ).first()
            if layer is not None and packed.entry_count(layer.pk) >= 5000:
                break
            assert worker.poll() is None, worker.communicate()
            assert time.monotonic() < deadline, "the worker never got half-way"
            time.sleep(0.05)
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    job.refresh_from_db()
    assert job.state == JobState.RUNNING  # as the dead worker left it
    return job, worker.pid


def _task(job: IngestJob) -> DBTaskResult:
    return DBTaskResult.objects.get(id=job.task_id)


def test_a_new_worker_retries_a_job_whose_worker_was_killed(tmp_path):
    job, pid = _killed_mid_ingest(tmp_path)
    killed_task = job.task_id

    processes.run_worker()

    job.refresh_from_db()
    assert job.state == JobState.DONE, job.error
    assert job.attempts == 2
    assert job.images.get().layer_count == 2
    dead = DBTaskResult.objects.get(id=killed_task)
    assert dead.status == TaskResultStatus.FAILED
    assert f"process {pid}" in dead.traceback
    assert _task(job).status == TaskResultStatus.SUCCESSFUL
    assert not DBTaskResult.objects.filter(status=TaskResultStatus.RUNNING).exists()


def test_viewing_a_job_whose_worker_was_killed_queues_it_again(tmp_path, client):
    job, pid = _killed_mid_ingest(tmp_path)
    killed_task = job.task_id

    page = soup(client.get(reverse("explorer:job", args=[job.pk]), **HTMX))

    assert "waiting for a worker" in page.select_one(f"#job-{job.pk} .state").text
    job.refresh_from_db()
    assert job.state == JobState.QUEUED and job.task_id != killed_task
    assert f"process {pid}" in job.error and "retried" in job.error
    assert DBTaskResult.objects.get(id=killed_task).status == TaskResultStatus.FAILED
    assert _task(job).status == TaskResultStatus.READY
    assert Path(job.upload).exists()  # for the next run

    processes.run_worker()

    job.refresh_from_db()
    assert job.state == JobState.DONE and job.error == ""


def test_the_images_list_fails_a_killed_job_whose_retries_are_spent(tmp_path, client, settings):
    settings.LAYERVIZ_INGEST_ATTEMPTS = 1
    job, pid = _killed_mid_ingest(tmp_path)

    listed = soup(client.get(reverse("explorer:images")))

    # Listed among the recent jobs as failed, no longer as running, and no longer polling.
    shown = listed.select_one(f"#job-{job.pk}")
    assert shown.select_one(".state").get_text(strip=True) == "failed"
    assert shown.get("hx-trigger") is None
    job.refresh_from_db()
    assert job.state == JobState.FAILED and job.finished_at
    page = soup(client.get(reverse("explorer:job", args=[job.pk])))
    error = page.select_one(f"#job-{job.pk} .error").text
    assert f"process {pid} on host" in error and "is gone" in error, error
    assert _task(job).status == TaskResultStatus.FAILED
    assert not Path(job.upload).exists()  # no run will read it now


def test_a_job_whose_worker_on_another_host_fell_silent_is_queued_again(client, settings):
    settings.LAYERVIZ_LEASE_SECONDS = 60
    silent_since = timezone.now() - dt.timedelta(seconds=600)
    job = IngestJob.objects.create(
        source="docker://x",
        state=JobState.RUNNING,
        owner="elsewhere/0123abcd:4242:feedbeef0123",
        started_at=silent_since,
        heartbeat_at=silent_since,
        attempts=1,
    )
    alive = IngestJob.objects.create(
        source="docker://y",
        state=JobState.RUNNING,
        owner="elsewhere/0123abcd:4243:feedbeef0124",
        started_at=silent_since,
        heartbeat_at=timezone.now(),
        attempts=1,
    )

    soup(client.get(reverse("explorer:images")))

    job.refresh_from_db()
    assert job.state == JobState.QUEUED and job.task_id
    assert re.search(r"process 4242 on host elsewhere gave no sign of life for 6\d\d s", job.error)
    alive.refresh_from_db()
    assert alive.state == JobState.RUNNING and alive.error == ""


def test_a_job_whose_worker_died_after_taking_its_task_and_before_starting_it_runs(tmp_path):
    archive = write_archive(tmp_path, "lv/small:1", [synth.layer([file("app/x", b"1")])])
    job = enqueue(IngestRequest(f"docker-archive:{archive}"))
    # A worker took the task ten minutes ago and died before it started the job: a window of
    # a few milliseconds no kill can hit, so its row is set as that worker left it.
    taken = timezone.now() - dt.timedelta(minutes=10)
    DBTaskResult.objects.filter(id=job.task_id).update(
        status=TaskResultStatus.RUNNING, started_at=taken, worker_ids=["gone"]
    )
    lost_task = job.task_id

    processes.run_worker()

    job.refresh_from_db()
    assert job.state == JobState.DONE, job.error
    assert job.attempts == 1
    assert "stopped before it started it" in DBTaskResult.objects.get(id=lost_task).traceback
    assert not DBTaskResult.objects.filter(status=TaskResultStatus.RUNNING).exists()
