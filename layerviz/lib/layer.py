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
from collections.abc import Callable
from hashlib import sha256
from typing import BinaryIO

from . import blobstore, names, package_files, packing
from .errors import DigestMismatch, FormatError, IngestError, LimitExceeded
from .estimate import GzipEstimate
from .limits import DEFAULT, Limits
from .streams import (
    DECOMPRESS_ERRORS,
    NONE,
    Members,
    Readable,
    VerifyingReader,
    decompressor,
    sniff,
)
from .tarwalk import BLOCKDEV, CHAR, REG, TarReader

# Entry flags (bit mask, stored with each entry).
ABSOLUTE = names.ABSOLUTE
CLAMPED = names.CLAMPED
ROOT_NAME = names.ROOT  # never stored with an entry: such an entry is not recorded
DUPLICATE = 4  # an earlier entry of this layer had the same path; this one wins
WHITEOUT = 8  # ".wh.<name>": deletes <name> from the layers below
OPAQUE = 16  # ".wh..wh..opq": hides every lower child of its directory
AUFS_META = 32  # other ".wh..wh.*" names: AUFS bookkeeping that runtimes skip
SPARSE = 64
DEVICE = 128

WH_PREFIX = b".wh."
OPAQUE_NAME = b".wh..wh..opq"
AUFS_PREFIX = b".wh..wh."


# What a layer is flagged with, as stored with it (codes; the explorer has the words).
FLAG_CODES = {
    ABSOLUTE: "absolute-names",
    CLAMPED: "climbing-names",
    DUPLICATE: "duplicate-paths",
    SPARSE: "sparse-files",
    DEVICE: "device-nodes",
    ROOT_NAME: "root-names",
}
NO_END_MARKER = "no-end-marker"
GZIP_PADDING = "gzip-padding"  # zero bytes after the last gzip member (``streams``)


@dataclasses.dataclass(slots=True)
class EntryRecord:
    """One tar entry, for tests and for code that wants entries one at a time."""

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
    offset: int = 0

    @property
    def is_whiteout(self) -> bool:
        return bool(self.flags & WHITEOUT)


# The columns of a batch of entries, as the index stores them (``packing``): paths, raw names
# and link targets in the text form of ``names.to_text``; ``raw`` empty when the name was
# already clean; ``sha256`` the 32-byte digest (b"" but for regular files); ``offset`` where
# the entry's data starts in the tar stream.
ENTRY_SCHEMA = packing.Schema(
    (
        ("path", packing.TEXT),
        ("raw", packing.TEXT),
        ("type", packing.TEXT),
        ("size", packing.INT),
        ("mode", packing.INT),
        ("uid", packing.INT),
        ("gid", packing.INT),
        ("mtime", packing.INT),
        ("link", packing.TEXT),
        ("sha256", packing.DIGEST),
        ("flags", packing.INT),
        ("xattrs", packing.JSON),
        ("offset", packing.INT),
    )
)


