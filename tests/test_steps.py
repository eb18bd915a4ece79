"""The union filesystem stepper: a step's facts, the merged tree as of a layer, and a lookup of a
path through the layers, as a page, as its htmx fragment and as JSON."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from layerviz.images import steps
from layerviz.images.models import Image
from layerviz.lib.tarwriter import file

from .helpers import HTMX, soup, union_image

pytestmark = pytest.mark.django_db

ZH = {"HTTP_COOKIE": "django_language=zh-hans"}


@pytest.fixture
def lesson(tmp_path) -> Image:
    """Four layers: a base, an app with a cache, a whiteout of the cache and a new passwd, an
    opaque /etc."""
    return union_image(
        tmp_path,
        [
            file("etc/passwd", b"root\n"),
            file("etc/hosts", b"127.0.0.1 localhost\n"),
            file("bin/sh", b"x" * 3000, mode=0o755),
        ],
        "RUN rm -rf /app/cache && echo app >> /etc/passwd",
    )


def _url(image: Image) -> str:
    return reverse("explorer:steps", args=[image.digest])


def _chains(image: Image) -> list:
    return [il.chain for il in image.layers_in_order()]


# --- the plain module -----------------------------------------------------------------------


def test_a_lookup_is_answered_by_the_top_most_layer_that_has_the_path(lesson):
    found = steps.lookup(_chains(lesson), "etc/passwd", 2)

    assert found.found
    assert found.answer.position == 2
    assert [(c.position, c.verdict, c.reached) for c in found.layers] == [
        (2, steps.HAS, True),
        (1, steps.ABSENT, False),
        (0, steps.HAS, False),
    ]
    # The base layer's passwd is never read, yet it is in the image.
    assert found.still_ships == [0]


def test_a_whiteout_hides_a_lower_file_and_names_the_layer_still_carrying_it(lesson):
    found = steps.lookup(_chains(lesson), "app/cache/blob", 2)

    assert not found.found
    assert (found.answer.position, found.answer.verdict, found.answer.by) == (
        2,
        steps.HIDES,
        "app/cache",
    )
    assert found.still_ships == [1]

    step = steps.layer_step(_chains(lesson), 2)
    [gone] = step.deleted
    assert (gone.path, gone.detail, gone.files, gone.size) == ("app/cache", "w", 1, 5000)
    assert gone.carried_by == [1]


def test_an_opaque_directory_hides_everything_below_it(lesson):
    chains = _chains(lesson)
    for path in ("etc/passwd", "etc/hosts"):
        found = steps.lookup(chains, path, 3)
        assert not found.found
        assert (found.answer.position, found.answer.verdict) == (3, steps.HIDES)
        assert found.answer.by == "etc"
    assert steps.lookup(chains, "etc/passwd", 3).still_ships == [2, 0]
    assert steps.lookup(chains, "etc/motd", 3).answer.position == 3

    step = steps.layer_step(chains, 3)
    [hider] = step.opaque
    assert hider.path == "etc"
    assert sorted(c.path for c in hider.hidden) == ["etc/hosts", "etc/passwd"]
    assert hider.carried_by == [0, 2]
    assert step.deleted == []
    assert [c.path for c in step.added] == ["etc/motd"]


def test_an_opaque_directory_stops_a_read_even_of_a_path_nothing_below_had(lesson):
    found = steps.lookup(_chains(lesson), "etc/nothing", 3)

    assert (found.answer.position, found.answer.verdict, found.answer.by) == (3, steps.STOPS, "etc")


def test_a_path_no_layer_has_is_answered_by_none(lesson):
    found = steps.lookup(_chains(lesson), "srv/none", 3)

    assert found.answer is None
    assert {c.verdict for c in found.layers} == {steps.ABSENT}


# --- the page -------------------------------------------------------------------------------


def test_the_stepper_starts_at_the_bottom_layer_with_the_slabs_placed_around_it(
    client: Client, lesson
):
    page = soup(client.get(_url(lesson)))

    assert page.select_one("#step-title").get_text(strip=True) == "Layer #1 of 4"
    assert [li["class"][1] for li in page.select(".slabs .slab")] == [
        "current",
        "above",
        "above",
        "above",
    ]
    assert page.select_one("#step-prev") is None  # nothing below the base
    assert page.select_one("#step-next")["href"] == "?layer=1"
    assert page.select_one("#step-slider")["value"] == "0"


def test_every_step_is_a_link_that_works_without_javascript(client: Client, lesson):
    page = soup(client.get(_url(lesson), {"layer": 2, "path": "app/cache/blob"}))

    assert page.select_one("#step-title").get_text(strip=True) == "Layer #3 of 4"
    assert page.select_one("#step-prev")["href"] == "?layer=1&path=app%2Fcache%2Fblob"
    assert page.select_one("#step-next")["href"] == "?layer=3&path=app%2Fcache%2Fblob"
    assert page.select_one(".slabs a")["href"] == "?layer=0&path=app%2Fcache%2Fblob"
    # The slider's form keeps the path, and the lookup form keeps the layer.
    form = page.select_one("#step-form")
    assert form["method"] == "get" and form.select_one("input[name=path]")["value"] == (
        "app/cache/blob"
    )
    assert page.select_one(".step-lookup input[name=layer]")["value"] == "2"


def test_the_facts_name_the_hidden_file_and_the_layer_whose_bytes_still_ship(
    client: Client, lesson
):
    page = soup(client.get(_url(lesson), {"layer": 2}))

    [deleted] = [h for h in page.select(".step-facts h3") if h.get_text() == "Deletes"]
    line = deleted.find_next("ul").select_one("li")
    assert line.select_one("code").get_text() == "/app/cache/"
    assert "by a whiteout" in line.get_text()
    ships = line.select_one(".still-ships a")
    assert ships.get_text() == "#2"
    assert ships["href"].startswith(reverse("explorer:image", args=[lesson.digest]) + "?layer=1")


def test_the_merged_tree_opens_where_the_layer_changed_and_lights_its_changes(
    client: Client, lesson
):
    page = soup(client.get(_url(lesson), {"layer": 2}))

    tree = page.select_one(".step-tree ul.tree")
    cache = tree.select_one("li[data-path='app/cache']")
    assert "deleted" in cache["class"]
    assert cache.select_one("li[data-path='app/cache/blob']") is not None  # opened by itself
    passwd = tree.select_one("li[data-path='etc/passwd']")
    assert passwd.select_one(".badge.k-M")
    hosts = tree.select_one("li[data-path='etc/hosts']")
    assert "older" in hosts["class"] and hosts.select_one(".note.from").get_text() == "#1"


def test_the_opaque_directory_is_marked_in_the_facts_and_the_tree(client: Client, lesson):
    page = soup(client.get(_url(lesson), {"layer": 3}))

    assert page.select_one(".step-facts .opaque-dir code").get_text() == "/etc/"
    etc = page.select_one(".step-tree li[data-path='etc']")
    assert "opaque" in etc.select_one(".badge")["title"]
    assert "opaque" in etc.select_one(".note").get_text()


def test_the_lookup_form_shows_the_layers_checked_top_down_and_the_answer(client: Client, lesson):
    page = soup(client.get(_url(lesson), {"layer": 2, "path": "/etc/passwd"}))

    answer = page.select_one(".lookup-answer")
    assert "answered by layer #3" in answer.get_text()
    rows = page.select(".lookup-layers li")
    assert [r.select_one(".idx").get_text() for r in rows] == ["#3", "#2", "#1"]
    assert "answer" in rows[0]["class"]
    assert "unreached" in rows[2]["class"] and "still ship" in rows[2].get_text()


def test_a_lookup_of_a_file_under_an_opaque_directory_says_the_directory_is_opaque(
    client: Client, lesson
):
    page = soup(client.get(_url(lesson), {"layer": 3, "path": "etc/passwd"}))

    text = page.select_one(".lookup-answer").get_text(" ", strip=True)
    assert "/etc is opaque in layer #4" in text
    assert "is opaque: the read stops here" in page.select_one(".lookup-layers li").get_text()


def test_a_lookup_of_a_whited_out_file_says_no_such_file(client: Client, lesson):
    page = soup(client.get(_url(lesson), {"layer": 3, "path": "app/cache/blob"}))

    text = page.select_one(".lookup-answer").get_text(" ", strip=True)
    assert "No such file" in text and "layer #3 deletes /app/cache" in text
    assert page.select_one(".lookup-answer .still-ships a").get_text() == "#2"


def test_htmx_stepping_gets_only_the_step_region(client: Client, lesson):
    response = client.get(_url(lesson), {"layer": 1}, HTTP_HX_TARGET="step", **HTMX)
    fragment = soup(response)

    assert fragment.select_one("html") is None
    assert fragment.select_one("header.steps-head") is None
    assert fragment.select_one("#step")["data-layer"] == "1"
    assert "HX-Target" in response["Vary"]


@pytest.mark.parametrize("layer", ["4", "-1", "99999999999999999999"])
def test_a_layer_the_image_does_not_have_is_a_404_that_says_which_layers_it_has(
    client: Client, lesson, layer
):
    response = client.get(_url(lesson), {"layer": layer})

    if len(layer) > 9:
        assert response.status_code == 400
        return
    assert response.status_code == 404
    assert "layer=0 to layer=3" in response.content.decode()


def test_a_layer_that_is_not_a_number_is_a_400_naming_the_problem(client: Client, lesson):
    response = client.get(_url(lesson), {"layer": "top"})

    assert response.status_code == 400
    assert "whole number" in response.content.decode()


def test_the_image_page_links_to_the_stepper_and_the_stepper_back(client: Client, lesson):
    image_url = reverse("explorer:image", args=[lesson.digest])
    image_page = soup(client.get(image_url))
    assert image_page.select_one(f".stack-card a[href='{_url(lesson)}']")

    page = soup(client.get(_url(lesson)))
    assert page.select_one(f".steps-head a[href='{image_url}']")


def test_the_stepper_speaks_chinese(client: Client, lesson):
    page = soup(client.get(_url(lesson), {"layer": 2, "path": "app/cache/blob"}, **ZH))

    text = page.get_text()
    assert page.select_one("html")["lang"] == "zh-hans"
    for english in ("Union filesystem", "Lookup", "No such file", "Deletes", "Previous", "Next"):
        assert english not in text, english
    assert "第 3 层" in page.select_one("#step-title").get_text()


# --- JSON -----------------------------------------------------------------------------------


def test_the_api_gives_a_step_with_1_based_layers(client: Client, lesson):
    answer = client.get("/api/images/lv/lesson:1/steps", {"layer": 3}).json()

    assert (answer["layer"], answer["layers"]) == (3, 4)
    assert answer["instruction"].startswith("RUN rm -rf /app/cache")
    [gone] = answer["deleted"]
    assert gone == {
        "path": "app/cache",
        "kind": "deleted",
        "detail": "whiteout",
        "type": "dir",
        "size": 5000,
        "files": 1,
        "still_ships_in": [2],
    }
    assert [c["path"] for c in answer["modified"]] == ["etc/passwd"]
    assert "lookup" not in answer


def test_the_api_looks_a_path_up(client: Client, lesson):
    answer = client.get("/api/images/lv/lesson:1/steps", {"layer": 4, "path": "etc/passwd"})
    lookup = answer.json()["lookup"]

    assert lookup["found"] is False
    assert (lookup["answered_by"], lookup["verdict"], lookup["by"], lookup["how"]) == (
        4,
        "hides",
        "etc",
        "opaque",
    )
    assert lookup["still_ships_in"] == [3, 1]
    assert [(c["layer"], c["verdict"], c["reached"]) for c in lookup["layers"]] == [
        (4, "hides", True),
        (3, "has", False),
        (2, "absent", False),
        (1, "has", False),
    ]
    assert lookup["layers"][1]["row"]["kind"] == "modified"


@pytest.mark.parametrize("layer", ["0", "5", "top"])
def test_the_api_refuses_a_layer_the_image_does_not_have(client: Client, lesson, layer):
    response = client.get("/api/images/lv/lesson:1/steps", {"layer": layer})

    assert response.status_code == 400
    assert "1 to 4" in response.json()["error"]


def test_a_deleting_step_shows_what_its_tar_really_holds(client, lesson):
    # Layer #3 wrote a whiteout of app/cache, layer #4 an opaque marker in etc.
    for layer, entry in ((2, "app/.wh.cache"), (3, "etc/.wh..wh..opq")):
        page = soup(client.get(f"{_url(lesson)}?layer={layer}"))
        entries = [code.get_text() for code in page.select(".tar-entries code")]
        assert entries == [entry], layer
        assert "raw=1" in page.select_one(".tar-entries a")["href"]
    # A layer that deletes nothing has nothing of the kind to show.
    assert soup(client.get(f"{_url(lesson)}?layer=1")).select(".tar-entries") == []
    answer = client.get(f"/api/images/{lesson.digest}/steps?layer=3").json()
    assert answer["tar_entries"] == ["app/.wh.cache"]
