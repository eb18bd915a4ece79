"""Hostile text and numbers from images and requests: stored exactly, shown escaped, refused
with a 400 that says why, never a 500, the same on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from layerviz.images import sharing
from layerviz.images.models import HistoryStep, Image
from layerviz.lib import stored_text, synth, tarwriter
from layerviz.lib.errors import FormatError
from layerviz.lib.tarwriter import file

from .helpers import ingest_image, soup

pytestmark = pytest.mark.django_db

NUL_ENV = "GREETING=hello\x00world"
NUL_STEP = "RUN echo a\\b \x00 done"


@pytest.fixture
def nul_image(tmp_path) -> Image:
    return ingest_image(
        tmp_path,
        "lv/nul:1",
        [synth.layer([file("a", b"1")])],
        [synth.Step(NUL_STEP, comment="by \x00 hand \ud800")],
        env=[NUL_ENV],
        labels={"k\x00ey": "va\x00lue", "back\\slash": "\\x00 is not NUL"},
    )


def test_an_image_whose_config_and_history_hold_nul_is_indexed_and_read_back_exactly(nul_image):
    image = Image.objects.get(pk=nul_image.pk)
    step = HistoryStep.objects.get(image=image)

    assert NUL_ENV in image.config["Env"]
    assert image.config["Labels"] == {"k\x00ey": "va\x00lue", "back\\slash": "\\x00 is not NUL"}
    assert (step.created_by, step.comment) == (NUL_STEP, "by \x00 hand \ud800")


def test_nul_in_a_config_is_shown_escaped_on_the_image_page(client, nul_image):
    page = soup(client.get(f"/images/{nul_image.digest}/"))

    text = page.get_text()
    assert "\x00" not in text
    assert "echo a\\b \\x00 done" in text


@pytest.mark.parametrize(
    "text",
    ["", "plain", "\\", "\\x00", "\x00", "a\\\\b\x00c\ud800\udfff", "\\u0041", "é\U0001f600"],
)
def test_the_stored_form_of_image_text_has_no_nul_nor_surrogate_and_reads_back_the_same(text):
    stored = stored_text.escape(text)

    assert stored_text.unescape(stored) == text
    assert "\x00" not in stored
    assert not any(0xD800 <= ord(c) <= 0xDFFF for c in stored)


@pytest.mark.parametrize(
    "url",
    [
        "/?q=%00",
        "/store?q=%00",
        "/store?%00=1",
        "/compare?a=%00&b=x",
        "/api/compare?a=x%00&b=y",
        "/api/store?q=%00",
        "/images/%00/",
        "/images/sha256:%00/tree",
        "/find?q=%00",
    ],
)
def test_a_request_holding_nul_is_refused_with_a_400_that_says_so(client, url):
    response = client.get(url)

    assert response.status_code == 400
    assert "NUL" in response.content.decode()


@pytest.mark.parametrize(
    "query",
    ["?q=%00", "?path=%00", "?layer=%00", "?kind=%00"],
)
def test_nul_in_an_image_page_parameter_is_refused_too(client, nul_image, query):
    for page in ("", "tree", "file", "efficiency"):
        response = client.get(f"/images/{nul_image.digest}/{page}{query}")
        assert response.status_code == 400, (page, query)


def test_a_cookie_holding_nul_is_refused_before_the_session_is_looked_up(client):
    client.cookies["sessionid"] = "abcdefgh\x00ijkl"

    assert client.get("/").status_code == 400


@pytest.mark.parametrize(
    "query",
    [
        "offset=99999999999999999999",
        "offset=-5",
        "offset=1" + "0" * 5000,
        "layer=99999999999999999999",
        "layer=-99999999999999999999",
        "layer=abc",
        "page=99999999999999999999",
    ],
)
def test_out_of_range_numbers_in_parameters_are_clamped_not_errors(client, tmp_path, query):
    image = ingest_image(tmp_path, "lv/n:1", [synth.layer([file(f"f{i}", b"x") for i in range(3)])])

    for page in ("", "tree", "efficiency"):
        response = client.get(f"/images/{image.digest}/{page}?{query}")
        assert response.status_code == 200, (page, query, response.status_code)


def test_a_platform_name_that_is_no_platform_is_refused_before_anything_is_stored(tmp_path):
    with pytest.raises(FormatError, match="os 'lin\\\\x00ux'"):
        ingest_image(tmp_path, "lv/p:1", [synth.layer([file("a", b"1")])], os="lin\x00ux")
    with pytest.raises(FormatError, match="at most 40"):
        ingest_image(tmp_path, "lv/p:2", [synth.layer([file("a", b"1")])], architecture="a" * 41)

    assert not Image.objects.exists()


def _huge_layer() -> bytes:
    # A sparse file whose apparent size is the most one layer may claim (lib/layer.py keeps an
    # image's sum below 2**63): 2**55 - 1 bytes, written as a few hundred bytes.
    real = ((1 << 63) - 1) // 256
    sparse = tarwriter.pax_header(
        {
            "GNU.sparse.major": b"1",
            "GNU.sparse.minor": b"0",
            "GNU.sparse.name": b"huge",
            "GNU.sparse.realsize": str(real).encode(),
        }
    )
    return sparse + tarwriter.header(b"GNUSparseFile.0/huge", size=0) + tarwriter.END_OF_ARCHIVE


def test_store_totals_past_two_to_the_63_stay_exact(client, tmp_path):
    huge = _huge_layer()
    # Two images, each listing the same huge layer 200 times: each sum fits in 64 bits, the
    # store's does not.
    for n in (1, 2):
        ingest_image(tmp_path, f"lv/huge{n}:1", [huge] * 200 + [synth.layer([file(f"{n}", b"1")])])
    per_layer = ((1 << 63) - 1) // 256

    totals = sharing.totals()

    assert totals.logical_bytes >= 2 * 200 * per_layer > (1 << 63)
    assert totals.logical_bytes == sum(image.size for image in Image.objects.all())
    for url in ("/store", "/api/store", "/"):
        assert client.get(url).status_code == 200, url
    assert client.get("/api/store").json()["logical_bytes"] == totals.logical_bytes


def test_an_image_with_no_layers_is_shown_and_compared_without_errors(client, tmp_path):
    empty = ingest_image(tmp_path, "lv/empty:1", [], [synth.Step("CMD x", empty_layer=True)])
    other = ingest_image(tmp_path, "lv/other:1", [synth.layer([file("a", b"1")])])
    pairs = [(empty, other), (other, empty), (empty, empty)]

    for a, b in pairs:
        query = f"a={a.digest}&b={b.digest}"
        for url in (f"/compare?{query}", f"/compare/tree?{query}", f"/api/compare?{query}"):
            assert client.get(url).status_code == 200, url
    for page in ("", "efficiency", "file?path=a"):
        assert client.get(f"/images/{empty.digest}/{page}").status_code == 200, page
    assert client.get(f"/images/{empty.digest}/tree").status_code == 404  # nothing to list
    assert client.get("/store").status_code == 200
