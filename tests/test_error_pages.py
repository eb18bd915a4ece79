"""Error pages in the app's layout and language, naming what was not found, with a way on."""

from __future__ import annotations

import pytest
from bs4 import BeautifulSoup
from django.test import Client, RequestFactory
from django.views.defaults import server_error

pytestmark = pytest.mark.django_db


def soup(response) -> BeautifulSoup:
    return BeautifulSoup(response.content, "html.parser")


ZH = {"HTTP_COOKIE": "django_language=zh-hans"}


@pytest.mark.parametrize(
    ("url", "names"),
    [
        ("/images/sha256:0123/", "sha256:0123"),
        ("/images/sha256:0123/efficiency", "sha256:0123"),
        ("/find?ref=lv/nothing:1", "lv/nothing:1"),
        ("/no/such/page", "/no/such/page"),
        ("/compare?a=lv/x:1&b=lv/y:1", "lv/x:1"),
    ],
)
def test_a_404_is_the_apps_page_naming_what_was_not_found(client: Client, url, names):
    response = client.get(url)
    page = soup(response)

    assert response.status_code == 404
    assert page.select_one("header.top nav")  # the app's layout
    assert page.select_one("h1").get_text(strip=True) == "Not found"
    assert names in page.select_one(".error-page").get_text()
    assert page.select_one("form.find[action='/find'] input[name=ref]")


def test_a_404_speaks_the_readers_language(client: Client):
    page = soup(client.get("/find?ref=lv/nothing:1", **ZH))

    assert page.select_one("h1").get_text(strip=True) == "未找到"
    assert "没有名为 'lv/nothing:1' 的已索引镜像。" in page.get_text()


def test_a_400_speaks_the_readers_language(client: Client):
    page = soup(client.get("/?q=%00", **ZH))

    assert page.select_one("h1").get_text(strip=True) == "错误的请求"
    assert "查询参数 'q' 中含有 NUL 字符。" in page.get_text()


def test_the_500_page_renders_with_nothing_but_itself():
    # Django renders it without context processors or the database, after a failure.
    response = server_error(RequestFactory().get("/"))

    assert response.status_code == 500
    text = response.content.decode()
    assert "Server error" in text and "服务器错误" in text and "/static/" in text
