"""Image references the way docker spells them: ``python``, ``lv/app:1.0``, ``host:5000/a/b@sha256:…``.

Normalisation follows distribution/reference (``image-format.md`` §4.1): a name without a
registry host is on Docker Hub, a one-part Hub name is under ``library/``, and a reference with
neither tag nor digest means ``:latest``.
"""

from __future__ import annotations

import dataclasses
import re

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"

_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$")
_TAG = re.compile(r"^[\w][\w.-]{0,127}$")
_DIGEST = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$")
_HOST = re.compile(
    r"^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?$"
)


@dataclasses.dataclass(frozen=True)
class Reference:
    domain: str
    path: str
    tag: str | None = None
    digest: str | None = None

    @property
    def repository(self) -> str:
        return f"{self.domain}/{self.path}"

    @property
    def api_host(self) -> str:
        return DOCKER_HUB_API if self.domain == DOCKER_HUB else self.domain

    @property
    def target(self) -> str:
        """What to ask the registry for: the digest when there is one, else the tag."""
        return self.digest or self.tag or "latest"

    def __str__(self) -> str:
        out = self.repository
        if self.tag:
            out += f":{self.tag}"
        if self.digest:
            out += f"@{self.digest}"
        return out

    def familiar(self) -> str:
        """The short form docker prints: ``python:3.12``, ``lv/app:1.0``."""
        name = self.repository
        if self.domain == DOCKER_HUB:
            name = self.path.removeprefix("library/")
        if self.tag:
            name += f":{self.tag}"
        if self.digest:
            name += f"@{self.digest}"
        return name

    def with_tag(self, tag: str | None) -> Reference:
        return dataclasses.replace(self, tag=tag)


def parse(text: str, *, default_tag: bool = True) -> Reference:
    """Parse and normalise; raises ``ValueError`` naming what is wrong."""
    raw = text.strip()
    if not raw:
        raise ValueError("empty image reference")
    name, digest = raw, None
    if "@" in raw:
        name, _, digest = raw.partition("@")
        if not _DIGEST.match(digest):
            raise ValueError(f"invalid digest in reference {text!r}")
    tag = None
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        name, tag = name[:colon], name[colon + 1 :]
        if not _TAG.match(tag):
            raise ValueError(f"invalid tag {tag!r} in reference {text!r}")
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost" or first != first.lower()):
        domain, path = first, rest
        if not _HOST.match(domain):
            raise ValueError(f"invalid registry host {domain!r} in reference {text!r}")
    else:
        domain, path = DOCKER_HUB, name
    if domain == "index.docker.io":
        domain = DOCKER_HUB
    if domain == DOCKER_HUB and "/" not in path:
        path = f"library/{path}"
    for component in path.split("/"):
        if not _COMPONENT.match(component):
            raise ValueError(
                f"invalid repository name {path!r} in reference {text!r} "
                "(lowercase letters, digits and . _ - separators only)"
            )
    if len(domain) + 1 + len(path) > 255:
        raise ValueError(f"repository name too long in reference {text!r}")
    if tag is None and digest is None and default_tag:
        tag = "latest"
    return Reference(domain=domain, path=path, tag=tag, digest=digest)


def normalize(text: str) -> str:
    return str(parse(text))
