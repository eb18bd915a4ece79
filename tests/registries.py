"""Real registries for the ``docker://`` tests: Debian's ``docker-registry`` (distribution 2.8)
on free 127.0.0.1 ports with temporary storage, started once per session.

* ``open_registry``: no authentication at all.
* ``basic_registry``: htpasswd (bcrypt) Basic authentication; ``USER``/``PASSWORD`` may pull.
* ``token_registry``: token authentication, with ``TokenServer`` (below) as the realm. Anyone
  gets a pull token; ``USER``/``PASSWORD`` may also push.
* ``fault_proxy``: a real HTTP server in front of the token registry that forwards every
  request and injects, on demand, the faults the registry itself never makes (``Faults``).
* ``TcpProxy``: a plain TCP relay in front of any of them that reads the requests going through,
  and can cut a blob's answer once after so many bytes, drop ``Range`` headers (a proxy that
  ignores them), hold each blob request back a while, or limit each connection's rate.
* ``TrickleRegistry``: no registry binary, a server of our own speaking just enough of the
  Distribution API (``/v2/``, manifests, blobs, a token realm) to serve one generated image,
  and sending one of its documents slowly, a few bytes at a time, as a hostile or broken
  registry would.

Images go in with ``Registry.push``: ``skopeo copy`` of an archive, as a person would do it.

The token server signs RS256 JWTs with a key whose self-signed certificate is the registry's
``rootcertbundle``, and puts that certificate in the JWT ``x5c`` header. Distribution 2.8.2
also accepts a libtrust ``kid`` (base32 of the first 30 bytes of sha256 of the DER public key,
grouped by four with ``:``); both were checked against the installed binary, and a token whose
``kid`` names another key is refused, so the registry really verifies the signature.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import datetime as dt
import json
import re
import secrets
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from layerviz.lib import synth

from . import components

USER = "lv"
PASSWORD = "s3cret-pw"
# What ``docker login`` to a token registry may keep instead of a password: a refresh token the
# token server exchanges (OAuth2 refresh_token grant) for USER's access tokens.
REFRESH_TOKEN = "lv-refresh-token-0f9e"
SERVICE = "layerviz-test-registry"
ISSUER = "layerviz-test-issuer"
START_TIMEOUT = 15.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def registry_binary() -> str:
    path = components.binary("docker-registry", "LAYERVIZ_REGISTRY_BIN")
    assert path is not None
    return path


def skopeo_binary() -> str | None:
    return components.binary("skopeo", "LAYERVIZ_SKOPEO")


# --- small HTTP servers -----------------------------------------------------------------------


class Handler(BaseHTTPRequestHandler):
    """Keep-alive HTTP/1.1; answers a TLS ClientHello with a plain 400 at once, as Go's server
    does, so a client trying HTTPS first fails fast instead of waiting for a request line."""

    protocol_version = "HTTP/1.1"

    def handle(self) -> None:
        try:
            first = self.connection.recv(1, socket.MSG_PEEK)
        except OSError:
            return
        if first == b"\x16":
            self.connection.sendall(
                b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTPS request to an HTTP server\n"
            )
            return
        super().handle()

    def reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # the tests assert on what they record, not on a log


class Server:
    """A ``ThreadingHTTPServer`` on 127.0.0.1 serving from a daemon thread."""

    def __init__(self, handler: type[Handler], **attrs: object) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.httpd.app = self  # type: ignore[attr-defined]
        for name, value in attrs.items():
            setattr(self, name, value)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


# --- token server -----------------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenHandler(Handler):
    def do_GET(self) -> None:
        app: TokenServer = self.server.app  # type: ignore[attr-defined]
        query = parse_qs(urlsplit(self.path).query)
        user = app.check(self.headers.get("Authorization", ""))
        app.requests.append((query.get("scope", []), user))
        if user is False:
            body = {
                "errors": [{"code": "UNAUTHORIZED", "message": "invalid user name or password"}]
            }
            self.reply(401, json.dumps(body).encode(), {"Content-Type": "application/json"})
            return
        token = app.token(user or "", query.get("scope", []), query.get("service", [""])[0])
        body = {app.token_field: token, "expires_in": 300}
        self.reply(200, json.dumps(body).encode(), {"Content-Type": "application/json"})

    def do_POST(self) -> None:
        """The OAuth2 flow (distribution ``auth/oauth.md``): a form with ``grant_type``
        ``refresh_token`` (or ``password``), ``service``, ``scope`` and ``client_id``."""
        app: TokenServer = self.server.app  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        form = parse_qs(self.rfile.read(length).decode())
        grant = form.get("grant_type", [""])[0]
        app.refreshes.append(dict((k, v[0]) for k, v in form.items()))
        good = (grant == "refresh_token" and form.get("refresh_token") == [REFRESH_TOKEN]) or (
            grant == "password"
            and form.get("username") == [USER]
            and form.get("password") == [PASSWORD]
        )
        if not good or not form.get("client_id"):
            body = {"error": "invalid_grant"}
            self.reply(400, json.dumps(body).encode(), {"Content-Type": "application/json"})
            return
        token = app.token(USER, form.get("scope", []), form.get("service", [""])[0])
        body = {"access_token": token, "expires_in": 300, "refresh_token": REFRESH_TOKEN}
        self.reply(200, json.dumps(body).encode(), {"Content-Type": "application/json"})


class TokenServer(Server):
    """Issues RS256 JWTs the registry accepts: pull for anyone, pull and push for ``USER``.
    ``requests`` records each GET (scopes, user); ``refreshes`` each POST's form."""

    def __init__(self, directory: Path) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.x509.oid import NameOID

        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "layerviz test token issuer")])
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=7))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self._key, hashes.SHA256())
        )
        self.cert_path = directory / "token-cert.pem"
        self.cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        self._x5c = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
        super().__init__(TokenHandler, requests=[], refreshes=[], token_field="token")

    @property
    def realm(self) -> str:
        return f"http://{self.host}/token"

    def check(self, authorization: str) -> str | bool | None:
        """The user name, None for anonymous, False for wrong credentials."""
        if not authorization:
            return None
        scheme, _, value = authorization.partition(" ")
        try:
            user, _, password = base64.b64decode(value).decode().partition(":")
        except ValueError:
            return False
        if scheme.lower() != "basic" or (user, password) != (USER, PASSWORD):
            return False
        return user

    def token(self, user: str, scopes: list[str], service: str) -> str:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        allowed = {"pull", "push"} if user else {"pull"}
        access = []
        for scope in scopes:
            for item in scope.split(" "):
                kind, _, rest = item.partition(":")
                repo, _, actions = rest.rpartition(":")
                granted = [a for a in actions.split(",") if a in allowed]
                access.append({"type": kind, "name": repo, "actions": granted})
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "sub": user,
            "aud": service,
            "exp": now + 300,
            "nbf": now - 10,
            "iat": now,
            "jti": secrets.token_hex(8),
            "access": access,
        }
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self._x5c]}
        signing_input = (
            f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        )
        signature = self._key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64url(signature)}"


