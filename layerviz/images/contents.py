"""Kept layer blobs: which are kept, within what budget, and reading a file's bytes from them.

Ingest copies each blob it reads into the blob store (``lib/blobstore``) when the kept blobs
stay within ``LAYERVIZ_BLOB_BUDGET``; a ``Blob`` row says ``kept`` once its file is in place. A
layer's files are read back from any kept blob of it, and every file's bytes are checked against
the sha256 the index recorded before anyone is shown them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import posixpath
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from layerviz.lib.blobstore import BlobStore
from layerviz.lib.changes import ChangeRow
from layerviz.lib.errors import IngestError
from layerviz.lib.streams import DECOMPRESS_ERRORS, NONE
from layerviz.lib.tarwalk import BLOCKDEV, CHAR, DIR, FIFO, LINK, REG, SYMLINK

from . import packed, steps
from .models import Blob, Chain, Image, Layer


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


@dataclasses.dataclass
class Usage:
    kept: int  # blobs kept, by the database
    kept_bytes: int
    budget: int
    unkept_layers: int  # ready layers with no kept blob
    stray: list[str]  # files of the store no kept row names (a crash between copy and row)


def usage() -> Usage:
    kept = set(Blob.objects.filter(kept=True).values_list("digest", flat=True))
    on_disk = dict(store().sizes())
    unkept = Layer.objects.ready().exclude(blobs__kept=True).count()
    return Usage(
        len(kept), kept_bytes(), settings.LAYERVIZ_BLOB_BUDGET, unkept, sorted(set(on_disk) - kept)
    )


def prune(stray: Iterable[str]) -> None:
    """Remove files of the store that no kept blob row names, and copies left half-made."""
    kept = store()
    for digest in stray:
        if not Blob.objects.filter(digest=digest, kept=True).exists():
            kept.remove(digest)
    temp = kept.root / "tmp"
    if temp.is_dir():
        cutoff = time.time() - 24 * 3600  # an ingest running now may be copying into one
        for file in temp.iterdir():
            if file.stat().st_mtime < cutoff:
                kept.discard(file)


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


# --- a file's bytes ----------------------------------------------------------------------------

TYPE_WORDS = {
    DIR: gettext_lazy("directory"),
    CHAR: gettext_lazy("character device"),
    BLOCKDEV: gettext_lazy("block device"),
    FIFO: gettext_lazy("named pipe"),
}
# Symbolic links followed before a path is given up as a loop (Linux's own limit).
MAX_HOPS = 40


class ContentError(Exception):
    """Why a file's bytes cannot be given; ``status`` is the HTTP answer that says so."""

    status = 404


class NoSuchFile(ContentError):
    pass


class NotRegular(ContentError):
    pass


class NotKept(ContentError):
    status = 409


class Corrupt(ContentError):
    status = 409


@dataclasses.dataclass
class FileVersion:
    """The version of a regular file a read of ``asked`` meets as of layer ``position``:
    written by layer ``row.depth``, after following ``via`` (the links on the way)."""

    asked: str
    path: str
    position: int
    row: ChangeRow
    via: list[tuple[str, str]]  # (link path, what it points to), in the order followed

    @property
    def size(self) -> int:
        return self.row.size


def version(
    image: Image, path: str, position: int | None = None, *, chains: list[Chain] | None = None
) -> FileVersion:
    """The regular file a process in a container of ``image`` would read at ``path``, as of
    the layer at ``position`` (0-based; default the top): symbolic links followed, in the
    path's directories too, and hard links to the file they name. Raises ``NoSuchFile`` or
    ``NotRegular``, with a message that says which."""
    chains = chains if chains is not None else image.chains()
    top = len(chains) - 1
    position = top if position is None else position
    if not 0 <= position <= top:
        raise NoSuchFile(
            _("This image has layers 1 to %(top)d, not %(n)d.")
            % {"top": top + 1, "n": position + 1}
        )
    asked = path = _normal(path)
    via: list[tuple[str, str]] = []
    for _hop in range(MAX_HOPS):
        found = steps.lookup(chains, path, position)
        if not found.found:
            resolved = _through_links(chains, path, position, via)
            if resolved is None:
                raise NoSuchFile(
                    _("/%(path)s is not in the filesystem as of layer %(n)d.")
                    % {"path": path, "n": position + 1}
                )
            path = resolved
            continue
        assert found.answer is not None and found.answer.row is not None
        row = found.answer.row
        if row.type == SYMLINK:
            target = _target(row.dir, row.link)
            via.append((path, row.link))
            path = target
            continue
        if row.type == LINK:
            via.append((path, row.link))
            path = _normal(row.link)
            continue
        if row.type != REG:
            raise NotRegular(
                _("/%(path)s is a %(type)s, not a regular file.")
                % {"path": path, "type": TYPE_WORDS.get(row.type, row.type)}
            )
        return FileVersion(asked, path, position, row, via)
    raise NoSuchFile(
        _("/%(path)s: more than %(n)d symbolic links on the way (a loop?).")
        % {"path": asked, "n": MAX_HOPS}
    )


