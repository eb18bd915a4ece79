from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

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
