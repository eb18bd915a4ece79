"""Uploads: refused before their body is read when the user may not write, and bounded on
disk in total, not only one by one."""

from __future__ import annotations

import socket
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from layerviz.images.models import IngestJob

from .helpers import HTMX


def _spooled(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.iterdir() if p.is_file()) if folder.exists() else 0


@pytest.mark.django_db(transaction=True)
def test_an_anonymous_upload_is_sent_to_log_in_before_its_body_is_read(live_server, settings):
    settings.LAYERVIZ_REQUIRE_LOGIN_TO_WRITE = True
    incoming = Path(settings.FILE_UPLOAD_TEMP_DIR)
    before = _spooled(incoming)
    declared = 200 * 1024**2
    boundary = "lvboundary"
    head = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="kind"\r\n\r\nupload\r\n'
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="archive"; filename="big.tar"\r\n'
        "Content-Type: application/x-tar\r\n\r\n"
    ).encode()
    url = urlsplit(live_server.url)
    with socket.create_connection((url.hostname, url.port), timeout=30) as conn:
        conn.sendall(
            (
                f"POST {reverse('explorer:add')} HTTP/1.1\r\nHost: {url.netloc}\r\n"
                f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
                f"Content-Length: {declared}\r\nConnection: close\r\n\r\n"
            ).encode()
            + head
        )
        sent = len(head)
        chunk = b"\0" * 65536
        conn.settimeout(0.2)
        answer = b""
        # Send the body slowly, as a real 200 MB upload would arrive; the answer must come
        # long before it is all sent.
        while sent < 8 * 1024**2 and not answer:
            conn.sendall(chunk)
            sent += len(chunk)
            try:
                answer = conn.recv(4096)
            except TimeoutError:
                continue
        conn.settimeout(10)
        while b"\r\n\r\n" not in answer:
            more = conn.recv(4096)
            if not more:
                break
            answer += more

    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.split()[1] == b"302", answer[:300]
    assert b"Location: /login/" in rest
    assert sent < 8 * 1024**2  # answered while most of the body was still to come
    assert _spooled(incoming) == before  # nothing of it was written to disk
    assert IngestJob.objects.count() == 0


@pytest.fixture
def upload_dirs(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "uploads"
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path / "uploads" / "incoming")
    Path(settings.FILE_UPLOAD_TEMP_DIR).mkdir(parents=True)
    # The handler writes to disk from the first byte, as for a real archive.
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 0
    return settings.MEDIA_ROOT


@pytest.mark.django_db
def test_uploads_waiting_for_a_worker_count_against_the_disk_budget(client, settings, upload_dirs):
    settings.LAYERVIZ_MAX_UPLOADS_IN_FLIGHT_BYTES = 300_000
    waiting = upload_dirs / "0123.tar"  # an upload saved earlier, its ingest not run yet
    waiting.write_bytes(b"\0" * 200_000)

    def post():
        upload = SimpleUploadedFile("next.tar", b"\0" * 150_000)
        return client.post(reverse("explorer:add"), {"kind": "upload", "archive": upload}, **HTMX)

    refused = post().content.decode()
    assert "Uploads waiting to be indexed already hold close to 300.0 kB" in refused
    assert IngestJob.objects.count() == 0
    assert sorted(p.name for p in upload_dirs.iterdir() if p.is_file()) == ["0123.tar"]

    waiting.unlink()  # its worker indexed it and deleted it
    accepted = post()
    assert "Uploads waiting" not in accepted.content.decode()
    assert IngestJob.objects.count() == 1


@pytest.mark.django_db
def test_one_upload_still_stops_at_its_own_cap(client, settings, upload_dirs):
    settings.LAYERVIZ_MAX_UPLOAD_BYTES = 10_000
    upload = SimpleUploadedFile("big.tar", b"\0" * 50_000)

    response = client.post(reverse("explorer:add"), {"kind": "upload", "archive": upload}, **HTMX)

    assert "larger than the 10.0 kB upload limit" in response.content.decode()
    assert IngestJob.objects.count() == 0
    assert not any(p.is_file() for p in upload_dirs.iterdir())
