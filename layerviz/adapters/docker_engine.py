"""The local Docker engine, through the ``docker`` SDK. The only module that imports it.

``DOCKER_HOST`` (and the rest of the SDK's environment) is respected. Every SDK or transport
exception becomes a ``SourceError`` with a sentence a person can act on.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Iterator
from typing import Any

import docker
import docker.errors
import requests.exceptions

from layerviz.lib import reference as refs
from layerviz.lib.errors import SourceError

TIMEOUT = 600


@functools.cache
def client() -> docker.DockerClient:
    try:
        return docker.from_env(timeout=TIMEOUT)
    except docker.errors.DockerException as exc:
        raise SourceError(f"cannot reach the Docker engine at {_where()}: {_reason(exc)}") from None


def _where() -> str:
    return os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


def _reason(exc: Exception) -> str:
    text = str(exc)
    if "Connection refused" in text or "FileNotFoundError" in text or "No such file" in text:
        return "nothing is listening there (is dockerd running?)"
    return text.splitlines()[0][:300] if text else type(exc).__name__


def _call(what: str, fn, *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except docker.errors.ImageNotFound:
        raise SourceError(f"the Docker engine has no image {what}") from None
    except docker.errors.NotFound as exc:
        raise SourceError(f"the Docker engine has no image {what}: {exc.explanation}") from None
    except docker.errors.APIError as exc:
        raise SourceError(f"the Docker engine refused {what}: {exc.explanation or exc}") from None
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        raise SourceError(f"cannot reach the Docker engine at {_where()}: {_reason(exc)}") from None


def ping() -> bool:
    try:
        return bool(_call("ping", client().ping))
    except SourceError:
        return False


def image_inspect(*, ref: str) -> dict[str, Any]:
    return _call(ref, client().api.inspect_image, ref)


def pull_target(ref: str) -> tuple[str, str]:
    """The repository and tag (or digest) the engine's pull API takes for ``ref``.

    ``python`` is ``("python", "latest")``; a registry port is part of the repository, never a
    tag; a digest wins over a tag, as it does for ``docker pull``.
    """
    try:
        parsed = refs.parse(ref)
    except ValueError as exc:
        raise SourceError(f"cannot pull {ref!r}: {exc}") from None
    repository = dataclasses.replace(parsed, tag=None, digest=None).familiar()
    return repository, parsed.digest or parsed.tag or "latest"


def image_pull(*, ref: str, platform: str | None = None) -> None:
    repository, tag = pull_target(ref)
    for event in _call(
        ref,
        client().api.pull,
        repository,
        tag=tag,
        platform=platform,
        stream=True,
        decode=True,
    ):
        if "error" in event:
            raise SourceError(f"the Docker engine could not pull {ref}: {event['error']}")


def image_save(*, ref: str) -> Iterator[bytes]:
    """The ``docker save`` tar of one image, as a stream of chunks (never written to disk)."""
    chunks = _call(ref, client().api.get_image, ref, chunk_size=1 << 20)

    def guarded() -> Iterator[bytes]:
        try:
            yield from chunks
        except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
            raise SourceError(f"the Docker engine stopped sending {ref}: {_reason(exc)}") from None

    return guarded()


@functools.cache
def _quick_client() -> docker.DockerClient:
    try:
        return docker.from_env(timeout=5)
    except docker.errors.DockerException as exc:
        raise SourceError(f"cannot reach the Docker engine at {_where()}: {_reason(exc)}") from None


def images_list() -> list[dict[str, Any]]:
    """The engine's images (for the "add image" form), newest first; gives up after seconds."""
    items = _call("the image list", _quick_client().api.images)
    return sorted(items, key=lambda i: i.get("Created", 0), reverse=True)


def image_import(*, data: bytes, repository: str, tag: str, changes: list[str]) -> None:
    """``docker import``: a root filesystem tar as a one-layer image (``changes`` are
    Dockerfile instructions for its config: ``ENV``, ``CMD``…)."""
    what = f"{repository}:{tag}"
    _call(
        what,
        client().api.import_image_from_data,
        data,
        repository=repository,
        tag=tag,
        changes=changes,
    )


def image_build(
    *,
    path: str,
    tag: str,
    target: str | None = None,
    buildargs: dict[str, str] | None = None,
) -> None:
    """``DOCKER_BUILDKIT=0 docker build --network none``: the classic builder (the API's build
    endpoint without a BuildKit session), its cache used, no registry reachable."""
    events = _call(
        tag,
        client().api.build,
        path=path,
        tag=tag,
        target=target,
        buildargs=buildargs,
        network_mode="none",
        rm=True,
        forcerm=True,
        decode=True,
    )
    try:
        for event in events:
            if "error" in event:
                raise SourceError(f"the Docker engine could not build {tag}: {event['error']}")
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        raise SourceError(f"the Docker engine stopped building {tag}: {_reason(exc)}") from None
