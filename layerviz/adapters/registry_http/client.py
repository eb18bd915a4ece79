"""The registry client: manifests and blobs of one registry, each request authenticated
(``auth``), redirected by hand, retried when rate-limited, and its answer checked.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
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
RESUMES = 3  # a broken blob is asked for again (with Range) this many times
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
        identity_token: str = "",
        credentials_origin: str = "",
        insecure: bool = False,
        limits: Limits = DEFAULT,
    ) -> None:
        self.host = host
        self.insecure = insecure
        self.limits = limits
        self._scheme: str | None = None
        self._auth = Authenticator(
            host=host,
            username=username,
            password=password or "",
            identity_token=identity_token,
            origin=credentials_origin,
            insecure=insecure,
            limits=limits,
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
    def blob_open(self, *, repo: str, digest: str, size: int) -> Iterator[BlobReader]:
        """A blob of ``size`` bytes (which sets its deadline) as a stream that resumes a broken
        connection (``BlobReader``); the reader of it verifies digest and size."""
        reader = BlobReader(self, repo=repo, digest=digest, size=size)
        try:
            yield reader
        finally:
            reader.close()

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
        start: int = 0,
    ) -> Iterator[httpx.Response]:
        """Send one API request, authenticated, redirects followed by hand, 429s retried, every
        hop's wait for an answer counted against ``deadline`` (the waits a 429 asks for not).

        Yields the final response, whatever its status, with the body not yet read. ``start``
        asks for the bytes from that offset on (``Range``); the answer may still be all of them.
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
            if start:
                headers["Range"] = f"bytes={start}-"
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
            if self._auth.origin and (self._auth.username or self._auth.identity_token):
                why += f"; the credentials came from {self._auth.origin}"
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


class BlobReader:
    """A blob as a ``read(n)`` stream that survives a broken connection: the bytes not yet
    received are asked for again with ``Range: bytes=N-``, up to ``RESUMES`` times.

    A ``206`` whose ``Content-Range`` starts at N continues where the stream stopped; a ``200``
    (a registry or proxy that ignores ``Range``) sends the blob from its start again, and the
    N bytes already passed on are read and dropped, so the reader sees one whole blob either
    way and its digest, checked by whoever reads it, covers every byte. One deadline covers
    all the attempts: resuming does not give a slow registry more time.
    """

    def __init__(self, client: RegistryClient, *, repo: str, digest: str, size: int) -> None:
        self._client = client
        self._repo = repo
        self._path = f"/v2/{repo}/blobs/{digest}"
        self._what = f"blob {digest[:19]}… of {repo}"
        self.size = size
        self.deadline = client._deadline(self._what, size=size, most=size)
        self.offset = 0  # bytes passed on so far
        self.attempts = 0  # requests made
        self._stack = ExitStack()
        self._body: transport.BodyReader | None = None
        self._skip = 0
        self._open()

    def _open(self) -> None:
        """Ask for the bytes from ``offset`` on; note how many the answer repeats."""
        self._stack.close()
        self._stack = ExitStack()
        self.attempts += 1
        client = self._client
        response = self._stack.enter_context(
            client._request(
                "GET",
                self._path,
                self.deadline,
                repo=self._repo,
                what=self._what,
                start=self.offset,
            )
        )
        client._check(response, self._repo, self._what, self.deadline)
        self._skip = 0
        if self.offset and not (
            response.status_code == 206 and _range_start(response) == self.offset
        ):
            if response.status_code != 200:
                self._stack.close()
                raise SourceError(
                    f"registry {client.host} answered the resumed request for {self._what} "
                    f"(bytes {self.offset}-) with {response.status_code} and "
                    f"Content-Range {response.headers.get('content-range', '(none)')!r}"
                )
            self._skip = self.offset
        self._body = transport.BodyReader(
            response, f"{self._what} from registry {client.host}", self.deadline
        )

    def read(self, n: int = -1) -> bytes:
        while True:
            assert self._body is not None
            try:
                data = self._body.read(n if n < 0 else n + self._skip)
            except SourceError as exc:
                if not self._resumable():
                    if self.attempts > 1:
                        raise SourceError(
                            f"{exc.message} (after {self.attempts} requests)"
                        ) from None
                    raise
                self._open()
                continue
            if not data and self.offset < self.size and self._resumable():
                self._open()  # ended early without an error: ask for the rest
                continue
            if self._skip:
                dropped = min(self._skip, len(data))
                self._skip -= dropped
                data = data[dropped:]
                if not data:
                    continue
            self.offset += len(data)
            return data

    def _resumable(self) -> bool:
        """Whether a broken body may be asked for again: not when the registry was too slow
        (that is final), nor more than ``RESUMES`` times."""
        return not self.deadline.late() and self.attempts <= RESUMES and self.offset < self.size

    def close(self) -> None:
        self._stack.close()


def _range_start(response: httpx.Response) -> int | None:
    """The first byte a ``Content-Range: bytes FIRST-LAST/SIZE`` answer holds."""
    unit, _, rest = response.headers.get("content-range", "").strip().partition(" ")
    first = rest.partition("-")[0]
    return int(first) if unit.lower() == "bytes" and first.isdigit() else None
