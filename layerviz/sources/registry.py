"""``docker://REF`` — an image straight from a registry over the Distribution API, no engine.

1. Credentials: those given (``--username``, ``LAYERVIZ_REGISTRY_USERNAME``/``_PASSWORD``, the
   web form), else docker's for the host (``lib/docker_config``: ``credHelpers``,
   ``credsStore``, ``auths``), else none.
2. ``images()`` reads only JSON: the manifest (an index is resolved to one platform, nested
   indexes followed to ``Limits.index_depth``) and the config, each verified by digest. A
   reference with a digest (``repo@sha256:…``, ``repo:tag@sha256:…``) asks for that digest,
   never the tag, and the manifest must hash to it.
3. Layers, only those the index lacks: with ``Limits.registry_parallel`` above 1 and room on
   the disk, ``prefetch()`` downloads them side by side into temporary files, which
   ``layer_file()`` then hands to the indexer's worker processes (read side by side too);
   otherwise ``open_layer()`` streams one blob at a time into the indexer. Either way a broken
   download resumes with ``Range`` (``client.BlobReader``) and the indexer verifies every
   blob's digest over all its bytes.
"""

from __future__ import annotations

import concurrent.futures
import shutil
import tempfile
import threading
import time
from contextlib import AbstractContextManager
from pathlib import Path

from layerviz.adapters.registry_http.client import RegistryClient
from layerviz.lib import docker_config, oci
from layerviz.lib import reference as refs
from layerviz.lib.errors import DigestMismatch, FormatError, LimitExceeded, SourceError
from layerviz.lib.layer import FileRange
from layerviz.lib.streams import Readable

from .base import LayerRef, ResolvedImage, Source, SourceOptions
from .layouts import image_from_manifest

CHUNK = 1 << 20
# A download directory untouched this long was left by a pull that died (a killed worker): not
# by its pid, since the data directory may be shared by workers on several machines.
STRAY_AGE = 24 * 3600


class RegistrySource(Source):
    def __init__(self, spec: str, options: SourceOptions, target: str) -> None:
        super().__init__(spec, options)
        try:
            self.ref = refs.parse(target)
        except ValueError as exc:
            raise SourceError(f"{spec}: {exc}") from None
        self.repo = self.ref.path
        username, password, token, origin = options.username, options.password, "", ""
        if not username:
            found = docker_config.credentials_for(self.ref.api_host)
            if found is not None:
                username, password = found.username, found.password
                token, origin = found.identity_token, found.origin
        self.client = RegistryClient(
            host=self.ref.api_host,
            username=username,
            password=password,
            identity_token=token,
            credentials_origin=origin,
            insecure=options.insecure,
            limits=options.limits,
        )
        self._downloads: _Downloads | None = None

    def images(self) -> list[ResolvedImage]:
        """1. Fetch what the reference names; 2. while it is an index, choose a platform and
        fetch that entry by digest; 3. read the config; 4. build the image as archives do."""
        limits = self.limits
        fetched = self.client.manifest_get(repo=self.repo, ref=self.ref.target)
        index_digest = ""
        depth = 0
        while True:
            what = f"manifest {self.repo}@{fetched.digest[:19]}…"
            media_type = oci.document_type(
                _object(oci.load_json(fetched.data, what, limits), what), fetched.media_type, what
            )
            if media_type not in oci.INDEX_TYPES:
                break
            if depth >= limits.index_depth:
                raise LimitExceeded(f"image indexes nested deeper than {limits.index_depth} levels")
            depth += 1
            index = oci.parse_index(fetched.data, f"index {self.ref}", media_type, limits)
            index_digest = index_digest or fetched.digest
            chosen = oci.select_platform(
                index.manifests, self.options.platform, f"the index of {self.ref}"
            )
            fetched = self.client.manifest_get(repo=self.repo, ref=chosen.digest, size=chosen.size)
            if len(fetched.data) != chosen.size:
                raise DigestMismatch(
                    f"{what} is {len(fetched.data)} bytes but the index says {chosen.size}"
                )
        manifest = oci.parse_manifest(fetched.data, what, media_type, limits)
        config = manifest.config
        if config.size > limits.json_bytes:
            raise LimitExceeded(
                f"the config of {what} is {config.size} bytes (limit {limits.json_bytes})"
            )
        config_bytes = config.data
        if config_bytes is None:
            config_bytes = self.client.blob_get(
                repo=self.repo, digest=config.digest, size=config.size, limit=limits.json_bytes
            )
            oci.verify_blob(config_bytes, config.digest, config.size, f"the config of {what}")
        return [
            image_from_manifest(
                manifest_bytes=fetched.data,
                manifest_digest=fetched.digest,
                manifest=manifest,
                config_bytes=config_bytes,
                index_digest=index_digest,
                references=self._references(fetched.digest),
                options=self.options,
            )
        ]

    def _references(self, manifest_digest: str) -> list[str]:
        """The tag pulled (only when pulled by tag: a tag next to a digest was never checked)
        and the name by manifest digest, which names exactly this image."""
        out = []
        if self.ref.tag and not self.ref.digest:
            out.append(str(self.ref))
        out.append(str(refs.Reference(self.ref.domain, self.ref.path, digest=manifest_digest)))
        return out

    def prefetch(self, image: ResolvedImage, layers: list[LayerRef], *, directory: Path) -> None:
        """Start downloading ``layers`` side by side, when more than one is allowed and wanted,
        and when twice their size fits on the disk (their copies in the blob store come next)."""
        workers = min(self.limits.registry_parallel, len(layers))
        if workers < 2 or self._downloads is not None:
            return
        directory.mkdir(parents=True, exist_ok=True)
        _remove_strays(directory)
        if 2 * sum(layer.descriptor.size for layer in layers) > shutil.disk_usage(directory).free:
            return
        self._downloads = _Downloads(self.client, self.repo, directory, workers)
        for layer in layers:
            self._downloads.start(layer.descriptor.digest, layer.descriptor.size)

    def prefetched(self, timeout: float) -> tuple[int, bool]:
        if self._downloads is None:
            return 0, True
        return self._downloads.progress(timeout)

    def layer_file(self, image: ResolvedImage, layer: LayerRef) -> FileRange | None:
        """The downloaded blob, once it is all there (its download's error if it failed);
        None when it is not being downloaded."""
        if self._downloads is None:
            return None
        return self._downloads.wait(layer.descriptor.digest)

    def open_layer(self, image: ResolvedImage, layer: LayerRef) -> AbstractContextManager[Readable]:
        where = self.layer_file(image, layer)
        if where is not None:
            return open(where.path, "rb")
        # Always from the registry: descriptor ``urls`` are never fetched (foreign layers with
        # urls are refused by image_from_manifest already).
        return self.client.blob_open(
            repo=self.repo, digest=layer.descriptor.digest, size=layer.descriptor.size
        )

    def close(self) -> None:
        if self._downloads is not None:
            self._downloads.close()
        self.client.close()


