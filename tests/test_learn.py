"""The lessons' pages, and presentation mode, as a server answers them."""

from __future__ import annotations

import pytest
from django.urls import reverse

from layerviz.learn import catalog

from .helpers import soup

pytestmark = pytest.mark.django_db

ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-CN"}


def test_the_lesson_list_names_every_lesson_in_order_and_which_need_their_images(client):
    page = soup(client.get(reverse("learn:index")))
    links = [a["href"] for a in page.select(".lessons li > a")]
    assert links == [reverse("learn:lesson", args=[lesson.slug]) for lesson in catalog.LESSONS]
    assert len(page.select(".tag-missing")) == len(catalog.LESSONS)  # nothing loaded yet
    assert "manage.py lessons" in page.get_text()


def test_a_lesson_without_its_images_says_how_to_load_them_and_asks_nothing(client):
    page = soup(client.get(reverse("learn:lesson", args=["sharing"])))
    assert "python manage.py lessons" in page.select_one(".empty").get_text()
    assert "lesson/shop:1.0" in page.get_text()
    assert page.select(".question") == []


def test_lessons_link_to_the_one_before_and_after(client):
    first, second = catalog.LESSONS[0], catalog.LESSONS[1]
    page = soup(client.get(reverse("learn:lesson", args=[second.slug])))
    assert page.select_one("a[rel=prev]")["href"] == reverse("learn:lesson", args=[first.slug])
    first_page = soup(client.get(reverse("learn:lesson", args=[first.slug])))
    assert first_page.select_one("a[rel=prev]") is None


def test_the_lessons_speak_chinese(client):
    page = soup(client.get(reverse("learn:index"), **ZH))
    assert page.select_one("h1").get_text() == "了解镜像层如何工作"
    lesson = soup(client.get(reverse("learn:lesson", args=["layers"]), **ZH))
    assert "只读层" in lesson.select_one("h1").get_text()


def test_an_unknown_lesson_is_a_404_that_names_it(client):
    response = client.get("/learn/nothing-here/")
    assert response.status_code == 404
    assert "nothing-here" in response.content.decode()


def test_present_1_turns_presentation_on_for_this_page_and_the_next_and_present_0_off(client):
    page = soup(client.get("/learn/?present=1"))
    assert page.html.has_attr("data-present")
    assert page.select_one(".present-exit")["href"] == "/learn/?present=0"
    assert soup(client.get("/store")).html.has_attr("data-present"), "the next page forgot it"
    assert not soup(client.get("/store?present=0")).html.has_attr("data-present")
    assert not soup(client.get("/")).html.has_attr("data-present")


def test_the_presentation_switch_keeps_the_rest_of_the_address(client):
    page = soup(client.get("/store?q=lesson%2F"))
    assert page.select_one(".present-link")["href"] == "/store?q=lesson%2F&present=1"


# --- with the lesson set loaded ----------------------------------------------------------------


def test_every_lesson_answers_its_questions_from_the_loaded_lesson_images_and_links_live_views(
    client, tmp_path
):
    from layerviz.lessons import load

    load.load(tmp_path)
    for lesson in catalog.LESSONS:
        for headers in ({}, ZH):
            page = soup(client.get(reverse("learn:lesson", args=[lesson.slug]), **headers))
            assert page.select(".empty") == [], lesson.slug
            answers = [a.get_text(strip=True) for a in page.select(".question .answer")]
            assert len(answers) == len(lesson.questions) and all(answers), lesson.slug
            views = [a["href"] for a in page.select(".lesson-views a")]
            assert len(views) == len(lesson.views), lesson.slug  # every view exists
            for url in views:
                assert client.get(url).status_code == 200, (lesson.slug, url)
    listed = soup(client.get(reverse("learn:index")))
    assert listed.select(".tag-missing") == []


def test_the_answers_are_what_the_views_show(client, tmp_path):
    from layerviz.images import comparison, sharing
    from layerviz.images.lookup import find_image
    from layerviz.lessons import load
    from layerviz.lib.units import human_bytes

    load.load(tmp_path)

    def answers(slug: str) -> list[str]:
        page = soup(client.get(reverse("learn:lesson", args=[slug])))
        return [a.get_text(" ", strip=True) for a in page.select(".question .answer")]

    shop, blog = find_image(catalog.SHOP), find_image(catalog.BLOG)
    pair = comparison.align(shop, blog)
    shared, _not_shared, pull = answers("sharing")
    assert shared.startswith(f"{len(pair.shared)} layers, ")
    assert human_bytes(comparison.numbers(pair, blog).shared_bytes) in shared
    assert pull.startswith(human_bytes(sharing.pull_plan([shop], blog).download))
    # The deleted key: no such file on top, its bytes in the layer below the delete.
    *_, key = answers("union")
    assert key.startswith("No such file: layer #3 deleted it") and key.endswith("#2.")
    bad, good = answers("cache")
    assert bad.startswith("Layers #") and good.startswith("Layer #")  # good rebuilt less


def test_the_cache_lessons_two_builds_rebuilt_what_the_what_if_predicts(tmp_path):
    from layerviz.images import dockerfile
    from layerviz.images.lookup import find_image
    from layerviz.lessons import load

    load.load(tmp_path)
    for old_tag, new_tag in ((catalog.BAD_1, catalog.BAD_2), (catalog.GOOD_1, catalog.GOOD_2)):
        old, new = find_image(old_tag), find_image(new_tag)
        step = dockerfile.first_changed_step(old, new)
        assert step is not None
        predicted = dockerfile.what_if(dockerfile.reconstruct(old), step)
        actual = dockerfile.rebuilt_between(old, new)
        assert [il.position + 1 for il in predicted.rebuilt] == actual, old_tag
