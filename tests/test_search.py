"""Search across every image: answers equal a brute-force scan of the index, and the page and
the API say what they found, what is hidden and what they cannot answer."""

from __future__ import annotations

import fnmatch
import json

import pytest
from bs4 import BeautifulSoup
from django.core.management import call_command
from django.db import connection
from django.urls import reverse

from layerviz.images import deletion, filesystem, packed
from layerviz.images.models import Image
from layerviz.lib import changes, synth
from layerviz.lib.layer import AUFS_META, OPAQUE, WHITEOUT
from layerviz.lib.tarwalk import DIR
from layerviz.lib.tarwriter import directory, file, opaque, symlink, whiteout
from layerviz.search import queries
from layerviz.search.models import FTS_TABLE, SearchFile

from .helpers import HTMX, ingest_image, soup

pytestmark = pytest.mark.django_db

SSL = b"libssl 3.0.11 " * 200
KEY = b"-----BEGIN PRIVATE KEY-----\n"


@pytest.fixture
def store(tmp_path) -> dict[str, Image]:
    """Three images on one shared base layer: ``app`` deletes a key a layer after copying it
    and replaces /etc/passwd; ``tools`` copies libssl's bytes under another name and empties
    /etc with an opaque directory; ``base`` is the base alone."""
    base = synth.layer(
        [
            file("usr/bin/sh", b"#!sh\n"),
            symlink("bin", "usr/bin"),
            file("usr/lib/x86_64-linux-gnu/libssl.so.3", SSL),
            file("etc/passwd", b"root:x:0:0\n"),
            file("etc/ssl/openssl.cnf", b"[ssl]\n"),
        ]
    )
    return {
        "base": ingest_image(tmp_path, "lv/base:1", [base]),
        "app": ingest_image(
            tmp_path,
            "lv/app:1",
            [
                base,
                synth.layer([file("app/main.py", b"print(1)\n"), file("app/deploy/key.pem", KEY)]),
                synth.layer([whiteout("app/deploy"), file("etc/passwd", b"root:x:0:0\napp:x\n")]),
            ],
        ),
        "tools": ingest_image(
            tmp_path,
            "lv/tools:2",
            [
                base,
                synth.layer([file("opt/vendor/libssl.so.3", SSL), file("opt/vendor/key.pem", KEY)]),
                synth.layer([opaque("etc"), directory("etc"), file("etc/hostname", b"tools\n")]),
            ],
        ),
    }


# --- the brute force: every image's entries, layer by layer ---------------------------------


def every_version() -> list[dict]:
    """Every file version of every image, computed from the stored entries and the merged
    filesystem with the index's own reading functions, not the search's."""
    found = []
    for image in Image.objects.all():
        image_layers = list(image.layers_in_order())
        chains = [il.chain for il in image_layers]
        final = filesystem.merged_files(image.top_chain)
        for il in image_layers:
            last = {}
            for record in packed.entry_records(il.layer_id):
                if record.type == DIR or record.flags & (WHITEOUT | OPAQUE | AUFS_META):
                    continue
                last[record.path.decode("utf-8", "surrogateescape")] = record
            for path, record in last.items():
                later = [
                    row for row in filesystem.path_history(chains, path) if row.depth > il.position
                ]
                shown = final.get(path)
                visible = shown is not None and shown.depth == il.position
                assert visible == (not later)
                found.append(
                    {
                        "digest": image.digest,
                        "layer": il.position + 1,
                        "path": "/" + path,
                        "size": record.size,
                        "sha256": record.sha256 or None,
                        "visible": visible,
                        "hidden_by": None
                        if visible
                        else {
                            "layer": later[0].depth + 1,
                            "how": "deleted" if later[0].kind == changes.DELETED else "replaced",
                        },
                    }
                )
    return found


def brute_force(kind: str, text: str) -> list[dict]:
    def holds(path: str) -> bool:
        name = path.rpartition("/")[2]
        if kind == "sha256":
            return False
        if kind == "name":
            return fnmatch.fnmatchcase(name, text) if "*" in text or "?" in text else name == text
        if "*" in text or "?" in text or "[" in text:
            pattern = text if text.startswith(("/", "*")) else "/" + text
            return fnmatch.fnmatchcase(path, pattern)
        return text in path

    if kind == "sha256":
        digest = text.removeprefix("sha256:")
        return [v for v in every_version() if v["sha256"] == digest]
    return [v for v in every_version() if holds(v["path"])]


