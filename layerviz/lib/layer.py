"""Read one layer blob from start to end: verify it and list every tar entry.

The pipeline (``image-format.md`` §6.2), all in one pass and in bounded memory:

1. blob bytes -> ``VerifyingReader`` (blob digest, size capped at the descriptor's);
2. -> decompressor chosen from the first bytes;
3. -> ``TarReader`` whose ``on_chunk`` hashes the tar stream for the diff_id and enforces the
   decompressed-size caps;
4. -> one ``EntryRecord`` per tar entry, with a sha256 of each regular file's content, handed to
   ``on_entries`` in batches;
5. -> the tar stream and the blob are drained to their ends;
6. -> blob digest and size are checked. The caller checks the diff_id against the config.

Nothing here touches Django or the disk, so it can be benchmarked and tested alone.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from typing import BinaryIO

from . import names
from .errors import DigestMismatch, FormatError, IngestError, LimitExceeded
from .limits import DEFAULT, Limits
from .streams import DECOMPRESS_ERRORS, NONE, Readable, VerifyingReader, decompressor, sniff
from .tarwalk import BLOCKDEV, CHAR, REG, TarReader

# Entry flags (bit mask, stored with each entry).
ABSOLUTE = names.ABSOLUTE
CLAMPED = names.CLAMPED
DUPLICATE = 4  # an earlier entry of this layer had the same path; this one wins
WHITEOUT = 8  # ".wh.<name>": deletes <name> from the layers below
OPAQUE = 16  # ".wh..wh..opq": hides every lower child of its directory
AUFS_META = 32  # other ".wh..wh.*" names: AUFS bookkeeping that runtimes skip
SPARSE = 64
DEVICE = 128

WH_PREFIX = b".wh."
OPAQUE_NAME = b".wh..wh..opq"
AUFS_PREFIX = b".wh..wh."


def gettext_noop(message: str) -> str:
    """Marks a message for the translation catalogue (makemessages looks for this name);
    the text is stored in English and translated where it is shown. lib/ needs no Django."""
    return message


# Stored with the layer; the explorer shows them translated.
FLAG_TEXT = {
    ABSOLUTE: gettext_noop("absolute names (Docker strips the leading /)"),
    CLAMPED: gettext_noop(
        "names climbing above the root with .. (clamped; Docker would refuse this layer)"
    ),
    DUPLICATE: gettext_noop("the same path twice (the last entry wins)"),
    SPARSE: gettext_noop("sparse files"),
    DEVICE: gettext_noop("device nodes"),
}


@dataclasses.dataclass(slots=True)
class EntryRecord:
    seq: int
    path: bytes  # clean path, b"" never occurs (the root entry is not recorded)
    raw: bytes | None  # the name as written in the tar, when it differs from ``path``
    type: str
    size: int
    mode: int
    uid: int
    gid: int
    mtime: int
    link: bytes
    sha256: str
    flags: int
    xattrs: dict[str, str] | None = None

    @property
    def is_whiteout(self) -> bool:
        return bool(self.flags & WHITEOUT)


@dataclasses.dataclass
class LayerScan:
    blob_digest: str
    blob_size: int
    compression: str
    diff_id: str
    tar_bytes: int
    entries: int
    size: int  # sum of entry sizes: dive's layer size
    flags: list[str]


def classify_name(path: bytes) -> int:
    """Whiteout-related flags for a clean path; raises on whiteouts that escape their directory."""
    if WH_PREFIX not in path:
        return 0
    _, base = names.split(path)
    for part in path.split(b"/")[:-1]:
        if part.startswith(AUFS_PREFIX):
            return AUFS_META
    if base == OPAQUE_NAME:
        return OPAQUE
    if base.startswith(AUFS_PREFIX):
        return AUFS_META
    if base.startswith(WH_PREFIX):
        target = base[len(WH_PREFIX) :]
        if target in (b"", b".", b".."):
            raise FormatError(f"invalid whiteout name {names.display(path)!r}")
        return WHITEOUT
    return 0


def scan_layer(
    raw: BinaryIO | Readable,
    *,
    digest: str | None,
    size: int | None,
    limits: Limits = DEFAULT,
    on_entries: Callable[[list[EntryRecord]], object] | None = None,
    on_read: Callable[[int], object] | None = None,
    batch: int = 5000,
) -> LayerScan:
    """Read a whole layer blob. ``digest``/``size`` are the descriptor's (None when unknown).

    Raises ``IngestError`` (never a bare exception) for anything wrong with the bytes.
    """
    blob = VerifyingReader(raw, digest=digest, size=size, cap=limits.layer_bytes, on_read=on_read)
    try:
        return _scan(blob, limits=limits, on_entries=on_entries, batch=batch)
    except IngestError as exc:
        _explain(blob, exc)
        raise
    except DECOMPRESS_ERRORS as exc:
        _explain(blob, exc)
        raise FormatError(f"corrupt compressed data: {exc}") from exc


def _explain(blob: VerifyingReader, exc: BaseException) -> None:
    """A blob that is not the one its descriptor names explains most parse and decompression
    errors (a cut download, a flipped byte); say so rather than blame the format.

    1. a blob that ended short of its size is truncated;
    2. otherwise, when the blob has a digest to check, read the rest of it (it is bounded by
       its size) and report a digest mismatch if there is one.
    """
    if isinstance(exc, DigestMismatch):
        return
    if blob.expected_size is not None and blob.eof and blob.count < blob.expected_size:
        raise DigestMismatch(
            f"blob is truncated: {blob.count} of {blob.expected_size} bytes ({exc})"
        ) from exc
    if blob.expected_digest is None or isinstance(exc, LimitExceeded):
        return
    blob.drain()
    if blob.digest != blob.expected_digest:
        raise DigestMismatch(
            f"blob content hashes to {blob.digest}, not to {blob.expected_digest} ({exc})"
        ) from exc


def _scan(
    blob: VerifyingReader,
    *,
    limits: Limits,
    on_entries: Callable[[list[EntryRecord]], object] | None,
    batch: int,
) -> LayerScan:
    compression = sniff(blob.peek(6))
    stream = decompressor(blob, compression)
    diff_hash = hashlib.sha256()
    # An uncompressed sha256 blob is its own diff_id: no need to hash the same bytes twice.
    separate_diff_hash = compression != NONE or blob.algorithm != "sha256"
    tar_bytes = 0
    ratio_cap = limits.expansion_ratio

    def on_chunk(chunk: bytes) -> None:
        nonlocal tar_bytes
        tar_bytes += len(chunk)
        if separate_diff_hash:
            diff_hash.update(chunk)
        if tar_bytes > limits.layer_bytes:
            raise LimitExceeded(
                f"layer expands past the {limits.layer_bytes}-byte limit for one layer"
            )
        if (
            compression != NONE
            and tar_bytes > limits.ratio_floor_bytes
            and tar_bytes > ratio_cap * max(blob.count, 1)
        ):
            raise LimitExceeded(
                f"layer expands more than {ratio_cap} times ({blob.count} compressed bytes "
                f"gave {tar_bytes}): a decompression bomb"
            )

    # Apparent sizes (sparse files, or a size on a link) are not bounded by the bytes read: keep
    # an image's sum of them, over as many layers as allowed, within 64-bit integers.
    size_cap = ((1 << 63) - 1) // limits.layers_per_image
    tar = TarReader(stream.read, limits=limits, on_chunk=on_chunk)
    pending: list[EntryRecord] = []
    seen: set[bytes] = set()
    flags_seen = 0
    seq = 0
    total_size = 0
    while (header := tar.next()) is not None:
        path, flags = names.clean(header.name)
        if not path:
            continue  # the archive root "./" is not an entry (dive skips it too)
        if path.count(b"/") >= limits.path_depth:
            raise LimitExceeded(
                f"path deeper than {limits.path_depth} components: {names.display(path)!r}"
            )
        flags |= classify_name(path)
        if path in seen:
            flags |= DUPLICATE
        else:
            seen.add(path)
        if header.sparse:
            flags |= SPARSE
        if header.type in (CHAR, BLOCKDEV):
            flags |= DEVICE
        sha = ""
        if header.type == REG and not header.sparse:
            content = hashlib.sha256()
            tar.feed(content.update)
            sha = content.hexdigest()
        link = header.linkname  # as written: dive shows it so, changes.py cleans hard links
        xattrs = header.xattrs
        seq += 1
        if seq > limits.entries_per_layer:
            raise LimitExceeded(f"more than {limits.entries_per_layer} entries in one layer")
        total_size += header.size
        if total_size > size_cap:
            raise LimitExceeded(
                f"entries claim more than {size_cap} bytes in one layer, more than any disk "
                f"holds (last: {names.display(path)!r}, {header.size} bytes)"
            )
        flags_seen |= flags
        pending.append(
            EntryRecord(
                seq=seq,
                path=path,
                raw=header.name if header.name != path else None,
                type=header.type,
                size=header.size,
                # The whole header mode, type bits included (dive reports them); a value too
                # large for any real mode keeps only its permission bits.
                mode=header.mode if 0 <= header.mode <= 0o7777777 else header.mode & 0o7777,
                uid=header.uid,
                gid=header.gid,
                mtime=header.mtime,
                link=link,
                sha256=sha,
                flags=flags,
                xattrs={k: v.hex() for k, v in xattrs.items()} or None,
            )
        )
        if len(pending) >= batch:
            if on_entries is not None:
                on_entries(pending)
            pending = []
    if pending and on_entries is not None:
        on_entries(pending)

    tar.drain()
    if blob.drain():
        raise FormatError("data after the end of the compressed stream")
    blob.verify()
    diff_id = f"sha256:{diff_hash.hexdigest()}" if separate_diff_hash else blob.digest
    layer_flags = [text for bit, text in FLAG_TEXT.items() if flags_seen & bit]
    if not tar.eof_marker:
        layer_flags.append("no end-of-archive marker (the tar just stops)")
    return LayerScan(
        blob_digest=blob.digest,
        blob_size=blob.count,
        compression=compression,
        diff_id=diff_id,
        tar_bytes=tar_bytes,
        entries=seq,
        size=total_size,
        flags=layer_flags,
    )
