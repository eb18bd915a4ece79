"""What every request of the registry adapter shares, to a registry or to its token service:
which hosts may be spoken to over plain HTTP, and how a response is read (its body capped or
streamed, a refusal explained, a ``Retry-After`` honoured) with transport errors turned into
``SourceError``.
"""

from __future__ import annotations

import email.utils
import ipaddress
import json
import time
from urllib.parse import urlsplit

import httpx

from layerviz.lib.errors import LimitExceeded, SourceError

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


# --- responses --------------------------------------------------------------------------------


def media_type(response: httpx.Response) -> str:
    """The media type its ``Content-Type`` names, lower case, parameters dropped."""
    return response.headers.get("content-type", "").partition(";")[0].strip().lower()


def explain(response: httpx.Response) -> str:
    """``404 manifest unknown`` or ``401 unauthorized: authentication required``."""
    code = message = ""
    try:
        body = read_capped(response, ERROR_BODY_BYTES, "the error")
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


def read_capped(response: httpx.Response, limit: int, what: str) -> bytes:
    """The whole body, refused as soon as it is known to exceed ``limit`` bytes."""
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
        raise SourceError(f"{what} stopped arriving: {reason(exc)}") from None
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
            raise SourceError(f"{self._what} stopped arriving: {reason(exc)}") from None


def reason(exc: Exception) -> str:
    """An exception in one short line for a message: its type and its first line."""
    text = str(exc).splitlines()[0][:300] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