def api_hits(client, **params: str) -> list[dict]:
    """Every hit of the API's answer, page after page."""
    hits: list[dict] = []
    url: str | None = reverse("search:api") + "?" + "&".join(f"{k}={v}" for k, v in params.items())
    while url:
        answer = client.get(url).json()
        hits.extend(answer["hits"])
        url = answer["next"]
    return hits


def comparable(hits: list[dict]) -> list[tuple]:
    keys = ("digest", "layer", "path", "size", "sha256", "visible", "hidden_by")
    return sorted(
        json.dumps([h["image"]["digest"] if k == "digest" and "image" in h else h[k] for k in keys])
        for h in hits
    )


@pytest.mark.parametrize(
    ("kind", "text"),
    [
        ("path", "libssl"),
        ("path", "usr/lib/"),
        ("path", "/etc/"),
        ("path", "/usr/lib/*/libssl.so.[0-9]"),
        ("path", "*/key.pem"),
        ("name", "passwd"),
        ("name", "sh"),
        ("name", "*.pem"),
        ("name", "libssl.so.?"),
        ("name", "bin"),
    ],
)
def test_a_search_answers_exactly_what_a_scan_of_every_image_finds(client, store, kind, text):
    expected = brute_force(kind, text)
    assert expected, "each query finds something in the store"
    assert comparable(api_hits(client, q=text, kind=kind)) == comparable(expected)


def test_a_content_sha256_finds_the_same_bytes_under_every_name(client, store):
    digest = synth.sha256(SSL).removeprefix("sha256:")
    hits = api_hits(client, q=f"sha256:{digest}")
    assert comparable(hits) == comparable(brute_force("sha256", digest))
    assert {h["path"] for h in hits} == {
        "/usr/lib/x86_64-linux-gnu/libssl.so.3",
        "/opt/vendor/libssl.so.3",
    }


def test_a_search_for_a_path_finds_every_image_that_holds_it(client, store):
    hits = api_hits(client, q="x86_64-linux-gnu/libssl.so.3")
    assert sorted(h["image"]["names"][0] for h in hits) == ["lv/app:1", "lv/base:1", "lv/tools:2"]
    assert {h["layer"] for h in hits} == {1}
    assert len({h["diff_id"] for h in hits}) == 1  # one layer, shared, indexed once
    assert all(h["visible"] for h in hits)


def test_a_file_a_later_layer_deleted_is_a_ghost_that_still_ships(client, store):
    [hit] = api_hits(client, q="app/deploy/key.pem")
    assert hit["image"]["digest"] == store["app"].digest
    assert hit["layer"] == 2
    assert hit["visible"] is False
    assert hit["hidden_by"] == {"layer": 3, "how": "deleted"}


def test_a_file_a_later_layer_replaced_is_hidden_by_that_layer(client, store):
    hits = [h for h in api_hits(client, q="/etc/passwd") if h["image"]["names"] == ["lv/app:1"]]
    by_layer = {h["layer"]: h for h in hits}
    assert by_layer[1]["hidden_by"] == {"layer": 3, "how": "replaced"}
    assert by_layer[3]["visible"] is True


def test_an_opaque_directory_hides_what_was_below_it(client, store):
    [hit] = [h for h in api_hits(client, q="openssl.cnf") if h["image"]["names"] == ["lv/tools:2"]]
    assert hit["hidden_by"] == {"layer": 3, "how": "deleted"}


