"""Container registries over the Distribution (OCI) HTTP API, through httpx. The only module
that talks HTTP to registries.

``RegistryClient(host=...)`` pulls manifests and blobs of one registry (``image-format.md`` §4):

* **Authentication.** The first request is ``GET /v2/``; its ``WWW-Authenticate`` challenge
  (parsed as RFC 7235 auth-params) says how to authenticate. ``Bearer``: a token is fetched from
  the realm with ``service`` and ``scope=repository:NAME:pull``, anonymously or with HTTP Basic
  credentials, and cached per (realm, service, scope) until it expires. ``Basic``: the
  credentials go to the registry itself. A later 401 (an expired token, a registry that only
  challenges per repository) re-authenticates once, then fails.
* **Transport security.** Every registry is tried over HTTPS first, with certificates verified
  unless ``insecure``. Plain HTTP is a fallback, used only when the TLS connection fails and the
  host is loopback (127.0.0.0/8, ::1, ``localhost``) or ``insecure`` is set: the same rule
  Docker applies to its default insecure registries, and it keeps a loopback registry that does
  speak TLS on TLS.
* **Manifests.** HEAD first with the four manifest types in ``Accept`` (HEAD is not counted as a
  pull by Docker Hub and gives ``Docker-Content-Digest``), then GET with the same ``Accept``
  because the digest of a tag depends on it. The body is capped at ``Limits.json_bytes`` and its
  digest checked against the digest asked for and every ``Docker-Content-Digest`` received.
* **Blobs** are streamed, never held whole. Redirects are followed by hand so that
  ``Authorization`` only ever goes to the registry's own origin; descriptor ``urls`` (foreign
  layers) are never fetched by this module.
* **Rate limits.** A 429 is retried a few times when ``Retry-After`` is short, then reported.

Every transport exception and refusal becomes a ``SourceError`` naming the registry, the
repository and what happened; content problems are ``DigestMismatch`` or ``LimitExceeded``.
"""

from __future__ import annotations

import base64
import dataclasses
import email.utils
import functools
import ipaddress
import json
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from layerviz.lib import oci
from layerviz.lib.errors import DigestMismatch, FormatError, LimitExceeded, SourceError
from layerviz.lib.limits import DEFAULT, Limits

ACCEPT = ", ".join(oci.ACCEPT)
USER_AGENT = "layerviz"
TIMEOUT = httpx.Timeout(60.0, connect=10.0)
MAX_REDIRECTS = 5
RATE_LIMIT_RETRIES = 3
RATE_LIMIT_MAX_WAIT = 10.0  # seconds; a longer Retry-After fails at once rather than hang
TOKEN_LIFETIME = 60  # seconds, when the token service does not say (auth/token.md)
ERROR_BODY_BYTES = 64 * 1024
CHUNK = 1 << 16
REDIRECTS = (301, 302, 303, 307, 308)
# Content types that say nothing about which manifest type the body is: trust the body then.
GENERIC_TYPES = ("", "application/json", "application/octet-stream", "text/plain")


# --- policy -----------------------------------------------------------------------------------


