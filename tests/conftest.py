from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.test.utils import override_settings
from hypothesis import settings
from pytest_django.live_server_helper import LiveServer

from . import components, engine

# Generated-input tests (test_fuzz.py, test_changes_model.py): a fixed, derandomised budget so
# that the suite stays quick on two cores and a failure reproduces; LAYERVIZ_HYPOTHESIS=deep
# searches longer, with new inputs each run. No example database: nothing is written to the tree.
settings.register_profile("ci", max_examples=300, deadline=2000, derandomize=True, database=None)
settings.register_profile("deep", max_examples=5000, deadline=None, database=None)
settings.load_profile(os.environ.get("LAYERVIZ_HYPOTHESIS", "ci"))

# Shared fixtures: real registries (tests/registries.py), the browser (tests/browser.py).
pytest_plugins = ["tests.registries", "tests.browser"]

ARTIFACTS = Path(os.environ.get("LAYERVIZ_TEST_ARTIFACTS", components.ROOT / "test-artifacts"))


@pytest.fixture(scope="session")
def docker_engine():
    """A reachable Docker engine (DOCKER_HOST respected)."""
    components.need("a Docker engine", components.docker_problem())
    import docker

    return docker.from_env(timeout=600)


@pytest.fixture(scope="session")
def built_images(docker_engine) -> dict[str, str]:
    """name -> reference of the images built from tests/dockerfiles by the real engine."""
    return engine.build_all(docker_engine)


@pytest.fixture(scope="session")
def saved_images(docker_engine, built_images, tmp_path_factory) -> dict[str, Path]:
    """name -> ``docker save`` archive of each built image."""
    folder = tmp_path_factory.mktemp("saved")
    return {
        name: engine.save(docker_engine, ref, folder / f"{name}.tar")
        for name, ref in built_images.items()
    }


@pytest.fixture
def dive():
    components.need("dive", components.dive_problem())
    return components.dive_path()


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session", autouse=True)
def collected_static(tmp_path_factory) -> Iterator[Path]:
    """The static files as ``collectstatic`` writes them (hashed names, gzip), in a folder of
    this run. With DEBUG off, as in tests, ``{% static %}`` links the hashed names of the
    manifest, so no page renders without it. Collected rather than swapped for a storage
    without hashes, so that tests see what a browser is sent; in a folder of this run rather
    than var/staticfiles, so that two runs on one checkout do not write the same files. It
    takes well under a second."""
    folder = tmp_path_factory.mktemp("static")
    with override_settings(STATIC_ROOT=folder):
        call_command("collectstatic", interactive=False, verbosity=0)
        yield folder


@pytest.fixture(scope="session", autouse=True)
def secret_key() -> str:
    """A key for this run: with DEBUG off, as in tests, settings has none unless SECRET_KEY is
    set, and sessions and messages are signed with it. Set for good rather than overridden:
    putting back an empty key would raise (Django refuses to read one)."""
    key = "layerviz-tests-only-not-secret"
    django_settings.SECRET_KEY = key
    return key


@pytest.fixture(scope="session", autouse=True)
def kept_blobs(tmp_path_factory) -> Iterator[Path]:
    """The blob store of this run (``lib/blobstore``), for the tests and for any process they
    start, rather than var/blobs, which a second run on one checkout would share."""
    folder = tmp_path_factory.mktemp("blobs")
    before = os.environ.get("LAYERVIZ_BLOB_ROOT")
    os.environ["LAYERVIZ_BLOB_ROOT"] = str(folder)
    with override_settings(LAYERVIZ_BLOB_ROOT=folder):
        yield folder
    if before is None:
        del os.environ["LAYERVIZ_BLOB_ROOT"]
    else:
        os.environ["LAYERVIZ_BLOB_ROOT"] = before


@pytest.fixture(scope="session")
def live_server(request: pytest.FixtureRequest, collected_static: Path) -> Iterator[LiveServer]:
    """pytest-django's live server, with the static files left to whitenoise, as the app
    serves them. pytest-django puts Django's finder-based static handler in front, which knows
    no hashed names and sets no caching."""
    address = (
        request.config.getvalue("liveserver")
        or os.getenv("DJANGO_LIVE_TEST_SERVER_ADDRESS")
        or "localhost"
    )
    server = LiveServer(address, start=False)
    server.thread.static_handler = _as_is
    server.start()
    yield server
    server.stop()


def _as_is(application: Any) -> Any:
    return application
