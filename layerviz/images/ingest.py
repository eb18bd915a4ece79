"""Ingest: read an image from any source and index it.

``ingest()`` is the one entry point; the ``ingest`` command, the background task, tests and
benchmarks all call it. For each image the source resolves:

1. if an image with the same manifest digest is indexed, only its names are added;
2. every layer not yet indexed is read and verified (blob digest and size, then diff_id against
   the config) while its entries are written in batches under a claimed ``Layer`` row, which
   becomes ready only at the end; layers another worker is indexing are waited for;
3. for every position whose chain is new, the layer's entries are stacked on the merged view
   below and what it did to each path written (``DirChanges``), again under a claimed row;
4. the ``Image`` with its layers, history and references is created in one transaction.

Any failure raises ``IngestError`` and removes what this run created that no image uses, so the
visible index is as it was. A run killed half-way leaves only rows in state ``building``, which
the next run takes over.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import logging
import re
import time
from collections.abc import Callable, Iterable

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from layerviz.lib import oci, readers
from layerviz.lib import reference as refs
from layerviz.lib.errors import DigestMismatch, IngestError
from layerviz.lib.layer import EntryBatch, FileRange, LayerScan, scan_layer
from layerviz.lib.streams import Readable
from layerviz.sources import LayerRef, ResolvedImage, Source, SourceOptions, open_source

from . import claims, packed
from . import progress as progress_text
from .chains import ChainBuilder
from .claims import Outcome
from .models import (
    BuildState,
    Chain,
    DirChanges,
    EntryChunk,
    HistoryStep,
    Image,
    ImageLayer,
    Layer,
    Reference,
)
from .progress import Progress

log = logging.getLogger("layerviz.ingest")

HEARTBEAT_SECONDS = 5
# A streamed layer is held in memory up to this many entries before it is written under a
# staging row: most layers are small, and a layer already indexed then costs no writes at all.
STREAM_SPILL = 50_000


def ingest(
    spec: str,
    *,
    platform: str | None = None,
    tag: str | None = None,
    options: SourceOptions | None = None,
    progress: Progress | None = None,
    label: str | None = None,
) -> list[Image]:
    """Ingest every image ``spec`` names (usually one) and return them.

    ``label`` is what to record as the image's source when ``spec`` is not meaningful to a
    person (an uploaded archive's temporary path).
    """
    options = options or SourceOptions()
    if platform:
        try:
            options.platform = oci.Platform.parse(platform)
        except ValueError as exc:
            raise IngestError(str(exc)) from None
    extra_names = []
    if tag:
        try:
            extra_names.append(refs.normalize(tag))
        except ValueError as exc:
            raise IngestError(f"--tag: {exc}") from None
    run = _Run(progress or Progress(), extra_names, label)
    try:
        with open_source(spec, options) as source:
            return run.ingest(source)
    except BaseException:
        # Interrupted or failed: leave the visible index as it was.
        run.undo()
        raise


class _Run:
    def __init__(self, progress: Progress, extra_names: list[str], label: str | None) -> None:
        self.progress = progress
        self.label = label
        self.extra_names = extra_names
        self.owner = claims.new_owner()
        self.created_layers: list[int] = []
        self.created_chains: list[int] = []
        self._chunks: dict[int, int] = {}  # layer pk -> chunks written so far
        self._last_beat = 0.0
        # Several beats per lease, so a claim never lapses while we are making progress.
        self._beat_every = min(HEARTBEAT_SECONDS, settings.LAYERVIZ_LEASE_SECONDS / 4)

    # --- orchestration -------------------------------------------------------------------

    def ingest(self, source: Source) -> list[Image]:
        self.progress.phase(progress_text.READING_CONFIG)
        if source.streaming:
            return self._ingest_streaming(source)
        images = source.images()
        out = []
        for resolved in images:
            out.append(self._ingest_random_access(source, resolved))
        return out

    def _ingest_random_access(self, source: Source, image: ResolvedImage) -> Image:
        existing = Image.objects.filter(digest=image.manifest_digest).first()
        if existing is not None:
            self._add_references(existing, image.references)
            return existing
        count = len(image.layers)
        needed = [
            layer
            for layer in image.layers
            if not Layer.objects.ready().filter(diff_id=layer.diff_id).exists()
        ]
        self.progress.set_total(sum(layer.descriptor.size for layer in needed))
        busy: list[tuple[int, int]] = []
        builder: ChainBuilder | None = None
        files = [self._layer_file(source, image, layer) for layer in needed]
        total = sum(layer.descriptor.size for layer in needed)
        workers = (
            readers.readers_for(len(needed), total, min_bytes=settings.LAYERVIZ_PARALLEL_READ_BYTES)
            if all(files)
            else None
        )
        if workers is not None:
            with workers:
                # Claim them all at once: heartbeats keep every claim while the workers read.
                mine = []
                for layer, where in zip(needed, files, strict=True):
                    outcome, row = claims.claim(Layer, {"diff_id": layer.diff_id}, self.owner, {})
                    if outcome is Outcome.BUSY:
                        busy.append((layer.index, row.pk))
                    elif outcome is Outcome.MINE:
                        self.created_layers.append(row.pk)
                        mine.append((layer, row, where))
                builder = self._read_in_workers(workers, source, image, mine)
        else:
            for layer in needed:
                label = layer.label(count)
                self.progress.phase(progress_text.READING, layer=layer.index + 1, layers=count)
                outcome, row = claims.claim(Layer, {"diff_id": layer.diff_id}, self.owner, {})
                if outcome is Outcome.READY:
                    continue
                if outcome is Outcome.BUSY:
                    busy.append((layer.index, row.pk))
                    continue
                self.created_layers.append(row.pk)
                try:
                    self._read_layer(source, image, layer, row, label)
                except IngestError as exc:
                    raise exc.in_layer(label) from None
        for index, pk in busy:
            layer = image.layers[index]
            self._wait_for_layer(
                pk, layer.label(count), retry=lambda layer=layer: self._retry(source, image, layer)
            )
        return self._finish_image(image, source, builder)

    def _layer_file(
        self, source: Source, image: ResolvedImage, layer: LayerRef
    ) -> FileRange | None:
        try:
            return source.layer_file(image, layer)
        except IngestError as exc:
            raise exc.in_layer(layer.label(len(image.layers))) from None

    def _read_in_workers(
        self,
        workers: readers.LayerReaders,
        source: Source,
        image: ResolvedImage,
        mine: list[tuple[LayerRef, Layer, FileRange | None]],
    ) -> ChainBuilder:
        """Read the claimed layers in worker processes, biggest first; write and publish each
        as it comes, and build the chains of the layers ready so far while the rest are read.

        Meanwhile every claim still held gets its heartbeat. On a failure the workers are
        stopped and the error names its layer.
        """
        count = len(image.layers)
        self.progress.phase(progress_text.READING, layer=1, layers=count)
        biggest_first = sorted(mine, key=lambda item: -item[0].descriptor.size)
        futures = {
            workers.read(
                where,
                digest=layer.descriptor.digest or None,
                size=layer.descriptor.size,
                limits=source.limits,
            ): (layer, row)
            for layer, row, where in biggest_first
        }
        pending = set(futures)
        waiting = {row.pk for _, row, _ in mine}
        held = {row.pk: row for _, row, _ in mine}

        def beat() -> None:
            now = time.monotonic()
            if now - self._last_beat > self._beat_every:
                for pk in waiting:
                    claims.heartbeat(held[pk], self.owner)
                self._last_beat = now

        builder = self._chains_for(image, source, beat=beat)
        try:
            while pending:
                done, pending = concurrent.futures.wait(
                    pending,
                    timeout=self._beat_every,
                    return_when=concurrent.futures.FIRST_COMPLETED,
                )
                for future in done:
                    layer, row = futures[future]
                    label = layer.label(count)
                    try:
                        scan, batches = future.result()
                        self._clear_entries(row)
                        for first_seq, n, blob in batches:
                            self._write_packed(row, first_seq, n, blob)
                        self._check_diff_id(scan, layer, label)
                    except IngestError as exc:
                        raise exc.in_layer(label) from None
                    self._publish_layer(row, scan)
                    waiting.discard(row.pk)
                    self.progress.advance(layer.descriptor.size)
                self._last_beat = 0.0
                beat()
                self._extend_chains(image, builder)
        except BaseException:
            workers.shutdown(wait=False, cancel_futures=True)
            raise
        return builder

    def _extend_chains(self, image: ResolvedImage, builder: ChainBuilder) -> None:
        """Build the chains whose layers (and every layer below) are ready."""
        while not builder.complete:
            diff_id = image.layers[len(builder.chains)].diff_id
            layer = Layer.objects.ready().filter(diff_id=diff_id).first()
            if layer is None:
                return
            builder.add(layer)

    def _retry(self, source: Source, image: ResolvedImage, layer) -> None:
        outcome, row = claims.claim(Layer, {"diff_id": layer.diff_id}, self.owner, {})
        if outcome is Outcome.MINE:
            self.created_layers.append(row.pk)
            self._read_layer(source, image, layer, row, layer.label(len(image.layers)))

    def _read_layer(
        self, source: Source, image: ResolvedImage, layer, row: Layer, label: str
    ) -> None:
        """Read one layer into our claimed ``row`` and publish it."""
        self._clear_entries(row)  # whatever a dead owner left
        descriptor = layer.descriptor
        with source.open_layer(image, layer) as raw:
            scan = scan_layer(
                raw,
                digest=descriptor.digest or None,
                size=descriptor.size,
                limits=source.limits,
                on_entries=lambda batch: self._write_entries(row, batch),
                on_read=lambda n: self._on_read(row, n),
            )
        self._check_diff_id(scan, layer, label)
        self._publish_layer(row, scan)

    def _check_diff_id(self, scan: LayerScan, layer: LayerRef, label: str) -> None:
        if scan.diff_id != layer.diff_id:
            raise DigestMismatch(
                f"layer content hashes to {scan.diff_id}, but the image config says {layer.diff_id}"
            ).in_layer(label)

    def _ingest_streaming(self, source: Source) -> list[Image]:
        identity = getattr(source, "identity", None)
        if identity is not None:
            image_id, diff_ids = identity()
            known = Image.objects.filter(image_id=image_id).first()
            if known is not None and all(
                Layer.objects.ready().filter(diff_id=d).exists() for d in diff_ids
            ):
                self._add_references(known, source.references())
                return [known]
        self.progress.set_total(source.size_hint())
        scans: dict[str, tuple[LayerScan, int | None, int | None]] = {}
        counter = {"n": 0}

        def on_member(name: str, size: int, reader: Readable) -> None:
            counter["n"] += 1
            self.progress.phase(progress_text.READING, layer=counter["n"], layers=0)
            scans[name] = self._read_streamed(reader, size, name, source)

        images = source.stream(on_member)
        out = []
        for image in images:
            existing = Image.objects.filter(digest=image.manifest_digest).first()
            if existing is not None:
                self._add_references(existing, image.references)
                out.append(existing)
                continue
            count = len(image.layers)
            for layer in image.layers:
                label = layer.label(count)
                if layer.member in scans:
                    scan, _, wait_pk = scans[layer.member]
                    self._check_streamed(scan, layer, label)
                    if wait_pk is not None:
                        self._wait_for_layer(wait_pk, label, retry=None)
                    continue
                # Small layers were kept in memory while streaming: read them now.
                outcome, row = claims.claim(Layer, {"diff_id": layer.diff_id}, self.owner, {})
                if outcome is Outcome.BUSY:
                    self._wait_for_layer(row.pk, label, retry=None)
                elif outcome is Outcome.MINE:
                    self.created_layers.append(row.pk)
                    try:
                        self._read_layer(source, image, layer, row, label)
                    except IngestError as exc:
                        raise exc.in_layer(label) from None
            out.append(self._finish_image(image, source))
        # Big members were indexed as they streamed past, before the manifests said which
        # are wanted: the layers of other platforms (or of blobs that were no layer of the
        # image) go again, unless another ingest has taken them up meanwhile.
        used = {layer.member for image in images for layer in image.layers}
        mine = set(self.created_layers)
        passed = [pk for name, (_, pk, _) in scans.items() if name not in used and pk in mine]
        _delete_layers(
            list(
                Layer.objects.filter(pk__in=passed)
                .exclude(pk__in=ImageLayer.objects.values("layer_id"))
                .exclude(pk__in=Chain.objects.values("layer_id"))
                .values_list("pk", flat=True)
            )
        )
        return out

    def _check_streamed(self, scan: LayerScan, layer, label: str) -> None:
        descriptor = layer.descriptor
        if descriptor.digest and scan.blob_digest != descriptor.digest:
            raise DigestMismatch(
                f"blob content hashes to {scan.blob_digest}, not to {descriptor.digest}",
                layer=label,
            )
        if descriptor.digest and scan.blob_size != descriptor.size:
            raise DigestMismatch(
                f"blob is {scan.blob_size} bytes but its descriptor says {descriptor.size}",
                layer=label,
            )
        if scan.diff_id != layer.diff_id:
            raise DigestMismatch(
                f"layer content hashes to {scan.diff_id}, but the image config says {layer.diff_id}",
                layer=label,
            )

    def _read_streamed(
        self, reader: Readable, size: int, name: str, source: Source
    ) -> tuple[LayerScan, int | None, int | None]:
        """Index a member whose diff_id is only known once it is read to its end.

        Returns the scan, the ready layer's pk, or the pk of a layer another worker is building.
        """
        pending: list[EntryBatch] = []
        staging: Layer | None = None
        position = getattr(source, "position", None)

        def on_entries(batch: EntryBatch) -> None:
            nonlocal staging
            if staging is None:
                pending.append(batch)
                if sum(len(b) for b in pending) <= STREAM_SPILL:
                    return
                staging = Layer.objects.create(
                    diff_id=f"staging:{claims.new_owner()}",
                    state=BuildState.BUILDING,
                    owner=self.owner,
                    heartbeat_at=timezone.now(),
                )
                self.created_layers.append(staging.pk)
                for held in pending:
                    self._write_entries(staging, held)
                pending.clear()
                return
            self._write_entries(staging, batch)

        def on_read(n: int) -> None:
            if position is not None:
                self.progress.set_done(position())
            if staging is not None:
                self._beat(staging)

        try:
            scan = scan_layer(
                reader,
                digest=None,
                size=size,
                limits=source.limits,
                on_entries=on_entries,
                on_read=on_read,
            )
        except IngestError as exc:
            raise exc.in_layer(f"archive member {name}") from None
        if staging is None:
            outcome, row = claims.claim(Layer, {"diff_id": scan.diff_id}, self.owner, {})
            if outcome is Outcome.READY:
                return scan, row.pk, None
            if outcome is Outcome.BUSY:
                return scan, None, row.pk
            self.created_layers.append(row.pk)
            self._clear_entries(row)
            for held in pending:
                self._write_entries(row, held)
            self._publish_layer(row, scan)
            return scan, row.pk, None
        return self._settle_staging(staging, scan)

    def _settle_staging(
        self, staging: Layer, scan: LayerScan
    ) -> tuple[LayerScan, int | None, int | None]:
        """Give a fully read staging layer its diff_id, unless that layer exists already."""
        for _ in range(5):
            existing = Layer.objects.filter(diff_id=scan.diff_id).first()
            if existing is None:
                try:
                    with transaction.atomic():
                        Layer.objects.filter(pk=staging.pk).update(diff_id=scan.diff_id)
                except IntegrityError:
                    continue  # another worker just gave a layer this diff_id: look again
                staging.diff_id = scan.diff_id
                self._publish_layer(staging, scan)
                return scan, staging.pk, None
            if existing.pk == staging.pk:
                return scan, staging.pk, None
            if existing.is_ready:
                _delete_layers([staging.pk])
                return scan, existing.pk, None
            if claims.is_stale(existing):
                _delete_layers([existing.pk])
                continue
            _delete_layers([staging.pk])
            return scan, None, existing.pk
        raise IngestError(f"could not settle layer {scan.diff_id}")

    def _wait_for_layer(self, pk: int, label: str, retry) -> None:
        self.progress.phase(progress_text.WAITING % {"layer": label})
        row = claims.wait_until_ready(Layer, pk, label=label)
        if row is not None:
            return
        if retry is None:
            raise IngestError(
                "the worker indexing this layer stopped before finishing; run the ingest again",
                layer=label,
            )
        retry()

    # --- writing ---------------------------------------------------------------------------

    def _beat(self, row, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._last_beat > self._beat_every:
            claims.heartbeat(row, self.owner)
            self._last_beat = now

    def _on_read(self, row: Layer, n: int) -> None:
        # A layer of a few big files writes entries rarely: beat on the bytes read as well.
        self.progress.advance(n)
        self._beat(row)

    def _clear_entries(self, row: Layer) -> None:
        EntryChunk.objects.filter(layer=row).delete()
        self._chunks[row.pk] = 0

    def _write_entries(self, row: Layer, batch: EntryBatch) -> None:
        self._write_packed(row, batch.first_seq, len(batch), batch.pack())

    def _write_packed(self, row: Layer, first_seq: int, count: int, blob: bytes) -> None:
        index = self._chunks.get(row.pk, 0)
        packed.save_chunk(row.pk, index, first_seq, count, blob)
        self._chunks[row.pk] = index + 1
        self._beat(row)

    def _publish_layer(self, row: Layer, scan: LayerScan) -> None:
        from .models import Blob

        Blob.objects.get_or_create(
            digest=scan.blob_digest,
            defaults={"layer": row, "size": scan.blob_size, "compression": scan.compression},
        )
        claims.publish(
            row,
            self.owner,
            size=scan.size,
            tar_bytes=scan.tar_bytes,
            entry_count=scan.entries,
            flags=scan.flags,
            indexed_at=timezone.now(),
        )

    # --- chains and the image ----------------------------------------------------------------

    def _chains_for(
        self, image: ResolvedImage, source: Source, beat: Callable[[], None] = lambda: None
    ) -> ChainBuilder:
        """``beat`` keeps other claims of the run alive while a chain is built."""
        return ChainBuilder(
            [layer.diff_id for layer in image.layers],
            owner=self.owner,
            progress=self.progress,
            beat=beat,
            created=self.created_chains,
            limits=source.limits,
        )

    def _finish_image(
        self, image: ResolvedImage, source: Source, builder: ChainBuilder | None = None
    ) -> Image:
        """Build the chains not built yet, then the image with its layers, history and names
        in one transaction."""
        diff_ids = [layer.diff_id for layer in image.layers]
        layers = {
            layer.diff_id: layer for layer in Layer.objects.ready().filter(diff_id__in=diff_ids)
        }
        missing = [d for d in diff_ids if d not in layers]
        if missing:
            raise IngestError(f"layer {missing[0]} was not indexed")
        builder = builder or self._chains_for(image, source)
        while not builder.complete:
            builder.add(layers[diff_ids[len(builder.chains)]])
        chains = builder.chains
        self.progress.phase(progress_text.SAVING)
        with transaction.atomic():
            row, created = Image.objects.get_or_create(
                digest=image.manifest_digest,
                defaults=_image_fields(image, self.label or source.spec, layers, chains),
            )
            if created:
                ImageLayer.objects.bulk_create(
                    ImageLayer(
                        image=row,
                        position=layer.index,
                        layer=layers[layer.diff_id],
                        chain=chains[layer.index],
                        blob_digest=layer.descriptor.digest or layer.diff_id,
                        blob_size=layer.descriptor.size,
                        media_type=layer.descriptor.media_type,
                        member=layer.listed_as or layer.member,
                    )
                    for layer in image.layers
                )
                positions = image.config.history_positions()
                HistoryStep.objects.bulk_create(
                    HistoryStep(
                        image=row,
                        index=i,
                        created=h.created,
                        created_by=h.created_by,
                        comment=h.comment,
                        author=h.author,
                        empty_layer=h.empty_layer,
                        position=positions[i],
                    )
                    for i, h in enumerate(image.config.history)
                )
            self._add_references(row, image.references)
        self.progress.phase(progress_text.DONE, layer=len(image.layers), layers=len(image.layers))
        return row

    def _add_references(self, image: Image, names_: Iterable[str]) -> None:
        for name in [*names_, *self.extra_names]:
            display = refs.parse(name).familiar()
            Reference.objects.update_or_create(
                name=name, platform=image.platform, defaults={"image": image, "display": display}
            )

    # --- failure ---------------------------------------------------------------------------

    def undo(self) -> None:
        """Remove what this run created that no image uses (the visible index is untouched)."""
        try:
            used = set(
                ImageLayer.objects.filter(chain_id__in=self.created_chains).values_list(
                    "chain_id", flat=True
                )
            )
            DirChanges.objects.filter(
                chain_id__in=[c for c in self.created_chains if c not in used]
            ).delete()
            Chain.objects.filter(pk__in=[c for c in self.created_chains if c not in used]).delete()
            used = set(
                ImageLayer.objects.filter(layer_id__in=self.created_layers).values_list(
                    "layer_id", flat=True
                )
            )
            _delete_layers([pk for pk in self.created_layers if pk not in used])
        except Exception:  # never hide the error that made us undo
            log.exception("could not clean up after a failed ingest")


def _delete_layers(pks: list[int]) -> None:
    if not pks:
        return
    DirChanges.objects.filter(chain__layer_id__in=pks).delete()
    Chain.objects.filter(layer_id__in=pks).delete()
    EntryChunk.objects.filter(layer_id__in=pks).delete()
    Layer.objects.filter(pk__in=pks).delete()


_FRACTION = re.compile(r"(\.\d{6})\d+")


def parse_time(text: str) -> dt.datetime | None:
    if not text:
        return None
    try:
        value = dt.datetime.fromisoformat(_FRACTION.sub(r"\1", text.strip()))
    except ValueError:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value


def _image_fields(
    image: ResolvedImage, source: str, layers: dict[str, Layer], chains: list[Chain]
) -> dict:
    config = image.config
    return {
        "manifest_synthesized": image.manifest_synthesized,
        "index_digest": image.index_digest,
        "image_id": config.digest,
        "media_type": image.manifest_media_type,
        "os": config.platform.os,
        "architecture": config.platform.architecture,
        "variant": config.platform.variant,
        "created": parse_time(config.created),
        "author": config.author,
        "config": config.config,
        "manifest": image.manifest,
        "size": sum(layers[layer.diff_id].size for layer in image.layers),
        "compressed_size": sum(layer.descriptor.size for layer in image.layers),
        "layer_count": len(image.layers),
        "top_chain": chains[-1] if chains else None,
        "source": source,
    }