def _object(doc: object, what: str) -> dict:
    if not isinstance(doc, dict):
        raise FormatError(f"{what} is not a JSON object")
    return doc


class _Downloads:
    """Blobs downloading on ``workers`` threads into files of a temporary directory, each the
    moment a thread is free; memory stays a chunk per thread whatever the blobs' sizes."""

    def __init__(self, client: RegistryClient, repo: str, directory: Path, workers: int) -> None:
        self.client, self.repo = client, repo
        self.directory = Path(tempfile.mkdtemp(prefix="pull-", dir=directory))
        self._pool = concurrent.futures.ThreadPoolExecutor(workers, "layerviz-pull")
        self._futures: dict[str, concurrent.futures.Future[FileRange]] = {}
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._bytes = 0  # downloaded so far, every thread's together

    def start(self, digest: str, size: int) -> None:
        if digest not in self._futures:
            self._futures[digest] = self._pool.submit(self._download, digest, size)

    def wait(self, digest: str) -> FileRange | None:
        future = self._futures.get(digest)
        return None if future is None else future.result()

    def progress(self, timeout: float) -> tuple[int, bool]:
        """Bytes downloaded, and whether the downloads have ended (all of them, or one with an
        error, which the indexer then reports without waiting for the rest), after waiting up
        to ``timeout`` seconds for that."""
        ended, pending = concurrent.futures.wait(
            list(self._futures.values()),
            timeout=timeout,
            return_when=concurrent.futures.FIRST_EXCEPTION,
        )
        failed = any(not f.cancelled() and f.exception() is not None for f in ended)
        with self._lock:
            return self._bytes, failed or not pending

    def _download(self, digest: str, size: int) -> FileRange:
        path = self.directory / digest.replace(":", "-")
        written = 0
        with (
            self.client.blob_open(repo=self.repo, digest=digest, size=size) as blob,
            open(path, "wb") as out,
        ):
            while chunk := blob.read(CHUNK):
                if self._stop.is_set():
                    raise SourceError(f"the download of blob {digest[:19]}… was stopped")
                written += len(chunk)
                with self._lock:
                    self._bytes += len(chunk)
                if written > size:
                    raise DigestMismatch(
                        f"blob {digest[:19]}… of {self.repo} from registry {self.client.host} "
                        f"is larger than the {size:,} bytes its descriptor says"
                    )
                out.write(chunk)
        return FileRange(str(path), 0, written)

    def close(self) -> None:
        """Stop the downloads under way, drop those not begun, remove the files."""
        self._stop.set()
        self._pool.shutdown(wait=True, cancel_futures=True)
        shutil.rmtree(self.directory, ignore_errors=True)


def _remove_strays(directory: Path) -> None:
    """Remove the download directories of pulls that died, by age: neither the directory nor
    any file in it written to for ``STRAY_AGE``."""
    cutoff = time.time() - STRAY_AGE
    for stray in directory.glob("pull-*"):
        try:
            touched = max(p.stat().st_mtime for p in [stray, *stray.iterdir()])
        except OSError:
            continue  # removed meanwhile, or not ours to read
        if touched < cutoff:
            shutil.rmtree(stray, ignore_errors=True)
