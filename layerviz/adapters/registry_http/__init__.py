"""Container registries over the Distribution (OCI) HTTP API, through httpx: the only package
that talks HTTP to registries.

``client.RegistryClient(host=...)`` pulls manifests and blobs of one registry
(``image-format.md`` §4):

* **Authentication** (``auth``). The first request is ``GET /v2/``; its ``WWW-Authenticate``
  challenge (parsed as RFC 7235 auth-params) says how to authenticate. ``Bearer``: a token is
  fetched from the realm with ``service`` and ``scope=repository:NAME:pull``, anonymously or
  with HTTP Basic credentials, and cached per (realm, service, scope) until it expires.
  ``Basic``: the credentials go to the registry itself. A later 401 (an expired token, a
  registry that only challenges per repository) re-authenticates once, then fails.
* **Transport security** (``transport``). Every registry is tried over HTTPS first, with
  certificates verified unless ``insecure``. Plain HTTP is a fallback, used only when the TLS
  connection fails and the host is loopback (127.0.0.0/8, ::1, ``localhost``) or ``insecure``
  is set: the same rule Docker applies to its default insecure registries, and it keeps a
  loopback registry that does speak TLS on TLS.
* **Manifests.** HEAD first with the four manifest types in ``Accept`` (HEAD is not counted as a
  pull by Docker Hub and gives ``Docker-Content-Digest``), then GET with the same ``Accept``
  because the digest of a tag depends on it. The body is capped at ``Limits.json_bytes`` and its
  digest checked against the digest asked for and every ``Docker-Content-Digest`` received.
* **Blobs** are streamed, never held whole. Redirects are followed by hand so that
  ``Authorization`` only ever goes to the registry's own origin; descriptor ``urls`` (foreign
  layers) are never fetched by this package.
* **Rate limits.** A 429 is retried a few times when ``Retry-After`` is short, then reported.

Every transport exception and refusal becomes a ``SourceError`` naming the registry, the
repository and what happened; content problems are ``DigestMismatch`` or ``LimitExceeded``.
"""
