"""Every page and fragment reachable from the front page of a store of hostile images answers
without a server error, and no hostile name becomes markup. Run on both databases (the README
test command runs the suite on SQLite and PostgreSQL)."""

from __future__ import annotations

import re
from collections import Counter, deque
from urllib.parse import urljoin, urlsplit

import pytest
from bs4 import BeautifulSoup

from layerviz.lib import synth, tarwriter
from layerviz.lib.tarwriter import directory, file, opaque, symlink, whiteout

from . import builder
from .helpers import HTMX, ingest_image

pytestmark = pytest.mark.django_db

INJECTION = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'
ESCAPES = "\x1b[31mred\x1b[0m\u202eevil"
MAX_PAGES = 1500
PER_SHAPE = 4  # pages of one shape (view and parameter names) worth fetching: a few per image


@pytest.fixture
def hostile_store(tmp_path):
    ingest_image(
        tmp_path,
        "lv/names:1",
        [
            synth.layer(
                [
                    file(f"{INJECTION}/a.txt", b"1"),
                    file(f"x/{ESCAPES}", b"22"),
                    file("dir with spaces/&amp;.txt", b"3"),
                    symlink("link", INJECTION),
                ]
            ),
            builder.non_utf8_layer(),
            synth.layer([whiteout(f"{INJECTION}/a.txt"), opaque("x"), directory("x")]),
        ],
        [
            synth.Step(f"RUN echo {INJECTION} {ESCAPES} \x00 nul"),
            synth.Step("RUN x"),
            synth.Step("RUN y"),
        ],
        env=[f"V={INJECTION}\x00"],
        labels={INJECTION: ESCAPES},
    )
    ingest_image(tmp_path, "lv/empty:1", [], [synth.Step("CMD x", empty_layer=True)])
    base = synth.layer([file("etc/os-release", b"debian")])
    ingest_image(tmp_path, "lv/base:1", [base])
    ingest_image(tmp_path, "lv/child:1", [base, synth.layer([file("app/main.py", b"print()")])])
    ingest_image(
        tmp_path, "lv/dupes:1", [builder.duplicate_paths_layer(), *builder.opaque_layers()]
    )
    huge = tarwriter.pax_header(
        {"GNU.sparse.major": b"1", "GNU.sparse.minor": b"0", "GNU.sparse.name": b"huge",
         "GNU.sparse.realsize": str(((1 << 63) - 1) // 256).encode()}
    ) + tarwriter.header(b"GNUSparseFile.0/huge", size=0) + tarwriter.END_OF_ARCHIVE  # fmt: skip
    for n in (1, 2):
        ingest_image(tmp_path, f"lv/huge{n}:1", [huge] * 100 + [synth.layer([file(f"{n}", b"")])])


def _links(html: str, base: str) -> list[tuple[str, bool]]:
    """(url, as htmx) of every link, hx-get and GET form of a page, on this site."""
    page = BeautifulSoup(html, "html.parser")
    found = []
    for tag in page.find_all(href=True):
        found.append((tag["href"], False))
    for tag in page.find_all(attrs={"hx-get": True}):
        found.append((tag["hx-get"], True))
    for form in page.find_all("form"):
        if form.get("method", "get").lower() == "get":
            fields = [f for f in form.find_all(["input", "select"]) if f.get("name")]
            query = "&".join(f"{f['name']}={f.get('value', '')}" for f in fields)
            found.append((f"{form.get('action') or base}?{query}", False))
    out = []
    for href, htmx in found:
        url = urljoin(base, href)
        parts = urlsplit(url)
        if parts.netloc not in ("", "testserver") or parts.path.startswith(("/static/", "/admin")):
            continue
        out.append((parts.path + (f"?{parts.query}" if parts.query else ""), htmx))
    return out


def _no_injected_markup(html: str, url: str) -> None:
    page = BeautifulSoup(html, "html.parser")
    for script in page.find_all("script"):
        # Ours only: static files, json_script's data blocks, and no inline script that a
        # hostile name could have written.
        ours = script.get("src", "").startswith("/static/") or script.get("type") == (
            "application/json"
        )
        assert ours or "alert(" not in script.get_text(), (url, script)
    assert not page.find("img", attrs={"onerror": True}), url


def _shape(url: str, htmx: bool) -> tuple[str, tuple[str, ...], bool]:
    """What a page is apart from which layer or path it shows: the crawl visits a few of each
    shape, so that it covers every view and parameter of every image without every file."""
    parts = urlsplit(url)
    path = re.sub(r"/\d+(?=/|$)", "/*", parts.path)
    names = tuple(sorted({p.partition("=")[0] for p in parts.query.split("&") if p}))
    return path, names, htmx


def test_a_crawl_of_a_store_of_hostile_images_finds_no_server_error(client, hostile_store):
    seen: set[tuple[str, bool]] = set()
    queue = deque([("/", False)])
    statuses: dict[int, int] = {}
    shapes: Counter[tuple[str, tuple[str, ...], bool]] = Counter()
    fetched = 0
    while queue and fetched < MAX_PAGES:
        url, htmx = queue.popleft()
        if (url, htmx) in seen:
            continue
        seen.add((url, htmx))
        shapes[_shape(url, htmx)] += 1
        if shapes[_shape(url, htmx)] > PER_SHAPE:
            continue
        response = client.get(url, **(HTMX if htmx else {}))
        fetched += 1
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        assert response.status_code < 500, (url, htmx, response.status_code)
        if response.get("Content-Type", "").startswith("text/html"):
            html = response.content.decode()
            _no_injected_markup(html, url)
            queue.extend(link for link in _links(html, url) if link not in seen)

    assert fetched > 100, statuses  # the crawl went deep: every image, layer, directory
    assert statuses.get(200, 0) > 100