def test_the_answer_says_which_kind_it_guessed(client, store):
    assert client.get(reverse("search:api"), {"q": "etc/passwd"}).json()["kind"] == "path"
    answer = client.get(reverse("search:api"), {"q": "passwd"}).json()
    assert (answer["kind"], answer["kind_guessed"], answer["match"]) == ("name", True, "equal")
    digest = "ab" * 32
    assert client.get(reverse("search:api"), {"q": digest}).json()["kind"] == "sha256"
    chosen = client.get(reverse("search:api"), {"q": "passwd", "kind": "path"}).json()
    assert (chosen["kind"], chosen["kind_guessed"], chosen["match"]) == ("path", False, "substring")


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"q": ""}, "empty"),
        ({"q": "   "}, "empty"),
        ({"q": "ss", "kind": "path"}, "too-short"),
        ({"q": "abc123", "kind": "sha256"}, "bad-sha256"),
        ({"q": "sha256:" + "g" * 64, "kind": "sha256"}, "bad-sha256"),
        ({"q": "*"}, "glob-too-broad"),
        ({"q": "/*/*", "kind": "path"}, "glob-too-broad"),
        ({"q": "a?b*"}, "glob-too-broad"),
        ({"q": "lib[%]ssl.so"}, "bad-set"),
        ({"q": "openssl", "kind": "rpm"}, "unknown-kind"),
    ],
)
def test_a_query_that_cannot_be_answered_is_a_400_that_says_why(client, store, params, code):
    response = client.get(reverse("search:api"), params)
    assert response.status_code == 400
    assert response.json()["code"] == code
    assert response.json()["error"]
    page = client.get(reverse("search:search"), params)
    assert page.status_code == 400
    error = soup_any(page).select_one("#results .error")
    assert error is not None and error.get_text(strip=True) == response.json()["error"]


def _status(*packages: tuple[str, str]) -> bytes:
    return b"".join(
        b"Package: %s\nStatus: install ok installed\nArchitecture: amd64\nVersion: %s\n\n"
        % (name.encode(), version.encode())
        for name, version in packages
    )


@pytest.fixture
def fleet(tmp_path) -> dict[str, Image]:
    """Three images: one ships openssl 3.0.11; one installed it, then upgraded it a layer
    later (3.0.11's files still ship below); one has a Python distribution named PyYAML."""
    status = "var/lib/dpkg/status"
    old = _status(("libc6", "2.36"), ("openssl", "3.0.11"))
    return {
        "kept": ingest_image(tmp_path, "lv/fleet-kept:1", [synth.layer([file(status, old)])]),
        "upgraded": ingest_image(
            tmp_path,
            "lv/fleet-upgraded:1",
            [
                synth.layer([file(status, old)]),
                synth.layer([file(status, _status(("libc6", "2.36"), ("openssl", "3.0.13")))]),
            ],
        ),
        "python": ingest_image(
            tmp_path,
            "lv/fleet-python:1",
            [
                synth.layer(
                    [
                        file(
                            "usr/lib/python3/dist-packages/PyYAML-6.0.1.dist-info/METADATA",
                            b"Metadata-Version: 2.1\nName: PyYAML\nVersion: 6.0.1\n",
                        )
                    ]
                )
            ],
        ),
    }


def _package_hits(client, text: str) -> list[tuple]:
    answer = client.get(reverse("search:api"), {"q": text, "kind": "package"}).json()
    assert answer["hits"] == []
    return sorted(
        (p["image"]["names"][0], p["name"], p["version"], p["layer"], p["visible"], p["gone"])
        for p in answer["packages"]
    )


def _per_image(client, images: dict[str, Image], name: str, version: str = "") -> list[tuple]:
    """The same question asked of each image's own packages API: every version it had."""
    found = []
    for image in images.values():
        listed = client.get(f"/api/images/{image.digest}/packages", {"show": "all"}).json()
        for p in listed["packages"]:
            if p["name"].lower() == name.lower() and (not version or p["version"] == version):
                gone = p["gone_at"] and {"layer": p["gone_at"], "how": p["gone_how"]}
                found.append((image.names[0], p["name"], p["version"], p["layer"], not gone, gone))
    return sorted(found)


def test_a_package_search_finds_every_image_that_ships_or_shipped_that_version(client, fleet):
    hits = _package_hits(client, "openssl 3.0.11")
    assert hits == [
        ("lv/fleet-kept:1", "openssl", "3.0.11", 1, True, None),
        ("lv/fleet-upgraded:1", "openssl", "3.0.11", 1, False, {"layer": 2, "how": "upgraded"}),
    ]
    assert hits == _per_image(client, fleet, "openssl", "3.0.11")
    assert _package_hits(client, "openssl@3.0.11") == hits


def test_a_package_search_without_a_version_finds_every_version(client, fleet):
    hits = _package_hits(client, "openssl")
    assert [(h[0], h[2]) for h in hits] == [
        ("lv/fleet-kept:1", "3.0.11"),
        ("lv/fleet-upgraded:1", "3.0.11"),
        ("lv/fleet-upgraded:1", "3.0.13"),
    ]
    assert hits == _per_image(client, fleet, "openssl")


