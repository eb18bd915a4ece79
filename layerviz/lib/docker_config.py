"""Registry credentials where docker keeps them: ``config.json`` in ``$DOCKER_CONFIG`` (else
``~/.docker``), and the ``docker-credential-<name>`` helpers it names.

``credentials_for(host)`` looks, for the registry ``host`` (``host[:port]`` of its API), in the
order docker itself does:

1. ``credHelpers[host]``: that helper alone answers for the host;
2. ``credsStore``: the default helper, for every host;
3. ``auths[host]``: ``auth`` (base64 of ``user:password``) and ``identitytoken``.

A helper that answers "credentials not found" means no credentials from it, and the next place
is asked. Keys are compared as docker compares them: Docker Hub is ``https://index.docker.io/v1/``
(what ``docker login`` writes for it), any other registry its ``host[:port]``, and a key written
with a scheme or a path (``https://host:5000/v1/``) names its host.

Helper protocol (docker-credential-helpers): ``docker-credential-<name> get`` with the server
URL on stdin, then ``{"ServerURL", "Username", "Secret"}`` on stdout; a ``Username`` of
``<token>`` makes ``Secret`` an identity token (a refresh token for the registry's token
service) rather than a password.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import os
import shutil
import subprocess
from pathlib import Path

from .errors import ConfigError, SourceError

DOCKER_HUB_KEY = "https://index.docker.io/v1/"
DOCKER_HUB_HOSTS = ("registry-1.docker.io", "index.docker.io", "docker.io")
HELPER_TIMEOUT = 30.0  # seconds; a helper may unlock a keychain, but must not hang a worker
NOT_FOUND = "credentials not found"
TOKEN_USER = "<token>"


@dataclasses.dataclass(frozen=True)
class Credentials:
    username: str = ""
    password: str = ""
    identity_token: str = ""  # an OAuth2 refresh token for the registry's token service
    origin: str = ""  # where they came from, for messages: "credential helper 'pass'"


def config_dir() -> Path:
    """``$DOCKER_CONFIG``, else ``~/.docker``, as the docker CLI decides it."""
    configured = os.environ.get("DOCKER_CONFIG", "").strip()
    return Path(configured) if configured else Path.home() / ".docker"


def server_key(host: str) -> str:
    """The key docker files the credentials of the registry ``host`` under."""
    name = hostname_of(host)
    return DOCKER_HUB_KEY if name in DOCKER_HUB_HOSTS else name


def hostname_of(key: str) -> str:
    """``https://host:5000/v1/`` -> ``host:5000`` (docker's ``ConvertToHostname``)."""
    name = key.removeprefix("http://").removeprefix("https://")
    return name.partition("/")[0].lower()


def credentials_for(host: str, directory: Path | None = None) -> Credentials | None:
    """The credentials docker would use for ``host``, or None for anonymous."""
    path = (directory or config_dir()) / "config.json"
    config = _load(path)
    key = server_key(host)
    helpers = config.get("credHelpers") or {}
    if not isinstance(helpers, dict):
        raise ConfigError(f"{path}: credHelpers is not an object")
    for name, helper in helpers.items():
        if _same_host(name, key) and helper:
            found = helper_get(str(helper), key)
            if found is not None:
                return found
    store = config.get("credsStore")
    if isinstance(store, str) and store:
        found = helper_get(store, key)
        if found is not None:
            return found
    return _from_auths(config, key, path)


def _load(path: Path) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the docker config {path}: {exc}") from None
    try:
        config = json.loads(text) if text.strip() else {}
    except ValueError as exc:
        raise ConfigError(f"the docker config {path} is not valid JSON: {exc}") from None
    if not isinstance(config, dict):
        raise ConfigError(f"the docker config {path} is not a JSON object")
    return config


def _same_host(key: str, wanted: str) -> bool:
    if wanted == DOCKER_HUB_KEY:
        return key == DOCKER_HUB_KEY or hostname_of(key) in DOCKER_HUB_HOSTS
    return hostname_of(key) == wanted


def _from_auths(config: dict, key: str, path: Path) -> Credentials | None:
    auths = config.get("auths") or {}
    if not isinstance(auths, dict):
        raise ConfigError(f"{path}: auths is not an object")
    # The exact key first, then any key naming the same host (written with a scheme or path).
    names = sorted(auths, key=lambda name: name != key)
    for name in names:
        entry = auths[name]
        if not _same_host(name, key) or not isinstance(entry, dict):
            continue
        username = str(entry.get("username") or "")
        password = str(entry.get("password") or "")
        encoded = entry.get("auth")
        if isinstance(encoded, str) and encoded:
            try:
                pair = base64.b64decode(encoded, validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                raise ConfigError(
                    f"{path}: the auth of {name!r} is not base64 of user:password"
                ) from None
            username, sep, password = pair.partition(":")
            if not sep:
                raise ConfigError(
                    f"{path}: the auth of {name!r} has no ':' between user and password"
                )
        token = str(entry.get("identitytoken") or "")
        if username or token:
            return Credentials(username, password, token, origin=f"{path} (auths {name!r})")
    return None


def helper_get(helper: str, server: str) -> Credentials | None:
    """Ask ``docker-credential-<helper>`` for the credentials of ``server``; None when it has
    none. A helper missing, failing or answering nonsense is a ``SourceError`` naming it."""
    program = f"docker-credential-{helper}"
    found = shutil.which(program)
    if found is None:
        raise SourceError(
            f"the docker config names the credential helper {helper!r}, but {program} is not "
            "on PATH"
        )
    try:
        result = subprocess.run(
            [found, "get"],
            input=server,
            capture_output=True,
            text=True,
            timeout=HELPER_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        raise SourceError(
            f"credential helper {program} did not answer for {server} within {HELPER_TIMEOUT:.0f} s"
        ) from None
    except OSError as exc:
        raise SourceError(f"cannot run credential helper {program}: {exc}") from None
    if result.returncode != 0:
        said = (result.stdout.strip() + " " + result.stderr.strip()).strip()
        if NOT_FOUND in said.lower():
            return None
        raise SourceError(
            f"credential helper {program} failed for {server} (exit {result.returncode}): "
            f"{said[:500] or 'no message'}"
        )
    try:
        answer = json.loads(result.stdout)
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise SourceError(
            f"credential helper {program} answered {server} with something other than a JSON object"
        )
    username = str(answer.get("Username") or "")
    secret = str(answer.get("Secret") or "")
    origin = f"credential helper {program}"
    if username == TOKEN_USER:
        return Credentials(identity_token=secret, origin=origin)
    if not username and not secret:
        return None
    return Credentials(username, secret, origin=origin)
