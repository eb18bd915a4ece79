"""The container pages as a browser draws them: a phone and a desktop, light and dark, nothing
scrolling sideways. The container is a recorded one, so no engine is needed."""

from __future__ import annotations

from pathlib import Path
from pprint import pformat

import pytest
from django.urls import reverse
from playwright.sync_api import Browser

from layerviz.images import containers
from layerviz.lib import synth
from layerviz.lib.synth import Step
from layerviz.lib.tarwriter import file

from . import browser
from .helpers import ingest_image

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LONG = "usr/lib/python3/site-packages/a-rather-long-package-name/sub/module_with_a_long_name.py"


@pytest.fixture
def recorded(tmp_path: Path) -> str:
    image = ingest_image(
        tmp_path,
        "registry.example.com/a-long-team-name/an-even-longer-service-name:2026.12.01-rc1",
        [
            synth.layer([file("bin/sh", b"x" * 3000, mode=0o755), file(LONG, b"1" * 900)]),
            synth.layer([file("app/config.ini", b"a=1\n"), file("app/big.bin", b"z" * 40_000)]),
        ],
        [Step("ADD rootfs /"), Step("COPY . /app && echo a-long-instruction-to-be-cut " * 3)],
    )
    containers.record(
        name="lesson-web-with-a-rather-long-container-name",
        image=image,
        container_id="ab" * 32,
        state="exited",
        changes=[
            {"path": "/app", "kind": "C", "type": "dir", "size": 4096},
            {"path": "/app/big.bin", "kind": "C", "size": 40_000},
            {"path": "/app/config.ini", "kind": "C", "size": 12, "mtime": 1},
            {"path": "/tmp/cache-of-something-with-a-long-file-name.bin", "kind": "A", "size": 100},
            {"path": f"/{LONG}", "kind": "D"},
        ],
    )
    return "lesson-web-with-a-rather-long-container-name"


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [390, 1440])
def test_the_container_pages_fit_a_phone_and_a_desktop_in_either_scheme(
    chromium_browser: Browser, live_server, recorded, width: int, scheme: str, artifacts: Path
):
    pages = {
        "containers": reverse("containers:containers"),
        "container": reverse("containers:container", args=[recorded]) + "?recorded=1",
    }
    with browser.window(chromium_browser, live_server.url, width=width, scheme=scheme) as (
        page,
        problems,
    ):
        wide = browser.too_wide(page, pages, artifacts, f"{scheme}-{width}")
        assert page.locator(".container-stack .layer-row").count() == 3
    assert not wide, pformat(wide)
    assert problems.found == []
