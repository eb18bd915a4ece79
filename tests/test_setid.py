"""The setuid and setgid files a reviewer looks for: found in the final filesystem once, at
analysis, listed on the efficiency page and in ``/api/images/REF/setid``."""

from __future__ import annotations

import pytest
from django.urls import reverse

from layerviz.lib import synth
from layerviz.lib.tarwriter import directory, file, whiteout

from .helpers import ingest_image, soup

pytestmark = pytest.mark.django_db

ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-CN"}


@pytest.fixture
def image(tmp_path):
    tool = b"\x7fELF" + b"t" * 500
    return ingest_image(
        tmp_path,
        "lv/setid:1",
        [
            synth.layer(
                [
                    file("usr/bin/passwd", b"p" * 900, mode=0o4755),
                    file("usr/bin/wall", b"w" * 300, mode=0o2755, gid=5),
                    file("bin/su", b"s" * 700, mode=0o4755),
                    file("usr/bin/ls", b"l" * 800, mode=0o755),
                    directory("tmp", mode=0o1777),
                ]
            ),
            synth.layer([whiteout("bin/su"), file("usr/local/bin/tool", tool, mode=0o755)]),
            synth.layer([file("usr/local/bin/tool", tool, mode=0o4755)]),  # chmod u+s
        ],
    )


def test_the_setuid_and_setgid_files_of_the_final_filesystem_are_listed_with_their_layer(
    client, image
):
    answer = client.get("/api/images/lv/setid:1/setid").json()
    assert [(f["path"], f["mode_string"], f["layer"]) for f in answer["files"]] == [
        ("usr/bin/passwd", "-rwsr-xr-x", 1),
        ("usr/bin/wall", "-rwxr-sr-x", 1),
        ("usr/local/bin/tool", "-rwsr-xr-x", 3),  # made setuid by the layer on top
    ]
    # A deleted one is gone, a sticky directory is not a privileged file.
    assert answer["files"][1]["gid"] == 5 and answer["files"][0]["size"] == 900


def test_the_efficiency_page_lists_them_linked_to_their_history_and_layer(client, image):
    page = soup(client.get(reverse("explorer:efficiency", args=[image.digest])))
    rows = page.select("table.privileged tbody tr")
    assert [row.select_one("code").get_text() for row in rows] == [
        "-rwsr-xr-x",
        "-rwxr-sr-x",
        "-rwsr-xr-x",
    ]
    first = rows[0].select("a")
    assert first[0]["href"].endswith("file?path=usr/bin/passwd")
    assert first[1]["href"].endswith("?layer=0&mode=layer")


def test_an_image_without_any_says_so_in_chinese_too(client, tmp_path):
    plain = ingest_image(tmp_path, "lv/plain:1", [synth.layer([file("bin/sh", b"x", mode=0o755)])])
    page = soup(client.get(reverse("explorer:efficiency", args=[plain.digest]), **ZH))
    heading = page.select_one("#privileged").get_text()
    assert "setuid" in heading and "0" in heading
    assert page.select("table.privileged") == []