class EntryBatch:
    """Consecutive tar entries of one layer, column by column (``ENTRY_SCHEMA``)."""

    __slots__ = (*ENTRY_SCHEMA.names, "first_seq")
    # The columns, one list each, as __init__ sets them from ENTRY_SCHEMA's names.
    path: list[str]
    raw: list[str]
    type: list[str]
    size: list[int]
    mode: list[int]
    uid: list[int]
    gid: list[int]
    mtime: list[int]
    link: list[str]
    sha256: list[bytes]
    flags: list[int]
    xattrs: list[dict[str, str] | None]
    offset: list[int]

    def __init__(self, first_seq: int, columns: dict[str, list] | None = None) -> None:
        self.first_seq = first_seq
        for name in ENTRY_SCHEMA.names:
            setattr(self, name, columns[name] if columns is not None else [])

    def __len__(self) -> int:
        return len(self.path)

    def columns(self) -> dict[str, list]:
        return {name: getattr(self, name) for name in ENTRY_SCHEMA.names}

    def pack(self) -> bytes:
        return packing.pack(ENTRY_SCHEMA, self.columns())

    @classmethod
    def unpack(cls, first_seq: int, blob: bytes | memoryview) -> EntryBatch:
        return cls(first_seq, packing.unpack(ENTRY_SCHEMA, blob))

    def records(self) -> list[EntryRecord]:
        from_text = names.from_text
        return [
            EntryRecord(
                seq=self.first_seq + i,
                path=from_text(self.path[i]),
                raw=from_text(self.raw[i]) if self.raw[i] else None,
                type=self.type[i],
                size=self.size[i],
                mode=self.mode[i],
                uid=self.uid[i],
                gid=self.gid[i],
                mtime=self.mtime[i],
                link=from_text(self.link[i]),
                sha256=self.sha256[i].hex(),
                flags=self.flags[i],
                xattrs=self.xattrs[i],
                offset=self.offset[i],
            )
            for i in range(len(self.path))
        ]


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
    # For a blob stored uncompressed: what it would take gzipped, as a registry would be sent
    # it (``lib/estimate``); None when the blob is compressed and its size is the real one.
    gzip_estimate: int | None = None
    # The package database files it holds (``package_files``), by path; those too big to keep.
    captured: dict[str, bytes] = dataclasses.field(default_factory=dict)
    not_captured: list[str] = dataclasses.field(default_factory=list)

    def check(
        self, diff_id: str, *, blob_digest: str | None = None, blob_size: int | None = None
    ) -> None:
        """Is this the layer the image says it is: its content hashes to ``diff_id`` (and, for
        a blob read without its descriptor, the blob to ``blob_digest``, of ``blob_size``
        bytes)? A scan that had the descriptor checked the blob as it read it."""
        if blob_digest and self.blob_digest != blob_digest:
            raise DigestMismatch(f"blob content hashes to {self.blob_digest}, not to {blob_digest}")
        if blob_digest and self.blob_size != blob_size:
            raise DigestMismatch(
                f"blob is {self.blob_size} bytes but its descriptor says {blob_size}"
            )
        if self.diff_id != diff_id:
            raise DigestMismatch(
                f"layer content hashes to {self.diff_id}, but the image config says {diff_id}"
            )


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
    on_entries: Callable[[EntryBatch], object] | None = None,
    on_read: Callable[[int], object] | None = None,
    batch: int = 5000,
    keep: BinaryIO | None = None,
    capture: bool = True,
) -> LayerScan:
    """Read a whole layer blob. ``digest``/``size`` are the descriptor's (None when unknown).

    Entries go to ``on_entries`` in batches of ``batch``. The blob's bytes are copied to
    ``keep`` as they are read, and (``capture``) the package database files are kept in the
    scan. Raises ``IngestError`` (never a bare exception) for anything wrong with the bytes.
    """
    blob = VerifyingReader(
        raw, digest=digest, size=size, cap=limits.layer_bytes, on_read=on_read, keep=keep
    )
    try:
        return _scan(blob, limits=limits, on_entries=on_entries, batch=batch, capture=capture)
    except IngestError as exc:
        _explain(blob, exc)
        raise
    except DECOMPRESS_ERRORS as exc:
        if blob.supplier_failed:
            raise
        _explain(blob, exc)
        raise FormatError(f"corrupt compressed data: {exc}") from exc