def _normal(path: str) -> str:
    return posixpath.normpath("/" + path.strip("/")).lstrip("/")


def _target(directory: str, link: str) -> str:
    """Where a symbolic link in ``directory`` points, as a path from the root (``..`` stops at
    the root, as in a container)."""
    return _normal(link if link.startswith("/") else f"{directory}/{link}")


def _through_links(
    chains: list[Chain], path: str, position: int, via: list[tuple[str, str]]
) -> str | None:
    """``path`` with its first directory that is a symbolic link replaced by the link's
    target (``/lib/x`` → ``/usr/lib/x`` on a merged-/usr system), or None when none is."""
    parts = path.split("/")
    for i in range(1, len(parts)):
        prefix = "/".join(parts[:i])
        found = steps.lookup(chains, prefix, position)
        if not found.found:
            return None
        assert found.answer is not None and found.answer.row is not None
        row = found.answer.row
        if row.type == SYMLINK:
            via.append((prefix, row.link))
            return _normal(_target(row.dir, row.link) + "/" + "/".join(parts[i:]))
        if row.type != DIR:
            return None
    return None


def kept_blob(layer: Layer) -> Blob | None:
    """A kept blob of the layer, a plain tar first (read at any offset)."""
    blobs = [b for b in layer.blobs.all() if b.kept]
    blobs.sort(key=lambda b: b.compression != NONE)
    return blobs[0] if blobs else None


def not_kept_reason(layer: Layer) -> str:
    budget = settings.LAYERVIZ_BLOB_BUDGET
    if budget <= 0:
        why = _("layerviz is set to keep no layer bytes (LAYERVIZ_BLOB_BUDGET is 0)")
    else:
        why = _(
            "its blob was not kept: it was indexed before layerviz kept layer bytes, or the kept "
            "blobs had reached LAYERVIZ_BLOB_BUDGET (%(budget)s)"
        ) % {"budget": filesizeformat(budget)}
    return _(
        "The bytes of layer %(layer)s are not here: %(why)s. Ingest the image again, with room "
        "in the budget, to keep them."
    ) % {"layer": layer.short_id, "why": why}


def chunks(image: Image, found: FileVersion) -> Iterator[bytes]:
    """The file's bytes a chunk at a time, checked at the end against the sha256 the index
    holds for it: whoever shows them must hold them back until the last chunk has come
    (``read``, ``spooled``). Raises ``NotKept`` or ``Corrupt``."""
    layer = image.image_layers.select_related("layer").get(position=found.row.depth).layer
    blob = kept_blob(layer)
    if blob is None:
        raise NotKept(not_kept_reason(layer))
    entry = packed.entry_at(layer.pk, found.row.seq) if found.row.seq else None
    if entry is None or entry.type != REG:
        raise Corrupt(_("The index has no tar entry for this version of the file."))
    digest = hashlib.sha256()
    try:
        for part in store().read_range(blob.digest, blob.compression, entry.offset, entry.size):
            digest.update(part)
            yield part
    except FileNotFoundError:
        Blob.objects.filter(pk=blob.pk).update(kept=False)
        raise NotKept(not_kept_reason(layer)) from None
    except (IngestError, *DECOMPRESS_ERRORS) as exc:
        raise Corrupt(_("The kept blob cannot be read: %(error)s") % {"error": exc}) from None
    if digest.hexdigest() != entry.sha256:
        raise Corrupt(
            _(
                "The kept bytes of /%(path)s do not hash to the sha256 the index holds for it, "
                "so they are not shown. Ingest the image again."
            )
            % {"path": found.path}
        )


def read(image: Image, found: FileVersion, limit: int) -> bytes:
    """The file's first ``limit`` bytes, once all of them are read and checked."""
    kept = bytearray()
    for part in chunks(image, found):
        if len(kept) < limit:
            kept += part[: limit - len(kept)]
    return bytes(kept)


def spooled(image: Image, found: FileVersion) -> BinaryIO:
    """The whole file, checked, in a temporary file (in memory while small), at its start."""
    out = tempfile.SpooledTemporaryFile(max_size=8 * 1024**2)  # noqa: SIM115 - the caller's
    try:
        for part in chunks(image, found):
            out.write(part)
    except BaseException:
        out.close()
        raise
    out.seek(0)
    return out  # type: ignore[return-value]