def hostname(host: str) -> str:
    """The name part of ``host[:port]``: ``[::1]:5000`` -> ``::1``, ``vm:5000`` -> ``vm``."""
    if host.startswith("["):
        return host[1:].partition("]")[0]
    if host.count(":") > 1:  # a bare IPv6 address has no port
        return host
    return host.partition(":")[0]


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback IP literal. Names are not resolved: a name that happens to
    resolve to 127.0.0.1 today may not tomorrow, and DNS is not ours to trust."""
    name = hostname(host).lower().rstrip(".")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def plain_http_allowed(host: str, *, insecure: bool) -> bool:
    return insecure or is_loopback(host)


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


# --- responses --------------------------------------------------------------------------------


@dataclasses.dataclass
class FetchedManifest:
    data: bytes
    media_type: str | None  # from Content-Type; None when the header names no manifest type
    digest: str  # verified against the bytes


def _media_type(response: httpx.Response) -> str:
    return response.headers.get("content-type", "").partition(";")[0].strip().lower()


def _explain(response: httpx.Response) -> str:
    """``404 manifest unknown`` or ``401 unauthorized: authentication required``."""
    code = message = ""
    try:
        body = _read_capped(response, ERROR_BODY_BYTES, "the error")
        errors = json.loads(body).get("errors") if body else None
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            code = str(errors[0].get("code") or "")
            message = str(errors[0].get("message") or "")
    except (ValueError, AttributeError, SourceError, LimitExceeded):
        pass  # no usable body: the status alone explains
    label = code.lower().replace("_", " ") if code else response.reason_phrase.lower()
    text = f"{response.status_code} {label}".rstrip()
    if message and message.lower() != label:
        text += f": {message[:200]}"
    return text


def _read_capped(response: httpx.Response, limit: int, what: str) -> bytes:
    length = response.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise LimitExceeded(f"{what} is {length} bytes (limit {limit})")
    chunks, total = [], 0
    try:
        for chunk in response.iter_bytes(CHUNK):
            total += len(chunk)
            if total > limit:
                raise LimitExceeded(f"{what} is larger than the limit of {limit} bytes")
            chunks.append(chunk)
    except httpx.HTTPError as exc:
        raise SourceError(f"{what} stopped arriving: {_reason(exc)}") from None
    return b"".join(chunks)


def _retry_after(response: httpx.Response) -> float:
    value = response.headers.get("retry-after", "").strip()
    if value.isdigit():
        return float(value)
    if value:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return 1.0
        return max(0.0, when.timestamp() - time.time())
    return 1.0


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.scheme, f"{(parts.hostname or '').lower()}:{port}"


class _BodyReader:
    """A streamed response body as a ``read(n)`` stream; transport errors become SourceError."""

    def __init__(self, response: httpx.Response, what: str) -> None:
        self._chunks = response.iter_bytes(CHUNK)
        self._buf = b""
        self._what = what

    def read(self, n: int = -1) -> bytes:
        if n < 0:
            return self._buf + b"".join(iter(lambda: self._next() or b"", b""))
        while not self._buf:
            chunk = self._next()
            if chunk is None:
                return b""
            self._buf = chunk
        out, self._buf = self._buf[:n], self._buf[n:]
        return out

    def _next(self) -> bytes | None:
        try:
            return next(self._chunks, None)
        except httpx.HTTPError as exc:
            raise SourceError(f"{self._what} stopped arriving: {_reason(exc)}") from None


def _reason(exc: Exception) -> str:
    text = str(exc).splitlines()[0][:300] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# --- the client -------------------------------------------------------------------------------


@dataclasses.dataclass
class _Token:
    value: str
    expires: float


class RegistryClient:
    """One registry (``host[:port]`` of its API) and the credentials to use with it."""

    def __init__(
        self,
        *,
        host: str,
        username: str | None = None,
        password: str | None = None,
        insecure: bool = False,
        limits: Limits = DEFAULT,
    ) -> None:
        self.host = host
        self.username = username
        self.password = password or ""
        self.insecure = insecure
        self.limits = limits
        self._scheme: str | None = None
        self._challenge: Challenge | None = None
        self._tokens: dict[tuple[str, str, str], _Token] = {}

    @functools.cached_property
    def _http(self) -> httpx.Client:
        return httpx.Client(
            verify=not self.insecure,
            timeout=TIMEOUT,
            follow_redirects=False,
            headers={"User-Agent": USER_AGENT},
        )

    def close(self) -> None:
        if "_http" in self.__dict__:
            self._http.close()

    # --- public calls ---------------------------------------------------------------------

    def manifest_get(self, *, repo: str, ref: str) -> FetchedManifest:
        """The manifest or index ``ref`` (a tag or a digest) names, verified by digest.

        1. For a tag, HEAD gives the digest (``Docker-Content-Digest``); a refused HEAD, or one
           without the header, is not an error: GET still carries it on most registries.
        2. GET with the same ``Accept``, body capped at ``Limits.json_bytes``.
        3. The bytes must hash to the digest asked for and to every digest the registry sent.
        """
        what = f"manifest {repo}{'@' if ':' in ref else ':'}{ref}"
        path = f"/v2/{repo}/manifests/{ref}"
        claims: list[str] = [ref] if ":" in ref else []
        if not claims:
            with self._request("HEAD", path, repo=repo, what=what, accept=ACCEPT) as head:
                if head.status_code == 429:
                    self._check(head, repo, what)  # retried already; GET would be refused too
                if head.status_code == 200 and head.headers.get("docker-content-digest"):
                    claims.append(self._header_digest(head, what))
        with self._request("GET", path, repo=repo, what=what, accept=ACCEPT) as response:
            self._check(response, repo, what)
            if response.headers.get("docker-content-digest"):
                claims.append(self._header_digest(response, what))
            data = _read_capped(
                response, self.limits.json_bytes, f"{what} from registry {self.host}"
            )
            media_type = _media_type(response)
        digest = oci.digest_of(data, claims[0] if claims else "sha256:")
        for claim in claims:
            if oci.digest_of(data, claim) != claim:
                raise DigestMismatch(
                    f"{what} from registry {self.host} hashes to "
                    f"{oci.digest_of(data, claim)}, not to {claim}"
                )
        return FetchedManifest(
            data=data,
            media_type=None if media_type in GENERIC_TYPES else media_type,
            digest=digest,
        )

    def blob_get(self, *, repo: str, digest: str, limit: int) -> bytes:
        """A small blob (an image config) read whole, at most ``limit`` bytes; not verified."""
        what = f"blob {digest[:19]}… of {repo}"
        with self._request("GET", f"/v2/{repo}/blobs/{digest}", repo=repo, what=what) as response:
            self._check(response, repo, what)
            return _read_capped(response, limit, f"{what} from registry {self.host}")

    @contextmanager
    def blob_open(self, *, repo: str, digest: str) -> Iterator[_BodyReader]:
        """A blob as a stream; the reader of it verifies digest and size."""
        what = f"blob {digest[:19]}… of {repo}"
        with self._request("GET", f"/v2/{repo}/blobs/{digest}", repo=repo, what=what) as response:
            self._check(response, repo, what)
            yield _BodyReader(response, f"{what} from registry {self.host}")

    # --- requests ---------------------------------------------------------------------------

    @contextmanager
    def _request(
        self, method: str, path: str, *, repo: str, what: str, accept: str | None = None
    ) -> Iterator[httpx.Response]:
        """Send one API request, authenticated, redirects followed by hand, 429s retried.

        Yields the final response, whatever its status, with the body not yet read.
        """
        base = self._base()
        authorization = self._authorization(repo)
        url = base + path
        reauthenticated = False
        throttled = 0
        hops = 0
        while True:
            headers = {"Accept-Encoding": "identity"}
            if accept:
                headers["Accept"] = accept
            # Credentials only ever go to the registry's own origin (spec.md: MUST NOT forward
            # Authorization on a redirect to another host).
            if authorization and _origin(url) == _origin(base):
                headers["Authorization"] = authorization
            response = self._send(method, url, headers, what)
            status = response.status_code
            if status in REDIRECTS and "location" in response.headers:
                response.close()
                hops += 1
                if hops > MAX_REDIRECTS:
                    raise SourceError(
                        f"registry {self.host} redirected {what} more than {MAX_REDIRECTS} times"
                    )
                url = self._redirect_target(url, response.headers["location"], what)
                continue
            if status == 401 and _origin(url) == _origin(base) and not reauthenticated:
                challenge = _preferred(
                    parse_challenges(response.headers.get("www-authenticate", ""))
                )
                # Retry once: with a fresh token, or with credentials not yet sent. The same
                # Basic credentials twice would only be refused twice.
                if challenge is not None and (challenge.scheme == "bearer" or not authorization):
                    reauthenticated = True
                    response.close()
                    self._challenge = challenge
                    self._tokens.clear()
                    authorization = self._authorization(repo)
                    if authorization is None:
                        raise SourceError(
                            f"registry {self.host} requires a user name and password to pull "
                            f"{repo} (401 unauthorized)"
                        )
                    url = base + path
                    continue
            if status == 429 and throttled < RATE_LIMIT_RETRIES:
                wait = _retry_after(response)
                if wait <= RATE_LIMIT_MAX_WAIT:
                    response.close()
                    throttled += 1
                    time.sleep(wait)
                    continue
            try:
                yield response
            finally:
                response.close()
            return

    def _send(self, method: str, url: str, headers: dict[str, str], what: str) -> httpx.Response:
        try:
            return self._http.send(
                self._http.build_request(method, url, headers=headers), stream=True
            )
        except httpx.HTTPError as exc:
            raise SourceError(
                f"cannot fetch {what} from registry {self.host}: {_reason(exc)}"
            ) from None

    def _check(self, response: httpx.Response, repo: str, what: str) -> None:
        status = response.status_code
        if 200 <= status < 300:
            return
        why = _explain(response)
        if status in (401, 403):
            raise SourceError(f"registry {self.host} refused access to {repo} ({why})")
        if status == 404:
            raise SourceError(f"registry {self.host} has no {what} ({why})")
        if status == 429:
            raise SourceError(
                f"registry {self.host} is limiting requests for {repo} ({why}; it asks to "
                f"retry after {_retry_after(response):.0f} s)"
            )
        raise SourceError(f"registry {self.host} answered the request for {what} with {why}")

    def _header_digest(self, response: httpx.Response, what: str) -> str:
        value = response.headers["docker-content-digest"].strip()
        try:
            return oci.check_digest(value, f"the Docker-Content-Digest of {what}")
        except FormatError as exc:
            raise FormatError(f"registry {self.host}: {exc.message}") from None

    def _redirect_target(self, current: str, location: str, what: str) -> str:
        target = urljoin(current, location)
        parts = urlsplit(target)
        if parts.scheme == "https" or (
            parts.scheme == "http"
            and plain_http_allowed(parts.hostname or "", insecure=self.insecure)
        ):
            return target
        raise SourceError(
            f"registry {self.host} redirected {what} to {parts.scheme}://{parts.hostname}, "
            "which is not HTTPS (plain HTTP is allowed only for loopback hosts or when insecure)"
        )

    # --- scheme and authentication ---------------------------------------------------------------

    def _base(self) -> str:
        """``https://host``, or ``http://host`` when TLS fails and plain HTTP is allowed.

        Found once with ``GET /v2/``, which also brings the registry's auth challenge.
        """
        if self._scheme is None:
            try:
                response = self._ping("https")
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                if not plain_http_allowed(self.host, insecure=self.insecure):
                    raise SourceError(
                        f"cannot reach registry {self.host} over HTTPS ({_reason(exc)}); plain "
                        "HTTP is used only for loopback registries or when insecure"
                    ) from None
                try:
                    response = self._ping("http")
                except httpx.HTTPError as exc2:
                    raise SourceError(
                        f"cannot reach registry {self.host} over HTTPS ({_reason(exc)}) "
                        f"nor over HTTP ({_reason(exc2)})"
                    ) from None
            except httpx.HTTPError as exc:
                raise SourceError(f"cannot reach registry {self.host}: {_reason(exc)}") from None
            self._scheme = response.url.scheme
            if response.status_code == 401:
                self._challenge = _preferred(
                    parse_challenges(response.headers.get("www-authenticate", ""))
                )
        return f"{self._scheme}://{self.host}"

    def _ping(self, scheme: str) -> httpx.Response:
        request = self._http.build_request("GET", f"{scheme}://{self.host}/v2/")
        response = self._http.send(request, stream=True)
        response.close()  # only the status and the challenge matter
        return response

    def _authorization(self, repo: str) -> str | None:
        challenge = self._challenge
        if challenge is None:
            return None
        if challenge.scheme == "basic":
            return self._basic() if self.username else None
        return f"Bearer {self._token(challenge, repo)}"

    def _basic(self) -> str:
        pair = f"{self.username or ''}:{self.password}".encode()
        return f"Basic {base64.b64encode(pair).decode()}"

    def _token(self, challenge: Challenge, repo: str) -> str:
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
        if parts.scheme == "http" and not plain_http_allowed(
            parts.hostname or "", insecure=self.insecure
        ):
            raise SourceError(
                f"registry {self.host} sends token requests to {realm}, over plain HTTP "
                "(allowed only for loopback hosts or when insecure)"
            )
        params = {"scope": scope}
        if service:
            params["service"] = service
        headers = {"Authorization": self._basic()} if self.username else {}
        request = self._http.build_request("GET", realm, params=params, headers=headers)
        try:
            response = self._http.send(request, stream=True)
            try:
                if response.status_code != 200:
                    who = f"user {self.username!r}" if self.username else "anonymous access"
                    raise SourceError(
                        f"registry {self.host} refused access to {repo} (its token service "
                        f"{realm} refused {who}: {_explain(response)})"
                    )
                body = _token_body(response, realm)
            finally:
                response.close()
        except httpx.HTTPError as exc:
            raise SourceError(
                f"cannot reach the token service {realm} of registry {self.host}: {_reason(exc)}"
            ) from None
        value = body.get("token") or body.get("access_token")
        if not isinstance(value, str) or not value:
            raise SourceError(f"the token service {realm} of registry {self.host} sent no token")
        lifetime = body.get("expires_in")
        if not isinstance(lifetime, int) or isinstance(lifetime, bool) or lifetime <= 0:
            lifetime = TOKEN_LIFETIME
        # Refresh a little early so a token never expires between the check and its use.
        self._tokens[key] = _Token(value, time.monotonic() + max(lifetime - 10, 1))
        return value


def _token_body(response: httpx.Response, realm: str) -> dict[str, Any]:
    try:
        body = json.loads(_read_capped(response, ERROR_BODY_BYTES, f"the answer of {realm}"))
    except LimitExceeded as exc:
        raise SourceError(exc.message) from None
    except ValueError:
        raise SourceError(f"the token service {realm} sent something other than JSON") from None
    if not isinstance(body, dict):
        raise SourceError(f"the token service {realm} sent something other than a JSON object")
    return body


def _preferred(challenges: list[Challenge]) -> Challenge | None:
    """Bearer when offered (it scopes access to one repository), else Basic."""
    for scheme in ("bearer", "basic"):
        for challenge in challenges:
            if challenge.scheme == scheme:
                return challenge
    return None