def _tee(
    first: Callable[[memoryview], object], second: Callable[[memoryview], object]
) -> Callable[[memoryview], None]:
    def sink(chunk: memoryview) -> None:
        first(chunk)
        second(chunk)

    return sink


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
    on_entries: Callable[[EntryBatch], object] | None,
    batch: int,
    capture: bool = True,
) -> LayerScan:
    """The walk itself, doing per entry only what must be done in Python."""
    compression = sniff(blob.peek(6))
    stream = decompressor(blob, compression)
    # An uncompressed sha256 blob is its own diff_id: no need to hash the same bytes twice.
    separate_diff_hash = compression != NONE or blob.algorithm != "sha256"
    diff_hash = sha256() if separate_diff_hash else None
    estimate = GzipEstimate() if compression == NONE else None
    tar_bytes = 0
    ratio_cap = limits.expansion_ratio
    layer_cap = limits.layer_bytes

    def on_chunk(chunk: bytes) -> None:
        nonlocal tar_bytes
        tar_bytes += len(chunk)
        if diff_hash is not None:
            diff_hash.update(chunk)
        if estimate is not None:
            estimate.update(chunk)
        if tar_bytes > layer_cap:
            raise LimitExceeded(f"layer expands past the {layer_cap}-byte limit for one layer")
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
    to_text = names.to_text
    clean = names.clean
    max_depth = limits.path_depth
    max_entries = limits.entries_per_layer
    current = EntryBatch(1)
    seen: set[bytes] = set()
    captured: dict[str, bytes] = {}
    not_captured: list[str] = []
    captured_bytes = 0
    wanted = package_files.wanted if capture else None
    flags_seen = 0
    seq = 0
    total_size = 0

    def emit(batch_entries: EntryBatch) -> None:
        if on_entries is not None and len(batch_entries):
            on_entries(batch_entries)

    while (header := tar.next()) is not None:
        name = header.name
        path, flags = clean(name)
        if not path:
            # The root itself is not an entry: runtimes skip it, and so does dive. A name that
            # only cleaning made the root ("..", "x/..", "/") still flags the layer.
            flags_seen |= flags
            continue
        if path.count(b"/") >= max_depth:
            raise LimitExceeded(f"path deeper than {max_depth} components: {names.display(path)!r}")
        if WH_PREFIX in path:
            flags |= classify_name(path)
        if path in seen:
            flags |= DUPLICATE
        else:
            seen.add(path)
        typ = header.type
        if header.sparse:
            flags |= SPARSE
        elif typ in (CHAR, BLOCKDEV):
            flags |= DEVICE
        seq += 1
        if seq > max_entries:
            raise LimitExceeded(f"more than {max_entries} entries in one layer")
        size = header.size
        total_size += size
        if total_size > size_cap:
            raise LimitExceeded(
                f"entries claim more than {size_cap} bytes in one layer, more than any disk "
                f"holds (last: {names.display(path)!r}, {size} bytes)"
            )
        flags_seen |= flags
        offset = tar.consumed
        digest = b""
        if typ == REG and not header.sparse:
            content = sha256()
            if wanted is not None and wanted(path):
                if (
                    size <= package_files.MAX_FILE_BYTES
                    and captured_bytes + size <= package_files.MAX_LAYER_BYTES
                ):
                    data = bytearray()
                    tar.feed(_tee(content.update, data.extend))
                    captured[to_text(path)] = bytes(data)
                    captured_bytes += size
                else:
                    tar.feed(content.update)
                    not_captured.append(to_text(path))
            else:
                tar.feed(content.update)
            digest = content.digest()
        mode = header.mode
        xattrs = header.xattrs
        current.path.append(to_text(path))
        current.raw.append(to_text(name) if name != path else "")
        current.type.append(typ)
        current.size.append(size)
        # The whole header mode, type bits included (dive reports them); a value too
        # large for any real mode keeps only its permission bits.
        current.mode.append(mode if 0 <= mode <= 0o7777777 else mode & 0o7777)
        current.uid.append(header.uid)
        current.gid.append(header.gid)
        current.mtime.append(header.mtime)
        # As written: dive shows it so, merged.py cleans hard links.
        current.link.append(to_text(header.linkname))
        current.sha256.append(digest)
        current.flags.append(flags)
        current.xattrs.append({k: v.hex() for k, v in xattrs.items()} if xattrs else None)
        current.offset.append(offset)
        if len(current.path) >= batch:
            emit(current)
            current = EntryBatch(seq + 1)
    emit(current)
    tar.drain()
    if blob.drain():
        raise FormatError("data after the end of the compressed stream")
    blob.verify()
    diff_id = f"sha256:{diff_hash.hexdigest()}" if diff_hash is not None else blob.digest
    layer_flags = [code for bit, code in FLAG_CODES.items() if flags_seen & bit]
    if not tar.eof_marker:
        layer_flags.append(NO_END_MARKER)
    if isinstance(stream, Members) and stream.padding:
        layer_flags.append(GZIP_PADDING)
    return LayerScan(
        blob_digest=blob.digest,
        blob_size=blob.count,
        compression=compression,
        diff_id=diff_id,
        tar_bytes=tar_bytes,
        entries=seq,
        size=total_size,
        flags=layer_flags,
        gzip_estimate=estimate.bytes if estimate is not None else None,
        captured=captured,
        not_captured=not_captured,
    )


@dataclasses.dataclass(frozen=True)
class FileRange:
    """Where a layer blob lies in a file on this machine: enough for another process to read
    it without the source object (which holds open files and cannot be sent)."""

    path: str
    offset: int
    size: int


class _Range:
    def __init__(self, f: BinaryIO, size: int) -> None:
        self._f, self._left = f, size

    def read(self, n: int = -1) -> bytes:
        if self._left <= 0:
            return b""
        data = self._f.read(self._left if n < 0 else min(n, self._left))
        self._left -= len(data)
        return data


def scan_file_range(
    where: FileRange,
    *,
    digest: str | None,
    size: int | None,
    limits: Limits = DEFAULT,
    batch: int = 5000,
    keep_path: str | None = None,
) -> tuple[LayerScan, list[tuple[int, int, bytes]]]:
    """``scan_layer`` on a range of a file, with the entries packed as they go: what a worker
    process of ``images.ingest`` runs. Returns the scan and (first seq, count, packed) per
    batch. The bytes hashed are the bytes parsed: this process reads them once; they are then
    copied to ``keep_path`` (a new file) when it is given."""
    batches: list[tuple[int, int, bytes]] = []
    try:
        f = open(where.path, "rb")  # noqa: SIM115 - closed below, also when the scan fails
    except OSError as exc:
        raise FormatError(f"cannot read {where.path}: {exc.strerror}") from None
    with f:
        f.seek(where.offset)
        scan = scan_layer(
            _Range(f, where.size),
            digest=digest,
            size=size,
            limits=limits,
            on_entries=lambda b: batches.append((b.first_seq, len(b), b.pack())),
            batch=batch,
        )
    if keep_path:
        # Copied once read and verified: the bytes kept are checked again whenever read.
        blobstore.copy_range(where.path, where.offset, where.size, keep_path)
    return scan, batches
