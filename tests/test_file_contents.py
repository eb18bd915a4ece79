"""Any file's content: kept layer blobs, the version a read meets as of a layer (links
followed), the checks against the index, the page's views, the raw API and diffs."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
from django.test import Client, override_settings

from layerviz.images import contents, deletion
from layerviz.images.ingest import ingest
from layerviz.images.models import Blob, Image
from layerviz.lib import synth
from layerviz.lib.tarwriter import directory, file, hardlink, symlink, whiteout
from layerviz.packages.models import CapturedFile

from .helpers import HTMX, ingest_image, soup, write_archive

pytestmark = pytest.mark.django_db

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c63f8cf00000301010018dd8db40000000049454e44ae426082"
)
HTML = b"<html><script>alert(1)</script><p>hi</p></html>\n"


def _layers() -> list[bytes]:
    elf = Path(shutil.which("true") or "/bin/true").read_bytes()
    return [
        synth.layer(
            [
                file("etc/motd", b"first\n"),
                directory("usr/lib"),
                symlink("lib", "usr/lib"),
                file("usr/lib/libx.so", b"library v1\n"),
                file("app/index.html", HTML),
                file("app/logo.png", PNG),
                file("bin/true", elf, mode=0o755),
                file("var/lib/dpkg/status", b"Package: base-files\nVersion: 12\n\n"),
            ]
        ),
        synth.layer(
            [
                file("etc/motd", b"second\nline two\n"),
                symlink("etc/motd.link", "motd"),
                hardlink("etc/motd.hard", "etc/motd"),
                whiteout("app/logo.png"),
                file("app/main.py", b"def main():\n    return 1  # one\n" * 3000),
            ]
        ),
    ]


@pytest.fixture(params=["none", "gzip"])
def image(request, tmp_path) -> Image:
    """A base and a layer that rewrites, links, deletes and adds; its blobs plain (as
    ``docker save`` writes them) or gzip (as a registry serves them)."""
    return ingest_image(tmp_path, "lv/contents:1", _layers(), compression=request.param)


def _content(client: Client, image: Image, path: str, layer: int | None = None):
    query = f"?path={path}" + (f"&layer={layer}" if layer else "")
    return _read(client.get(f"/api/images/{image.digest}/content{query}"))


def _read(answer):
    """The body of an answer, a file's (streamed) or an error's."""
    answer.body = b"".join(answer.streaming_content) if answer.streaming else answer.content
    return answer


def test_the_content_api_gives_the_bytes_of_the_file_as_of_each_layer(image):
    client = Client()
    assert _content(client, image, "/etc/motd").body == b"second\nline two\n"
    old = _content(client, image, "/etc/motd", layer=1)
    assert old.status_code == 200 and old.body == b"first\n"
    assert old["Content-Disposition"].startswith("attachment")
    assert old["X-Content-Type-Options"] == "nosniff"
    assert old["X-Layerviz-Sha256"] == hashlib.sha256(b"first\n").hexdigest()


def test_symbolic_and_hard_links_are_followed_within_the_image(image):
    client = Client()
    assert _content(client, image, "etc/motd.link").body == b"second\nline two\n"
    assert _content(client, image, "etc/motd.hard").body == b"second\nline two\n"
    # /lib is a link to /usr/lib: a path through it reads the file below it.
    assert _content(client, image, "lib/libx.so").body == b"library v1\n"


def test_a_file_that_is_absent_or_not_regular_answers_404_in_json(image):
    client = Client()
    gone = _content(client, image, "app/logo.png")
    assert gone.status_code == 404 and "not in the filesystem as of layer 2" in gone.json()["error"]
    assert _content(client, image, "app/logo.png", layer=1).body == PNG
    folder = _content(client, image, "usr/lib")
    assert folder.status_code == 404 and "directory" in folder.json()["error"]
    assert _content(client, image, "etc/motd", layer=7).status_code == 400
    assert client.get(f"/api/images/{image.digest}/content").status_code == 400


def test_bytes_that_no_longer_match_the_index_are_never_served(image):
    blob = Blob.objects.get(layer=image.layers_in_order()[0].layer)
    path = contents.store().path(blob.digest)
    if blob.compression == "none":
        data = bytearray(path.read_bytes())
        at = data.index(b"first\n")
        data[at : at + 5] = b"FIRST"
        path.write_bytes(bytes(data))
    else:
        path.write_bytes(path.read_bytes()[:40])
    answer = _content(Client(), image, "etc/motd", layer=1)
    assert answer.status_code == 409
    assert b"FIRST" not in answer.body
    page = soup(Client().get(f"/images/{image.digest}/file?path=etc/motd&layer=1"))
    assert page.select_one("#content .error")


def test_a_layer_whose_blob_was_not_kept_says_so_and_how_to_get_it(tmp_path):
    with override_settings(LAYERVIZ_BLOB_BUDGET=0):
        image = ingest_image(tmp_path, "lv/unkept:1", _layers()[:1])
    assert not Blob.objects.filter(kept=True, layer__image_layers__image=image).exists()
    answer = _content(Client(), image, "etc/motd")
    assert answer.status_code == 409
    assert "LAYERVIZ_BLOB_BUDGET" in answer.json()["error"]
    assert "Ingest the image again" in answer.json()["error"]


def test_ingesting_an_image_again_keeps_the_bytes_it_was_indexed_without(tmp_path):
    archive = write_archive(tmp_path, "lv/again:1", _layers())
    with override_settings(LAYERVIZ_BLOB_BUDGET=0):
        [image] = ingest(f"docker-archive:{archive}")
    assert _content(Client(), image, "etc/motd").status_code == 409
    [again] = ingest(f"docker-archive:{archive}")
    assert again.pk == image.pk
    assert _content(Client(), image, "etc/motd").body == b"second\nline two\n"


def test_a_blob_that_would_pass_the_budget_is_not_kept(tmp_path):
    first = ingest_image(tmp_path, "lv/a:1", _layers()[:1])
    used = contents.kept_bytes()
    assert used > 0
    with override_settings(LAYERVIZ_BLOB_BUDGET=used + 10):
        second = ingest_image(tmp_path, "lv/b:1", [synth.layer([file("x", b"y" * 5000)])])
    assert _content(Client(), first, "etc/motd").status_code == 200
    assert _content(Client(), second, "x").status_code == 409
    assert list(contents.store().root.joinpath("tmp").iterdir()) == []


def test_deleting_an_image_removes_its_kept_blobs(tmp_path, django_capture_on_commit_callbacks):
    image = ingest_image(tmp_path, "lv/gone:1", _layers()[:1])
    digests = list(Blob.objects.filter(kept=True).values_list("digest", flat=True))
    assert digests and all(contents.store().has(d) for d in digests)
    with django_capture_on_commit_callbacks(execute=True):
        deletion.delete_image(image)
    assert not any(contents.store().has(d) for d in digests)


def test_layers_read_by_worker_processes_are_kept_too(tmp_path):
    with override_settings(LAYERVIZ_PARALLEL_READ_BYTES=0):
        image = ingest_image(tmp_path, "lv/workers:1", _layers())
    assert Blob.objects.filter(kept=True, layer__image_layers__image=image).count() == 2
    assert _content(Client(), image, "etc/motd", layer=1).body == b"first\n"


def test_package_database_files_are_copied_as_the_layer_is_read(image):
    base = image.layers_in_order()[0].layer
    captured = CapturedFile.objects.get(layer=base, path="var/lib/dpkg/status")
    assert bytes(captured.data).startswith(b"Package: base-files")
    assert not CapturedFile.objects.filter(path="etc/motd").exists()


# --- the page ---------------------------------------------------------------------------------


def test_the_file_page_shows_text_highlighted_with_numbered_lines_and_pages(image):
    page = soup(Client().get(f"/images/{image.digest}/file?path=app/main.py"))
    code = page.select_one("#content .code-view")
    assert code.select_one(".hl") and code.select_one("a[href='#L-1000']")
    assert "def" in code.get_text()
    assert "Page 1 of 6" in page.select_one("#content .pager").get_text(" ", strip=True)
    second = soup(Client().get(f"/images/{image.digest}/file?path=app/main.py&view=text&page=2"))
    assert second.select_one("#content a[href='#L-1001']")


def test_html_in_an_image_is_shown_as_its_source_never_as_markup(image):
    page = soup(Client().get(f"/images/{image.digest}/file?path=app/index.html"))
    code = page.select_one("#content .code-view")
    assert "<script>alert(1)</script>" in code.get_text()
    assert code.find("script") is None


def test_a_raster_image_is_shown_as_an_image_under_a_strict_policy(image):
    client = Client()
    page = soup(client.get(f"/images/{image.digest}/file?path=app/logo.png&layer=1"))
    img = page.select_one("#content img.file-image")
    answer = _read(client.get(img["src"]))
    assert answer.status_code == 200 and answer["Content-Type"] == "image/png"
    assert "sandbox" in answer["Content-Security-Policy"]
    assert answer["X-Content-Type-Options"] == "nosniff"
    html = _read(client.get(f"/images/{image.digest}/raw?path=app/index.html&inline=1"))
    assert html["Content-Type"] == "application/octet-stream"
    assert html["Content-Disposition"].startswith("attachment")


def test_an_elf_binary_gets_a_summary_of_its_headers(image):
    page = soup(Client().get(f"/images/{image.digest}/file?path=bin/true"))
    summary = page.select_one("#content dl.elf").get_text(" ", strip=True)
    assert "ELF64" in summary or "ELF32" in summary
    assert "libc.so.6" in summary
    assert "ld-linux" in summary


def test_a_binary_file_is_shown_as_hex(image):
    page = soup(Client().get(f"/images/{image.digest}/file?path=bin/true&view=hex"))
    first = page.select_one("#content table.hex tbody tr")
    assert first.th.get_text() == "00000000"
    assert first.td.get_text().startswith("7f 45 4c 46")


def test_the_history_opens_each_version_and_diffs_it_with_the_one_before(image):
    page = soup(Client().get(f"/images/{image.digest}/file?path=etc/motd"))
    links = [a["href"] for a in page.select("table.history td.open a")]
    assert "?path=etc/motd&layer=1#content" in links
    diff = next(href for href in links if "/diff?" in href)
    unified = soup(Client().get(diff))
    lines = [s.get_text() for s in unified.select("pre.diff span.del, pre.diff span.add")]
    assert lines == ["-first", "+second", "+line two"]


def test_an_htmx_request_for_the_content_gets_only_that_part(image):
    answer = Client().get(
        f"/images/{image.digest}/file?path=etc/motd&layer=1",
        **HTMX,
        HTTP_HX_TARGET="content",
    )
    assert answer.status_code == 200
    assert b"<html" not in answer.content and b'id="content"' in answer.content


def test_two_images_can_be_diffed_side_by_side(tmp_path, image):
    other = ingest_image(
        tmp_path, "lv/contents:2", [synth.layer([file("etc/motd", b"second\nline 2\n")])]
    )
    page = soup(
        Client().get(f"/images/{image.digest}/diff?path=etc/motd&b={other.digest}&view=split")
    )
    rows = page.select("table.diff.split tbody tr")
    changed = [r for r in rows if "replace" in r.get("class", [])]
    assert [r.select_one("td.l").get_text() for r in changed] == ["line two"]
    assert [r.select_one("td.r").get_text() for r in changed] == ["line 2"]


def test_a_diff_of_a_binary_file_says_to_compare_downloads(image):
    page = soup(Client().get(f"/images/{image.digest}/diff?path=bin/true&from=1&to=2"))
    assert "not text" in page.select_one(".error").get_text()


def test_the_blobs_command_reports_the_store_and_prunes_what_nothing_names(tmp_path):
    from io import StringIO

    from django.core.management import call_command

    # A store of its own: the other tests' rows are rolled back, their files stay.
    with override_settings(LAYERVIZ_BLOB_ROOT=tmp_path / "blobs"):
        ingest_image(tmp_path, "lv/report:1", _layers()[:1])
        stray = contents.store().path("sha256:" + "ab" * 32)
        stray.parent.mkdir(parents=True, exist_ok=True)
        stray.write_bytes(b"left by a crash")
        out = StringIO()
        call_command("blobs", stdout=out)
        assert "1 blobs kept" in out.getvalue() and "1 stray files" in out.getvalue()
        call_command("blobs", "--prune", stdout=StringIO())
        assert not stray.exists()
        assert contents.store().has(Blob.objects.get(kept=True).digest)
