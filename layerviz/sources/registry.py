"""``docker://REF`` — an image straight from a registry over the Distribution API, no engine.

``images()`` reads only JSON: the manifest (an index is resolved to one platform, nested
indexes followed to ``Limits.index_depth``) and the config, each verified by digest. Layers are
then streamed by ``open_layer()`` one blob at a time, and only those the index lacks.
"""

from __future__ import annotations

from contextlib import AbstractContextManager

from layerviz.adapters.registry_http.client import RegistryClient
from layerviz.lib import oci
from layerviz.lib import reference as refs
from layerviz.lib.errors import DigestMismatch, FormatError, LimitExceeded, SourceError
from layerviz.lib.streams import Readable

from .base import LayerRef, ResolvedImage, Source, SourceOptions
from .layouts import image_from_manifest


class RegistrySource(Source):
    def __init__(self, spec: str, options: SourceOptions, target: str) -> None:
        super().__init__(spec, options)
        try:
            self.ref = refs.parse(target)
        except ValueError as exc:
            raise SourceError(f"{spec}: {exc}") from None
        self.repo = self.ref.path
        self.client = RegistryClient(
            host=self.ref.api_host,
            username=options.username,
            password=options.password,
            insecure=options.insecure,
            limits=options.limits,
        )

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

    def open_layer(self, image: ResolvedImage, layer: LayerRef) -> AbstractContextManager[Readable]:
        # Always from the registry: descriptor ``urls`` are never fetched (foreign layers with
        # urls are refused by image_from_manifest already).
        return self.client.blob_open(
            repo=self.repo, digest=layer.descriptor.digest, size=layer.descriptor.size
        )

    def close(self) -> None:
        self.client.close()


def _object(doc: object, what: str) -> dict:
    if not isinstance(doc, dict):
        raise FormatError(f"{what} is not a JSON object")
    return doc
