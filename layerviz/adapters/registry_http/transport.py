"""What every request of the registry adapter shares, to a registry or to its token service:
which hosts may be spoken to over plain HTTP, how long it may take (``Deadline``), and how a
response is read (its body capped or streamed, a refusal explained, a ``Retry-After`` honoured)
with transport errors turned into ``SourceError``.
"""

from __future__ import annotations

import dataclasses
import email.utils
import ipaddress
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import httpx

from layerviz.lib.errors import LimitExceeded, SourceError
from layerviz.lib.limits import Limits, env_name

ERROR_BODY_BYTES = 64 * 1024
CHUNK = 1 << 16


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
    """Whether ``host`` may be spoken to without TLS: when insecure, or when it is loopback."""
    return insecure or is_loopback(host)


# --- deadlines --------------------------------------------------------------------------------


@dataclasses.dataclass
class Deadline:
    """How long a registry may take over one document (a blob, a manifest, a token): the first
    ``floor`` seconds free, then ``min_rate`` bytes a second, checked as the bytes arrive, so
    that one trickling is cut off as soon as it falls behind rather than at the end of its
    whole allowance. httpx's timeout is per read, which a registry sending a few bytes a second
    never reaches.

    Only the time spent waiting on the registry counts (``waiting``): while the indexer works
    on what came, the registry cannot send (TCP holds it back), and that is not its fault.
    A registry that sends nothing at all is still cut off by the read timeout
    (``client.TIMEOUT``), since a deadline is checked when bytes arrive.
    """

    what: str  # "blob sha256:… of repo from registry host"
    size: int  # the bytes expected: the size a descriptor gives, else the most that is read
    exact: bool  # whether ``size`` is the size, not a cap
    min_rate: int  # bytes a second; 0: no deadline
    floor: int  # seconds
    received: int = 0
    waited: float = 0.0

    @classmethod
    def of(cls, what: str, limits: Limits, *, size: int | None = None, most: int) -> Deadline:
        """The deadline of ``what``, ``size`` bytes when known, else at most ``most``."""
        return cls(
            what=what,
            size=most if size is None else size,
            exact=size is not None,
            min_rate=limits.registry_min_rate,
            floor=limits.registry_deadline_floor,
        )

    @contextmanager
    def waiting(self) -> Iterator[None]:
        """Count the time in this block as spent waiting on the registry."""
        start = time.monotonic()
        try:
            yield
        finally:
            self.waited += time.monotonic() - start

    def arrived(self, n: int) -> None:
        self.received += n

    def late(self) -> bool:
        """Whether the registry has fallen behind the rate."""
        return bool(self.min_rate) and self.waited > self.floor + self.received / self.min_rate

    def too_slow(self) -> str:
        size = f"{self.size:,}" if self.exact else f"at most {self.size:,}"
        return (
            f"{self.what} is arriving too slowly: {self.received:,} of {size} bytes came in "
            f"{self.waited:.1f} s; a registry must send {self.min_rate:,} bytes/s or more after "
            f"the first {self.floor} s ({env_name('registry_min_rate')}, "
            f"{env_name('registry_deadline_floor')}), so all of it within "
            f"{self.floor + self.size / self.min_rate:.1f} s"
        )


# --- responses --------------------------------------------------------------------------------


def media_type(response: httpx.Response) -> str:
    """The media type its ``Content-Type`` names, lower case, parameters dropped."""
    return response.headers.get("content-type", "").partition(";")[0].strip().lower()


def explain(response: httpx.Response, deadline: Deadline) -> str:
    """``404 manifest unknown`` or ``401 unauthorized: authentication required``; its body read
    within ``deadline``, the request's."""
    code = message = ""
    try:
        body = read_capped(response, ERROR_BODY_BYTES, "the error", deadline)
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


def read_capped(response: httpx.Response, limit: int, what: str, deadline: Deadline) -> bytes:
    """The whole body, refused as soon as it is known to exceed ``limit`` bytes or to come in
    too slowly for ``deadline``."""
    length = response.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise LimitExceeded(f"{what} is {length} bytes (limit {limit})")
    reader = BodyReader(response, what, deadline)
    chunks, total = [], 0
    while chunk := reader.read(CHUNK):
        total += len(chunk)
        if total > limit:
            raise LimitExceeded(f"{what} is larger than the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def retry_after(response: httpx.Response) -> float:
    """Seconds ``Retry-After`` asks to wait (delay or date); 1 when it says nothing usable."""
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


def origin(url: str) -> tuple[str, str]:
    """Scheme and ``host:port``, the port made explicit, for comparing where URLs point."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.scheme, f"{(parts.hostname or '').lower()}:{port}"


class BodyReader:
    """A streamed response body as a ``read(n)`` stream, within ``deadline``; transport errors
    become SourceError."""

    def __init__(self, response: httpx.Response, what: str, deadline: Deadline) -> None:
        # Each piece as it comes off the network (not gathered into CHUNK bytes first), so that
        # the deadline is checked as often as the registry sends.
        self._chunks = response.iter_bytes()
        self._buf = b""
        self._what = what
        self._deadline = deadline
        # Why the body broke off, once it has: every later read says so again, so that a
        # reader draining what is left (to tell a corrupt blob from a cut one) learns the
        # registry's fault rather than finding an end and a digest that does not match.
        self._broken = ""

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
        if self._broken:
            raise SourceError(self._broken)
        failed: httpx.HTTPError | None = None
        with self._deadline.waiting():
            try:
                chunk = next(self._chunks, None)
            except httpx.HTTPError as exc:
                failed, chunk = exc, None
        self._deadline.arrived(len(chunk or b""))
        # Before a failure is reported: a registry that fell behind and then broke off (a read
        # timeout, say) was too slow first.
        if self._deadline.late():
            self._broken = self._deadline.too_slow()
        elif failed is not None:
            self._broken = f"{self._what} stopped arriving: {reason(failed)}"
        if self._broken:
            raise SourceError(self._broken)
        return chunk


def reason(exc: Exception) -> str:
    """An exception in one short line for a message: its type and its first line."""
    text = str(exc).splitlines()[0][:300] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
