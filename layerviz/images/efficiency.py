"""Efficiency of an indexed image: dive's figures, layerviz's own accounting, and advice.

Everything is computed from the index (no archive is read again) and stored in an ``Analysis``
row at the end of every ingest (``analyze_ingested``), or the first time it is asked for when
that failed (or the row is of an older version); an image never changes once indexed.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

from django.db import OperationalError, transaction

from layerviz.lib import advice, dive, filemode, names, waste
from layerviz.lib.changes import ChangeRow
from layerviz.lib.figures import DiveFigures, Figures, OurFigures
from layerviz.lib.instructions import keyword
from layerviz.lib.tarwalk import DIR, REG
from layerviz.packages import scan as package_scan

from . import faults, packed
from .filesystem import merged_files
from .models import Analysis, Image, InefficientFile
from .progress import ANALYSING, DONE, Progress

logger = logging.getLogger(__name__)


def _go_string(text: str) -> str:
    # Go strings are bytes; keep every byte of a name as a surrogate-escaped character.
    return names.from_text(text).decode("utf-8", "surrogateescape")


def _stored(go_path: str) -> str:
    """A path of dive's back in the text form the index stores (``names.to_text``): what the
    database can hold and what the file-history page takes."""
    return names.to_text(go_path.encode("utf-8", "surrogateescape"))


def dive_analysis(image: Image) -> dive.Analysis:
    """dive v0.13.1's analysis of ``image``, from the stored tar entries."""
    links = list(image.layers_in_order().select_related("layer"))
    trees: dict[int, dive.Tree] = {}
    for link in links:
        if link.layer_id in trees:
            continue
        entries = (
            dive.RawEntry(_go_string(raw or path), typ, _go_string(target), size, mode, uid, gid)
            for batch in packed.entry_batches(link.layer_id)
            for path, raw, typ, target, size, mode, uid, gid in zip(
                batch.path,
                batch.raw,
                batch.type,
                batch.link,
                batch.size,
                batch.mode,
                batch.uid,
                batch.gid,
                strict=True,
            )
        )
        trees[link.layer_id] = dive.build_tree(entries, link.member)
    history = [(step.created_by, step.empty_layer) for step in image.history.all()]
    # dive names a layer after the first part of its archive member ("<id>/layer.tar", or
    # "blobs" in an OCI layout); a layer from a registry has no member, its digest stands in.
    ids = [
        link.member.split("/")[0] if link.member else link.layer.diff_id.partition(":")[2]
        for link in links
    ]
    metas = dive.layer_meta(history, [link.layer.diff_id for link in links], ids)
    return dive.analyze([trees[link.layer_id] for link in links], metas)


def waste_report(image: Image) -> waste.WasteReport:
    chain_ids = list(image.image_layers.values_list("chain_id", flat=True))
    versions = sorted(
        (
            waste.Version(row.path, row.depth, row.kind, row.detail, row.size, row.type)
            for row in packed.chain_rows(chain_ids)
        ),
        key=_version_order,
    )
    return waste.account(versions)


def _version_order(version: waste.Version) -> tuple[str, str, int]:
    # Path by path (directory, then name), bottom layer first: the order waste.account reads.
    d, _, n = version.path.rpartition("/")
    return d, n, version.depth


def layer_infos(image: Image) -> list[advice.LayerInfo]:
    steps = image.instructions()
    return [
        advice.LayerInfo(
            link.position,
            steps.get(link.position, ""),
            keyword(steps.get(link.position, "")),
            link.layer.size,
        )
        for link in image.layers_in_order()
    ]


def analyze_ingested(images: list[Image], progress: Progress | None = None) -> bool:
    """Store each just-ingested image's analysis and its packages (``packages.scan``), so its
    first view need not compute them and a search across images finds its packages; the last
    phase of every ingest (the ``ingest`` command and the background task), shown on
    ``progress``. True when every analysis was stored.

    The ingest has committed by now: the images stay indexed whatever happens here, and an
    analysis that fails is only logged (the page computes it when first asked).
    """
    progress = progress or Progress()
    progress.phase(ANALYSING)
    stored = True
    for image in images:
        try:
            analyze(image)
            package_scan.scan(image)
        except OperationalError as exc:
            logger.warning(
                "efficiency analysis of %s not stored: %s", image.digest, faults.describe(exc)
            )
            stored = False
        except Exception:
            logger.exception("efficiency analysis of %s failed", image.digest)
            stored = False
    progress.phase(DONE)
    return stored


def privileged(merged: list[ChangeRow]) -> list[dict[str, Any]]:
    """The files of a final filesystem that run with their owner's or group's rights (setuid,
    setgid), by path: each with its mode (the number and as ``ls -l`` shows it), owner, size
    and the 0-based layer its version came from."""
    return [
        {
            "path": row.path,
            "mode": row.mode,
            "mode_string": filemode.mode_string(row.mode, row.type),
            "uid": row.uid,
            "gid": row.gid,
            "size": row.size,
            "layer": row.depth,
        }
        for row in sorted(
            # The few privileged files sorted, not every path of the image: this runs at the
            # end of every ingest.
            (row for row in merged if row.type == REG and filemode.is_setuid_or_setgid(row.mode)),
            key=lambda row: row.path,
        )
    ]


def analyze(image: Image, *, force: bool = False) -> Analysis:
    """The stored analysis of ``image``, computed now if missing or out of date."""
    existing = Analysis.objects.filter(image=image).first()
    if existing is not None and existing.version == Analysis.VERSION and not force:
        return existing
    result = dive_analysis(image)
    report = waste_report(image)
    merged = list(merged_files(image.top_chain).values()) if image.top_chain is not None else []
    files = [
        advice.File(row.path, row.size, row.depth, row.type == REG)
        for row in merged
        if row.type != DIR
    ]
    findings = advice.advise(files, layer_infos(image), report)

    per_path: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # path -> [copies undone, bytes]
    for shadow in report.shadowed:
        per_path[shadow.path][0] += 1
        per_path[shadow.path][1] += shadow.size
    rows: dict[str, InefficientFile] = {}
    for item in result.inefficiencies:
        path = _stored(item.path)
        ours = per_path.get(path.lstrip("/"), [0, 0])
        rows[path] = InefficientFile(
            path=path, count=item.count, dive_bytes=item.cumulative, reclaimable=ours[1]
        )
    for path, (copies, size) in per_path.items():
        key = "/" + path
        if key not in rows:
            # Waste dive does not see: files under a deleted directory or an opaque one.
            rows[key] = InefficientFile(path=key, count=copies + 1, dive_bytes=0, reclaimable=size)

    figures = Figures(
        dive=DiveFigures(
            size=result.size,
            user_size=result.user_size,
            wasted=result.wasted,
            score=result.score,
            user_wasted_percent=result.user_wasted_percent,
            inefficient_files=len(result.inefficiencies),
        ),
        ours=OurFigures(
            written=report.written,
            reclaimable=report.reclaimable,
            score=report.score,
            by_reason={k: (v[0], v[1]) for k, v in report.by_reason.items()},
            per_layer=waste.per_layer(report, image.layer_count),
        ),
        advice=findings,
    )
    with transaction.atomic():
        Analysis.objects.filter(image=image).delete()
        analysis = Analysis.objects.create(
            image=image, privileged=privileged(merged), **figures.to_json()
        )
        for row in rows.values():
            row.analysis = analysis
        InefficientFile.objects.bulk_create(rows.values(), batch_size=2000)
    analysis.refresh_from_db()  # the same plain JSON a later read gives
    return analysis
