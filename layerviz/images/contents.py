"""Kept layer blobs: which are kept, within what budget, and reading a file's bytes from them.

Ingest copies each blob it reads into the blob store (``lib/blobstore``) when the kept blobs
stay within ``LAYERVIZ_BLOB_BUDGET``; a ``Blob`` row says ``kept`` once its file is in place. A
layer's files are read back from any kept blob of it, and every file's bytes are checked against
the sha256 the index recorded before anyone is shown them.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import Sum

from layerviz.lib.blobstore import BlobStore

from .models import Blob


def store() -> BlobStore:
    return BlobStore(settings.LAYERVIZ_BLOB_ROOT)


def kept_bytes() -> int:
    return Blob.objects.filter(kept=True).aggregate(total=Sum("size"))["total"] or 0


def room_for(size: int) -> bool:
    """Would a blob of ``size`` bytes stay within the budget? (Two ingests at once may each
    see room for one more: the budget is a bound on what is planned, not a quota.)"""
    budget = settings.LAYERVIZ_BLOB_BUDGET
    return budget > 0 and kept_bytes() + size <= budget


def commit(temp: Path, blob: Blob) -> None:
    """Give a verified blob's copy its name, then mark the row kept."""
    store().commit(temp, blob.digest)
    Blob.objects.filter(pk=blob.pk).update(kept=True)


def forget(digests: Iterable[str]) -> None:
    """Remove the kept files of blobs whose rows are being deleted, once the delete commits
    (a rolled back delete keeps its files)."""
    digests = list(digests)
    if not digests:
        return

    def remove() -> None:
        kept = store()
        for digest in digests:
            kept.remove(digest)

    transaction.on_commit(remove)
