"""The colour scheme switch without JavaScript: a form that pins light or dark for the pages
after it, as the language switch does, and goes back to the system's setting."""

from __future__ import annotations

import pytest

from .helpers import soup

pytestmark = pytest.mark.django_db


def test_a_page_follows_the_system_scheme_until_one_is_chosen(client):
    page = soup(client.get("/"))
    assert page.html.get("data-theme") is None
    assert page.select_one("#theme option[selected]")["value"] == "auto"


def test_choosing_dark_returns_to_the_page_and_every_page_after_it_is_dark(client):
    response = client.post("/theme", {"theme": "dark", "next": "/store"})
    assert response.status_code == 302 and response["Location"] == "/store"
    page = soup(client.get("/"))
    assert page.html["data-theme"] == "dark"
    assert page.select_one("#theme option[selected]")["value"] == "dark"


def test_choosing_auto_forgets_the_pinned_scheme(client):
    client.post("/theme", {"theme": "light", "next": "/"})
    client.post("/theme", {"theme": "auto", "next": "/"})
    assert soup(client.get("/")).html.get("data-theme") is None


def test_an_unknown_scheme_or_a_foreign_next_page_is_not_followed(client):
    response = client.post("/theme", {"theme": "<b>", "next": "https://evil.example/"})
    assert response["Location"] == "/"
    client.cookies["layerviz_theme"] = "javascript:alert(1)"
    assert soup(client.get("/")).html.get("data-theme") is None


def test_the_switch_is_a_post(client):
    assert client.get("/theme").status_code == 405
