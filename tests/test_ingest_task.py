"""Ingest in the background: the task, its progress, uploads, with a real worker process."""

from __future__ import annotations

from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from layerviz.images.models import Image, IngestJob, JobState
from layerviz.images.requests import IngestRequest
from layerviz.images.tasks import enqueue
from layerviz.lib import synth
from layerviz.lib.tarwriter import file

from . import processes
from .helpers import HTMX

pytestmark = pytest.mark.django_db(transaction=True)


def _archive(path: Path) -> Path:
    layers = [
        synth.layer([file(f"lib/f{i}", b"%d" % i * 100) for i in range(200)]),
        synth.layer([file("app/run", b"go")]),
    ]
    return synth.write_docker_archive(
        path, [synth.Image(layers=layers, tags=["lv/task:1"])], layout="docker25"
    )


def test_the_task_records_progress_and_the_images_it_made(tmp_path):
    job = enqueue(IngestRequest(f"docker-archive:{_archive(tmp_path / 'a.tar')}"))
    assert job.state == JobState.QUEUED and job.task_id

    processes.run_worker()

    job.refresh_from_db()
    assert job.state == JobState.DONE, job.error
    assert [r.display for i in job.images.all() for r in i.references.all()] == ["lv/task:1"]
    assert job.layer_count == 2 and job.layer_index == 2
    assert job.bytes_total > 0 and job.bytes_done == job.bytes_total
    assert job.started_at and job.finished_at


def test_a_failed_ingest_is_recorded_with_its_message_and_indexes_nothing(tmp_path):
    broken = tmp_path / "broken.tar"
    broken.write_bytes(_archive(tmp_path / "ok.tar").read_bytes()[:-20_000])
    job = enqueue(IngestRequest(f"docker-archive:{broken}"))

    processes.run_worker()

    job.refresh_from_db()
    assert job.state == JobState.FAILED
    assert "truncated" in job.error or "missing" in job.error or "not in the" in job.error, (
        job.error
    )
    assert Image.objects.count() == 0


def test_an_uploaded_archive_is_ingested_and_the_progress_turns_into_a_link(
    client: Client, tmp_path
):
    data = _archive(tmp_path / "up.tar").read_bytes()
    upload = SimpleUploadedFile("my-image.tar", data, content_type="application/x-tar")

    response = client.post(reverse("explorer:add"), {"kind": "upload", "archive": upload}, **HTMX)

    fragment = BeautifulSoup(response.content.decode(), "html.parser")
    polling = fragment.select_one(".job")
    assert polling["hx-trigger"] == "every 1s"
    assert "my-image.tar" in polling.get_text()
    job = IngestJob.objects.get()
    assert Path(job.upload).exists()

    processes.run_worker()

    done = BeautifulSoup(
        client.get(reverse("explorer:job", args=[job.pk]), **HTMX).content.decode(), "html.parser"
    )
    assert done.select_one(".job").get("hx-trigger") is None
    image = Image.objects.get()
    assert done.select_one("a.go")["href"] == reverse("explorer:image", args=[image.digest])
    assert image.source == "upload:my-image.tar"
    assert not Path(job.upload).exists()  # the upload is deleted once indexed


def test_an_upload_over_the_size_cap_is_refused_with_the_limit_named(
    client: Client, settings, tmp_path
):
    settings.LAYERVIZ_MAX_UPLOAD_BYTES = 10_000
    upload = SimpleUploadedFile("big.tar", b"\0" * 50_000)

    response = client.post(reverse("explorer:add"), {"kind": "upload", "archive": upload}, **HTMX)

    # The form comes back with its error and replaces itself instead of joining the jobs.
    assert response["HX-Retarget"] == "#add-form" and response["HX-Reswap"] == "outerHTML"
    assert "larger than the 10.0 kB upload limit" in response.content.decode()
    assert IngestJob.objects.count() == 0


def test_a_registry_reference_that_does_not_parse_is_refused_before_queueing(client: Client):
    response = client.post(
        reverse("explorer:add"), {"kind": "registry", "reference": "Not A Ref!"}, **HTMX
    )

    assert response["HX-Retarget"] == "#add-form"
    assert "invalid" in response.content.decode()
    without_htmx = client.post(
        reverse("explorer:add"), {"kind": "registry", "reference": "Not A Ref!"}
    )
    assert without_htmx.status_code == 422 and "invalid" in without_htmx.content.decode()
    assert IngestJob.objects.count() == 0