# --- registries -------------------------------------------------------------------------------


@dataclasses.dataclass
class Registry:
    name: str
    port: int
    root: Path
    process: subprocess.Popen
    push_credentials: str | None = None  # "user:password" for skopeo

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def log(self) -> str:
        return (self.root / "registry.log").read_text(errors="replace")

    def push(self, source: str, name: str, *, all_platforms: bool = False) -> None:
        """``skopeo copy SOURCE docker://HOST/NAME`` (``SOURCE`` in skopeo's transport syntax)."""
        command = [
            skopeo_binary() or "skopeo",
            "copy",
            "--quiet",
            "--dest-tls-verify=false",
            "--preserve-digests",
        ]
        if all_platforms:
            command.append("--all")
        if self.push_credentials:
            command += ["--dest-creds", self.push_credentials]
        command += [source, f"docker://{self.host}/{name}"]
        result = subprocess.run(command, capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed: {result.stderr.strip()}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_registry(name: str, root: Path, auth: str = "") -> Registry:
    """``docker-registry serve`` with ``auth`` (a YAML block, or nothing), ready to answer."""
    components.need("docker-registry", components.registry_problem())
    components.need(
        "skopeo", None if skopeo_binary() else "it is not installed (apt install skopeo)"
    )
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = root / "config.yml"
    config.write_text(
        f"""version: 0.1
log:
  level: info
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {root / "storage"}
http:
  addr: 127.0.0.1:{port}
health:
  storagedriver:
    enabled: false
{auth}"""
    )
    with open(root / "registry.log", "wb") as log:  # the child keeps its own descriptor
        process = subprocess.Popen(
            [registry_binary(), "serve", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    registry = Registry(name, port, root, process)
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"the {name} registry exited at start:\n{registry.log()}")
        try:
            status = httpx.get(f"http://{registry.host}/v2/", timeout=2).status_code
        except httpx.TransportError:
            status = 0
        if status in (200, 401):
            return registry
        if time.monotonic() > deadline:
            registry.stop()
            raise RuntimeError(f"the {name} registry did not answer in time:\n{registry.log()}")
        time.sleep(0.05)


def htpasswd_line(user: str, password: str) -> str:
    import bcrypt

    # Cost 4 is the minimum Go's bcrypt accepts: fast, and the hash is still a real one.
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()
    return f"{user}:{hashed}\n"


# --- the fault-injecting proxy ----------------------------------------------------------------


@dataclasses.dataclass
class Faults:
    """What the proxy does wrong. A fresh ``Faults`` forwards everything unchanged."""

    redirect_blobs: bool = False  # 307 every blob GET to the blob store, another origin
    throttle: int = 0  # answer this many next requests with 429 ...
    retry_after: str = "0"  # ... and this Retry-After
    manifest_head_status: int | None = None  # answer manifest HEADs with this status
    strip_head_digest: bool = False  # drop Docker-Content-Digest from manifest HEADs
    manifest_content_type: str | None = None  # replace Content-Type of manifest responses
    manifest_suffix: bytes = b""  # append to manifest GET bodies (digest headers kept)
    corrupt_blob: str = ""  # flip one byte in the body of the blob with this digest ...
    corrupt_at: int = -1  # ... at this offset


@dataclasses.dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    status: int = 0

    @property
    def is_blob(self) -> bool:
        return "/blobs/" in self.path

    @property
    def is_manifest(self) -> bool:
        return "/manifests/" in self.path


HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


class ProxyHandler(Handler):
    def do_HEAD(self) -> None:
        self._forward()

    def do_GET(self) -> None:
        self._forward()

    def _forward(self) -> None:
        app: FaultProxy = self.server.app  # type: ignore[attr-defined]
        faults = app.faults
        seen = Seen(self.command, self.path, {k.lower(): v for k, v in self.headers.items()})
        app.requests.append(seen)
        with app.lock:
            throttled = faults.throttle > 0
            if throttled:
                faults.throttle -= 1
        if throttled:
            seen.status = 429
            body = b'{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}'
            self.reply(429, body, {"Retry-After": faults.retry_after})
            return
        if seen.is_manifest and self.command == "HEAD" and faults.manifest_head_status:
            seen.status = faults.manifest_head_status
            self.reply(faults.manifest_head_status)
            return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        upstream = app.client.request(
            self.command, f"http://{app.upstream}{self.path}", headers=headers
        )
        body = upstream.content
        out = {k: v for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP}
        ok = upstream.status_code == 200
        if seen.is_manifest and ok:
            if faults.strip_head_digest and self.command == "HEAD":
                out = {k: v for k, v in out.items() if k.lower() != "docker-content-digest"}
            if faults.manifest_content_type:
                out = {k: v for k, v in out.items() if k.lower() != "content-type"}
                out["Content-Type"] = faults.manifest_content_type
            if faults.manifest_suffix and self.command == "GET":
                body += faults.manifest_suffix
        if seen.is_blob and ok and self.command == "GET":
            if faults.corrupt_blob and self.path.endswith(faults.corrupt_blob):
                at = faults.corrupt_at % len(body)
                body = body[:at] + bytes([body[at] ^ 0xFF]) + body[at + 1 :]
            if faults.redirect_blobs:
                seen.status = 307
                location = app.store.put(body)
                self.reply(307, b"", {"Location": location})
                return
        seen.status = upstream.status_code
        self.send_response(upstream.status_code)
        for name, value in out.items():
            self.send_header(name, value)
        if self.command == "HEAD":
            self.send_header("Content-Length", upstream.headers.get("content-length", "0"))
            self.end_headers()
            return
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class StoreHandler(Handler):
    def do_GET(self) -> None:
        app: BlobStore = self.server.app  # type: ignore[attr-defined]
        app.requests.append(Seen("GET", self.path, {k.lower(): v for k, v in self.headers.items()}))
        body = app.blobs.get(self.path.rpartition("/")[2])
        if body is None:
            self.reply(404)
            return
        self.reply(200, body, {"Content-Type": "application/octet-stream"})


class BlobStore(Server):
    """Where redirected blobs are served from: ``localhost`` on another port, so another
    origin than the proxy's ``127.0.0.1``. Records every request it gets."""

    def __init__(self) -> None:
        super().__init__(StoreHandler, blobs={}, requests=[])

    def put(self, body: bytes) -> str:
        key = secrets.token_hex(8)
        self.blobs[key] = body
        return f"http://localhost:{self.port}/signed/{key}"


class FaultProxy(Server):
    def __init__(self, upstream: str) -> None:
        super().__init__(
            ProxyHandler,
            upstream=upstream,
            faults=Faults(),
            requests=[],
            lock=threading.Lock(),
            client=httpx.Client(timeout=30, follow_redirects=False),
            store=BlobStore(),
        )

    def reset(self) -> None:
        self.faults = Faults()
        self.requests.clear()
        self.store.requests.clear()

    def stop(self) -> None:
        super().stop()
        self.store.stop()
        self.client.close()


# --- a TCP relay that breaks connections -----------------------------------------------------


@dataclasses.dataclass
class Relayed:
    """One request that went through a ``TcpProxy``: its request line and headers (names in
    lower case), on which connection, and when (``time.monotonic()``)."""

    method: str
    path: str
    headers: dict[str, str]
    connection: int
    at: float

    @property
    def is_blob(self) -> bool:
        return self.method == "GET" and "/blobs/" in self.path


class TcpProxy:
    """A TCP relay on 127.0.0.1 in front of ``upstream`` (``host:port``), one thread a
    direction per connection. It parses the requests it passes (GET and HEAD, which have no
    body) into ``requests``, and, as set:

    * ``cut_blob`` / ``cut_after``: the answer to a GET of that blob is cut, both sockets
      closed, after ``cut_after`` bytes (headers included), the first ``cut_times`` times
      (once by default); ``cuts`` counts the cuts;
    * ``strip_range``: ``Range`` headers are dropped, so the registry answers 200;
    * ``blob_delay``: each blob GET is held this many seconds before it goes on;
    * ``rate``: each connection's answers are sent at most this many bytes a second.
    """

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.cut_blob = ""
        self.cut_after = 0
        self.cut_times = 1
        self.cuts = 0
        self.strip_range = False
        self.blob_delay = 0.0
        self.rate = 0
        self.requests: list[Relayed] = []
        self.answers: dict[int, list[str]] = {}  # connection -> the status lines it sent
        self._lock = threading.Lock()
        self._connections = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def status_of(self, request: Relayed) -> str:
        """The status line of the answer to ``request``."""
        same = [r for r in self.requests if r.connection == request.connection]
        return self.answers[request.connection][same.index(request)]

    def blob_requests(self, digest: str = "") -> list[Relayed]:
        return [r for r in self.requests if r.is_blob and r.path.endswith(digest)]

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self._connections += 1
                number = self._connections
            host, _, port = self.upstream.rpartition(":")
            try:
                server = socket.create_connection((host, int(port)), timeout=30)
            except OSError:
                client.close()
                continue
            state = {"cut_at": -1, "sent": 0}
            threading.Thread(
                target=self._requests, args=(client, server, number, state), daemon=True
            ).start()
            threading.Thread(
                target=self._answers, args=(server, client, number, state), daemon=True
            ).start()

    def _requests(
        self, client: socket.socket, server: socket.socket, number: int, state: dict
    ) -> None:
        buffer = b""
        try:
            while chunk := client.recv(65536):
                if buffer == b"" and chunk.startswith(b"\x16"):
                    # A TLS ClientHello (the client tries HTTPS first): through as it is, so
                    # the registry refuses it at once.
                    server.sendall(chunk)
                    continue
                buffer += chunk
                while b"\r\n\r\n" in buffer:
                    head, _, buffer = buffer.partition(b"\r\n\r\n")
                    server.sendall(self._pass(head, number, state) + b"\r\n\r\n")
        except OSError:
            pass
        finally:
            _close(server)

    def _pass(self, head: bytes, number: int, state: dict) -> bytes:
        """One request head as it goes on, recorded, maybe without Range, maybe marked to cut."""
        first, *lines = head.decode("latin-1").split("\r\n")
        method, path, _ = ([*first.split(" "), "", ""])[:3]
        headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        request = Relayed(method, path, headers, number, time.monotonic())
        self.requests.append(request)
        if self.strip_range:
            lines = [line for line in lines if not line.lower().startswith("range:")]
        if request.is_blob:
            if self.blob_delay:
                time.sleep(self.blob_delay)
            with self._lock:
                if self.cut_blob and path.endswith(self.cut_blob) and self.cuts < self.cut_times:
                    self.cuts += 1
                    state["cut_at"] = state["sent"] + self.cut_after
        return "\r\n".join([first, *lines]).encode("latin-1")

    def _answers(
        self, server: socket.socket, client: socket.socket, number: int, state: dict
    ) -> None:
        try:
            while chunk := server.recv(16384):
                # An answer begins a fresh read: the client asks for the next one only once it
                # has read the last.
                if chunk.startswith(b"HTTP/1."):
                    status = chunk.partition(b"\r\n")[0].decode("latin-1")
                    self.answers.setdefault(number, []).append(status)
                if self.rate:
                    time.sleep(len(chunk) / self.rate)
                cut_at = state["cut_at"]
                if cut_at >= 0 and state["sent"] + len(chunk) >= cut_at:
                    client.sendall(chunk[: cut_at - state["sent"]])
                    return  # and hang up on both, mid-blob
                client.sendall(chunk)
                state["sent"] += len(chunk)
        except OSError:
            pass
        finally:
            _close(client)
            _close(server)

    def stop(self) -> None:
        self._listener.close()


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


# --- a registry of our own, that trickles -----------------------------------------------------

# As long as a real one (a JWT is about a kilobyte), so that a token too can be trickled.
TRICKLE_TOKEN = "trickle-" + "t" * 1000
API_PATH = re.compile(r"/v2/(?P<repo>.+)/(?P<kind>manifests|blobs)/(?P<ref>[^/]+)")


class TrickleHandler(Handler):
    def do_HEAD(self) -> None:
        self._serve()

    def do_GET(self) -> None:
        self._serve()

    def _serve(self) -> None:
        app: TrickleRegistry = self.server.app  # type: ignore[attr-defined]
        path = urlsplit(self.path).path
        if path == "/token":
            body = json.dumps({"token": TRICKLE_TOKEN, "expires_in": 300}).encode()
            self._send("token", body, {"Content-Type": "application/json"})
            return
        if app.token_auth and self.headers.get("Authorization") != f"Bearer {TRICKLE_TOKEN}":
            challenge = f'Bearer realm="http://{app.host}/token",service="trickle"'
            self.reply(401, b"", {"WWW-Authenticate": challenge})
            return
        if path == "/v2/":
            self.reply(200, b"{}", {"Content-Type": "application/json"})
            return
        match = API_PATH.fullmatch(path)
        blob = (
            app.find(match["kind"], match["ref"]) if match and match["repo"] == app.repo else None
        )
        if blob is None:
            body = b'{"errors":[{"code":"NAME_UNKNOWN","message":"not here"}]}'
            self.reply(404, body, {"Content-Type": "application/json"})
            return
        headers = {"Content-Type": blob.media_type, "Docker-Content-Digest": blob.digest}
        self._send(app.kind_of(blob), blob.data, headers)

    def _send(self, kind: str, body: bytes, headers: dict[str, str]) -> None:
        """The answer, at once, or ``piece`` bytes at a time at ``rate`` when ``kind`` is the
        one to trickle."""
        app: TrickleRegistry = self.server.app  # type: ignore[attr-defined]
        app.served.append(kind)
        if kind != app.trickle:
            self.reply(200, body, headers)
            return
        self.send_response(200)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command == "HEAD":
            return
        if app.cut_at is not None:
            body = body[: app.cut_at]
            self.close_connection = True  # hang up once that much is sent
        try:
            for at in range(0, len(body), app.piece):
                self.wfile.write(body[at : at + app.piece])
                time.sleep(app.piece / app.rate)
        except OSError:
            self.close_connection = True  # the client gave up on it, as it should


class TrickleRegistry(Server):
    """One image (``built``) as ``repo:tag``, its ``trickle`` document ("manifest", "config",
    "layer 1" for the bottom layer, "layer 2"…, or "token"; "" for none) sent ``piece`` bytes
    at a time at ``rate`` bytes a second, and only its first ``cut_at`` bytes when that is set
    (the connection is then closed).
    With ``token_auth`` every API request needs a Bearer token from its own realm. ``served``
    records the kind of each document it began to send."""

    def __init__(self, built: synth.BuiltImage, *, repo: str = "lv/slow", tag: str = "1.0") -> None:
        self.built, self.repo, self.tag = built, repo, tag
        self.trickle = ""
        self.rate = 1000.0
        self.piece = 100
        self.cut_at: int | None = None
        self.token_auth = False
        self.served: list[str] = []
        super().__init__(TrickleHandler)

    @property
    def reference(self) -> str:
        return f"docker://{self.host}/{self.repo}:{self.tag}"

    def find(self, kind: str, ref: str) -> synth.Blob | None:
        if kind == "manifests":
            return self.built.manifest if ref in (self.tag, self.built.manifest.digest) else None
        return next((b for b in (self.built.config, *self.built.layers) if b.digest == ref), None)

    def kind_of(self, blob: synth.Blob) -> str:
        if blob is self.built.manifest:
            return "manifest"
        if blob is self.built.config:
            return "config"
        return f"layer {[b.digest for b in self.built.layers].index(blob.digest) + 1}"


# --- session fixtures -------------------------------------------------------------------------


@pytest.fixture(scope="session")
def registry_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("registries")


@pytest.fixture(scope="session")
def open_registry(registry_root: Path) -> Iterator[Registry]:
    registry = start_registry("open", registry_root / "open")
    yield registry
    registry.stop()


@pytest.fixture(scope="session")
def basic_registry(registry_root: Path) -> Iterator[Registry]:
    root = registry_root / "basic"
    root.mkdir()
    (root / "htpasswd").write_text(htpasswd_line(USER, PASSWORD))
    auth = f"""auth:
  htpasswd:
    realm: layerviz-basic
    path: {root / "htpasswd"}
"""
    registry = start_registry("basic", root, auth)
    registry.push_credentials = f"{USER}:{PASSWORD}"
    yield registry
    registry.stop()


@pytest.fixture(scope="session")
def token_server(registry_root: Path) -> Iterator[TokenServer]:
    components.need("docker-registry", components.registry_problem())
    server = TokenServer(registry_root)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def token_registry(registry_root: Path, token_server: TokenServer) -> Iterator[Registry]:
    auth = f"""auth:
  token:
    realm: {token_server.realm}
    service: {SERVICE}
    issuer: {ISSUER}
    rootcertbundle: {token_server.cert_path}
"""
    registry = start_registry("token", registry_root / "token", auth)
    registry.push_credentials = f"{USER}:{PASSWORD}"
    yield registry
    registry.stop()


@pytest.fixture(scope="session")
def fault_proxy_server(token_registry: Registry) -> Iterator[FaultProxy]:
    proxy = FaultProxy(token_registry.host)
    yield proxy
    proxy.stop()


@pytest.fixture
def token_service(token_server: TokenServer) -> Iterator[TokenServer]:
    """The token server with an empty request log, answering with ``token``."""
    token_server.requests.clear()
    token_server.refreshes.clear()
    token_server.token_field = "token"
    yield token_server
    token_server.token_field = "token"


@pytest.fixture
def fault_proxy(fault_proxy_server: FaultProxy, token_service: TokenServer) -> Iterator[FaultProxy]:
    """The proxy in front of the token registry, with no faults and empty request logs."""
    fault_proxy_server.reset()
    yield fault_proxy_server
    fault_proxy_server.reset()


@pytest.fixture(autouse=True)
def no_docker_credentials(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, monkeypatch
) -> None:
    """Registry tests see no docker credentials but those they write: a pull reads docker's
    ``config.json`` when given none, and the one of whoever runs the suite (a ``credsStore``
    of Docker Desktop, say) is not the test's. Only for tests marked ``registry``."""
    if request.node.get_closest_marker("registry") is not None:
        monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path_factory.mktemp("no-docker-config")))
