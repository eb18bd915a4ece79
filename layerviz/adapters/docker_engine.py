"""The local Docker engine, through the ``docker`` SDK. The only module that imports it.

``DOCKER_HOST`` (and the rest of the SDK's environment) is respected. Every SDK or transport
exception becomes a ``SourceError`` with a sentence a person can act on.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import os
import re
from collections.abc import Iterator
from typing import Any

import docker
import docker.errors
import docker.utils
import requests.exceptions

from layerviz.lib import reference as refs
from layerviz.lib.errors import SourceError

# How long a call may wait for the engine: a save, a build or a pull may take minutes; a
# page waits for a container's changes (long enough for a big one, short enough that a stuck
# engine is reported rather than waited for); a form's list gives up after seconds.
TIMEOUT, PAGE_TIMEOUT, QUICK_TIMEOUT = 600, 30, 5


@functools.cache
def connect(timeout: int) -> docker.DockerClient:
    """The engine's client that waits ``timeout`` seconds for an answer, one per timeout."""
    try:
        return docker.from_env(timeout=timeout)
    except docker.errors.DockerException as exc:
        raise SourceError(f"cannot reach the Docker engine at {_where()}: {_reason(exc)}") from None


def client() -> docker.DockerClient:
    return connect(TIMEOUT)


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
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        raise _problem(what, exc) from None


def _problem(what: str, exc: Exception) -> SourceError:
    """The sentence for an SDK or transport exception met while asking for ``what``."""
    if isinstance(exc, docker.errors.ImageNotFound):
        return SourceError(f"the Docker engine has no image {what}")
    if isinstance(exc, docker.errors.NotFound):
        return SourceError(f"the Docker engine has no image {what}: {exc.explanation}")
    if isinstance(exc, docker.errors.APIError):
        return SourceError(f"the Docker engine refused {what}: {exc.explanation or exc}")
    return SourceError(f"cannot reach the Docker engine at {_where()}: {_reason(exc)}")


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


def images_list() -> list[dict[str, Any]]:
    """The engine's images (for the "add image" form), newest first; gives up after seconds."""
    items = _call("the image list", connect(QUICK_TIMEOUT).api.images)
    return sorted(items, key=lambda i: i.get("Created", 0), reverse=True)


# --- containers (read only: nothing here starts, stops or writes to a container) -----------

# The engine's ``docker diff`` kinds (``Kind`` in ``GET /containers/ID/changes``) as docker
# prints them.
DIFF_LETTERS = {0: "C", 1: "A", 2: "D"}

# Go's os.FileMode, as the archive API's stat header reports a path's mode.
_GO_DIR, _GO_SYMLINK = 1 << 31, 1 << 27
_GO_SETUID, _GO_SETGID, _GO_STICKY = 1 << 23, 1 << 22, 1 << 20
_GO_OTHER_TYPES = (1 << 26) | (1 << 25) | (1 << 24) | (1 << 21) | (1 << 19)
_FRACTION = re.compile(r"\.\d+")


class NoSuchContainer(SourceError):
    pass


@dataclasses.dataclass(frozen=True)
class Container:
    id: str
    name: str
    image_id: str  # what the engine calls the image's ID: the config digest (classic store)
    image: str  # the image as it was asked for: a name, or an ID
    state: str  # created, running, exited, …
    created: int  # seconds since the epoch


@dataclasses.dataclass(frozen=True)
class PathStat:
    """What the archive API says of one path of a container's filesystem."""

    size: int
    type: str  # "file", "dir", "symlink" or "other"
    mode: int  # Unix permission bits, setuid/setgid/sticky included
    mtime: int  # seconds since the epoch


def _container_call(container: str, fn, *args: Any, **kwargs: Any) -> Any:
    """``_call`` for container calls: a container the engine does not have is its own error
    (a page answers 404 for it, not "the engine is unreachable")."""
    try:
        return fn(*args, **kwargs)
    except docker.errors.NotFound as exc:
        raise NoSuchContainer(
            f"the Docker engine has no container {container}: {exc.explanation}"
        ) from None
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        raise _problem(f"container {container}", exc) from None


def _container(item: dict[str, Any], name: str = "") -> Container:
    names = item.get("Names") or [name]
    state = item.get("State")
    if isinstance(state, dict):  # inspect's State is an object, the list's a word
        state = state.get("Status", "")
    created = item.get("Created", 0)
    if isinstance(created, str):
        created = _seconds(created)
    return Container(
        id=str(item.get("Id", "")),
        name=str(names[0] or "").lstrip("/"),
        image_id=str(item.get("ImageID") or item.get("Image") or ""),
        image=str(
            item.get("Image") if "ImageID" in item else (item.get("Config") or {}).get("Image", "")
        ),
        state=str(state or ""),
        created=int(created or 0),
    )


def _seconds(rfc3339: str) -> int:
    """Go's RFC 3339 times carry nanoseconds, more digits than Python parses."""
    text = _FRACTION.sub("", rfc3339).replace("Z", "+00:00")
    try:
        return int(datetime.datetime.fromisoformat(text).timestamp())
    except ValueError:
        return 0


def containers_list() -> list[Container]:
    """Every container of the engine, running or not, newest first; gives up after seconds."""
    items = _call("the container list", connect(QUICK_TIMEOUT).api.containers, all=True)
    return sorted((_container(item) for item in items), key=lambda c: c.created, reverse=True)


def container_inspect(*, container: str) -> Container:
    item = _container_call(container, connect(PAGE_TIMEOUT).api.inspect_container, container)
    return _container(item, name=str(item.get("Name", "")))


def container_changes(*, container: str) -> list[tuple[str, str]]:
    """``docker diff``: (path, letter) for each path of the writable layer, A, C or D."""
    items = _container_call(container, connect(PAGE_TIMEOUT).api.diff, container) or []
    return [(str(item["Path"]), DIFF_LETTERS.get(item["Kind"], "C")) for item in items]


def path_stats(*, container: str, paths: list[str], limit: int) -> tuple[dict[str, PathStat], bool]:
    """The stat of each of ``paths`` (of a directory: the entry's own), at most ``limit`` of
    them; and whether some were left out for the limit.

    ``HEAD /containers/ID/archive`` is the engine's stat of a path: the header that
    ``get_archive`` also returns, without the tar. A GET would have the engine start tarring
    the whole file, or a directory's whole tree, only for its header to be read.
    """
    api = connect(PAGE_TIMEOUT).api
    out: dict[str, PathStat] = {}
    for path in paths[:limit]:
        url = api._url("/containers/{0}/archive", container)
        response = _container_call(container, api.head, url, params={"path": path})
        if response.status_code == 404:
            continue  # gone since the diff was read (a running container)
        _container_call(container, api._raise_for_status, response)
        header = response.headers.get("x-docker-container-path-stat")
        if header:
            out[path] = _stat(docker.utils.decode_json_header(header))
    return out, len(paths) > limit


def _stat(raw: dict[str, Any]) -> PathStat:
    mode = int(raw.get("mode", 0))
    if mode & _GO_DIR:
        kind = "dir"
    elif mode & _GO_SYMLINK:
        kind = "symlink"
    elif mode & _GO_OTHER_TYPES:
        kind = "other"
    else:
        kind = "file"
    bits = mode & 0o777
    bits |= 0o4000 if mode & _GO_SETUID else 0
    bits |= 0o2000 if mode & _GO_SETGID else 0
    bits |= 0o1000 if mode & _GO_STICKY else 0
    return PathStat(
        size=int(raw.get("size", 0)),
        type=kind,
        mode=bits,
        mtime=_seconds(str(raw.get("mtime", ""))),
    )


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
