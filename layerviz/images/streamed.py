"""Ingesting from a stream walked once (``docker save`` from the engine, a compressed archive).

The archive's manifests come last, so each member that may be a layer is read as it passes,
before anyone knows which image (if any) it belongs to, or its diff_id:

1. a small member is kept in memory; one past ``STREAM_SPILL`` entries is written as it goes
   under a staging row;
2. once read, its diff_id is known: the layer is claimed under it, or found ready (another
   worker, an earlier image), or found busy (waited for later); a staging row is given that
   diff_id (``_settle``);
3. when the manifests have come, each image's layers are checked against what was read, the
   members not read yet are read from the spooled copy, and the image is finished;
4. layers read in passing that no image of the stream uses (other platforms) go again.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from django.db import IntegrityError, transaction

from layerviz.lib.errors import IngestError
from layerviz.lib.layer import EntryBatch, LayerScan, scan_layer
from layerviz.lib.streams import Readable
from layerviz.sources import Source

from . import claims, contents, deletion
from . import progress as progress_text
from .claims import Outcome
from .layer_writer import copying
from .models import Image, Layer

if TYPE_CHECKING:
    from .ingest import _Run

# A streamed layer is held in memory up to this many entries before it is written under a
# staging row: most layers are small, and a layer already indexed then costs no writes at all.
STREAM_SPILL = 50_000

# What reading a member gave: its scan, the ready layer's pk, or the pk of a layer another
# worker is building.
Read = tuple[LayerScan, int | None, int | None]


def ingest_streaming(run: _Run, source: Source) -> list[Image]:
    writer = run.writer
    identity = source.identity()
    if identity is not None:
        image_id, diff_ids = identity
        known = Image.objects.filter(image_id=image_id).first()
        if (
            known is not None
            and all(Layer.objects.ready().filter(diff_id=d).exists() for d in diff_ids)
            and run.name_indexed(known, source.references())
        ):
            return [known]
    run.progress.set_total(source.size_hint())
    scans: dict[str, Read] = {}
    counter = {"n": 0}

    def on_member(name: str, size: int, reader: Readable) -> None:
        counter["n"] += 1
        run.progress.phase(progress_text.READING, layer=counter["n"], layers=0)
        scans[name] = _read_member(run, reader, size, name, source)

    images = source.stream(on_member)
    out = []
    for image in images:
        existing = Image.objects.filter(digest=image.manifest_digest).first()
        if existing is not None and run.name_indexed(existing, image.references):
            out.append(existing)
            continue
        count = len(image.layers)
        for layer in image.layers:
            label = layer.label(count)
            if layer.member in scans:
                scan, _, wait_pk = scans[layer.member]
                d = layer.descriptor
                try:
                    scan.check(layer.diff_id, blob_digest=d.digest or None, blob_size=d.size)
                except IngestError as exc:
                    raise exc.in_layer(label) from None
                if wait_pk is not None:
                    writer.wait(wait_pk, label, retry=None)
                continue
            # Small layers were kept in memory while streaming: read them now.
            outcome, row = writer.claim(layer.diff_id)
            if outcome is Outcome.BUSY:
                writer.wait(row.pk, label, retry=None)
            elif outcome is Outcome.MINE:
                try:
                    run.read_layer(source, image, layer, row)
                except IngestError as exc:
                    raise exc.in_layer(label) from None
        out.append(run.finish_image(image, source))
    # Big members were indexed as they streamed past, before the manifests said which are
    # wanted: the layers of other platforms (or of blobs that were no layer of the image) go
    # again, unless another ingest has taken them up meanwhile.
    used = {layer.member for image in images for layer in image.layers}
    mine = set(writer.created)
    passed = [pk for name, (_, pk, _) in scans.items() if name not in used and pk in mine]
    deletion.delete_unused(layers=passed, owner=run.owner)
    return out


def _read_member(run: _Run, reader: Readable, size: int, name: str, source: Source) -> Read:
    """Index a member whose diff_id is only known once it is read to its end."""
    writer = run.writer
    pending: list[EntryBatch] = []
    staging: Layer | None = None

    def on_entries(batch: EntryBatch) -> None:
        nonlocal staging
        if staging is None:
            pending.append(batch)
            if sum(len(b) for b in pending) <= STREAM_SPILL:
                return
            staging = writer.staging()
            for held in pending:
                writer.write(staging, held)
            pending.clear()
            return
        writer.write(staging, batch)

    def on_read(n: int) -> None:
        position = source.position()
        if position is not None:
            run.progress.set_done(position)
        if staging is not None:
            writer.beat([staging])

    copy = writer.copy_for(size)
    try:
        with copying(copy) as keep:
            scan = scan_layer(
                reader,
                digest=None,
                size=size,
                limits=source.limits,
                on_entries=on_entries,
                on_read=on_read,
                keep=keep,
            )
    except IngestError as exc:
        raise exc.in_layer(f"archive member {name}") from None
    if staging is None:
        outcome, row = writer.claim(scan.diff_id)
        if outcome is Outcome.READY:
            if copy is not None and contents.kept_blob(row) is None:
                writer.keep(row, scan, copy)  # indexed before without its bytes: keep them now
            return scan, row.pk, None
        if outcome is Outcome.BUSY:
            return scan, None, row.pk
        for held in pending:
            writer.write(row, held)
        writer.publish(row, scan, copy)
        return scan, row.pk, None
    return _settle(run, staging, scan, copy)


def _settle(run: _Run, staging: Layer, scan: LayerScan, copy: Path | None) -> Read:
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
            run.writer.publish(staging, scan, copy)
            return scan, staging.pk, None
        if existing.pk == staging.pk:
            return scan, staging.pk, None
        if existing.is_ready:
            if not claims.lease(Layer, existing.pk, run.owner):
                continue  # deleted meanwhile: look again
            deletion.delete_unused(layers=[staging.pk], owner=run.owner)
            if copy is not None and contents.kept_blob(existing) is None:
                run.writer.keep(existing, scan, copy)
            return scan, existing.pk, None
        if claims.is_stale(existing):
            deletion.delete_unused(layers=[existing.pk])
            continue
        if not claims.lease(Layer, existing.pk, run.owner, ready=False):
            continue  # deleted meanwhile: look again
        deletion.delete_unused(layers=[staging.pk], owner=run.owner)
        return scan, None, existing.pk
    raise IngestError(f"could not settle layer {scan.diff_id}")
