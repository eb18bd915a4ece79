"""The add form on the images page: sources written as the command writes them, the source kept
after a submit, a name for any image; and the recent jobs the page lists, in both languages."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation

from layerviz.images import deletion
from layerviz.images.models import Image, IngestJob, JobState
from layerviz.images.requests import IngestRequest
from layerviz.images.tasks import enqueue
from layerviz.lib import reference as refs
from layerviz.lib import synth
from layerviz.lib.tarwriter import file

from . import processes
from .helpers import HTMX, soup, write_archive

ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-CN"}
ADD = reverse("explorer:add")
IMAGES = reverse("explorer:images")


def _page(response) -> BeautifulSoup:
    return BeautifulSoup(response.content.decode(), "html.parser")


def _errors(response) -> list[str]:
    return [p.get_text(" ", strip=True) for p in _page(response).select("#add-form .error")]


def _ticked(response) -> list[str]:
    return [i["value"] for i in _page(response).select("#add-form input[name=kind][checked]")]


def _archive(folder: Path, tag: str = "lv/up:1") -> bytes:
    return write_archive(folder, tag, [synth.layer([file("app/run", b"go")])]).read_bytes()


@pytest.fixture(autouse=True)
def _english_again(settings):
    """Requests activate the language they ask for; leave the thread as the next test expects."""
    yield
    translation.activate(settings.LANGUAGE_CODE)


# --- references written with a transport, as the README and the command write them ---------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("ticked", "typed", "source"),
    [
        (
            "registry",
            "docker://127.0.0.1:5000/team/app:1.0",
            "docker://127.0.0.1:5000/team/app:1.0",
        ),
        ("engine", "docker://localhost:5000/repo:tag", "docker://localhost:5000/repo:tag"),
        ("registry", "docker-daemon:myapp:latest", "docker-daemon:myapp:latest"),
        ("engine", "docker-daemon://myapp:latest", "docker-daemon:myapp:latest"),
        ("registry", "  docker://python:3.12-slim  ", "docker://python:3.12-slim"),
    ],
)
def test_a_reference_with_a_transport_in_front_is_read_from_that_source(
    client: Client, ticked, typed, source
):
    response = client.post(ADD, {"kind": ticked, "reference": typed})

    assert response.status_code == 302, _errors(response)
    assert IngestJob.objects.get().source == source


@pytest.mark.django_db
def test_a_docker_image_with_a_tag_is_a_name_not_a_transport(client: Client):
    client.post(ADD, {"kind": "registry", "reference": "docker:24-dind"})

    assert IngestJob.objects.get().source == "docker://docker:24-dind"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "typed",
    ["docker-archive:/etc/passwd", "oci-archive:/srv/app.tar:lv/app:1.0", "oci:/srv/layout"],
)
def test_a_transport_that_reads_a_server_path_is_refused_saying_what_to_do_instead(
    client: Client, typed
):
    response = client.post(ADD, {"kind": "registry", "reference": typed})

    assert response.status_code == 422
    transport = typed.partition(":")[0]
    [error] = _errors(response)
    assert error.startswith(f"{transport}: reads a file on the server")
    assert "Upload an archive" in error and "manage.py ingest" in error
    assert IngestJob.objects.count() == 0
    zh = _errors(client.post(ADD, {"kind": "registry", "reference": typed}, **ZH))
    assert zh == [
        f"{transport}: 读取的是服务器上的文件，网页表单不会这样做。"
        "请选择“上传归档文件”从你的电脑发送，或在服务器上运行 manage.py ingest。"
    ]


@pytest.mark.django_db
def test_a_transport_with_nothing_after_it_asks_for_the_image(client: Client):
    response = client.post(ADD, {"kind": "engine", "reference": "docker-daemon:"})

    assert _errors(response) == ["Give the image to read, for example python:3.12-slim."]


@pytest.mark.django_db
def test_a_reference_that_does_not_parse_is_framed_in_the_pages_language_detail_kept(
    client: Client,
):
    english = _errors(client.post(ADD, {"kind": "registry", "reference": "docker://Not A Ref!"}))
    chinese = _errors(
        client.post(ADD, {"kind": "registry", "reference": "docker://Not A Ref!"}, **ZH)
    )

    with pytest.raises(ValueError) as detail:
        refs.parse("Not A Ref!")
    assert english == [f"Not an image name: {detail.value}"]
    assert chinese == [f"不是有效的镜像名称：{detail.value}"]


# --- the source chosen is kept ------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("headers", [{}, HTMX], ids=["without JavaScript", "with htmx"])
def test_a_refused_submit_comes_back_with_the_source_that_was_chosen(client: Client, headers):
    for kind in ("engine", "upload"):
        response = client.post(ADD, {"kind": kind, "reference": ""}, **headers)
        assert _errors(response), kind
        assert _ticked(response) == [kind]


@pytest.mark.django_db
def test_without_javascript_the_job_page_leads_back_to_the_form_with_the_same_source(
    client: Client, tmp_path
):
    upload = SimpleUploadedFile("up.tar", _archive(tmp_path))
    job_page = client.post(ADD, {"kind": "upload", "archive": upload}, follow=True)

    back = soup(job_page).find("a", string=lambda s: s and "All images" in s)
    assert back["href"] == f"{IMAGES}?kind=upload"
    assert _ticked(client.get(back["href"])) == ["upload"]
    client.post(ADD, {"kind": "engine", "reference": "myapp:1"})
    engine_job = IngestJob.objects.get(source="docker-daemon:myapp:1")
    back = soup(client.get(reverse("explorer:job", args=[engine_job.pk]))).select_one("p a")
    assert back["href"] == f"{IMAGES}?kind=engine"


@pytest.mark.django_db
def test_the_images_page_ticks_the_registry_unless_the_url_names_a_known_source(client: Client):
    assert _ticked(client.get(IMAGES)) == ["registry"]
    assert _ticked(client.get(IMAGES, {"kind": "engine"})) == ["engine"]
    assert _ticked(client.get(IMAGES, {"kind": "<script>"})) == ["registry"]


# --- a name for an upload -----------------------------------------------------------------


@pytest.mark.django_db
def test_the_form_offers_a_name_for_the_image_whichever_the_source(client: Client):
    field = soup(client.get(IMAGES)).select_one("#add-form input[name=tag]")

    assert field["placeholder"] == "myapp:1.0"
    assert field.find_parent(attrs={"data-kinds": True}) is None  # shown for every source


@pytest.mark.django_db
def test_a_name_that_is_not_an_image_name_is_refused_before_anything_is_uploaded(
    client: Client, tmp_path
):
    upload = SimpleUploadedFile("up.tar", _archive(tmp_path))

    response = client.post(ADD, {"kind": "upload", "archive": upload, "tag": "My App"}, **ZH)

    assert response.status_code == 422
    with pytest.raises(ValueError) as detail:
        refs.parse("My App")
    assert _errors(response) == [f"不是有效的镜像名称：{detail.value}"]
    assert IngestJob.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_an_upload_given_a_name_is_indexed_under_it_beside_its_own(client: Client, tmp_path):
    upload = SimpleUploadedFile("up.tar", _archive(tmp_path, "lv/up:1"))

    client.post(ADD, {"kind": "upload", "archive": upload, "tag": "myapp:1.0"}, **HTMX)
    processes.run_worker()

    image = Image.objects.get()
    assert sorted(image.names) == ["lv/up:1", "myapp:1.0"]
    assert image.source == "upload:up.tar"


# --- the jobs the page lists ----------------------------------------------------------------


def _jobs(response) -> list[dict]:
    return [
        {
            "source": job.select_one(".job-source").get_text(strip=True),
            "state": job.select_one(".state").get_text(strip=True),
            "open": [a["href"] for a in job.select("a.go")],
            "error": job.select_one(".error").get_text(" ", strip=True)
            if job.select_one(".error")
            else "",
            "polls": job.get("hx-trigger"),
        }
        for job in soup(response).select("#jobs .job")
    ]


@pytest.mark.django_db(transaction=True)
def test_the_images_page_lists_recent_jobs_newest_first_as_they_ended_after_a_reload(
    client: Client, tmp_path
):
    good = write_archive(tmp_path, "lv/good:1", [synth.layer([file("a", b"a")])])
    broken = tmp_path / "broken.tar"
    broken.write_bytes(good.read_bytes()[:-2000])
    done = enqueue(IngestRequest(f"docker-archive:{good}"))
    failed = enqueue(IngestRequest(f"docker-archive:{broken}"))
    processes.run_worker()
    waiting = enqueue(IngestRequest("docker://127.0.0.1:9/lv/later:1"))

    listed = _jobs(client.get(IMAGES))

    image = Image.objects.get()
    assert [job["source"] for job in listed] == [waiting.source, failed.source, done.source]
    assert [job["state"] for job in listed] == ["waiting for a worker", "failed", "done"]
    assert listed[0]["polls"] == "every 1s"  # still waiting: it keeps asking
    assert listed[1]["polls"] is None and listed[2]["polls"] is None
    assert listed[2]["open"] == [reverse("explorer:image", args=[image.digest])]
    failed.refresh_from_db()
    assert listed[1]["error"] == f"The ingest failed: {failed.error}"
    assert soup(client.get(IMAGES)).select_one("#jobs-title").get_text() == "Recent ingests"


@pytest.mark.django_db
def test_the_list_keeps_a_days_jobs_and_every_unfinished_one_at_most_ten(client: Client):
    old = timezone.now() - dt.timedelta(days=2)
    stale_done = IngestJob.objects.create(source="docker://a/old-done", state=JobState.DONE)
    long_running = IngestJob.objects.create(source="docker://a/long", state=JobState.QUEUED)
    IngestJob.objects.filter(pk__in=[stale_done.pk, long_running.pk]).update(created_at=old)
    for i in range(12):
        IngestJob.objects.create(source=f"docker://a/n{i}", state=JobState.FAILED, error="x")

    listed = [job["source"] for job in _jobs(client.get(IMAGES))]

    assert listed == [f"docker://a/n{i}" for i in range(11, 1, -1)]
    IngestJob.objects.filter(source__startswith="docker://a/n").delete()
    assert [job["source"] for job in _jobs(client.get(IMAGES))] == ["docker://a/long"]


@pytest.mark.django_db
def test_a_done_job_whose_image_was_deleted_since_says_so(client: Client, tmp_path):
    [image] = IngestRequest(
        f"docker-archive:{write_archive(tmp_path, 'lv/gone:1', [synth.layer([])])}"
    ).run()
    job = IngestJob.objects.create(source="docker://lv/gone:1", state=JobState.DONE)
    job.images.set([image])
    deletion.delete_image(image)

    fragment = _page(client.get(reverse("explorer:job", args=[job.pk]), **HTMX))

    assert fragment.select("a.go") == []
    assert fragment.select_one(".hint").get_text(strip=True) == "Its image has been deleted since."


@pytest.mark.django_db
def test_a_failed_jobs_frame_is_in_chinese_and_its_error_kept_as_the_worker_wrote_it(
    client: Client,
):
    error = "layer 2/3 sha256:ab12: tar entry 'x' is truncated (512 bytes missing)"
    job = IngestJob.objects.create(source="docker://x", state=JobState.FAILED, error=error)
    url = reverse("explorer:job", args=[job.pk])

    chinese = _page(client.get(url, **ZH)).select_one(".job .error")
    english = _page(client.get(url)).select_one(".job .error")

    assert chinese.get_text(" ", strip=True) == f"导入失败： {error}"
    assert chinese.select_one(".detail").get_text() == error
    assert chinese.select_one(".detail")["lang"] == "en"
    assert english.get_text(" ", strip=True) == f"The ingest failed: {error}"
