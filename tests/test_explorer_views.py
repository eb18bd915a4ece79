"""The explorer pages and their htmx fragments, without a browser."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from django.test import Client
from django.urls import reverse

from layerviz.images.ingest import ingest
from layerviz.images.models import Image, IngestJob, Layer
from layerviz.lib import synth
from layerviz.lib.synth import Step
from layerviz.lib.tarwriter import directory, file, symlink, whiteout

from .helpers import HTMX, ingest_image, soup

pytestmark = pytest.mark.django_db


@pytest.fixture
def app_image(tmp_path) -> Image:
    return ingest_image(
        tmp_path,
        "lv/app:1.0",
        [
            synth.layer([file("bin/sh", b"x" * 3000, mode=0o755), file("etc/passwd", b"root\n")]),
            synth.layer([file("app/main.py", b"print(1)\n"), file("app/cache/blob", b"y" * 5000)]),
            synth.layer([whiteout("app/cache"), file("etc/passwd", b"root\napp\n")]),
        ],
        [
            Step("ADD rootfs /"),
            Step("ENV A=1", empty_layer=True),
            Step("COPY . /app"),
            Step("RUN /bin/sh -c rm -rf /app/cache"),
        ],
        cmd=["sh"],
    )


def test_the_image_list_shows_every_image_with_its_name_and_size(client: Client, app_image):
    page = soup(client.get(reverse("explorer:images")))

    rows = page.select("table.images tbody tr")
    assert len(rows) == 1
    link = rows[0].select_one("a.image-name")
    assert link.get_text(strip=True) == "lv/app:1.0"
    assert link["href"] == reverse("explorer:image", args=[app_image.digest])
    assert rows[0].select_one(".size")["title"].endswith("bytes")


def test_searching_the_list_returns_only_the_list_fragment_to_htmx(
    client: Client, app_image, tmp_path
):
    ingest_image(tmp_path, "lv/other:2", [synth.layer([file("x", b"1")])], cmd=["sh"])

    response = client.get(
        reverse("explorer:images"), {"q": "other"}, HTTP_HX_TARGET="image-list", **HTMX
    )
    fragment = soup(response)

    assert fragment.select_one("html") is None
    assert [a.get_text(strip=True) for a in fragment.select("a.image-name")] == ["lv/other:2"]
    assert response["Vary"] and "HX-Request" in response["Vary"]


def test_the_image_page_lists_history_steps_with_metadata_steps_as_thin_rows(
    client: Client, app_image
):
    page = soup(client.get(reverse("explorer:image", args=[app_image.digest])))

    layer_rows = page.select(".stack .layer-row")
    meta_rows = page.select(".stack .meta-row")
    assert len(layer_rows) == 3
    assert [r.select_one(".kw").get_text(strip=True) for r in meta_rows] == ["ENV"]
    assert layer_rows[2].select_one(".kw").get_text(strip=True) == "RUN"
    assert layer_rows[2].select_one(".cmd").get_text(strip=True) == "rm -rf /app/cache"
    assert "selected" in layer_rows[2]["class"]  # the top layer is selected by default
    assert page.select_one("#size-chart-data") is not None


def test_selecting_a_layer_with_htmx_returns_only_the_panel(client: Client, app_image):
    url = reverse("explorer:image", args=[app_image.digest])
    response = client.get(url, {"layer": 1, "mode": "layer"}, HTTP_HX_TARGET="layer-panel", **HTMX)
    fragment = soup(response)

    assert fragment.select_one(".stack") is None
    assert fragment.select_one("#layer-panel h2").get_text(strip=True) == "Layer #2"
    names = [a.get_text(strip=True) for a in fragment.select(".tree .name")]
    assert names == ["app/"]


def test_the_same_url_without_htmx_renders_the_whole_page_with_that_layer(
    client: Client, app_image
):
    url = reverse("explorer:image", args=[app_image.digest])
    page = soup(client.get(url, {"layer": 1, "mode": "layer", "path": "app"}))

    assert page.select_one(".stack") is not None
    assert page.select_one("#layer-panel h2").get_text(strip=True) == "Layer #2"
    # The path in the URL is opened in the tree, so a shared link shows the same view.
    names = [a.get_text(strip=True) for a in page.select(".tree .name")]
    assert names == ["app/", "cache/", "main.py"]


def test_a_deleted_directory_is_marked_deleted_with_the_layer_that_added_it(
    client: Client, app_image
):
    url = reverse("explorer:image", args=[app_image.digest])
    page = soup(client.get(url, {"layer": 2, "mode": "layer", "path": "app"}))

    cache = next(
        li
        for li in page.select("li[role=treeitem]")
        if li.select_one(".name").get_text(strip=True) == "cache/"
    )
    assert "deleted" in cache["class"]
    assert cache.select_one(".badge").get_text(strip=True).startswith("D")
    assert "layer #2" in cache.select_one(".note").get_text()


def test_the_merged_view_shows_files_from_lower_layers_as_unchanged(client: Client, app_image):
    url = reverse("explorer:image", args=[app_image.digest])
    page = soup(client.get(url, {"layer": 2, "mode": "merged"}))

    items = {li.select_one(".name").get_text(strip=True): li for li in page.select(".tree > li")}
    assert set(items) == {"app/", "bin/", "etc/"}
    assert items["bin/"].select_one(".badge")["title"] == "unchanged"


def test_expanding_a_directory_fetches_only_its_children(client: Client, app_image):
    url = reverse("explorer:tree", args=[app_image.digest])
    fragment = soup(client.get(url, {"layer": 2, "mode": "merged", "path": "etc"}, **HTMX))

    assert [a.get_text(strip=True) for a in fragment.select(".name")] == ["passwd"]
    badge = fragment.select_one(".badge")
    assert badge.get_text(strip=True).startswith("M")


def test_without_javascript_more_entries_opens_a_page_of_the_next_entries(client: Client, tmp_path):
    image = ingest_image(
        tmp_path,
        "lv/many:1",
        [synth.layer([file(f"data/f{i:04d}", b"x") for i in range(520)])],
        cmd=["sh"],
    )
    page = soup(client.get(reverse("explorer:image", args=[image.digest]), {"path": "data"}))
    more = page.select_one(".tree li.more a")
    assert "20 more entries" in more.get_text()

    rest = soup(client.get(more["href"]))

    assert rest.select_one("html") is not None  # a page, not a bare fragment
    assert rest.select_one("h1").get_text(strip=True) == "/data"
    names = [a.get_text(strip=True) for a in rest.select(".tree .name")]
    assert names == [f"f{i:04d}" for i in range(500, 520)]
    assert rest.select_one(".tree li.more") is None


def test_a_modified_file_says_its_old_size_with_the_exact_bytes_on_hover(client, app_image):
    url = reverse("explorer:image", args=[app_image.digest])
    page = soup(client.get(url, {"layer": 2, "mode": "layer", "path": "etc"}))

    note = page.select_one(".tree li[data-path='etc/passwd'] .note")
    assert note.get_text() == "was 5 B in layer #1"
    assert note.select_one("[title]")["title"] == "5 bytes"


def test_the_path_filter_names_what_it_searched_for(client: Client, app_image):
    url = reverse("explorer:image", args=[app_image.digest])
    page = soup(client.get(url, {"layer": 1, "mode": "merged", "q": "main"}))

    assert page.select_one("#tree .hint").get_text(strip=True) == "1 path contains “main”"


def test_filtering_by_kind_keeps_matching_files_and_the_directories_leading_to_them(
    client: Client, app_image
):
    url = reverse("explorer:image", args=[app_image.digest])
    page = soup(client.get(url, {"layer": 2, "mode": "layer", "kind": "M", "path": "etc"}))

    names = [a.get_text(strip=True) for a in page.select(".tree .name")]
    assert "passwd" in names
    assert "cache/" not in names


def test_filtering_by_path_substring_lists_matching_paths(client: Client, app_image):
    url = reverse("explorer:image", args=[app_image.digest])
    page = soup(client.get(url, {"layer": 1, "mode": "merged", "q": "main"}))

    assert [a.get_text(strip=True) for a in page.select(".tree.flat .name")] == ["app/main.py"]


def test_the_file_page_shows_every_layer_that_touched_a_path(client: Client, app_image):
    page = soup(
        client.get(reverse("explorer:file", args=[app_image.digest]), {"path": "etc/passwd"})
    )

    rows = page.select("table.history tbody tr")
    assert [r.select_one("td a").get_text(strip=True) for r in rows] == ["#1", "#3"]
    assert "added" in rows[0].get_text()
    assert "modified" in rows[1].get_text()


def test_an_unknown_image_is_a_404(client: Client):
    assert client.get(reverse("explorer:image", args=["sha256:" + "0" * 64])).status_code == 404


def test_find_redirects_a_short_reference_to_the_image_page(client: Client, app_image):
    response = client.get(reverse("explorer:find"), {"ref": "lv/app:1.0"})
    assert response.status_code == 302
    assert response["Location"] == reverse("explorer:image", args=[app_image.digest])


def test_deleting_an_image_keeps_layers_another_image_uses(client: Client, app_image, tmp_path):
    base = app_image.layers_in_order().first().layer
    other = ingest_image(
        tmp_path,
        "lv/other:1",
        [
            base_tar := synth.layer(
                [file("bin/sh", b"x" * 3000, mode=0o755), file("etc/passwd", b"root\n")]
            ),
            synth.layer([file("z", b"1")]),
        ],
        cmd=["sh"],
    )
    assert other.layers_in_order().first().layer == base and base_tar

    response = client.post(reverse("explorer:delete", args=[app_image.digest]))

    assert response.status_code == 302
    assert not Image.objects.filter(pk=app_image.pk).exists()
    assert Layer.objects.filter(pk=base.pk).exists()
    assert set(Layer.objects.values_list("pk", flat=True)) == {
        il.layer_id for il in other.image_layers.all()
    }


def test_write_actions_need_a_post_with_a_csrf_token(app_image):
    client = Client(enforce_csrf_checks=True)
    client.get(reverse("explorer:delete", args=[app_image.digest]))  # only asks
    assert Image.objects.filter(pk=app_image.pk).exists()
    assert client.post(reverse("explorer:delete", args=[app_image.digest])).status_code == 403
    assert Image.objects.filter(pk=app_image.pk).exists()


def test_without_javascript_delete_asks_first_naming_what_goes_and_what_stays(
    client: Client, app_image, tmp_path
):
    ingest_image(
        tmp_path,
        "lv/other:1",
        [
            synth.layer([file("bin/sh", b"x" * 3000, mode=0o755), file("etc/passwd", b"root\n")]),
            synth.layer([file("z", b"1")]),
        ],
        cmd=["sh"],
    )
    url = reverse("explorer:delete", args=[app_image.digest])
    listed = soup(client.get(reverse("explorer:images")))
    assert {a["href"] for a in listed.select("table.images a.danger")} >= {url}

    page = soup(client.get(url))

    assert "Delete lv/app:1.0?" in page.select_one("h1").get_text()
    text = page.get_text(" ", strip=True)
    assert "removes 2 layers" in text and "1 layer" in text and "stays" in text
    form = page.select_one("main form[method=post]")
    assert form["action"] == url and form.select_one("[name=csrfmiddlewaretoken]")
    assert Image.objects.filter(pk=app_image.pk).exists()


def test_write_actions_can_be_limited_to_logged_in_users(client: Client, app_image, settings):
    settings.LAYERVIZ_REQUIRE_LOGIN_TO_WRITE = True
    image_url = reverse("explorer:image", args=[app_image.digest])
    response = client.post(
        reverse("explorer:delete", args=[app_image.digest]),
        HTTP_REFERER=f"http://testserver{image_url}",
    )

    # Back to the page the action came from once logged in: the action's URL is POST-only.
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={quote(image_url)}"
    assert Image.objects.filter(pk=app_image.pk).exists()
    assert "Log in" in soup(client.get(image_url)).select_one("header.top").get_text()


def test_an_htmx_write_without_login_sends_the_whole_window_to_the_login_page(
    client: Client, app_image, settings
):
    settings.LAYERVIZ_REQUIRE_LOGIN_TO_WRITE = True
    response = client.post(
        reverse("explorer:add"),
        {"kind": "registry", "reference": "python"},
        HTTP_HX_CURRENT_URL="http://testserver/?q=app",
        **HTMX,
    )

    assert response.status_code == 200
    assert response["HX-Redirect"] == f"{reverse('login')}?next={quote('/?q=app')}"
    assert IngestJob.objects.count() == 0


def test_a_user_who_logs_in_may_delete(client: Client, app_image, settings, django_user_model):
    settings.LAYERVIZ_REQUIRE_LOGIN_TO_WRITE = True
    django_user_model.objects.create_user("teacher", password="s3cret-pass")
    url = reverse("explorer:image", args=[app_image.digest])

    login = client.post(
        reverse("login"), {"username": "teacher", "password": "s3cret-pass", "next": url}
    )
    assert login.status_code == 302 and login["Location"] == url
    assert "teacher" in soup(client.get(url)).select_one("header.top").get_text()

    assert client.post(reverse("explorer:delete", args=[app_image.digest])).status_code == 302
    assert not Image.objects.filter(pk=app_image.pk).exists()


# Tar names cannot hold "/", so "<script>…</script>" would be a directory and a file; these
# are single names.
HOSTILE = [
    b"<script>alert(1)<",
    b'"><svg onload=alert(4)>',
    b"quote\"d'name",
    b"new\nline",
    b"bad\xff\xfeutf8",
    b"<img src=x onerror=alert(2)>",
]


def test_hostile_file_names_render_as_text_everywhere(client: Client, tmp_path):
    image = ingest_image(
        tmp_path,
        "lv/hostile:1",
        [synth.layer([file(b"d/" + name, b"z" * 10) for name in HOSTILE])],
        [Step("RUN /bin/sh -c echo '<script>alert(3)</script>'")],
        cmd=["sh"],
    )
    pages = [
        client.get(reverse("explorer:image", args=[image.digest]), {"mode": "layer", "path": "d"}),
        client.get(reverse("explorer:image", args=[image.digest]), {"q": "<"}),
        client.get(reverse("explorer:tree", args=[image.digest]), {"path": "d"}, **HTMX),
        client.get(reverse("explorer:file", args=[image.digest]), {"path": "d/<script>alert(1)<"}),
    ]
    for response in pages:
        assert response.status_code == 200
        page = soup(response)
        # No markup from a name became an element, and no attribute carries a handler.
        assert all(
            s.get("src", "").startswith("/static/") or s.get("type") == "application/json"
            for s in page.select("script")
        )
        assert page.select("img") == [] and page.select("svg[onload]") == []
        assert not any(attr.startswith("on") for tag in page.find_all(True) for attr in tag.attrs)
    text = soup(pages[2]).get_text()
    assert "<script>alert(1)<" in text
    assert '"><svg onload=alert(4)>' in text
    assert "bad\\xff\\xfeutf8" in text
    # Chart data: json_script escapes markup, and labels inside the figure are HTML-escaped
    # because plotly renders some HTML in labels.
    chart = soup(pages[0]).select_one("#treemap-data").string
    labels = json.loads(chart)["data"][0]["labels"]
    assert "&lt;script&gt;alert(1)&lt;" in labels
    assert "<script>" not in chart


def test_without_javascript_the_engine_page_lists_its_images_each_with_an_add_button(
    client: Client, built_images
):
    name = built_images["teaching"]
    page = soup(client.get(reverse("explorer:engine-images")))

    assert page.select_one("html") is not None
    forms = {f.select_one("[name=reference]")["value"]: f for f in page.select("main form")}
    assert name in forms
    assert forms[name]["action"] == reverse("explorer:add")
    assert forms[name].select_one("[name=kind]")["value"] == "engine"


def test_hostile_link_targets_config_values_and_layer_notes_render_as_text(
    client: Client, tmp_path
):
    evil = "<img src=x onerror=alert(5)>"
    path = synth.write_docker_archive(
        tmp_path / "hostile-config.tar",
        [
            synth.Image(
                layers=[
                    synth.layer([file("bin/sh", b"x"), symlink("bin/evil", evil)]),
                    # A whiteout for a name no layer below has: the chain notes it, name and all.
                    synth.layer([whiteout(f"etc/{evil}"), file("etc/ok", b"1")]),
                ],
                env=[f"EVIL={evil}", "PATH=/bin"],
                labels={"evil": evil},
                cmd=[evil],
                working_dir="/" + evil,
                tags=["lv/hostile-config:1"],
            )
        ],
        layout="docker25",
    )
    [image] = ingest(f"docker-archive:{path}")
    url = reverse("explorer:image", args=[image.digest])
    pages = [
        client.get(url, {"layer": 0, "path": "bin"}),
        client.get(url, {"layer": 1}),
        client.get(reverse("explorer:tree", args=[image.digest]), {"layer": 0, "path": "bin"}),
    ]
    for response in pages:
        assert response.status_code == 200
        page = soup(response)
        assert page.select("img") == []
        assert not any(attr.startswith("on") for tag in page.find_all(True) for attr in tag.attrs)
    assert f"→ {evil}" in soup(pages[0]).select_one(".node .link").get_text()
    config = soup(pages[0]).select_one("details.config").get_text()
    assert f"EVIL={evil}" in config and f"evil={evil}" in config and evil in config
    notes = soup(pages[1]).select_one("ul.notes").get_text()
    assert f"whiteout for etc/{evil} deletes nothing" in notes


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"layer": 2, "mode": "layer", "q": "a", "kind": "D"}, ["app/cache", "app/cache/blob"]),
        ({"layer": 2, "mode": "layer", "q": "passwd", "kind": "M"}, ["etc/passwd"]),
        ({"layer": 2, "mode": "layer", "q": "passwd", "kind": "A"}, []),
        ({"layer": 2, "mode": "merged", "q": "main", "kind": "U"}, ["app/main.py"]),
        ({"layer": 2, "mode": "merged", "q": "main", "kind": "A"}, []),
        ({"layer": 1, "mode": "layer", "q": "main", "kind": ["A", "D"]}, ["app/main.py"]),
    ],
)
def test_a_path_search_lists_only_the_kinds_ticked(client: Client, app_image, params, expected):
    url = reverse("explorer:image", args=[app_image.digest])
    page = soup(client.get(url, params))

    assert [a.get_text(strip=True) for a in page.select(".tree.flat .name")] == expected
    assert page.select_one("#tree .hint").get_text(strip=True).startswith(f"{len(expected)} path")


def test_a_path_search_with_more_matches_than_a_page_pages_through_all_of_them(
    client: Client, tmp_path
):
    image = ingest_image(
        tmp_path, "lv/many:1", [synth.layer([file(f"d/n{i:04}", b"") for i in range(1200)])]
    )
    url = reverse("explorer:image", args=[image.digest])
    seen: list[str] = []
    query = "layer=0&mode=layer&q=n"
    pagers = []
    while query:
        page = soup(client.get(f"{url}?{query}"))
        seen += [a.get_text(strip=True) for a in page.select(".tree.flat .name")]
        pager = page.select_one("#tree .pager")
        pagers.append(pager.find("span").get_text(strip=True))
        following = [a for a in pager.find_all("a") if a.get_text(strip=True) == "Next"]
        query = following[0]["href"].lstrip("?") if following else ""

    assert seen == [f"d/n{i:04}" for i in range(1200)]
    assert pagers == ["Paths 1–500 of 1200", "Paths 501–1000 of 1200", "Paths 1001–1200 of 1200"]


def test_modes_show_setuid_setgid_and_sticky_bits_as_ls_does(client: Client, tmp_path):
    image = ingest_image(
        tmp_path,
        "lv/modes:1",
        [
            synth.layer(
                [
                    directory("tmp", mode=0o1777),
                    file("usr/bin/passwd", b"\x7fELF", mode=0o4755),
                    file("usr/bin/wall", b"\x7fELF", mode=0o2755),
                ]
            )
        ],
    )
    url = reverse("explorer:image", args=[image.digest])
    root = soup(client.get(url, {"layer": 0, "path": "usr/bin"}))
    modes = {
        li.select_one(".name").get_text(strip=True): li.select_one(".mode").get_text(strip=True)
        for li in root.select(".tree li")
    }
    history = soup(
        client.get(reverse("explorer:file", args=[image.digest]), {"path": "usr/bin/passwd"})
    )

    assert modes["tmp/"] == "drwxrwxrwt"
    assert modes["passwd"] == "-rwsr-xr-x"
    assert modes["wall"] == "-rwxr-sr-x"
    assert "-rwsr-xr-x" in history.get_text()


def test_a_metadata_only_change_says_what_changed_old_to_new(client: Client, tmp_path):
    image = ingest_image(
        tmp_path,
        "lv/meta:1",
        [
            synth.layer([file("app/run.sh", b"echo\n", mode=0o644, mtime=1_700_000_000)]),
            synth.layer(
                [file("app/run.sh", b"echo\n", mode=0o755, uid=1000, gid=1000, mtime=1_700_000_000)]
            ),
            synth.layer(
                [file("app/run.sh", b"echo\n", mode=0o755, uid=1000, gid=1000, mtime=1_710_000_000)]
            ),
        ],
    )
    url = reverse("explorer:image", args=[image.digest])

    def note(layer: int) -> str:
        page = soup(client.get(url, {"layer": layer, "path": "app"}))
        [line] = [li for li in page.select(".tree li li") if "run.sh" in li.get_text()]
        return line.select_one(".note").get_text(strip=True)

    assert note(1) == "mode -rw-r--r-- → -rwxr-xr-x; owner 0:0 → 1000:1000"
    assert note(2) == "mtime 2023-11-14 22:13:20 UTC → 2024-03-09 16:00:00 UTC"
    search = soup(client.get(url, {"layer": 1, "q": "run"}))
    assert "owner 0:0 → 1000:1000" in search.select_one(".tree.flat").get_text()


def test_an_image_saved_as_plain_tars_says_its_download_size_is_an_estimate(client, app_image):
    page = soup(client.get(reverse("explorer:image", args=[app_image.digest]), {"layer": 0}))
    facts = page.select_one("header dl.facts").get_text(" ", strip=True)
    panel = page.select_one("#layer-panel .facts").get_text(" ", strip=True)

    assert "to download, estimated: the source held plain tars" in facts
    assert "as a tar, uncompressed" in panel and "to download, estimated" in panel


def test_the_panel_heads_with_the_whole_instruction_and_says_how_many_images_hold_the_layer(
    client: Client, tmp_path
):
    base = synth.layer([file("etc/os-release", b"debian")])
    long_step = "RUN /bin/sh -c " + " && ".join(f"echo step-{i}" for i in range(30))
    image = ingest_image(
        tmp_path,
        "lv/one:1",
        [base, synth.layer([file("a", b"1")])],
        [Step("ADD rootfs /"), Step(long_step)],
    )
    ingest_image(tmp_path, "lv/two:1", [base, synth.layer([file("b", b"2")])])
    url = reverse("explorer:image", args=[image.digest])

    top = soup(client.get(url, {"layer": 1}))
    bottom = soup(client.get(url, {"layer": 0}))

    assert top.select_one(".panel-instruction code").get_text() == long_step.removeprefix(
        "RUN /bin/sh -c "
    )
    assert bottom.select_one(".panel-head .used-by").get_text(" ", strip=True) == "used by 2 images"
    assert not top.select_one(".panel-head .used-by")
    [used] = bottom.select(".stack .used-by")  # the base's row only
    assert used.get_text(" ", strip=True) == "used by 2 images"


def test_the_full_history_lists_every_step_whole_metadata_steps_too(client: Client, tmp_path):
    long_step = "RUN /bin/sh -c " + " && ".join(f"echo step-{i}" for i in range(30))
    image = ingest_image(
        tmp_path,
        "lv/hist:1",
        [synth.layer([file("a", b"1")]), synth.layer([file("b", b"22")])],
        [Step("ADD rootfs /"), Step("ENV A=1", empty_layer=True), Step(long_step)],
    )
    page = soup(client.get(reverse("explorer:image", args=[image.digest])))
    rows = [
        [td.get_text(" ", strip=True) for td in tr.select("td")]
        for tr in page.select("details.history tbody tr")
    ]

    assert [row[0] for row in rows] == ["#1", "metadata only", "#2"]
    assert rows[1][2] == "ENV A=1" and rows[1][3] == "0 B"
    assert rows[2][2] == "RUN " + long_step.removeprefix("RUN /bin/sh -c ")  # whole, not cut