def test_a_python_package_is_found_by_its_name_as_pip_compares_names(client, fleet):
    assert [h[:3] for h in _package_hits(client, "pyyaml")] == [
        ("lv/fleet-python:1", "PyYAML", "6.0.1")
    ]
    assert _package_hits(client, "PyYAML@6.0.1") == _package_hits(client, "pyyaml 6.0.1")


def test_the_page_lists_package_hits_with_their_image_layer_and_state(client, fleet):
    page = soup(client.get(reverse("search:search"), {"q": "openssl 3.0.11", "kind": "package"}))
    rows = page.select("table.package-hits tbody tr")
    assert [r["class"] for r in rows] == [["visible"], ["ghost"]]
    assert "upgraded by #2" in rows[1].select_one(".state").get_text(" ", strip=True)
    packages_link = rows[0].select_one("td.path a")["href"]
    assert packages_link.startswith(f"/images/{fleet['kept'].digest}/packages?")
    nothing = soup(client.get(reverse("search:search"), {"q": "nginx", "kind": "package"}))
    assert "No indexed image holds a version" in nothing.select_one(".search-summary").get_text()


def test_results_are_capped_and_the_rest_are_on_further_pages(client, store, monkeypatch):
    monkeypatch.setattr(queries, "LIMIT", 2)
    first = client.get(reverse("search:api"), {"q": "/etc/"}).json()
    assert len(first["hits"]) == 2 and first["more"] is True
    assert first["next"].endswith("offset=2")
    page = soup(client.get(reverse("search:search"), {"q": "/etc/"}))
    summary = page.select_one(".search-summary").get_text(" ", strip=True)
    assert "more results than shown" in summary
    assert page.select_one(".pager a")["href"] == reverse("search:search") + "?q=/etc/&offset=2"
    everything = api_hits(client, q="/etc/")
    assert comparable(everything) == comparable(brute_force("path", "/etc/"))


def test_the_page_lists_each_hit_with_its_image_layer_and_links(client, store):
    page = soup(client.get(reverse("search:search"), {"q": "app/deploy/key.pem"}))
    [row] = page.select("table.search-hits tbody tr")
    assert "ghost" in row["class"]
    links = {a.get_text(strip=True): a["href"] for a in row.select("a")}
    digest = store["app"].digest
    image_url = reverse("explorer:image", args=[digest])
    file_url = reverse("explorer:file", args=[digest])
    assert links["lv/app:1"] == image_url
    assert links["/app/deploy/key.pem"] == f"{file_url}?path=app/deploy/key.pem"
    assert links["open"] == f"{file_url}?path=app/deploy/key.pem&layer=2"
    assert links["#2"] == f"{image_url}?layer=1&mode=layer&path=app/deploy"
    state = row.select_one("td.state").get_text(" ", strip=True)
    assert "deleted by #3" in state
    kind = page.select_one(".search-kind")
    assert kind["data-kind"] == "path"
    # the links lead somewhere real
    assert client.get(links["/app/deploy/key.pem"]).status_code == 200
    assert client.get(links["#2"]).status_code == 200
    assert client.get(links["open"]).status_code == 200


def test_the_search_form_keeps_the_query_and_kind(client, store):
    page = soup(client.get(reverse("search:search"), {"q": "passwd", "kind": "path"}))
    form = page.select_one("form.search-form")
    assert form["method"] == "get" and form["action"] == reverse("search:search")
    assert form.select_one("input[name=q]")["value"] == "passwd"
    assert form.select_one("select[name=kind] option[selected]")["value"] == "path"


def test_an_htmx_search_gets_only_the_results_fragment(client, store):
    response = client.get(reverse("search:search"), {"q": "etc/passwd"}, **HTMX)
    fragment = soup(response)
    assert fragment.select_one("header") is None
    assert fragment.select_one("form.search-form") is None
    [results] = fragment.select("#results")
    assert len(results.select("table.search-hits tbody tr")) == 4


def test_every_page_has_a_search_box_in_its_header(client, store):
    for url in (reverse("explorer:images"), reverse("explorer:image", args=[store["app"].digest])):
        form = soup(client.get(url)).select_one("header form.top-search")
        assert form["method"] == "get" and form["action"] == reverse("search:search")
        assert form.select_one("input")["name"] == "q"


