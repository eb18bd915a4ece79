"""The registry client: manifests and blobs of one registry, each request authenticated
(``auth``), redirected by hand, retried when rate-limited, and its answer checked.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urljoin, urlsplit

import httpx

from layerviz.lib import oci
from layerviz.lib.errors import DigestMismatch, FormatError, SourceError
from layerviz.lib.limits import DEFAULT, Limits

from . import transport
from .auth import Authenticator, parse_challenges, preferred

ACCEPT = ", ".join(oci.ACCEPT)
USER_AGENT = "layerviz"
TIMEOUT = httpx.Timeout(60.0, connect=10.0)
MAX_REDIRECTS = 5
RATE_LIMIT_RETRIES = 3
RATE_LIMIT_MAX_WAIT = 10.0  # seconds; a longer Retry-After fails at once rather than hang
REDIRECTS = (301, 302, 303, 307, 308)
# Content types that say nothing about which manifest type the body is: trust the body then.
GENERIC_TYPES = ("", "application/json", "application/octet-stream", "text/plain")


@dataclasses.dataclass
class FetchedManifest:
    data: bytes
    media_type: str | None  # from Content-Type; None when the header names no manifest type
    digest: str  # verified against the bytes


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
        self.insecure = insecure
        self.limits = limits
        self._scheme: str | None = None
        self._auth = Authenticator(
            host=host, username=username, password=password or "", insecure=insecure, limits=limits
        )

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

    def manifest_get(self, *, repo: str, ref: str, size: int | None = None) -> FetchedManifest:
        """The manifest or index ``ref`` (a tag or a digest) names, verified by digest; ``size``
        (an index entry's) sets its deadline, else the cap on JSON does.

        1. For a tag, HEAD gives the digest (``Docker-Content-Digest``); a refused HEAD, or one
           without the header, is not an error: GET still carries it on most registries.
        2. GET with the same ``Accept``, body capped at ``Limits.json_bytes``.
        3. The bytes must hash to the digest asked for and to every digest the registry sent.
        """
        what = f"manifest {repo}{'@' if ':' in ref else ':'}{ref}"
        path = f"/v2/{repo}/manifests/{ref}"
        claims: list[str] = [ref] if ":" in ref else []
        # One deadline for the HEAD and the GET: together they bring one manifest.
        deadline = self._deadline(what, size=size, most=self.limits.json_bytes)
        if not claims:
            with self._request("HEAD", path, deadline, repo=repo, what=what, accept=ACCEPT) as head:
                if head.status_code == 429:
                    # retried already; GET would be refused too
                    self._check(head, repo, what, deadline)
                if head.status_code == 200 and head.headers.get("docker-content-digest"):
                    claims.append(self._header_digest(head, what))
        with self._request("GET", path, deadline, repo=repo, what=what, accept=ACCEPT) as response:
            self._check(response, repo, what, deadline)
            if response.headers.get("docker-content-digest"):
                claims.append(self._header_digest(response, what))
            data = transport.read_capped(
                response, self.limits.json_bytes, f"{what} from registry {self.host}", deadline
            )
            media_type = transport.media_type(response)
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

    def blob_get(self, *, repo: str, digest: str, size: int, limit: int) -> bytes:
        """A small blob (an image config) of ``size`` bytes, as its descriptor says, read whole,
        at most ``limit`` bytes; not verified."""
        what = f"blob {digest[:19]}… of {repo}"
        deadline = self._deadline(what, size=size, most=limit)
        path = f"/v2/{repo}/blobs/{digest}"
        with self._request("GET", path, deadline, repo=repo, what=what) as response:
            self._check(response, repo, what, deadline)
            return transport.read_capped(
                response, limit, f"{what} from registry {self.host}", deadline
            )

    @contextmanager
    def blob_open(self, *, repo: str, digest: str, size: int) -> Iterator[transport.BodyReader]:
        """A blob of ``size`` bytes (which sets its deadline) as a stream; the reader of it
        verifies digest and size."""
        what = f"blob {digest[:19]}… of {repo}"
        deadline = self._deadline(what, size=size, most=size)
        path = f"/v2/{repo}/blobs/{digest}"
        with self._request("GET", path, deadline, repo=repo, what=what) as response:
            self._check(response, repo, what, deadline)
            yield transport.BodyReader(response, f"{what} from registry {self.host}", deadline)

    # --- requests ---------------------------------------------------------------------------

    def _deadline(self, what: str, *, size: int | None, most: int) -> transport.Deadline:
        return transport.Deadline.of(
            f"{what} from registry {self.host}", self.limits, size=size, most=most
        )

    @contextmanager
    def _request(
        self,
        method: str,
        path: str,
        deadline: transport.Deadline,
        *,
        repo: str,
        what: str,
        accept: str | None = None,
    ) -> Iterator[httpx.Response]:
        """Send one API request, authenticated, redirects followed by hand, 429s retried, every
        hop's wait for an answer counted against ``deadline`` (the waits a 429 asks for not).

        Yields the final response, whatever its status, with the body not yet read.
        """
        base = self._base()
        authorization = self._auth.authorization(self._http, repo)
        url = base + path
        home = transport.origin(base)
        reauthenticated = False
        throttled = 0
        hops = 0
        while True:
            headers = {"Accept-Encoding": "identity"}
            if accept:
                headers["Accept"] = accept
            # Credentials only ever go to the registry's own origin (spec.md: MUST NOT forward
            # Authorization on a redirect to another host).
            if authorization and transport.origin(url) == home:
                headers["Authorization"] = authorization
            # The wait for the answer counts; it is checked as the answer's body is read.
            with deadline.waiting():
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
            if status == 401 and transport.origin(url) == home and not reauthenticated:
                challenge = preferred(
                    parse_challenges(response.headers.get("www-authenticate", ""))
                )
                # Retry once: with a fresh token, or with credentials not yet sent. The same
                # Basic credentials twice would only be refused twice.
                if challenge is not None and (challenge.scheme == "bearer" or not authorization):
                    reauthenticated = True
                    response.close()
                    self._auth.rechallenged(challenge)
                    authorization = self._auth.authorization(self._http, repo)
                    if authorization is None:
                        raise SourceError(
                            f"registry {self.host} requires a user name and password to pull "
                            f"{repo} (401 unauthorized)"
                        )
                    url = base + path
                    continue
            if status == 429 and throttled < RATE_LIMIT_RETRIES:
                wait = transport.retry_after(response)
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
                f"cannot fetch {what} from registry {self.host}: {transport.reason(exc)}"
            ) from None

    def _check(
        self, response: httpx.Response, repo: str, what: str, deadline: transport.Deadline
    ) -> None:
        status = response.status_code
        if 200 <= status < 300:
            return
        why = transport.explain(response, deadline)
        if status in (401, 403):
            raise SourceError(f"registry {self.host} refused access to {repo} ({why})")
        if status == 404:
            raise SourceError(f"registry {self.host} has no {what} ({why})")
        if status == 429:
            raise SourceError(
                f"registry {self.host} is limiting requests for {repo} ({why}; it asks to "
                f"retry after {transport.retry_after(response):.0f} s)"
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
            and transport.plain_http_allowed(parts.hostname or "", insecure=self.insecure)
        ):
            return target
        raise SourceError(
            f"registry {self.host} redirected {what} to {parts.scheme}://{parts.hostname}, "
            "which is not HTTPS (plain HTTP is allowed only for loopback hosts or when insecure)"
        )

    # --- the scheme, and the challenge that comes with it -----------------------------------

    def _base(self) -> str:
        """``https://host``, or ``http://host`` when TLS fails and plain HTTP is allowed.

        Found once with ``GET /v2/``, which also brings the registry's auth challenge.
        """
        if self._scheme is None:
            try:
                response = self._ping("https")
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                if not transport.plain_http_allowed(self.host, insecure=self.insecure):
                    raise SourceError(
                        f"cannot reach registry {self.host} over HTTPS ({transport.reason(exc)}); "
                        "plain HTTP is used only for loopback registries or when insecure"
                    ) from None
                try:
                    response = self._ping("http")
                except httpx.HTTPError as exc2:
                    raise SourceError(
                        f"cannot reach registry {self.host} over HTTPS ({transport.reason(exc)}) "
                        f"nor over HTTP ({transport.reason(exc2)})"
                    ) from None
            except httpx.HTTPError as exc:
                raise SourceError(
                    f"cannot reach registry {self.host}: {transport.reason(exc)}"
                ) from None
            self._scheme = response.url.scheme
            if response.status_code == 401:
                self._auth.challenge = preferred(
                    parse_challenges(response.headers.get("www-authenticate", ""))
                )
        return f"{self._scheme}://{self.host}"

    def _ping(self, scheme: str) -> httpx.Response:
        request = self._http.build_request("GET", f"{scheme}://{self.host}/v2/")
        response = self._http.send(request, stream=True)
        response.close()  # only the status and the challenge matter
        return response
