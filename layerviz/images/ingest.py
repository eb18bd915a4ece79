"""Ingest: read an image from any source and index it.

``ingest()`` is the one entry point; the ``ingest`` command, the background task, tests and
benchmarks all call it. For each image the source resolves:

1. if an image with the same manifest digest is indexed, only its names are added;
2. every layer not yet indexed is read and verified (blob digest and size, then diff_id against
   the config) while its entries are written in batches under a claimed ``Layer`` row, which
   becomes ready only at the end; layers another worker is indexing are waited for; every
   ready layer and chain the image relies on is leased (``claims.py``) until the image is
   saved, so that no delete or undo takes it meanwhile;
3. for every position whose chain is new, the layer's entries are stacked on the merged view
   below and what it did to each path written (``DirChanges``), again under a claimed row;
4. the ``Image`` with its layers, history and references is created in one transaction.

Any failure raises ``IngestError`` and removes what this run created that no image uses and
no other ingest holds (``deletion.delete_unused``), so the visible index is as it was. A run
killed half-way leaves only rows in state ``building``, which the next run takes over.

The units: ``layer_writer.py`` claims and writes layers, ``streamed.py`` reads a stream walked
once, ``chains.py`` works out what each layer did, ``lib/readers.py`` reads layers in worker
processes; this module runs them in order.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import functools
import logging
import re
from collections.abc import Callable, Iterable

from django.conf import settings
from django.db import OperationalError, transaction

from layerviz.lib import blobstore, oci, pausepoints, readers
from layerviz.lib import reference as refs
from layerviz.lib.errors import IngestError
from layerviz.lib.layer import FileRange, scan_layer
from layerviz.sources import LayerRef, ResolvedImage, Source, SourceOptions, open_source

from . import claims, contents, deletion
from . import progress as progress_text
from .chains import ChainBuilder
from .claims import Outcome
from .downloads import download_size
from .layer_writer import LayerWriter, copying
from .models import Chain, HistoryStep, Image, ImageLayer, Layer, Reference
from .progress import Progress
from .streamed import ingest_streaming

log = logging.getLogger("layerviz.ingest")


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
            images = run.ingest(source)
    except OperationalError:
        # The database failed (locked past the timeout, read-only): a clean-up would wait on
        # the same lock or hit the same file. What this run wrote stays "building", never
        # shown, taken over by the next ingest of those layers, and its leases lapse: as
        # after a killed run.
        raise
    except BaseException:
        # Interrupted or failed: leave the visible index as it was.
        run.undo()
        raise
    # The images' own rows hold what they use now.
    claims.release(run.owner)
    run.writer.discard_copies()
    return images


class _Run:
    """One ingest: the layers it claims and writes (``writer``), the chains it builds."""

    def __init__(self, progress: Progress, extra_names: list[str], label: str | None) -> None:
        self.progress = progress
        self.label = label
        self.extra_names = extra_names
        self.owner = claims.new_owner()
        self.writer = LayerWriter(self.owner, progress)
        self.created_chains: list[int] = []

    def ingest(self, source: Source) -> list[Image]:
        self.progress.phase(progress_text.READING_CONFIG)
        if source.streaming:
            return ingest_streaming(self, source)
        return [self._ingest_random_access(source, image) for image in source.images()]

    # --- layers of a source read in any order ------------------------------------------------

    def _ingest_random_access(self, source: Source, image: ResolvedImage) -> Image:
        """1. names only, when the image is indexed; 2. the layers not indexed yet, in worker
        processes when they lie in files and are big enough, else one by one here; 3. the
        layers other workers are indexing are waited for; 4. the chains and the image."""
        existing = Image.objects.filter(digest=image.manifest_digest).first()
        if existing is not None and self.name_indexed(existing, image.references):
            self._keep_unkept(source, image)
            return existing
        count = len(image.layers)
        # A layer found ready is leased before we rely on it (a delete may take it otherwise).
        needed = [
            layer
            for layer in image.layers
            if claims.leased(Layer, {"diff_id": layer.diff_id}, self.owner) is None
        ]
        total = sum(layer.descriptor.size for layer in needed)
        self.progress.set_total(total)
        busy: list[tuple[int, int]] = []
        builder: ChainBuilder | None = None
        source.prefetch(image, needed, directory=settings.DATA_DIR / "downloads")
        self._await_downloads(source, len(needed))
        files = [self._layer_file(source, image, layer) for layer in needed]
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
                    outcome, row = self.writer.claim(layer.diff_id)
                    if outcome is Outcome.BUSY:
                        busy.append((layer.index, row.pk))
                    elif outcome is Outcome.MINE:
                        mine.append((layer, row, where))
                builder = self._read_in_workers(workers, source, image, mine)
        else:
            for layer in needed:
                label = layer.label(count)
                self.progress.phase(progress_text.READING, layer=layer.index + 1, layers=count)
                outcome, row = self.writer.claim(layer.diff_id)
                if outcome is Outcome.BUSY:
                    busy.append((layer.index, row.pk))
                elif outcome is Outcome.MINE:
                    try:
                        self.read_layer(source, image, layer, row)
                    except IngestError as exc:
                        raise exc.in_layer(label) from None
        for index, pk in busy:
            layer = image.layers[index]
            self.writer.wait(
                pk, layer.label(count), retry=functools.partial(self._retry, source, image, layer)
            )
        self._keep_unkept(source, image)
        return self.finish_image(image, source, builder)

    def _keep_unkept(self, source: Source, image: ResolvedImage) -> None:
        """Keep the blobs of the image's layers that were indexed without keeping them (before
        layerviz kept blobs, or past the budget), now that the source has them and there is
        room: what "ingest it again" promises on a file whose bytes are not kept. Each is read
        and verified as in a first read, its entries already indexed."""
        rows = Layer.objects.ready().filter(diff_id__in=[la.diff_id for la in image.layers])
        unkept = {
            row.diff_id: row
            for row in rows.prefetch_related("blobs")
            if not contents.kept_blob(row)
        }
        for layer in image.layers:
            row = unkept.pop(layer.diff_id, None)
            if row is None:
                continue
            copy = self.writer.copy_for(layer.descriptor.size)
            if copy is None:
                return
            try:
                with source.open_layer(image, layer) as raw, copying(copy) as keep:
                    scan = scan_layer(
                        raw,
                        digest=layer.descriptor.digest or None,
                        size=layer.descriptor.size,
                        limits=source.limits,
                        keep=keep,
                        capture=False,
                    )
                scan.check(layer.diff_id)
            except IngestError as exc:
                raise exc.in_layer(layer.label(len(image.layers))) from None
            self.writer.keep(row, scan, copy)

    def _await_downloads(self, source: Source, layers: int) -> None:
        """Show the bytes of the layers downloading side by side, and keep beating: a pull
        longer than a lease must not look like a dead worker (its job would be run again, and
        the layers it leased taken)."""
        got, done = source.prefetched(0)
        if done:
            return
        self.progress.phase(progress_text.DOWNLOADING, count=str(layers))
        while not done:
            got, done = source.prefetched(self.writer.beat_every)
            self.progress.set_done(got)
            self.writer.beat()
        # Shown whatever the throttle dropped, so that the page never stops short of the end;
        # then reading counts from the start again.
        self.progress.phase(progress_text.DOWNLOADING, count=str(layers))
        self.progress.set_done(0)

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
        copies = {row.pk: self.writer.copy_for(layer.descriptor.size) for layer, row, _ in mine}
        futures = {
            workers.read(
                where,
                digest=layer.descriptor.digest or None,
                size=layer.descriptor.size,
                limits=source.limits,
                keep_path=str(copies[row.pk]) if copies[row.pk] else None,
            ): (layer, row)
            for layer, row, where in biggest_first
        }
        pending = set(futures)
        waiting = {row.pk: row for _, row, _ in mine}
        writer = self.writer
        builder = self._chains_for(image, source, beat=lambda: writer.beat(waiting.values()))
        try:
            while pending:
                done, pending = concurrent.futures.wait(
                    pending,
                    timeout=writer.beat_every,
                    return_when=concurrent.futures.FIRST_COMPLETED,
                )
                for future in done:
                    layer, row = futures[future]
                    try:
                        scan, batches = future.result()
                        for first_seq, n, blob in batches:
                            writer.write_packed(row, first_seq, n, blob)
                        scan.check(layer.diff_id)
                    except IngestError as exc:
                        raise exc.in_layer(layer.label(count)) from None
                    writer.publish(row, scan, copies[row.pk])
                    del waiting[row.pk]
                    self.progress.advance(layer.descriptor.size)
                writer.beat(waiting.values(), now=True)
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

    def _retry(self, source: Source, image: ResolvedImage, layer: LayerRef) -> None:
        """Index a layer whose builder died (or that was deleted) ourselves, or wait for the
        worker that claimed it first."""
        outcome, row = self.writer.claim(layer.diff_id)
        if outcome is Outcome.MINE:
            self.read_layer(source, image, layer, row)
        elif outcome is Outcome.BUSY:
            retry = functools.partial(self._retry, source, image, layer)
            self.writer.wait(row.pk, layer.label(len(image.layers)), retry=retry)

    def read_layer(self, source: Source, image: ResolvedImage, layer: LayerRef, row: Layer) -> None:
        """Read one layer here into our claimed ``row`` and publish it."""
        pausepoints.pause(f"read:{layer.index}")
        descriptor = layer.descriptor
        copy = self.writer.copy_for(descriptor.size)
        # A blob in a file is copied once verified (in the kernel); a stream as it is read.
        where = source.layer_file(image, layer) if copy is not None else None
        with source.open_layer(image, layer) as raw, copying(copy if not where else None) as keep:
            scan = scan_layer(
                raw,
                digest=descriptor.digest or None,
                size=descriptor.size,
                limits=source.limits,
                on_entries=lambda batch: self.writer.write(row, batch),
                on_read=self.writer.on_read(row),
                keep=keep,
            )
        scan.check(layer.diff_id)
        if where is not None and copy is not None:
            blobstore.copy_range(where.path, where.offset, where.size, str(copy))
        self.writer.publish(row, scan, copy)

    # --- chains and the image ----------------------------------------------------------------

    def _chains_for(
        self, image: ResolvedImage, source: Source, beat: Callable[[], None] = lambda: None
    ) -> ChainBuilder:
        """``beat`` keeps other claims of the run alive while a chain is built."""
        writer = self.writer

        def beat_all() -> None:
            beat()
            writer.beat()

        return ChainBuilder(
            [layer.diff_id for layer in image.layers],
            owner=self.owner,
            progress=self.progress,
            beat=beat_all,
            created=self.created_chains,
            limits=source.limits,
        )

    def finish_image(
        self, image: ResolvedImage, source: Source, builder: ChainBuilder | None = None
    ) -> Image:
        """Build the chains not built yet, then the image with its layers, history and names
        in one transaction."""
        pausepoints.pause("image")
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
        downloads = {
            layer.index: download_size(
                layers[layer.diff_id],
                layer.descriptor.digest or layer.diff_id,
                layer.descriptor.size,
            )
            for layer in image.layers
        }
        with transaction.atomic():
            # Locked when it exists (another ingest made it), so a delete cannot take it
            # before our names are on it.
            row, created = Image.objects.select_for_update().get_or_create(
                digest=image.manifest_digest,
                defaults=_image_fields(image, self.label or source.spec, layers, chains, downloads),
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
                        download_size=downloads[layer.index][0],
                        download_estimated=downloads[layer.index][1],
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
            self.add_references(row, image.references)
        self.progress.phase(progress_text.DONE, layer=len(image.layers), layers=len(image.layers))
        return row

    def name_indexed(self, image: Image, names_: Iterable[str]) -> bool:
        """Add the names to an image already indexed; False when a delete took it since we
        looked (then the caller indexes it)."""
        pausepoints.pause("names")
        with transaction.atomic():
            # The lock orders us against a delete of the image: our names go on it, or we see
            # it gone.
            if not list(Image.objects.select_for_update().filter(pk=image.pk).values("pk")):
                return False
            self.add_references(image, names_)
        return True

    def add_references(self, image: Image, names_: Iterable[str]) -> None:
        for name in [*names_, *self.extra_names]:
            display = refs.parse(name).familiar()
            Reference.objects.update_or_create(
                name=name, platform=image.platform, defaults={"image": image, "display": display}
            )

    # --- failure ---------------------------------------------------------------------------

    def undo(self) -> None:
        """Remove what this run created that nothing else uses or holds (the visible index is
        untouched), then give up its leases."""
        try:
            self.writer.discard_copies()
            deletion.delete_unused(
                chains=self.created_chains, layers=self.writer.created, owner=self.owner
            )
            claims.release(self.owner)
        except Exception:  # never hide the error that made us undo
            log.exception("could not clean up after a failed ingest")


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
    image: ResolvedImage,
    source: str,
    layers: dict[str, Layer],
    chains: list[Chain],
    downloads: dict[int, tuple[int | None, bool]],
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
        # A layer whose download size is unknown counts as its blob: the tar it was read as.
        "compressed_size": sum(
            layer.descriptor.size
            if downloads[layer.index][0] is None
            else downloads[layer.index][0]
            for layer in image.layers
        ),
        "compressed_estimated": any(estimated for _size, estimated in downloads.values()),
        "layer_count": len(image.layers),
        "top_chain": chains[-1] if chains else None,
        "source": source,
    }
