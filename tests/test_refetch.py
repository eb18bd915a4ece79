"""A layer whose bytes were not kept is fetched again from the registry the image came from,
pinned to the image's digest, from a button on the file page (``images/refetch.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from django.test import Client, override_settings

from layerviz.images.ingest import ingest
from layerviz.images.models import Blob, Image, IngestJob
from layerviz.lib import synth

from . import processes
from .helpers import ingest_image
from .registries import Registry

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.registry]

BASE = synth.layer([synth.file("etc/os-release", b"ID=layerviz\n")])
APP = synth.layer([synth.file("app/main.py", b"print('fetched again')\n")])


def _push(registry: Registry, tmp: Path, name: str, layers: list[bytes]) -> synth.BuiltImage:
    image = synth.Image(layers, tags=["1.0"], compression="gzip")
    archive = synth.write_oci_layout(tmp / f"{name.replace('/', '-')}.tar", [image], as_tar=True)
    registry.push(f"oci-archive:{archive}:1.0", f"{name}:1.0")
    return image.build()


def _file_page(image: Image, path: str) -> BeautifulSoup:
    response = Client().get(f"/images/{image.digest}/file", {"path": path})
    return BeautifulSoup(response.content, "html.parser")


def _content(image: Image, path: str):
    return Client().get(f"/api/images/{image.digest}/content", {"path": path})


def test_the_missing_layers_are_fetched_again_from_the_registry_pinned_to_the_images_digest(
    open_registry: Registry, tmp_path: Path
):
    name = "lv/refetch-app"
    built = _push(open_registry, tmp_path, name, [BASE, APP])
    with override_settings(LAYERVIZ_BLOB_BUDGET=0):
        [image] = ingest(f"docker://{open_registry.host}/{name}:1.0")
        # With no budget there is nowhere to keep them: nothing is offered.
        assert _file_page(image, "app/main.py").select_one("#content form.refetch") is None
        assert "refetch" not in _content(image, "app/main.py").json()
    assert image.digest == built.manifest.digest
    assert _content(image, "app/main.py").status_code == 409
    # The tag moves on to an image without the app layer: the fetch must not follow it.
    _push(open_registry, tmp_path, name, [BASE])

    form = _file_page(image, "app/main.py").select_one("#content form.refetch")
    assert form is not None and form["method"] == "post"
    pinned = f"docker://{open_registry.host}/{name}@{image.digest}"
    assert pinned in form.get_text(" ")
    diff = Client().get(f"/images/{image.digest}/diff", {"path": "app/main.py", "from": 1})
    offered = BeautifulSoup(diff.content, "html.parser").select_one("form.refetch")
    assert offered is not None and offered["action"] == form["action"]
    assert _content(image, "app/main.py").json()["refetch"] == {
        "source": pinned,
        "form": form["action"],
    }
    client = Client()
    answer = client.post(form["action"])
    assert answer.status_code == 302
    job = IngestJob.objects.get()
    assert answer["Location"] == f"/jobs/{job.pk}"
    assert job.source == pinned
    # Asked twice before a worker takes it: the one job, not two.
    assert client.post(form["action"])["Location"] == f"/jobs/{job.pk}"
    assert IngestJob.objects.count() == 1

    processes.run_worker()

    job.refresh_from_db()
    assert job.state == "done", job.error
    assert list(job.images.all()) == [image]
    assert b"".join(_content(image, "app/main.py").streaming_content) == (
        b"print('fetched again')\n"
    )
    assert Blob.objects.filter(kept=True, layer__image_layers__image=image).count() == 2
    assert _file_page(image, "app/main.py").select_one("#content form.refetch") is None


def test_an_image_that_came_from_elsewhere_is_offered_nothing_and_a_forged_post_is_refused(
    tmp_path: Path, settings
):
    with override_settings(LAYERVIZ_BLOB_BUDGET=0):
        image = ingest_image(tmp_path, "lv/refetch-upload:1", [BASE])
    page = _file_page(image, "etc/os-release")
    assert "Ingest the image again" in page.select_one("#content .error").get_text()
    assert page.select_one("#content form.refetch") is None

    answer = Client().post(f"/images/{image.digest}/refetch")
    assert answer.status_code == 400
    assert "did not come from a registry" in answer.content.decode()
    assert not IngestJob.objects.exists()
    assert Client().get(f"/images/{image.digest}/refetch").status_code == 405
    # Fetching is writing: where writing needs a login, so does this.
    settings.LAYERVIZ_REQUIRE_LOGIN_TO_WRITE = True
    answer = Client().post(f"/images/{image.digest}/refetch")
    assert answer.status_code == 302 and answer["Location"].startswith("/login")
