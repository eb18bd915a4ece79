"""How the registry adapter authenticates: the ``WWW-Authenticate`` challenges a registry
sends (RFC 7235), and the ``Authorization`` its requests carry in answer (Basic credentials, or
a Bearer token fetched from the challenge's realm and cached until it expires).
"""

from __future__ import annotations

import base64
import dataclasses
import json
import re
import threading
import time
from typing import Any
from urllib.parse import urlsplit

import httpx

from layerviz.lib.errors import LimitExceeded, SourceError
from layerviz.lib.limits import Limits

from . import transport

CLIENT_ID = "layerviz"  # the OAuth2 client_id sent with a refresh token (auth/oauth.md)
TOKEN_LIFETIME = 60  # seconds, when the token service does not say (auth/token.md)


# --- WWW-Authenticate (RFC 7235) --------------------------------------------------------------

_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_QUOTED = r'"(?:[^"\\]|\\.)*"'
_SCHEME = re.compile(rf"[\s,]*({_TOKEN})")
_PARAM = re.compile(rf"[\s,]*({_TOKEN})\s*=\s*({_TOKEN}|{_QUOTED})")
_TOKEN68 = re.compile(r"\s+([A-Za-z0-9._~+/-]+=*)\s*(?:,|$)")


@dataclasses.dataclass(frozen=True)
class Challenge:
    scheme: str  # lower case: "bearer", "basic"
    params: dict[str, str]


def parse_challenges(header: str) -> list[Challenge]:
    """``Bearer realm="…",scope="repository:a:pull,push", Basic realm="x"`` -> two challenges.

    Quoted values may hold commas; parameter names are case-insensitive; a token68 (``Negotiate
    abc==``) is skipped. Anything unparseable ends the list rather than guessing.
    """
    out: list[Challenge] = []
    pos = 0
    while pos < len(header):
        scheme = _SCHEME.match(header, pos)
        if scheme is None:
            break
        pos = scheme.end()
        params: dict[str, str] = {}
        token68 = _TOKEN68.match(header, pos)
        if token68 is not None and not _PARAM.match(header, pos):
            pos = token68.end()
        else:
            while (param := _PARAM.match(header, pos)) is not None:
                value = param.group(2)
                if value.startswith('"'):
                    value = re.sub(r"\\(.)", r"\1", value[1:-1])
                params[param.group(1).lower()] = value
                pos = param.end()
        out.append(Challenge(scheme.group(1).lower(), params))
        if header[pos:].strip(" \t,") == "":
            break
    return out


def preferred(challenges: list[Challenge]) -> Challenge | None:
    """Bearer when offered (it scopes access to one repository), else Basic."""
    for scheme in ("bearer", "basic"):
        for challenge in challenges:
            if challenge.scheme == scheme:
                return challenge
    return None


# --- Authorization ----------------------------------------------------------------------------


@dataclasses.dataclass
class _Token:
    value: str
    expires: float


