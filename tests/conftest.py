from __future__ import annotations

import os
from pathlib import Path

import pytest

from . import components

ARTIFACTS = Path(os.environ.get("LAYERVIZ_TEST_ARTIFACTS", components.ROOT / "test-artifacts"))


@pytest.fixture
def docker_engine():
    """A reachable Docker engine (DOCKER_HOST respected)."""
    components.need("a Docker engine", components.docker_problem())
    import docker

    return docker.from_env(timeout=600)


@pytest.fixture
def dive():
    components.need("dive", components.dive_problem())
    return components.dive_path()


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