def test_an_empty_search_page_shows_the_form_and_no_error(client, db):
    page = soup(client.get(reverse("search:search")))
    assert page.select_one("form.search-form") is not None
    assert page.select_one("#results .error") is None


def test_rows_are_stored_once_per_layer_not_per_image(store):
    base_layer = store["base"].image_layers.get().layer_id
    rows = SearchFile.objects.filter(layer_id=base_layer)
    assert sorted(rows.values_list("path", flat=True)) == [
        "/bin",
        "/etc/passwd",
        "/etc/ssl/openssl.cnf",
        "/usr/bin/sh",
        "/usr/lib/x86_64-linux-gnu/libssl.so.3",
    ]


def test_a_path_written_twice_in_one_layer_is_one_row_the_last(tmp_path):
    image = ingest_image(
        tmp_path, "lv/twice:1", [synth.layer([file("a/x", b"one"), file("a/x", b"second")])]
    )
    [row] = SearchFile.objects.filter(layer_id=image.image_layers.get().layer_id, path="/a/x")
    assert row.size == len(b"second")


def test_deleting_an_image_takes_the_rows_of_the_layers_it_alone_used(client, store):
    deletion.delete_image(store["app"])
    assert api_hits(client, q="app/deploy/key.pem") == []
    if connection.vendor == "sqlite":  # the trigram index forgot them too
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH '\"deploy/key\"'"
            )
            assert cursor.fetchall() == []
    assert len(api_hits(client, q="x86_64-linux-gnu/libssl.so.3")) == 2
    assert comparable(api_hits(client, q="/etc/")) == comparable(brute_force("path", "/etc/"))


def test_reindex_search_writes_the_rows_of_layers_that_have_none(client, store):
    SearchFile.objects.all().delete()
    assert api_hits(client, q="libssl", kind="path") == []
    call_command("reindex_search")
    assert comparable(api_hits(client, q="libssl", kind="path")) == comparable(
        brute_force("path", "libssl")
    )


def soup_any(response) -> BeautifulSoup:
    """The HTML of any response, a 400 included."""
    return BeautifulSoup(response.content.decode(), "html.parser")


def test_the_search_page_is_in_chinese_for_a_chinese_browser(client, store):
    page = soup(
        client.get(
            reverse("search:search"),
            {"q": "app/deploy/key.pem"},
            HTTP_ACCEPT_LANGUAGE="zh-CN",
        )
    )
    assert page.select_one("h1").get_text(strip=True) == "搜索所有镜像"
    assert "幽灵字节" in page.select_one("td.state").get_text(strip=True)
    assert page.select_one(".search-kind").get_text(strip=True).startswith("按路径搜索")


def test_an_htmx_search_that_cannot_be_answered_swaps_in_its_reason(client, store):
    response = client.get(reverse("search:search"), {"q": "ab", "kind": "path"}, **HTMX)
    fragment = soup(response)  # a 200, or htmx would swap nothing
    assert "3 characters" in fragment.select_one("#results .error").get_text()


@pytest.mark.parametrize(
    ("text", "name", "version"),
    [
        ("openssl 3.0.11", "openssl", "3.0.11"),
        ("openssl@3.0.11", "openssl", "3.0.11"),
        ("zlib", "zlib", ""),
        ("@types/node@20.1.0", "@types/node", "20.1.0"),
        ("@types/node", "@types/node", ""),
    ],
)
def test_a_package_query_is_read_as_a_name_and_an_optional_version(text, name, version):
    query = queries.parse(text, "package")
    assert (query.kind, query.value, query.version) == ("package", name, version)


@pytest.mark.parametrize(
    "text",
    [
        '"quoted"',
        "it's",
        "%_\\",
        "[",
        "]",
        "a]b*cd",
        "\\*abc",
        "ab\u202ecd",
        "🙂🙂🙂",
        "(((",
        "*.[",
        "lib[!]x",
        "lib[]x]",
        "usr/lib/[z-a]",
        "x" * 1000,
        "x" * 1001,
        "sha256:" + "A" * 64,
    ],
)
@pytest.mark.parametrize("kind", ["", "path", "name", "sha256"])
def test_no_query_text_makes_the_search_fail(client, store, text, kind):
    for url in (reverse("search:api"), reverse("search:search")):
        assert client.get(url, {"q": text, "kind": kind}).status_code in (200, 400)