class Authenticator:
    """The ``Authorization`` for one registry's requests: the challenge it answers, the
    credentials, the tokens fetched so far."""

    def __init__(
        self,
        *,
        host: str,
        username: str | None,
        password: str,
        insecure: bool,
        limits: Limits,
        identity_token: str = "",
        origin: str = "",
    ) -> None:
        self.host = host
        self.username = username
        self.password = password
        # A refresh token (docker's ``identitytoken``): exchanged at the token service with the
        # OAuth2 refresh_token grant (auth/oauth.md) instead of sending a password.
        self.identity_token = identity_token
        self.origin = origin  # where the credentials came from, for refusals: "~/.docker/…"
        self.insecure = insecure
        self.limits = limits
        self.challenge: Challenge | None = None
        self._tokens: dict[tuple[str, str, str], _Token] = {}
        # Layers download from several threads; one of them fetches a token, the others wait.
        self._lock = threading.Lock()

    def rechallenged(self, challenge: Challenge) -> None:
        """Answer ``challenge`` from now on, with none of the tokens fetched before."""
        self.challenge = challenge
        self._tokens.clear()

    def authorization(self, http: httpx.Client, repo: str) -> str | None:
        """The header value for a request about ``repo`` (None: send none), a token fetched
        through ``http`` when the cache has no live one."""
        challenge = self.challenge
        if challenge is None:
            return None
        if challenge.scheme == "basic":
            return self._basic() if self.username else None
        with self._lock:
            return f"Bearer {self._token(http, challenge, repo)}"

    def _basic(self) -> str:
        pair = f"{self.username or ''}:{self.password}".encode()
        return f"Basic {base64.b64encode(pair).decode()}"

    def _token(self, http: httpx.Client, challenge: Challenge, repo: str) -> str:
        """A Bearer token for pulling ``repo``, from the cache or the challenge's realm."""
        realm = challenge.params.get("realm", "")
        service = challenge.params.get("service", "")
        scope = f"repository:{repo}:pull"
        key = (realm, service, scope)
        cached = self._tokens.get(key)
        if cached is not None and cached.expires > time.monotonic():
            return cached.value
        parts = urlsplit(realm)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise SourceError(
                f"registry {self.host} names an invalid token service {realm!r} for {repo}"
            )
        if parts.scheme == "http" and not transport.plain_http_allowed(
            parts.hostname or "", insecure=self.insecure
        ):
            raise SourceError(
                f"registry {self.host} sends token requests to {realm}, over plain HTTP "
                "(allowed only for loopback hosts or when insecure)"
            )
        params = {"scope": scope}
        if service:
            params["service"] = service
        if self.identity_token:
            form = {
                "grant_type": "refresh_token",
                "refresh_token": self.identity_token,
                "client_id": CLIENT_ID,
                **params,
            }
            request = http.build_request("POST", realm, data=form)
        else:
            headers = {"Authorization": self._basic()} if self.username else {}
            request = http.build_request("GET", realm, params=params, headers=headers)
        deadline = transport.Deadline.of(
            f"the token for {repo} from {realm}", self.limits, most=transport.ERROR_BODY_BYTES
        )
        try:
            with deadline.waiting():
                response = http.send(request, stream=True)
            try:
                if response.status_code != 200:
                    who = (
                        "the identity token"
                        if self.identity_token
                        else f"user {self.username!r}"
                        if self.username
                        else "anonymous access"
                    )
                    if self.origin:
                        who += f" (from {self.origin})"
                    raise SourceError(
                        f"registry {self.host} refused access to {repo} (its token service "
                        f"{realm} refused {who}: {transport.explain(response, deadline)})"
                    )
                body = _token_body(response, realm, deadline)
            finally:
                response.close()
        except httpx.HTTPError as exc:
            raise SourceError(
                f"cannot reach the token service {realm} of registry {self.host}: "
                f"{transport.reason(exc)}"
            ) from None
        value = body.get("token") or body.get("access_token")
        if not isinstance(value, str) or not value:
            raise SourceError(f"the token service {realm} of registry {self.host} sent no token")
        lifetime = body.get("expires_in")
        if not isinstance(lifetime, int) or isinstance(lifetime, bool) or lifetime <= 0:
            lifetime = TOKEN_LIFETIME
        refreshed = body.get("refresh_token")
        if self.identity_token and isinstance(refreshed, str) and refreshed:
            self.identity_token = refreshed  # the service may rotate it (auth/oauth.md)
        # Refresh a little early so a token never expires between the check and its use.
        self._tokens[key] = _Token(value, time.monotonic() + max(lifetime - 10, 1))
        return value


def _token_body(
    response: httpx.Response, realm: str, deadline: transport.Deadline
) -> dict[str, Any]:
    try:
        body = json.loads(
            transport.read_capped(
                response, transport.ERROR_BODY_BYTES, f"the answer of {realm}", deadline
            )
        )
    except LimitExceeded as exc:
        raise SourceError(exc.message) from None
    except ValueError:
        raise SourceError(f"the token service {realm} sent something other than JSON") from None
    if not isinstance(body, dict):
        raise SourceError(f"the token service {realm} sent something other than a JSON object")
    return body
